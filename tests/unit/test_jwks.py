"""Strict reading of other issuers' key sets (checkpoints.jwks) and the KeySet built from them.

Whatever a JWKS holds, reading it never raises, and only keys a verifier can use
come out: so one issuer's bad key set cannot take down the gates (issue 15, #2).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.keys import SigningKey, key_id, public_jwk
from backend.tokens import sign_code_token
from checkpoints.jwks import MAX_KEYS, validate_jwks
from checkpoints.verifier import KeySet, Policy, public_key_from_jwk, verify

NOW = datetime.now(UTC)
GOOD_ISSUER, BAD_ISSUER = "region-good", "region-bad"
GREEN = Policy(admits=frozenset({"green"}))


def _key() -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    return SigningKey(key_id(private.public_key()), private, NOW, None)


KEY, OTHER = _key(), _key()
JWK = public_jwk(KEY.private_key.public_key(), KEY.kid)
OTHER_JWK = public_jwk(OTHER.private_key.public_key(), OTHER.kid)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_good_key_comes_out_in_canonical_form():
    extra = {**JWK, "x5t": "ignored", "key_ops": ["verify"]}

    good, dropped = validate_jwks({"keys": [extra]})

    assert good == [JWK] and dropped == []


@pytest.mark.parametrize(("jwk", "reason"), [
    pytest.param({**JWK, "kid": ["evil1"]}, "kid is not a string", id="kid-a-list"),
    pytest.param("a", "not a JSON object", id="a-string"),
    pytest.param(1, "not a JSON object", id="a-number"),
    pytest.param(None, "not a JSON object", id="null"),
    pytest.param({**JWK, "d": b64(bytes(32))}, "holds a private key", id="private-part"),
    pytest.param({**JWK, "kid": ""}, "kid is empty, too long or not printable", id="kid-empty"),
    pytest.param({**JWK, "kid": "k" * 65}, "kid is empty, too long or not printable",
                 id="kid-too-long"),
    pytest.param({**JWK, "kid": "a b"}, "kid is empty, too long or not printable",
                 id="kid-space"),
    pytest.param({**JWK, "kid": "\u202eevil"}, "kid is empty, too long or not printable",
                 id="kid-bidi"),
    pytest.param({**JWK, "kty": "RSA"}, "kty is not EC", id="rsa"),
    pytest.param({**JWK, "crv": "P-384"}, "crv is not P-256", id="p384"),
    pytest.param({**JWK, "use": "enc"}, "use is not sig", id="use-enc"),
    pytest.param({**JWK, "alg": "HS256"}, "alg is not ES256", id="alg-hs256"),
    pytest.param({**JWK, "alg": None}, "alg is not ES256", id="alg-null"),
    pytest.param({**JWK, "x": JWK["x"] + "A"}, "x is not 32 bytes of base64url", id="x-33"),
    pytest.param({**JWK, "x": JWK["x"][:-1] + "+"}, "x is not 32 bytes of base64url",
                 id="x-not-base64url"),
    pytest.param({**JWK, "y": JWK["y"] + "="}, "y is not 32 bytes of base64url", id="y-padded"),
    pytest.param({**JWK, "y": 5}, "y is not 32 bytes of base64url", id="y-int"),
    pytest.param({k: v for k, v in JWK.items() if k != "y"}, "y is not 32 bytes of base64url",
                 id="y-missing"),
    pytest.param({**JWK, "x": b64(bytes(32))}, "not a point on P-256", id="off-curve"),
    pytest.param({**JWK, "x": b64(b"\xff" * 32)}, "not a point on P-256", id="x-above-p"),
])
def test_an_unusable_key_is_dropped_with_its_reason_and_the_others_kept(jwk, reason):
    good, dropped = validate_jwks({"keys": [jwk, OTHER_JWK]})

    assert good == [OTHER_JWK]
    assert [(d["index"], d["reason"]) for d in dropped] == [(0, reason)]
    assert public_key_from_jwk(jwk) is None


def test_a_dropped_key_names_its_kid_only_when_it_is_a_readable_one():
    _, dropped = validate_jwks({"keys": [{**JWK, "crv": "P-384"}, {**JWK, "kid": ["evil1"]}]})

    assert dropped == [{"index": 0, "kid": KEY.kid, "reason": "crv is not P-256"},
                       {"index": 1, "reason": "kid is not a string"}]


def test_a_non_canonical_spelling_of_a_coordinate_is_dropped():
    # 43 base64url characters carry 258 bits: the last two must be zero.
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    x = JWK["x"]
    twin = x[:-1] + last[last.index(x[-1]) | 1]
    assert base64.urlsafe_b64decode(twin + "=") == base64.urlsafe_b64decode(x + "=")

    good, dropped = validate_jwks({"keys": [{**JWK, "x": twin}]})

    assert good == [] and dropped[0]["reason"] == "x is not 32 bytes of base64url"


def test_a_second_key_with_the_same_kid_is_dropped():
    good, dropped = validate_jwks({"keys": [JWK, {**OTHER_JWK, "kid": KEY.kid}]})

    assert good == [JWK]
    assert dropped == [{"index": 1, "kid": KEY.kid, "reason": "duplicate kid"}]


@pytest.mark.parametrize(("document", "reason"), [
    pytest.param(["a"], "not a JSON object", id="a-list"),
    pytest.param(None, "not a JSON object", id="null"),
    pytest.param({}, "no 'keys' list", id="no-keys"),
    pytest.param({"keys": {"a": JWK}}, "no 'keys' list", id="keys-an-object"),
    pytest.param({"keys": [JWK] * (MAX_KEYS + 1)}, f"more than {MAX_KEYS} keys", id="too-many"),
    pytest.param({"keys": [JWK], "pad": "x" * 300_000}, "larger than 256 KiB", id="too-big"),
])
def test_a_document_that_is_not_a_key_set_gives_nothing(document, reason):
    assert validate_jwks(document) == ([], [{"index": None, "reason": reason}])


# --------------------------------------------------------------------------- any JSON at all

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.text(max_size=70), st.text(B64URL, min_size=42, max_size=44),
    st.sampled_from(["EC", "P-256", "sig", "ES256", KEY.kid, JWK["x"], JWK["y"], "RSA"]))
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=4), inner, max_size=4), max_leaves=12)
# Keys that are nearly right, so the later checks are reached too.
near_keys = st.fixed_dictionaries(
    {k: st.one_of(st.just(v), json_values) for k, v in JWK.items()},
    optional={"d": json_values, "extra": json_values})
documents = st.one_of(
    json_values,
    st.fixed_dictionaries({"keys": st.lists(st.one_of(near_keys, st.just(JWK), json_values),
                                            max_size=MAX_KEYS + 2)}))


def _usable(jwk: dict) -> bool:
    """Checked independently of checkpoints.jwks."""
    if set(jwk) != {"kty", "crv", "x", "y", "kid", "use", "alg"}:
        return False
    raw = [base64.urlsafe_b64decode(jwk[c] + "=") for c in ("x", "y")]
    point = ec.EllipticCurvePublicNumbers(*(int.from_bytes(r, "big") for r in raw),
                                          ec.SECP256R1()).public_key()  # raises when off-curve
    return (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == ("EC", "P-256", "sig", "ES256") \
        and all(len(r) == 32 for r in raw) and point is not None \
        and isinstance(jwk["kid"], str) and 0 < len(jwk["kid"]) <= 64 \
        and jwk["kid"].isascii() and jwk["kid"].isprintable() and " " not in jwk["kid"]


@settings(max_examples=400, deadline=None)
@given(documents)
def test_any_json_is_read_without_raising_and_only_usable_keys_come_out(document):
    good, dropped = validate_jwks(document)

    assert all(_usable(k) for k in good)
    assert len({k["kid"] for k in good}) == len(good)
    json.dumps(dropped)  # storable as it is
    if isinstance(document, dict) and isinstance(document.get("keys"), list) \
            and len(document["keys"]) <= MAX_KEYS:
        assert len(good) + len(dropped) == len(document["keys"])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([BAD_ISSUER, "x", "y"]), documents, max_size=3))
def test_other_issuers_bad_key_sets_never_stop_a_good_issuers_tokens(bad_sets):
    token = sign_code_token(key=KEY, issuer=GOOD_ISSUER, subject="s", color="green",
                            display_name="张*", now=NOW, lifetime_seconds=300).token

    keys = KeySet.from_jwks({GOOD_ISSUER: {"keys": [JWK]}, **bad_sets})

    assert verify(token, keys, GREEN, NOW).reason == "ok"
