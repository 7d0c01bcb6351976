"""Rate limits (Flask-Limiter, in Redis when REDIS_URL is set).

- every client: failed authentications (401) per address, ``RATE_LIMIT_FAILED_AUTH``,
  counted where authentication fails (``count_failed_authentication``) so that a
  request with a valid credential costs the limiter nothing;
- registration per address, ``RATE_LIMIT_REGISTRATION`` (``count_registration``);
- token issuance per credential, ``RATE_LIMIT_TOKENS``, counted in the view
  (``count_token_issue``) with Flask-Limiter's strategy and storage;
- questionnaires per credential, ``RATE_LIMIT_QUESTIONNAIRES`` (``count_questionnaire``);
- verification: codes asked for per credential, ``RATE_LIMIT_VERIFICATION_REQUESTS``
  (``count_verification_request``), and codes tried per credential,
  ``RATE_LIMIT_VERIFICATION_ATTEMPTS`` (``count_verification_attempt``); each code also
  dies after a few wrong tries (services/verification.py);
- scans per device, ``RATE_LIMIT_SCANS`` (counted inside the scan script, see
  backend/services/scans.py, so a scan costs one Redis round trip).
Over a limit the answer is 429 in the usual JSON error shape, with Retry-After.

One limit is silent: texts sent for one ID number, ``RATE_LIMIT_TEXTS_PER_PERSON``
(``within_texts_per_person``), each kind (one-time codes, registration notices) counted
apart, whatever the registration asking. A credential costs only a registration, so
per-credential limits alone let N registrations get N times the codes (and guesses)
and text the person N times. Past it nothing is sent and the answer stays the same:
a 429 there would tell whether a code was due, that is whether the phone is on record.

Flask-Limiter supplies the configuration (``RATELIMIT_ENABLED``,
``RATELIMIT_STORAGE_URI``), the storage and the fixed-window strategy; each
limit is counted in the view it guards. Its route decorators and before-request
check are not used: they cost every request, limited or not, Python work and
Redis round trips.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many
from limits.errors import StorageError
from redis.exceptions import RedisError

from .exceptions import DomainError

log = logging.getLogger(__name__)


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def per_credential() -> str:
    """The bearer credential (hashed) when there is one, else the client address."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return "cred:" + hashlib.sha256(header.encode()).hexdigest()[:24]
    return "addr:" + (get_remote_address() or "unknown")


limiter = Limiter(key_func=get_remote_address)


def init_limiter(app: Flask) -> None:
    """Flask-Limiter for its configuration, storage and strategy only (see above).

    ``init_app`` also hooks the request cycle (a check before, headers after, a
    clean-up at teardown) for its decorator and default-limit modes, unused here;
    the hooks would still run on every request, so they are taken out again.
    """
    limiter.init_app(app)
    for hooks in (app.before_request_funcs, app.after_request_funcs,
                  app.teardown_request_funcs):
        hooks[None] = [f for f in hooks.get(None, []) if not _belongs_to_limiter(f)]


def _belongs_to_limiter(hook: object) -> bool:
    owner = getattr(hook, "__self__", None)  # a bound method
    args = getattr(hook, "args", ())  # a functools.partial
    return owner is limiter or bool(args and args[0] is limiter)


def _count(config_key: str, scope: str, key: str, refusal: str) -> None:
    """One hit on every limit of ``config_key`` for ``key``; 429 when one is exhausted.

    Flask-Limiter's strategy and storage, called directly: its route decorator and
    before-request check cost a token request two Redis round trips and much Python.
    If the storage is down the request goes on (and the miss is logged).
    """
    reset = _hit(config_key, scope, key)
    if reset is not None:
        raise TooManyRequests(refusal, retry_after=max(1, math.ceil(reset - time.time())))


def _hit(config_key: str, scope: str, key: str) -> float | None:
    """Count one hit; when a limit is exhausted, the time it resets, else None."""
    if not limiter.enabled:
        return None
    strategy = limiter.limiter
    try:
        limits = parse_many(current_app.config[config_key])
        exhausted = [limit for limit in limits if not strategy.hit(limit, scope, key)]
        if not exhausted:
            return None
        return max(strategy.get_window_stats(limit, scope, key).reset_time
                   for limit in exhausted)
    except (RedisError, StorageError) as exc:
        log.warning("rate-limit counter unavailable (%s): %s", scope, type(exc).__name__)
        return None


def count_failed_authentication() -> None:
    """Count a refused credential against the caller's address; past the limit, 429.

    A Flask-Limiter application limit would read the counter before every request
    to deduct on 401s only; counting at the failure costs nothing to a caller whose
    credential is good, and stops guessing just the same.
    """
    _count("RATE_LIMIT_FAILED_AUTH", "failed-auth", get_remote_address() or "unknown",
           "Too many failed authentications from this address; try again later.")


def count_registration() -> None:
    """Count a registration from this address; past ``RATE_LIMIT_REGISTRATION``, 429."""
    _count("RATE_LIMIT_REGISTRATION", "registration", get_remote_address() or "unknown",
           "Too many registrations from this address; try again later.")


def count_token_issue() -> None:
    """Count a token issued to this credential; past ``RATE_LIMIT_TOKENS``, 429."""
    _count("RATE_LIMIT_TOKENS", "tokens", per_credential(),
           "Too many tokens for this credential; try again later.")


def count_questionnaire() -> None:
    """Count a questionnaire from this credential; past ``RATE_LIMIT_QUESTIONNAIRES``, 429."""
    _count("RATE_LIMIT_QUESTIONNAIRES", "questionnaires", per_credential(),
           "Too many questionnaires from this credential; try again later.")


def count_verification_request() -> None:
    """Count a request for a one-time code; past ``RATE_LIMIT_VERIFICATION_REQUESTS``, 429."""
    _count("RATE_LIMIT_VERIFICATION_REQUESTS", "verification-requests", per_credential(),
           "Too many verification codes asked for; try again later.")


def count_verification_attempt() -> None:
    """Count a code tried; past ``RATE_LIMIT_VERIFICATION_ATTEMPTS``, 429."""
    _count("RATE_LIMIT_VERIFICATION_ATTEMPTS", "verification-attempts", per_credential(),
           "Too many verification attempts; try again later.")


def within_texts_per_person(kind: str, id_hash: str) -> bool:
    """Count a text of ``kind`` ("code", "notice") for the ID number behind ``id_hash``
    (its keyed hash); False past ``RATE_LIMIT_TEXTS_PER_PERSON``. Silent: the caller
    sends nothing and answers as it would have (see the module docstring)."""
    return _hit("RATE_LIMIT_TEXTS_PER_PERSON", f"texts-{kind}", id_hash[:32]) is None
