"""The gate's verifier: token + trusted keys + code status + policy + now -> ScanDecision.

Pure and offline-capable: it imports neither Flask nor a database, so the same
code runs behind ``POST /api/v1/scans``, in an offline gate with a downloaded
bundle, and in tests. It never raises on hostile input: anything it cannot read
is refused with ``malformed``.

Only ES256 with a ``kid`` known for the token's issuer is accepted; ``alg: none``,
HMAC and every other algorithm are refused before any key is touched, so a public
key can never be used as an HMAC secret. Signatures must be canonical (low-S:
``s <= n/2``): the high-S twin ``(r, n - s)`` of a valid signature is a second
encoding of the same token, refused as ``bad_signature`` so that each token has one
spelling (our own signer always writes the low-S form).

Times: ``iat`` and ``exp`` beyond +-2^53 seconds (or not finite) are ``malformed``;
a token that claims to live longer than ``Policy.max_lifetime_seconds`` (``exp -
iat``, any issuer, our own too) is refused as ``expired``: a gate never honours more
validity than the cap, so a foreign issuer cannot mint near-eternal codes.

Travel gates (category ``air``, ``rail`` or ``hotel``) admit only a travel pass
whose ``scp`` equals the gate's category; a plain token, or a pass for another
category, is refused with ``pass_required`` (checked right after expiry, before
code status, restrictions and color). A foreign issuer's token is treated the
same way: its pass is admitted only with the matching ``scp``, and then counts as
restriction-checked by its own issuer, which issues a pass only to holders its
credit records do not restrict (the lifetime cap bounds how stale that check can
be); this deployment's restriction list knows only its own holders, and for them the
online scan and, offline, the bundle's list of barred passes check again.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .jwks import key_problem, public_key, validate_jwks

MAX_TOKEN_BYTES = 2048
# The travel categories: the only ones a lawful restriction may bar, and the scopes a
# travel pass is issued for. Everyday access and daily transit never depend on one.
# Defined once for the health side (the API lists them in this order); the credit
# store keeps its own list, which a test holds equal to this one.
RESTRICTABLE = ("air", "rail", "hotel")
COLORS = ("green", "yellow", "red")
# Order of the P-256 group: valid signature halves lie in [1, n-1].
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P256_HALF_N = P256_N // 2  # canonical (low-S) signatures have s <= n/2

ADMIT, REFUSE = "admit", "refuse"
OK = "ok"
COLOR_NOT_ADMITTED = "color_not_admitted"
EXPIRED = "expired"
BAD_SIGNATURE = "bad_signature"
UNKNOWN_KEY = "unknown_key"
CODE_CHANGED = "code_changed"
RESTRICTED = "restricted"
MALFORMED = "malformed"
WRONG_ISSUER = "wrong_issuer"
REPLAYED = "replayed"
PASS_REQUIRED = "pass_required"  # noqa: S105 (a reason code)


@dataclass(frozen=True)
class ScanDecision:
    decision: str
    reason: str
    color: str | None = None
    holder: str | None = None
    issuer: str | None = None
    subject: str | None = None
    jti: str | None = None
    issued_at: float | None = None
    scope: str | None = None

    @property
    def admitted(self) -> bool:
        return self.decision == ADMIT

    def refused(self, reason: str) -> ScanDecision:
        """The same scan, refused for ``reason`` (replay and restriction checks come later)."""
        return ScanDecision(REFUSE, reason, self.color, self.holder, self.issuer, self.subject,
                            self.jti, self.issued_at, self.scope)

    def public(self) -> dict[str, Any]:
        """What a gate shows: admit/refuse, a short reason, the color and the masked name."""
        return {"decision": self.decision, "reason": self.reason, "color": self.color,
                "holder": self.holder}


@dataclass(frozen=True)
class Policy:
    """What a checkpoint admits."""

    admits: frozenset[str]
    category: str = "venue"
    issuers: frozenset[str] | None = None  # None: every trusted issuer
    required_scope: str | None = None  # transport gates admit only passes for their category
    # Longest ``exp - iat`` admitted from any issuer; None: no cap.
    max_lifetime_seconds: int | None = None

    @property
    def scope_needed(self) -> str | None:
        """The ``scp`` a token must carry here: travel categories need their own pass
        even if a policy forgot to say so."""
        if self.required_scope is not None:
            return self.required_scope
        return self.category if self.category in RESTRICTABLE else None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        issuers = data.get("issuers")
        return cls(
            admits=frozenset(data["admits"]),
            category=data.get("category", "venue"),
            issuers=frozenset(issuers) if issuers is not None else None,
            required_scope=data.get("required_scope"),
            max_lifetime_seconds=_lifetime_cap(data.get("max_lifetime_seconds")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "admits": sorted(self.admits),
            "category": self.category,
            "issuers": sorted(self.issuers) if self.issuers is not None else None,
            "required_scope": self.required_scope,
            "max_lifetime_seconds": self.max_lifetime_seconds,
        }


def _lifetime_cap(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError("policy.max_lifetime_seconds must be a positive integer or null")
    return value


class StatusLookup(Protocol):
    def changed_ms(self, issuer: str, subject: str) -> int | None:
        """When the holder's code last changed (ms since the epoch), if known."""

    def revoked(self, issuer: str, jti: str) -> bool: ...

    def restricted(self, issuer: str, subject: str, category: str) -> bool:
        """Is the holder barred from this travel category? (No reason is ever given.)"""


