"""Rate limits (Flask-Limiter, in Redis when REDIS_URL is set).

- every client: failed authentications (401) per address, ``RATE_LIMIT_FAILED_AUTH``;
- registration per address, ``RATE_LIMIT_REGISTRATION``;
- token issuance per credential, ``RATE_LIMIT_TOKENS``;
- scans per device, ``RATE_LIMIT_SCANS`` (counted inside the scan script, see
  backend/services/scans.py, so a scan costs one Redis round trip; /scans and the
  health routes are exempt from the generic limiter).
Over a limit the answer is 429 in the usual JSON error shape.
"""

from __future__ import annotations

import hashlib

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address


def per_credential() -> str:
    """The bearer credential (hashed) when there is one, else the client address."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return "cred:" + hashlib.sha256(header.encode()).hexdigest()[:24]
    return "addr:" + (get_remote_address() or "unknown")


def _config(name: str):
    return lambda: current_app.config[name]


limiter = Limiter(
    key_func=get_remote_address,
    application_limits_deduct_when=lambda response: response.status_code == 401,
)
registration_limit = limiter.limit(_config("RATE_LIMIT_REGISTRATION"))
token_limit = limiter.limit(_config("RATE_LIMIT_TOKENS"), key_func=per_credential)
