"""The offline bundle a gate downloads: trusted keys, code-status deltas and its policy.

Shape (JSON)::

    {"issued_at": "2026-11-27T08:00:00+00:00",
     "keys": {"<issuer>": {"keys": [<JWK>, ...]}, ...},
     "status": {"changes": [{"iss": ..., "sub": ..., "changed_ms": ...}],
                "revoked": [{"iss": ..., "jti": ...}],
                "restricted": {"category": "rail", "tokens": [{"iss": ..., "sub": ...}]},
                "void_before": {"<issuer>": <ms>}},
     "status_cursor": "<opaque; send it back to get only newer deltas>",
     "policy": {"admits": ["green"], "category": "venue", "issuers": null,
                "required_scope": null, "max_lifetime_seconds": 1200},
     "clock_skew_seconds": 5,
     "valid_until": "2026-11-28T08:00:00+00:00"}

``required_scope`` is the gate's category at travel gates (air, rail, hotel): only a
pass for it is admitted. ``max_lifetime_seconds`` caps ``exp - iat`` of any token.
``valid_until`` says how long the server stands by this bundle: scans uploaded later
are accepted only back to the device's last download minus this validity.

Every ``sub`` is a token's own (a fresh pseudonym per token), so the status names
void tokens, never people: ``changes`` lists the issuer's live tokens whose holder's
code changed, ``restricted`` (travel gates only, else null) the passes for the gate's
category barred by a restriction placed after they were issued, and ``void_before``
(present only for a few minutes after the issuer's status store lost data) the time
before which every token of that issuer counts as changed. A gate merges the deltas
of successive downloads into what it keeps; ``restricted`` is replaced whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .verifier import KeySet, Policy, ScanDecision, StaticStatus, verify


@dataclass(frozen=True)
class OfflineVerifier:
    keys: KeySet
    policy: Policy
    status: StaticStatus
    clock_skew_seconds: int = 5

    @classmethod
    def from_bundle(cls, bundle: Mapping[str, Any]) -> OfflineVerifier:
        """Raises ValueError (or KeyError/TypeError) for a bundle that is not of this shape."""
        if not isinstance(bundle, Mapping):
            raise ValueError("a bundle is a JSON object")
        status = bundle.get("status") or {}
        if not isinstance(status, Mapping):
            raise ValueError("status must be an object")
        changes = {(c["iss"], c["sub"]): int(c["changed_ms"]) for c in status.get("changes", [])}
        revoked = frozenset((r["iss"], r["jti"]) for r in status.get("revoked", []))
        restricted = status.get("restricted") or {}
        void_before = status.get("void_before") or {}
        if not isinstance(restricted, Mapping) or not isinstance(void_before, Mapping):
            raise ValueError("status.restricted and status.void_before must be objects")
        policy = Policy.from_dict(bundle["policy"])
        return cls(
            keys=KeySet.from_jwks(bundle["keys"]),
            policy=policy,
            status=StaticStatus(
                changes, revoked,
                restricted_subjects=frozenset(
                    (t["iss"], t["sub"]) for t in restricted.get("tokens", [])),
                restricted_category=restricted.get("category"),
                void_before={str(iss): int(ms) for iss, ms in void_before.items()}),
            clock_skew_seconds=int(bundle.get("clock_skew_seconds", 5)),
        )

    def verify(self, token: Any, now: datetime) -> ScanDecision:
        return verify(token, self.keys, self.policy, now, self.status,
                      clock_skew_seconds=self.clock_skew_seconds)
