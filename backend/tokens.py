"""Signing health-code tokens: compact ES256 JWS with a short life (see docs/token-format.md)."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from checkpoints.verifier import P256_HALF_N, P256_N

from .keys import SigningKey


class _CompactJSON(json.JSONEncoder):
    """UTF-8 instead of \\u escapes: a masked Chinese name costs 3 bytes a character, not 6."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs["ensure_ascii"] = False
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SignedToken:
    token: str
    jti: str
    issued_at: datetime
    expires_at: datetime
    color: str
    scope: str | None
    subject: str = ""  # the token's own ``sub``


def token_times(now: datetime, lifetime_seconds: int) -> tuple[datetime, datetime]:
    """``iat`` and ``exp`` of a token made at ``now``.

    ``iat`` keeps milliseconds (RFC 7519 NumericDate may be fractional) so that an
    online scan can tell exactly whether the code changed after the token was made.
    """
    issued = now.replace(microsecond=now.microsecond // 1000 * 1000)
    return issued, issued.replace(microsecond=0) + timedelta(seconds=lifetime_seconds)


def iat_claim(issued: datetime) -> float:
    """The ``iat`` a token made at ``issued`` (whole milliseconds) carries."""
    return round(issued.timestamp(), 3)


def new_jti() -> str:
    """48 random bits: with the token's own ``sub``, unique within its few minutes of life."""
    return secrets.token_urlsafe(6)


def sign_code_token(
    *,
    key: SigningKey,
    issuer: str,
    subject: str,
    color: str,
    display_name: str,
    now: datetime,
    lifetime_seconds: int,
    scope: str | None = None,
    jti: str | None = None,
) -> SignedToken:
    """Sign what a gate needs and nothing more: no ID number, no full name, no reasons.

    ``subject`` is what the gate sees as ``sub``: the service passes a pseudonym made
    for this one token (``backend/pseudonyms.py``), never the holder's stored subject.
    """
    issued, expires = token_times(now, lifetime_seconds)
    jti = jti or new_jti()
    claims: dict[str, object] = {
        "iss": issuer,
        "sub": subject,
        "iat": iat_claim(issued),
        "exp": int(expires.timestamp()),
        "jti": jti,
        "hc": color,
        "nm": display_name,
    }
    if scope:
        claims["scp"] = scope
    token = jwt.encode(
        claims, key.private_key, algorithm="ES256", headers={"kid": key.kid, "typ": None},
        json_encoder=_CompactJSON,
    )
    return SignedToken(low_s(token), jti, issued, expires, color, scope, subject)


def low_s(token: str) -> str:
    """The canonical (low-S) form of an ES256 token's signature.

    ECDSA signs with a random nonce, so half of the signatures OpenSSL makes have
    ``s > n/2``; ``(r, n - s)`` verifies just the same. Gates refuse the high-S form
    (one token, one spelling), so every token we sign is written low-S.
    """
    head, body, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    s = int.from_bytes(raw[32:], "big")
    if s <= P256_HALF_N:
        return token
    twin = raw[:32] + (P256_N - s).to_bytes(32, "big")
    return f"{head}.{body}.{base64.urlsafe_b64encode(twin).rstrip(b'=').decode()}"
