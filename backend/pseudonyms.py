"""Per-token subjects: what a gate sees in ``sub`` is new in every token.

A holder's stored subject (72 random bits, ``identity.new_subject``) never leaves the
service. Each token carries it masked with a one-time pad drawn for that token alone,
``HMAC-SHA256(key, iat ms | jti)``, cut to the subject's 9 bytes: the same 12
base64url characters as before, so the QR grows by nothing. ``jti`` is 48 fresh
random bits and ``iat`` has milliseconds, so no pad is ever used twice; without the
key, two tokens of one holder share nothing and venues cannot link visits. With it
the service reads the holder back from the token alone, with no lookup, on the
scan path and for offline uploads.

The pad gives secrecy only: the token's ES256 signature is what makes ``sub``
unforgeable, so only tokens whose signature verified as ours are ever read back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SUBJECT_BYTES = 9  # identity.new_subject: token_urlsafe(9), 12 characters


def iat_ms(iat: float) -> int:
    """The token's ``iat`` claim in whole milliseconds, as signer and reader both see it."""
    return round(iat * 1000)


class TokenPseudonyms:
    """Makes and reads back per-token subjects under a key that never leaves the service."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the pseudonym key must be at least 32 bytes")
        # Its own key, derived from the service secret: never the ID-number hashing key.
        self._key = hmac.new(secret, b"token-subject-pad", hashlib.sha256).digest()

    def _pad(self, jti: str, issued_ms: int) -> bytes:
        message = f"{issued_ms}|{jti}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()[:SUBJECT_BYTES]

    def new(self, subject: str, *, jti: str, issued_ms: int) -> str:
        """``subject`` masked for the one token with this ``jti`` and ``iat``."""
        raw = _decode(subject)
        if raw is None:
            raise ValueError("a subject is 12 base64url characters (identity.new_subject)")
        return _encode(bytes(a ^ b for a, b in zip(raw, self._pad(jti, issued_ms),
                                                  strict=True)))

    def subject_of(self, pseudonym: object, *, jti: object, issued_ms: int) -> str | None:
        """The stored subject behind a token's ``sub``; None when it is not 12 base64url
        characters. Any well-formed ``sub`` reads back to *some* subject: only the
        token's signature says it is one we made, so call this after verifying."""
        if not isinstance(pseudonym, str) or not isinstance(jti, str):
            return None
        raw = _decode(pseudonym)
        if raw is None:
            return None
        return _encode(bytes(a ^ b for a, b in zip(raw, self._pad(jti, issued_ms),
                                                  strict=True)))


def _decode(text: str) -> bytes | None:
    """Exactly 9 bytes in canonical unpadded base64url, or None."""
    if len(text) != 12:
        return None
    try:
        raw = base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    return raw if len(raw) == SUBJECT_BYTES and _encode(raw) == text else None


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")