@dataclass(frozen=True)
class StaticStatus:
    """Status from an offline bundle (or a test). It names tokens, never holders: each
    token carries its own ``sub``, so ``subject`` below is a token's, not a person's.

    ``changes``: tokens whose holder's code changed (ms); ``void_before``: per issuer, the
    time before which the issuer could not name every such token (its tokens issued
    earlier count as changed); ``restricted_subjects``: passes barred by a restriction
    placed after they were issued, for ``restricted_category`` only."""

    changes: Mapping[tuple[str, str], int] = field(default_factory=dict)
    revoked_jtis: frozenset[tuple[str, str]] = frozenset()
    restricted_subjects: frozenset[tuple[str, str]] = frozenset()
    restricted_category: str | None = None
    void_before: Mapping[str, int] = field(default_factory=dict)

    def changed_ms(self, issuer: str, subject: str) -> int | None:
        listed = self.changes.get((issuer, subject))
        floor = self.void_before.get(issuer)
        if floor is None:
            return listed
        return floor if listed is None else max(listed, floor)

    def revoked(self, issuer: str, jti: str) -> bool:
        return (issuer, jti) in self.revoked_jtis

    def restricted(self, issuer: str, subject: str, category: str) -> bool:
        return category == self.restricted_category and (issuer, subject) in \
            self.restricted_subjects


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class KeySet:
    """Trusted public keys by (issuer, kid)."""

    def __init__(self, keys: Mapping[tuple[str, str], ec.EllipticCurvePublicKey] | None = None):
        self._keys = dict(keys or {})
        self._issuers = frozenset(issuer for issuer, _ in self._keys)

    @classmethod
    def from_jwks(cls, jwks_by_issuer: Mapping[str, Mapping[str, Any]]) -> KeySet:
        """Build from ``{issuer: {"keys": [JWK, ...]}}``, keeping only the keys
        ``checkpoints.jwks`` finds usable: one issuer's bad key set costs only its own keys."""
        keys: dict[tuple[str, str], ec.EllipticCurvePublicKey] = {}
        if not isinstance(jwks_by_issuer, Mapping):
            raise ValueError("keys must map issuers to JWKS documents")
        for issuer, jwks in jwks_by_issuer.items():
            if not isinstance(issuer, str):
                continue
            for jwk in validate_jwks(jwks, max_keys=None)[0]:
                key = public_key(jwk)
                if key is not None:
                    keys[(issuer, jwk["kid"])] = key
        return cls(keys)

    @property
    def issuers(self) -> frozenset[str]:
        return self._issuers

    def get(self, issuer: str, kid: str) -> ec.EllipticCurvePublicKey | None:
        return self._keys.get((issuer, kid))

    def merged(self, other: KeySet) -> KeySet:
        """Both sets; where both know an (issuer, kid), this set's key wins."""
        return KeySet({**other._keys, **self._keys})

    def __iter__(self) -> Iterable[tuple[str, str]]:
        return iter(self._keys)


