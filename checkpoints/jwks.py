"""Strict reading of a JWKS (RFC 7517) published by another issuer.

A key set comes from a server we do not control, and it is stored, put into
every gate's bundle and used for every scan: so it is read here, once, by one
pure function that never raises. A key we can use comes out in one canonical
shape; anything else is dropped with a short reason (from a fixed vocabulary,
never an echo of the input) that an admin can read on the trust list.

Usable key: a JSON object with ``kty`` "EC", ``crv`` "P-256", ``x`` and ``y``
each exactly 32 bytes in unpadded base64url and together a point on the curve,
a ``kid`` of 1-64 printable ASCII characters without spaces, ``use`` "sig" and
``alg`` "ES256" when present, no private part (``d``), and a ``kid`` no earlier
key of the set has.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

MAX_KEYS = 20  # an honest issuer publishes two or three (current and rotating)
MAX_KID_LENGTH = 64
MAX_DOCUMENT_BYTES = 256 * 1024
_COORDINATE = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 bytes, unpadded base64url

Dropped = dict[str, Any]  # {"index": int | None, "kid": str (when readable), "reason": str}


def validate_jwks(document: Any, *, max_keys: int | None = MAX_KEYS
                  ) -> tuple[list[dict[str, str]], list[Dropped]]:
    """``(usable keys, dropped)``; never raises.

    A problem with the document itself (not an object, no ``keys`` list, too many
    keys, too large) drops everything, with one entry whose ``index`` is None.
    ``max_keys`` None lifts the key count bound (for sets already checked).
    """
    problem = document_problem(document, max_keys=max_keys)
    if problem is not None:
        return [], [{"index": None, "reason": problem}]
    good: list[dict[str, str]] = []
    dropped: list[Dropped] = []
    seen: set[str] = set()
    for index, jwk in enumerate(document["keys"]):
        reason = key_problem(jwk)
        kid = jwk.get("kid") if isinstance(jwk, Mapping) else None
        if reason is None and kid in seen:
            reason = "duplicate kid"
        if reason is not None:
            entry: Dropped = {"index": index, "reason": reason}
            if _readable_kid(kid):
                entry["kid"] = kid
            dropped.append(entry)
            continue
        seen.add(kid)
        good.append(_canonical(jwk))
    return good, dropped


def document_problem(document: Any, *, max_keys: int | None = MAX_KEYS) -> str | None:
    """Why a whole document cannot be read as a key set, or None."""
    if not isinstance(document, Mapping):
        return "not a JSON object"
    keys = document.get("keys")
    if not isinstance(keys, list):
        return "no 'keys' list"
    if max_keys is not None and len(keys) > max_keys:
        return f"more than {max_keys} keys"
    try:
        size = len(json.dumps(document, separators=(",", ":")))
    except (TypeError, ValueError, RecursionError):
        return "not JSON"
    if size > MAX_DOCUMENT_BYTES:
        return "larger than 256 KiB"
    return None


def key_problem(jwk: Any) -> str | None:
    """Why one key is not usable, or None."""
    if not isinstance(jwk, Mapping):
        return "not a JSON object"
    if "d" in jwk:
        return "holds a private key"
    kid = jwk.get("kid")
    if not isinstance(kid, str):
        return "kid is not a string"
    if not _readable_kid(kid):
        return "kid is empty, too long or not printable"
    if jwk.get("kty") != "EC":
        return "kty is not EC"
    if jwk.get("crv") != "P-256":
        return "crv is not P-256"
    if "use" in jwk and jwk["use"] != "sig":
        return "use is not sig"
    if "alg" in jwk and jwk["alg"] != "ES256":
        return "alg is not ES256"
    for name in ("x", "y"):
        if _coordinate(jwk.get(name)) is None:
            return f"{name} is not 32 bytes of base64url"
    if public_key(jwk) is None:
        return "not a point on P-256"
    return None


def public_key(jwk: Mapping[str, Any]) -> ec.EllipticCurvePublicKey | None:
    """The P-256 public key of ``jwk`` from its coordinates, or None."""
    x, y = _coordinate(jwk.get("x")), _coordinate(jwk.get("y"))
    if x is None or y is None:
        return None
    try:
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except ValueError:  # not on the curve, or a coordinate out of range
        return None


def _coordinate(value: Any) -> int | None:
    if not isinstance(value, str) or not _COORDINATE.fullmatch(value):
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=")
    except (ValueError, binascii.Error):
        return None
    # 43 characters carry two bits more than 32 bytes: only one spelling is canonical.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != value:
        return None
    return int.from_bytes(raw, "big")


def _readable_kid(kid: Any) -> bool:
    return (isinstance(kid, str) and 0 < len(kid) <= MAX_KID_LENGTH
            and all("!" <= c <= "~" for c in kid))


def _canonical(jwk: Mapping[str, Any]) -> dict[str, str]:
    return {"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"], "use": "sig",
            "alg": "ES256", "kid": jwk["kid"]}
