"""Rate limits, counted in Redis when REDIS_URL is set.

- every client: failed authentications (401) per address, ``RATE_LIMIT_FAILED_AUTH``,
  counted where authentication fails (``count_failed_authentication``) so that a
  request with a valid credential costs the limiter nothing;
- registration per address, ``RATE_LIMIT_REGISTRATION`` (``count_registration``);
- token issuance per credential, ``RATE_LIMIT_TOKENS`` (``count_token_issue``);
- questionnaires per credential, ``RATE_LIMIT_QUESTIONNAIRES`` (``count_questionnaire``);
- verification: codes asked for per credential, ``RATE_LIMIT_VERIFICATION_REQUESTS``
  (``count_verification_request``), and codes tried per credential,
  ``RATE_LIMIT_VERIFICATION_ATTEMPTS`` (``count_verification_attempt``); each code also
  dies after a few wrong tries (services/verification.py);
- scans per device, ``RATE_LIMIT_SCANS``, counted inside the scan script (see below).
Over a limit the answer is 429 in the usual JSON error shape, with Retry-After
(``TooManyRequests``, the one 429 of the service).

One limit is silent: texts sent for one ID number, ``RATE_LIMIT_TEXTS_PER_PERSON``
(``within_texts_per_person``), each kind (one-time codes, registration notices) counted
apart, whatever the registration asking. A credential costs only a registration, so
per-credential limits alone let N registrations get N times the codes (and guesses)
and text the person N times. Past it nothing is sent and the answer stays the same:
a 429 there would tell whether a code was due, that is whether the phone is on record.

The counting is the ``limits`` package's: a storage named by ``RATELIMIT_STORAGE_URI``
(the same Redis as the rest of the service, or ``memory://``, per process, in the
embedded default and the tests) and its fixed-window strategy, with limits written in
its syntax (``"20/minute;500/day"``). Each limit is counted in the view it guards, at
the moment that matters (a failure, a registration, a token issued), so a request that
no limit concerns costs nothing: no before-request check, no extra Redis round trip.
``RATELIMIT_ENABLED`` off turns them all off. If the storage is down the request goes
on, and the miss is logged: a limit is a brake, not a gate the service stops at.

Scans are counted apart, by the scan script itself (backend/services/scans.py): a
scan is the hottest request and makes exactly one Redis round trip, which checks the
holder's code and the replay and appends the check-in. Counting it here would add a
second round trip (and the ``limits`` package's Python) to every scan, for what the
script does in two commands on the trip it makes anyway: a fixed window of one minute
per device, ``RATE_LIMIT_SCANS`` read as so many per minute. Past it the scan raises
the same ``TooManyRequests``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from flask import Flask, current_app, request
from limits import parse_many
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from redis.exceptions import RedisError

from .exceptions import TooManyRequests
from .extensions import REDIS_TIMEOUT_SECONDS

log = logging.getLogger(__name__)


def init_limiter(app: Flask) -> None:
    """This app's counters: the storage ``RATELIMIT_STORAGE_URI`` names, or none when
    ``RATELIMIT_ENABLED`` is off."""
    uri = app.config["RATELIMIT_STORAGE_URI"]
    # The storage makes its own Redis pool: bounded like the app's, so that a Redis that
    # stops answering slows a limited request by seconds, not forever.
    options = ({"socket_timeout": REDIS_TIMEOUT_SECONDS,
                "socket_connect_timeout": REDIS_TIMEOUT_SECONDS}
               if uri.startswith(("redis://", "rediss://", "unix://")) else {})
    app.extensions["rate_limits"] = (
        FixedWindowRateLimiter(storage_from_string(uri, **options))
        if app.config["RATELIMIT_ENABLED"] else None)


def client_address() -> str:
    return request.remote_addr or "unknown"


def per_credential() -> str:
    """The bearer credential (hashed) when there is one, else the client address."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return "cred:" + hashlib.sha256(header.encode()).hexdigest()[:24]
    return "addr:" + client_address()


def _count(config_key: str, scope: str, key: str, refusal: str) -> None:
    """One hit on every limit of ``config_key`` for ``key``; 429 when one is exhausted."""
    reset = _hit(config_key, scope, key)
    if reset is not None:
        raise TooManyRequests(refusal, retry_after=max(1, math.ceil(reset - time.time())))


def _hit(config_key: str, scope: str, key: str) -> float | None:
    """Count one hit; when a limit is exhausted, the time it resets, else None.
    If the storage is down, None (the request goes on) and a warning."""
    strategy: FixedWindowRateLimiter | None = current_app.extensions["rate_limits"]
    if strategy is None:
        return None
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

    Counted at the failure, not checked before every request: a caller whose
    credential is good costs the counter nothing, and guessing stops just the same.
    """
    _count("RATE_LIMIT_FAILED_AUTH", "failed-auth", client_address(),
           "Too many failed authentications from this address; try again later.")


def count_registration() -> None:
    """Count a registration from this address; past ``RATE_LIMIT_REGISTRATION``, 429."""
    _count("RATE_LIMIT_REGISTRATION", "registration", client_address(),
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
