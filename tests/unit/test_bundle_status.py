"""The offline bundle's status names tokens, not people (checkpoints/bundle.py).

``changes`` and ``restricted`` list tokens by their own ``sub``; ``void_before`` makes an
issuer's tokens issued before a time count as changed (its status store lost data).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from backend.keys import SigningKey, key_id, public_jwk
from backend.tokens import SignedToken, sign_code_token
from checkpoints.bundle import OfflineVerifier

ISSUER, PARTNER = "hc-test", "hc-partner"


def _key() -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    return SigningKey(key_id(private.public_key()), private, datetime.now(UTC), None)


KEYS = {ISSUER: _key(), PARTNER: _key()}
NOW = datetime.now(UTC).replace(microsecond=0)  # iat keeps whole milliseconds


def sign(sub: str, issuer: str = ISSUER, scope: str | None = None) -> SignedToken:
    return sign_code_token(key=KEYS[issuer], issuer=issuer, subject=sub, color="green",
                           display_name="张*", now=NOW, lifetime_seconds=300, scope=scope)


def bundle(category: str = "venue", **status: Any) -> dict[str, Any]:
    return {
        "keys": {iss: {"keys": [public_jwk(k.private_key.public_key(), k.kid)]}
                 for iss, k in KEYS.items()},
        "status": {"changes": [], "revoked": [], "restricted": None, **status},
        "policy": {"admits": ["green"], "category": category},
    }


def decide(signed: SignedToken, **kwargs: Any) -> str:
    return OfflineVerifier.from_bundle(bundle(**kwargs)).verify(signed.token, NOW).reason


IAT_MS = round(NOW.timestamp() * 1000)


@pytest.mark.parametrize(("void_before", "issuer", "reason"), [
    ({ISSUER: IAT_MS + 1}, ISSUER, "code_changed"),
    ({ISSUER: IAT_MS}, ISSUER, "ok"),
    ({PARTNER: IAT_MS + 1}, ISSUER, "ok"),
    ({ISSUER: IAT_MS + 1}, PARTNER, "ok"),
    ({}, ISSUER, "ok"),
])
def test_void_before_applies_to_its_issuer_s_older_tokens_only(void_before, issuer, reason):
    assert decide(sign("s-1", issuer), void_before=void_before) == reason


def test_a_listed_change_and_void_before_both_count():
    signed = sign("s-1")
    listed = [{"iss": ISSUER, "sub": "s-1", "changed_ms": IAT_MS - 5}]
    assert decide(signed, changes=listed, void_before={ISSUER: IAT_MS + 1}) == "code_changed"
    assert decide(signed, changes=listed, void_before={ISSUER: IAT_MS - 1}) == "ok"


@pytest.mark.parametrize(("category", "listed", "reason"), [
    ("rail", [{"iss": ISSUER, "sub": "pass-1"}], "restricted"),
    ("rail", [{"iss": ISSUER, "sub": "pass-2"}], "ok"),
    ("rail", [{"iss": PARTNER, "sub": "pass-1"}], "ok"),
    ("rail", [], "ok"),
])
def test_only_the_listed_pass_is_barred(category, listed, reason):
    restricted = {"category": category, "tokens": listed}
    assert decide(sign("pass-1", scope="rail"), category="rail",
                  restricted=restricted) == reason


def test_a_restricted_list_for_another_category_bars_nothing():
    restricted = {"category": "air", "tokens": [{"iss": ISSUER, "sub": "pass-1"}]}
    assert decide(sign("pass-1", scope="rail"), category="rail", restricted=restricted) == "ok"


@pytest.mark.parametrize("status", [{"restricted": ["x"]}, {"void_before": ["x"]},
                                    {"void_before": {ISSUER: "soon"}}])
def test_a_bundle_of_another_shape_is_refused(status):
    with pytest.raises((ValueError, TypeError, KeyError)):
        OfflineVerifier.from_bundle(bundle(**status))
