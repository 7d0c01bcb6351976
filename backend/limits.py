"""Rate limits (Flask-Limiter, in Redis when REDIS_URL is set).

- every client: failed authentications (401) per address, ``RATE_LIMIT_FAILED_AUTH``,
  counted where authentication fails (``count_failed_authentication``) so that a
  request with a valid credential costs the limiter nothing;
- registration per address, ``RATE_LIMIT_REGISTRATION``;
- token issuance per credential, ``RATE_LIMIT_TOKENS``;
- scans per device, ``RATE_LIMIT_SCANS`` (counted inside the scan script, see
  backend/services/scans.py, so a scan costs one Redis round trip; /scans and the
  health routes are exempt from the generic limiter).
Over a limit the answer is 429 in the usual JSON error shape.
"""

from __future__ import annotations

import hashlib
import logging

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse
from limits.errors import StorageError
from redis.exceptions import RedisError

from .exceptions import DomainError

log = logging.getLogger(__name__)


class TooManyFailures(DomainError):
    status = 429
    code = "too_many_requests"


def per_credential() -> str:
    """The bearer credential (hashed) when there is one, else the client address."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return "cred:" + hashlib.sha256(header.encode()).hexdigest()[:24]
    return "addr:" + (get_remote_address() or "unknown")


def _config(name: str):
    return lambda: current_app.config[name]


limiter = Limiter(key_func=get_remote_address)
registration_limit = limiter.limit(_config("RATE_LIMIT_REGISTRATION"))
token_limit = limiter.limit(_config("RATE_LIMIT_TOKENS"), key_func=per_credential)


def count_failed_authentication() -> None:
    """Count a refused credential against the caller's address; past the limit, 429.

    A Flask-Limiter application limit would read the counter before every request
    (a Redis round trip each) to deduct on 401s only; counting at the failure costs
    nothing to a caller whose credential is good, and stops guessing just the same.
    """
    if not limiter.enabled:
        return
    limit = parse(current_app.config["RATE_LIMIT_FAILED_AUTH"])
    try:
        allowed = limiter.limiter.hit(limit, "failed-auth", get_remote_address() or "unknown")
    except (RedisError, StorageError) as exc:  # the refusal stands; only the count is lost
        log.warning("failed-authentication counter unavailable: %s", type(exc).__name__)
        return
    if not allowed:
        raise TooManyFailures("Too many failed authentications from this address; "
                              "try again in a minute.")