def public_key_from_jwk(jwk: Mapping[str, Any]) -> ec.EllipticCurvePublicKey | None:
    """The key of a usable JWK (see ``checkpoints.jwks``); None for anything else."""
    if key_problem(jwk) is not None:
        return None
    return public_key(jwk)


def _refuse(reason: str, **known: Any) -> ScanDecision:
    return ScanDecision(REFUSE, reason, **known)


def _json_object(part: str) -> dict | None:
    try:
        value = json.loads(_b64decode(part))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _time_value(value: Any) -> bool:
    """A NumericDate we can compute with: no bool, NaN, infinity, 400-digit integer or
    1e300 (beyond 2^53 seconds, some 285 million years, a time is absurd)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return -(2**53) < value < 2**53  # False for NaN and infinities too


def verify(
    token: Any,
    keys: KeySet,
    policy: Policy,
    now: datetime,
    status: StatusLookup | None = None,
    *,
    clock_skew_seconds: int = 5,
) -> ScanDecision:
    """Decide one scan. ``status`` None means offline without status: no code-change check."""
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            return _refuse(MALFORMED)
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_BYTES:
        return _refuse(MALFORMED)
    token = token.strip()
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        return _refuse(MALFORMED)
    header, claims = _json_object(parts[0]), _json_object(parts[1])
    if header is None or claims is None:
        return _refuse(MALFORMED)
    # Before anything else: an unsecured (alg none, empty signature) or HMAC token is
    # a bad signature, whatever its claims say.
    if header.get("alg") != "ES256" or not parts[2]:
        return _refuse(BAD_SIGNATURE)
    kid, issuer = header.get("kid"), claims.get("iss")
    if not isinstance(issuer, str):
        return _refuse(MALFORMED)
    if issuer not in keys.issuers or (policy.issuers is not None and issuer not in policy.issuers):
        return _refuse(WRONG_ISSUER, issuer=issuer)
    if not isinstance(kid, str):
        return _refuse(UNKNOWN_KEY, issuer=issuer)
    key = keys.get(issuer, kid)
    if key is None:
        return _refuse(UNKNOWN_KEY, issuer=issuer)
    if not _signature_valid(key, parts):
        return _refuse(BAD_SIGNATURE, issuer=issuer)

    subject, jti, color = claims.get("sub"), claims.get("jti"), claims.get("hc")
    iat, exp = claims.get("iat"), claims.get("exp")
    holder, scope = claims.get("nm"), claims.get("scp")
    well_formed = (
        isinstance(subject, str) and isinstance(jti, str) and color in COLORS
        and _time_value(iat) and _time_value(exp)
        and (holder is None or isinstance(holder, str))
        and (scope is None or isinstance(scope, str))
    )
    if not well_formed:
        return _refuse(MALFORMED, issuer=issuer)
    known = {"color": color, "holder": holder, "issuer": issuer, "subject": subject,
             "jti": jti, "issued_at": float(iat), "scope": scope}
    t = now.timestamp()
    too_long = policy.max_lifetime_seconds is not None and exp - iat > policy.max_lifetime_seconds
    if exp <= t - clock_skew_seconds or iat > t + clock_skew_seconds or too_long:
        return _refuse(EXPIRED, **known)
    if policy.scope_needed is not None and scope != policy.scope_needed:
        return _refuse(PASS_REQUIRED, **known)
    if status is not None:
        changed = status.changed_ms(issuer, subject)
        if (changed is not None and changed > iat * 1000) or status.revoked(issuer, jti):
            return _refuse(CODE_CHANGED, **known)
        if policy.category in RESTRICTABLE and status.restricted(issuer, subject,
                                                                 policy.category):
            return _refuse(RESTRICTED, **known)
    if color not in policy.admits:
        return _refuse(COLOR_NOT_ADMITTED, **known)
    return ScanDecision(ADMIT, OK, **known)


def _signature_valid(key: ec.EllipticCurvePublicKey, parts: list[str]) -> bool:
    try:
        raw = _b64decode(parts[2])
    except (ValueError, binascii.Error):
        return False
    if len(raw) != 64:
        return False
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    # An all-zero (or out-of-range) signature is refused before it reaches the library,
    # and so is the high-S twin (r, n - s) of a valid one: one token, one spelling.
    if not (0 < r < P256_N and 0 < s <= P256_HALF_N):
        return False
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    try:
        key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
