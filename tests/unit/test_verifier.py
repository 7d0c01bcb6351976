"""The gate's pure verifier (checkpoints.verifier): every refusal reason, on real ES256 keys.

Good tokens are signed exactly as the service signs them (``backend.tokens.sign_code_token``);
bad ones are forged by hand: ``alg: none``, HMAC keyed with the public key, zero and
out-of-range ECDSA signatures, swapped payloads, strangers' keys, ill-typed claims,
truncated, oversized and non-ASCII inputs. Every test runs without Flask's app or a database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.identity import mask_name
from backend.keys import SigningKey, key_id, public_jwk
from backend.tokens import SignedToken, sign_code_token
from checkpoints.verifier import (
    ADMIT,
    BAD_SIGNATURE,
    CODE_CHANGED,
    COLOR_NOT_ADMITTED,
    EXPIRED,
    MALFORMED,
    MAX_TOKEN_BYTES,
    OK,
    PASS_REQUIRED,
    REFUSE,
    REPLAYED,
    RESTRICTED,
    UNKNOWN_KEY,
    WRONG_ISSUER,
    KeySet,
    Policy,
    ScanDecision,
    StaticStatus,
    verify,
)

# Order of the P-256 group (SEC 2), written out here rather than taken from the module.
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
REASONS = {OK, BAD_SIGNATURE, CODE_CHANGED, COLOR_NOT_ADMITTED, EXPIRED, MALFORMED, REPLAYED,
           RESTRICTED, UNKNOWN_KEY, WRONG_ISSUER, PASS_REQUIRED}

ISSUER = "https://hc.example.gov.cn"
PARTNER = "https://hc.partner.example"  # a second trusted issuer
STRANGER = "https://hc.stranger.example"  # trusted by nobody
SUBJECT = "subject-1"
HOLDER = mask_name("张三丰")
NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
LIFETIME = 300
MS = timedelta(milliseconds=1)


def _new_key() -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    return SigningKey(key_id(private.public_key()), private, NOW, None)


KEY = _new_key()  # the issuer's signing key
ROTATED = _new_key()  # a second published key of the same issuer
PARTNER_KEY = _new_key()  # the partner issuer's key
ROGUE = _new_key()  # nobody's key
ROGUE_AS_KEY = SigningKey(KEY.kid, ROGUE.private_key, NOW, None)  # a stranger using KEY's kid


def _jwks(*keys: SigningKey) -> dict[str, list[dict[str, str]]]:
    return {"keys": [public_jwk(k.private_key.public_key(), k.kid) for k in keys]}


KEYS = KeySet.from_jwks({ISSUER: _jwks(KEY, ROTATED), PARTNER: _jwks(PARTNER_KEY)})
GREEN_ONLY = Policy(admits=frozenset({"green"}))
ALL_COLORS = Policy(admits=frozenset({"green", "yellow", "red"}))
RAIL = Policy(admits=frozenset({"green"}), category="transport", required_scope="transport:rail")


# --------------------------------------------------------------------------- helpers


def issue(color: str = "green", *, key: SigningKey = KEY, issuer: str = ISSUER,
          subject: str = SUBJECT, now: datetime = NOW, scope: str | None = None,
          name: str = HOLDER) -> SignedToken:
    """A token signed by the service's own code."""
    return sign_code_token(key=key, issuer=issuer, subject=subject, color=color,
                           display_name=name, now=now, lifetime_seconds=LIFETIME, scope=scope)


def check(token: Any, *, policy: Policy = GREEN_ONLY, now: datetime = NOW,
          status: Any = None, skew: int = 5) -> ScanDecision:
    return verify(token, KEYS, policy, now, status, clock_skew_seconds=skew)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64json(value: Any) -> str:
    return b64(json.dumps(value, ensure_ascii=False).encode())


DROP = object()  # a claim override meaning "leave this claim out"


def claims(**overrides: Any) -> dict[str, Any]:
    """The claims of a real token issued at NOW, with ``overrides`` applied."""
    base: dict[str, Any] = {"iss": ISSUER, "sub": SUBJECT, "iat": NOW.timestamp(),
                            "exp": int(NOW.timestamp()) + LIFETIME, "jti": "jti-1",
                            "hc": "green", "nm": HOLDER}
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not DROP}


def header(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"alg": "ES256", "kid": KEY.kid}
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not DROP}


def raw_signature(r: int, s: int, size: int = 32) -> bytes:
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def es256(head: dict[str, Any], body: dict[str, Any], key: SigningKey = KEY) -> str:
    """A genuine ES256 signature by ``key`` over arbitrary (possibly absurd) header and claims."""
    signing_input = f"{b64json(head)}.{b64json(body)}"
    r, s = decode_dss_signature(key.private_key.sign(signing_input.encode(),
                                                     ec.ECDSA(hashes.SHA256())))
    # The canonical low-S form, as our signer writes it (high-S is refused).
    return f"{signing_input}.{b64(raw_signature(r, min(s, N - s)))}"


def with_signature(token: str, signature: bytes | str) -> str:
    head, body, _ = token.split(".")
    part = signature if isinstance(signature, str) else b64(signature)
    return f"{head}.{body}.{part}"


def rs(token: str) -> tuple[int, int]:
    raw = unb64(token.split(".")[2])
    return int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")


def hmac_token(alg: str, secret: bytes, body: dict[str, Any] | None = None) -> str:
    """An HMAC "JWS" keyed with public key material: the classic algorithm-confusion forgery."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signing_input = f"{b64json(header(alg=alg, typ='JWT'))}.{b64json(body or claims())}"
    mac = hmac.new(secret, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(mac)}"


def unsigned(alg: Any, signature: str = "", body: dict[str, Any] | None = None) -> str:
    return f"{b64json(header(alg=alg))}.{b64json(body or claims())}.{signature}"


def assert_refused(decision: ScanDecision, reason: str) -> None:
    assert (decision.decision, decision.reason) == (REFUSE, reason), decision


def assert_nothing_unverified_shown(decision: ScanDecision) -> None:
    """A refusal before the signature is checked must not show what the token claims."""
    assert decision.color is None and decision.holder is None
    assert decision.subject is None and decision.jti is None


PUBLIC_KEY = KEY.private_key.public_key()
PUBLIC_PEM = PUBLIC_KEY.public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo)
PUBLIC_DER = PUBLIC_KEY.public_bytes(serialization.Encoding.DER,
                                     serialization.PublicFormat.SubjectPublicKeyInfo)
PUBLIC_POINT = PUBLIC_KEY.public_bytes(serialization.Encoding.X962,
                                       serialization.PublicFormat.UncompressedPoint)
PUBLIC_JWK = json.dumps(public_jwk(PUBLIC_KEY, KEY.kid)).encode()

GOOD = issue()
RED = issue("red")
R, S = rs(GOOD.token)


# --------------------------------------------------------------------------- admitted


def test_a_real_token_is_admitted_with_its_color_and_masked_name():
    decision = check(GOOD.token, status=StaticStatus())

    assert decision == ScanDecision(ADMIT, OK, color="green", holder="张*", issuer=ISSUER,
                                    subject=SUBJECT, jti=GOOD.jti,
                                    issued_at=NOW.timestamp(), scope=None)
    assert decision.admitted


@pytest.mark.parametrize(("token", "policy", "color"), [
    pytest.param(issue(key=ROTATED).token, GREEN_ONLY, "green", id="second-published-key"),
    pytest.param(issue(key=PARTNER_KEY, issuer=PARTNER).token, GREEN_ONLY, "green",
                 id="partner-issuer"),
    pytest.param(issue("yellow").token, ALL_COLORS, "yellow", id="yellow-where-admitted"),
    pytest.param(RED.token, ALL_COLORS, "red", id="red-where-admitted"),
    pytest.param(issue(scope="transport:rail").token, RAIL, "green", id="matching-scope"),
    pytest.param(issue(scope="transport:rail").token, GREEN_ONLY, "green",
                 id="scoped-pass-at-venue"),
    pytest.param(GOOD.token, Policy(frozenset({"green"}), issuers=frozenset({ISSUER})),
                 "green", id="issuer-listed-by-policy"),
    pytest.param(GOOD.token.encode("ascii"), GREEN_ONLY, "green", id="ascii-bytes"),
    pytest.param(f"  {GOOD.token}\r\n", GREEN_ONLY, "green", id="scanner-whitespace"),
])
def test_admitted(token, policy, color):
    decision = check(token, policy=policy)

    assert (decision.decision, decision.reason, decision.color) == (ADMIT, OK, color)


def test_holder_names_in_any_script_survive_the_round_trip():
    for name in ("张三丰", "Alice B. Smith", "Ólafur", "Мария Иванова"):
        decision = check(issue(name=mask_name(name)).token)
        assert decision.holder == mask_name(name)


# --------------------------------------------------------------------------- public view


@pytest.mark.parametrize("decision", [
    pytest.param(check(GOOD.token), id="admitted"),
    pytest.param(check(RED.token), id="refused-after-verification"),
    pytest.param(check("garbage"), id="refused-malformed"),
])
def test_public_view_shows_decision_reason_color_and_holder_only(decision):
    view = decision.public()

    assert view == {"decision": decision.decision, "reason": decision.reason,
                    "color": decision.color, "holder": decision.holder}
    shown = json.dumps(view, ensure_ascii=False)
    for secret in (SUBJECT, GOOD.jti, RED.jti, ISSUER):
        assert secret not in shown


# --------------------------------------------------------------------------- alg / HMAC


@pytest.mark.parametrize("token", [
    pytest.param(unsigned("none", "AAAA"), id="none-with-junk-signature"),
    pytest.param(unsigned("None", "AAAA"), id="None-capitalised"),
    pytest.param(unsigned("NONE", "AAAA"), id="NONE-upper"),
    pytest.param(unsigned(None, "AAAA"), id="alg-null"),
    pytest.param(f"{b64json({'kid': KEY.kid})}.{b64json(claims())}.AAAA", id="alg-missing"),
    pytest.param(unsigned("none", GOOD.token.split(".")[2]), id="none-with-real-signature"),
    pytest.param(hmac_token("HS256", PUBLIC_PEM), id="HS256-keyed-with-public-PEM"),
    pytest.param(hmac_token("HS256", PUBLIC_DER), id="HS256-keyed-with-public-DER"),
    pytest.param(hmac_token("HS256", PUBLIC_POINT), id="HS256-keyed-with-public-point"),
    pytest.param(hmac_token("HS256", PUBLIC_JWK), id="HS256-keyed-with-public-JWK"),
    pytest.param(hmac_token("HS384", PUBLIC_PEM), id="HS384-keyed-with-public-PEM"),
    pytest.param(hmac_token("HS512", PUBLIC_PEM), id="HS512-keyed-with-public-PEM"),
    pytest.param(es256(header(alg="HS256"), claims()), id="HS256-header-ES256-signature"),
    pytest.param(es256(header(alg="ES384"), claims()), id="ES384-header"),
    pytest.param(es256(header(alg="ES512"), claims()), id="ES512-header"),
    pytest.param(es256(header(alg="RS256"), claims()), id="RS256-header"),
    pytest.param(es256(header(alg="EdDSA"), claims()), id="EdDSA-header"),
    pytest.param(es256(header(alg="es256"), claims()), id="lower-case-es256"),
    pytest.param(es256(header(alg=["ES256"]), claims()), id="alg-as-list"),
])
def test_every_algorithm_but_es256_is_a_bad_signature(token):
    decision = check(token)

    assert_refused(decision, BAD_SIGNATURE)
    assert_nothing_unverified_shown(decision)


def test_unsecured_jwt_with_empty_signature_is_a_bad_signature():
    """RFC 7519 section 6.1: an unsecured JWT is ``header.payload.`` (empty third part)."""
    decision = check(unsigned("none", ""))

    assert_refused(decision, BAD_SIGNATURE)


# --------------------------------------------------------------------------- ECDSA forgeries


@pytest.mark.parametrize("signature", [
    pytest.param(bytes(64), id="r=s=0"),
    pytest.param(raw_signature(0, S), id="r=0"),
    pytest.param(raw_signature(R, 0), id="s=0"),
    pytest.param(raw_signature(N, N), id="r=s=n"),
    pytest.param(raw_signature(N, S), id="r=n"),
    pytest.param(raw_signature(R, N), id="s=n"),
    pytest.param(raw_signature(N + 1, S), id="r=n+1"),
    pytest.param(raw_signature(R, N + 1), id="s=n+1"),
    pytest.param(raw_signature(2**256 - 1, 2**256 - 1), id="r=s=2^256-1"),
    pytest.param(raw_signature(1, 1), id="r=s=1"),
    pytest.param(raw_signature(N - R, S), id="r-negated"),
    pytest.param(raw_signature(S, R), id="r-s-swapped"),
    pytest.param(raw_signature(R, S)[:63], id="63-bytes"),
    pytest.param(raw_signature(R, S) + b"\x00", id="65-bytes"),
    pytest.param(raw_signature(R, S, size=33), id="66-bytes-zero-padded"),
    pytest.param(encode_dss_signature(R, S), id="valid-but-DER-encoded"),
    pytest.param(b"\x00", id="one-byte"),
    pytest.param("a", id="bad-base64-length"),
    pytest.param("!!!!", id="no-base64-characters"),
    pytest.param("é" * 86, id="non-ascii"),
])
def test_invalid_ecdsa_signatures_are_refused(signature):
    decision = check(with_signature(GOOD.token, signature))

    assert_refused(decision, BAD_SIGNATURE)
    assert_nothing_unverified_shown(decision)


@pytest.mark.parametrize("token", [
    pytest.param(with_signature(RED.token, GOOD.token.split(".")[2]),
                 id="payload-swapped-under-another-tokens-signature"),
    pytest.param(with_signature(
        f"{GOOD.token.split('.')[0]}.{b64json(claims(hc='green', jti=RED.jti))}.x",
        RED.token.split(".")[2]), id="recoloured-claims"),
    pytest.param(with_signature(
        f"{b64json(header(kid=ROTATED.kid))}.{GOOD.token.split('.')[1]}.x",
        GOOD.token.split(".")[2]), id="kid-swapped-to-another-published-key"),
    pytest.param(issue(key=ROGUE_AS_KEY).token, id="stranger-key-using-a-known-kid"),
    pytest.param(es256(header(), claims(), key=PARTNER_KEY), id="partner-key-signing-for-issuer"),
])
def test_a_signature_valid_for_something_else_is_refused(token):
    decision = check(token)

    assert_refused(decision, BAD_SIGNATURE)
    assert_nothing_unverified_shown(decision)


def test_high_s_twin_of_a_real_signature_is_refused():
    """(r, n - s) verifies for plain ECDSA: a second spelling of the same token. Gates take
    only the canonical low-S form (s <= n/2), which is what our signer writes."""
    assert S <= N // 2
    twin = with_signature(GOOD.token, raw_signature(R, N - S))

    decision = check(twin)

    assert_refused(decision, BAD_SIGNATURE)
    assert_nothing_unverified_shown(decision)
    assert check(GOOD.token).admitted


def test_every_token_we_sign_is_low_s_and_admitted_and_its_twin_refused():
    """ECDSA nonces are random, so about half of raw signatures are high-S: 300 tokens
    would all be low-S by chance with probability 2^-300."""
    for i in range(300):
        signed = issue(subject=f"subject-{i}", key=(KEY, ROTATED)[i % 2])
        r, s = rs(signed.token)
        assert 0 < s <= N // 2, signed.token
        assert check(signed.token).admitted
        assert_refused(check(with_signature(signed.token, raw_signature(r, N - s))),
                       BAD_SIGNATURE)


# --------------------------------------------------------------------------- kid


@pytest.mark.parametrize("token", [
    pytest.param(es256(header(kid=DROP), claims()), id="kid-missing"),
    pytest.param(es256(header(kid="no-such-kid"), claims()), id="kid-unknown"),
    pytest.param(es256(header(kid=""), claims()), id="kid-empty"),
    pytest.param(es256(header(kid=None), claims()), id="kid-null"),
    pytest.param(es256(header(kid=7), claims()), id="kid-int"),
    pytest.param(es256(header(kid=[KEY.kid]), claims()), id="kid-list"),
    pytest.param(es256(header(kid={"kid": KEY.kid}), claims()), id="kid-object"),
    pytest.param(issue(key=ROGUE).token, id="token-from-another-key"),
    pytest.param(es256(header(kid=PARTNER_KEY.kid), claims(), key=PARTNER_KEY),
                 id="partner-kid-claiming-issuer"),
    pytest.param(es256(header(), claims(iss=PARTNER)), id="issuer-kid-claiming-partner"),
])
def test_missing_or_unknown_kid(token):
    decision = check(token)

    assert_refused(decision, UNKNOWN_KEY)
    assert_nothing_unverified_shown(decision)


# --------------------------------------------------------------------------- issuer


@pytest.mark.parametrize(("token", "policy"), [
    pytest.param(es256(header(), claims(iss=STRANGER)), GREEN_ONLY, id="untrusted-issuer"),
    pytest.param(issue(key=ROGUE, issuer=STRANGER).token, GREEN_ONLY,
                 id="stranger-signing-for-itself"),
    pytest.param(es256(header(), claims(iss="")), GREEN_ONLY, id="empty-issuer"),
    pytest.param(es256(header(), claims(iss=ISSUER + "/")), GREEN_ONLY, id="trailing-slash"),
    pytest.param(es256(header(), claims(iss=ISSUER.upper())), GREEN_ONLY, id="upper-case"),
    pytest.param(GOOD.token, Policy(frozenset({"green"}), issuers=frozenset({PARTNER})),
                 id="excluded-by-policy"),
    pytest.param(GOOD.token, Policy(frozenset({"green"}), issuers=frozenset()),
                 id="policy-admits-no-issuer"),
])
def test_wrong_issuer(token, policy):
    decision = check(token, policy=policy)

    assert_refused(decision, WRONG_ISSUER)
    assert decision.color is None and decision.holder is None


# --------------------------------------------------------------------------- time


@pytest.mark.parametrize("skew", [0, 5, 120])
def test_expiry_edges_honour_the_clock_skew(skew):
    expiry = NOW + timedelta(seconds=LIFETIME)
    allowance = timedelta(seconds=skew)

    assert check(GOOD.token, now=expiry + allowance - MS, skew=skew).reason == OK
    late = check(GOOD.token, now=expiry + allowance, skew=skew)
    assert_refused(late, EXPIRED)
    assert late.color == "green"  # verified claims may be shown


@pytest.mark.parametrize("skew", [0, 5, 120])
def test_not_yet_valid_edges_honour_the_clock_skew(skew):
    allowance = timedelta(seconds=skew)

    assert check(GOOD.token, now=NOW - allowance, skew=skew).reason == OK
    assert_refused(check(GOOD.token, now=NOW - allowance - MS, skew=skew), EXPIRED)


def test_default_clock_skew_is_five_seconds():
    expiry = NOW + timedelta(seconds=LIFETIME)

    def at(now: datetime) -> str:
        return verify(GOOD.token, KEYS, GREEN_ONLY, now).reason

    assert at(expiry + timedelta(seconds=5) - MS) == OK
    assert at(expiry + timedelta(seconds=5)) == EXPIRED
    assert at(NOW - timedelta(seconds=5)) == OK
    assert at(NOW - timedelta(seconds=5) - MS) == EXPIRED


def test_long_expired_token_is_refused():
    assert_refused(check(GOOD.token, now=NOW + timedelta(days=1)), EXPIRED)


# --------------------------------------------------------------------------- code status

ISSUED_MS = NOW + 123 * MS
STAMPED = issue(now=ISSUED_MS)  # iat has millisecond precision: ...400.123
IAT_MS = int(NOW.timestamp()) * 1000 + 123
LATER = NOW + timedelta(seconds=1)


@pytest.mark.parametrize(("status", "reason"), [
    pytest.param(StaticStatus({(ISSUER, SUBJECT): IAT_MS + 1}), CODE_CHANGED,
                 id="changed-1ms-after-iat"),
    pytest.param(StaticStatus({(ISSUER, SUBJECT): IAT_MS + 60_000}), CODE_CHANGED,
                 id="changed-a-minute-after-iat"),
    pytest.param(StaticStatus({(ISSUER, SUBJECT): IAT_MS}), OK, id="changed-at-iat"),
    pytest.param(StaticStatus({(ISSUER, SUBJECT): IAT_MS - 1}), OK, id="changed-before-iat"),
    pytest.param(StaticStatus({(ISSUER, "someone-else"): IAT_MS + 1}), OK,
                 id="someone-else-changed"),
    pytest.param(StaticStatus({(PARTNER, SUBJECT): IAT_MS + 1}), OK,
                 id="same-subject-at-another-issuer"),
    pytest.param(StaticStatus(revoked_jtis=frozenset({(ISSUER, STAMPED.jti)})), CODE_CHANGED,
                 id="revoked-jti"),
    pytest.param(StaticStatus(revoked_jtis=frozenset({(PARTNER, STAMPED.jti)})), OK,
                 id="same-jti-revoked-at-another-issuer"),
    pytest.param(StaticStatus(revoked_jtis=frozenset({(ISSUER, "other-jti")})), OK,
                 id="another-jti-revoked"),
    pytest.param(StaticStatus(), OK, id="nothing-known"),
    pytest.param(None, OK, id="offline-without-status"),
])
def test_code_status(status, reason):
    decision = check(STAMPED.token, now=LATER, status=status)

    assert decision.reason == reason
    assert decision.decision == (ADMIT if reason == OK else REFUSE)
    assert decision.color == "green"


@dataclass
class RecordingStatus:
    """A StatusLookup that answers from dicts and records what it was asked."""

    changes: dict[tuple[str, str], int] = field(default_factory=dict)
    revoked_jtis: set[tuple[str, str]] = field(default_factory=set)
    asked: list[tuple[str, str, str]] = field(default_factory=list)

    def changed_ms(self, issuer: str, subject: str) -> int | None:
        self.asked.append(("changed_ms", issuer, subject))
        return self.changes.get((issuer, subject))

    def revoked(self, issuer: str, jti: str) -> bool:
        self.asked.append(("revoked", issuer, jti))
        return (issuer, jti) in self.revoked_jtis


def test_any_status_lookup_is_asked_about_the_verified_issuer_subject_and_jti():
    status = RecordingStatus()

    assert check(STAMPED.token, now=LATER, status=status).admitted
    assert status.asked == [("changed_ms", ISSUER, SUBJECT), ("revoked", ISSUER, STAMPED.jti)]

    status = RecordingStatus(changes={(ISSUER, SUBJECT): IAT_MS + 1})
    assert_refused(check(STAMPED.token, now=LATER, status=status), CODE_CHANGED)


@pytest.mark.parametrize("token", [
    pytest.param(with_signature(STAMPED.token, bytes(64)), id="zero-signature"),
    pytest.param(issue(key=ROGUE_AS_KEY).token, id="stranger-key"),
    pytest.param(unsigned("none", "AAAA"), id="alg-none"),
    pytest.param(es256(header(), claims(iss=STRANGER)), id="untrusted-issuer"),
])
def test_unverified_tokens_never_reach_the_status_lookup(token):
    status = RecordingStatus()

    assert check(token, status=status).decision == REFUSE
    assert status.asked == []


# --------------------------------------------------------------------------- scope and color


@pytest.mark.parametrize(("scope", "policy", "reason"), [
    pytest.param("transport:rail", RAIL, OK, id="matching"),
    pytest.param(None, RAIL, PASS_REQUIRED, id="unscoped-pass-at-rail-gate"),
    pytest.param("transport:bus", RAIL, PASS_REQUIRED, id="other-transport-scope"),
    pytest.param("venue", RAIL, PASS_REQUIRED, id="venue-scope"),
    pytest.param(None, GREEN_ONLY, OK, id="no-scope-required"),
])
def test_transport_scope(scope, policy, reason):
    decision = check(issue(scope=scope).token, policy=policy)

    assert decision.reason == reason
    assert decision.scope == scope


def test_scope_comparison_is_exact():
    for scope in ("Transport:Rail", "transport:rail ", "transport", "transport:rail:x"):
        assert_refused(check(issue(scope=scope).token, policy=RAIL), PASS_REQUIRED)


# Travel gates as the service builds their policies (services.checkpoints.policy_of).
def travel_gate(category: str, **extra: Any) -> Policy:
    return Policy(admits=frozenset({"green"}), category=category, required_scope=category,
                  **extra)


@pytest.mark.parametrize(("token", "policy", "reason"), [
    pytest.param(GOOD.token, travel_gate("air"), PASS_REQUIRED, id="plain-token-at-air-gate"),
    pytest.param(issue(scope="air").token, travel_gate("rail"), PASS_REQUIRED,
                 id="air-pass-at-rail-gate"),
    pytest.param(issue(scope="rail").token, travel_gate("rail"), OK, id="rail-pass-at-rail-gate"),
    pytest.param(issue(scope="hotel").token, travel_gate("hotel"), OK, id="hotel-pass"),
    pytest.param(issue(scope="rail").token, GREEN_ONLY, OK, id="rail-pass-at-a-shop"),
    pytest.param(issue("yellow").token, travel_gate("rail"), PASS_REQUIRED,
                 id="yellow-plain-token-at-rail-gate"),
    pytest.param(issue("yellow", scope="rail").token, travel_gate("rail"), COLOR_NOT_ADMITTED,
                 id="yellow-pass-at-rail-gate"),
    # A policy that names a travel category but forgot required_scope still needs the pass.
    pytest.param(GOOD.token, Policy(frozenset({"green"}), category="rail"), PASS_REQUIRED,
                 id="travel-category-without-required-scope"),
    pytest.param(issue(scope="rail").token, Policy(frozenset({"green"}), category="rail"), OK,
                 id="pass-at-travel-category-without-required-scope"),
])
def test_travel_gates_admit_only_their_own_pass(token, policy, reason):
    decision = check(token, policy=policy)

    assert decision.reason == reason
    assert decision.decision == (ADMIT if reason == OK else REFUSE)


@pytest.mark.parametrize(("token", "reason"), [
    pytest.param(issue(key=PARTNER_KEY, issuer=PARTNER).token, PASS_REQUIRED,
                 id="foreign-plain-token"),
    pytest.param(issue(key=PARTNER_KEY, issuer=PARTNER, scope="air").token, PASS_REQUIRED,
                 id="foreign-air-pass"),
    pytest.param(issue(key=PARTNER_KEY, issuer=PARTNER, scope="rail").token, OK,
                 id="foreign-rail-pass"),
])
def test_foreign_tokens_at_a_travel_gate_need_the_matching_pass(token, reason):
    """A foreign issuer's pass counts as restriction-checked by that issuer (module docstring);
    anything but a pass for the gate's category is refused as for our own holders."""
    assert check(token, policy=travel_gate("rail")).reason == reason


def test_pass_required_comes_after_expiry_and_before_status_restriction_and_color():
    rail = travel_gate("rail")
    late = NOW + timedelta(seconds=LIFETIME + 60)
    assert check(GOOD.token, policy=rail, now=late).reason == EXPIRED
    changed = StaticStatus({(ISSUER, SUBJECT): IAT_MS + 1},
                           restricted_subjects=frozenset({(ISSUER, SUBJECT)}),
                           restricted_category="rail")
    assert check(GOOD.token, policy=rail, status=changed).reason == PASS_REQUIRED
    assert check(RED.token, policy=rail).reason == PASS_REQUIRED
    assert check(issue("red", scope="rail").token, policy=rail).reason == COLOR_NOT_ADMITTED


def test_policy_round_trips_through_the_bundle_shape():
    policy = travel_gate("air", max_lifetime_seconds=1200,
                         issuers=frozenset({ISSUER, PARTNER}))
    assert Policy.from_dict(policy.to_dict()) == policy
    assert policy.to_dict()["required_scope"] == "air"
    assert policy.to_dict()["max_lifetime_seconds"] == 1200
    old = {"admits": ["green"], "category": "rail"}  # a bundle from before the cap
    assert Policy.from_dict(old).max_lifetime_seconds is None
    assert Policy.from_dict(old).scope_needed == "rail"
    for bad in (0, -5, "600", 1.5, True):
        with pytest.raises(ValueError, match="max_lifetime_seconds"):
            Policy.from_dict({**old, "max_lifetime_seconds": bad})


# --------------------------------------------------------------------------- lifetime cap

CAPPED = Policy(admits=frozenset({"green"}), max_lifetime_seconds=4 * LIFETIME)


@pytest.mark.parametrize(("token", "reason"), [
    pytest.param(GOOD.token, OK, id="our-own-token"),
    pytest.param(es256(header(), claims(exp=int(NOW.timestamp()) + 4 * LIFETIME)), OK,
                 id="exactly-the-cap"),
    pytest.param(es256(header(), claims(exp=int(NOW.timestamp()) + 4 * LIFETIME + 1)), EXPIRED,
                 id="a-second-over-the-cap"),
    pytest.param(es256(header(kid=PARTNER_KEY.kid), claims(
        iss=PARTNER, exp=int(NOW.timestamp()) + 86400 * 365), key=PARTNER_KEY), EXPIRED,
        id="foreign-token-for-a-year"),
    pytest.param(es256(header(kid=PARTNER_KEY.kid), claims(iss=PARTNER, exp=1e300),
                       key=PARTNER_KEY), MALFORMED, id="foreign-exp-1e300"),
    pytest.param(es256(header(kid=PARTNER_KEY.kid), claims(
        iss=PARTNER, iat=0, exp=int(NOW.timestamp()) + 60), key=PARTNER_KEY), EXPIRED,
        id="foreign-iat-at-the-epoch"),
])
def test_lifetime_cap(token, reason):
    decision = check(token, policy=CAPPED)

    assert decision.reason == reason


def test_uncapped_policy_still_refuses_absurd_times():
    forever = es256(header(kid=PARTNER_KEY.kid), claims(iss=PARTNER, exp=1e300), key=PARTNER_KEY)
    assert_refused(check(forever), MALFORMED)
    year = es256(header(), claims(exp=int(NOW.timestamp()) + 86400 * 365))
    assert check(year).reason == OK  # no cap in the policy: only the service sets one


@pytest.mark.parametrize(("color", "admits", "reason"), [
    pytest.param("yellow", {"green"}, COLOR_NOT_ADMITTED, id="yellow-at-green-gate"),
    pytest.param("red", {"green"}, COLOR_NOT_ADMITTED, id="red-at-green-gate"),
    pytest.param("red", {"green", "yellow"}, COLOR_NOT_ADMITTED, id="red-at-green-yellow"),
    pytest.param("green", set(), COLOR_NOT_ADMITTED, id="gate-admits-nothing"),
    pytest.param("green", {"yellow", "red"}, COLOR_NOT_ADMITTED, id="green-not-listed"),
    pytest.param("yellow", {"green", "yellow"}, OK, id="yellow-at-green-yellow"),
])
def test_color_policy(color, admits, reason):
    decision = check(issue(color).token, policy=Policy(frozenset(admits)))

    assert decision.reason == reason
    assert (decision.color, decision.holder) == (color, HOLDER)  # the gate shows why


# --------------------------------------------------------------------------- malformed input

TWO_PARTS = ".".join(GOOD.token.split(".")[:2])


@pytest.mark.parametrize("token", [
    pytest.param(None, id="None"),
    pytest.param(0, id="int"),
    pytest.param(12345678901234567890, id="big-int"),
    pytest.param(1.5, id="float"),
    pytest.param(True, id="bool"),
    pytest.param([GOOD.token], id="list"),
    pytest.param({"token": GOOD.token}, id="dict"),
    pytest.param("", id="empty"),
    pytest.param(b"", id="empty-bytes"),
    pytest.param("   \n", id="whitespace"),
    pytest.param(".", id="one-dot"),
    pytest.param("..", id="two-dots"),
    pytest.param("...", id="three-dots"),
    pytest.param("a.b", id="two-parts"),
    pytest.param("a.b.c", id="three-junk-parts"),
    pytest.param("a.b.c.d", id="four-parts"),
    pytest.param(TWO_PARTS, id="signature-part-missing"),
    pytest.param(GOOD.token + ".", id="trailing-dot"),
    pytest.param("." + GOOD.token, id="leading-dot"),
    pytest.param(GOOD.token + "." + GOOD.token, id="two-tokens"),
    pytest.param("x" * 2**20, id="1MB-string"),
    pytest.param("." * 2**20, id="1MB-of-dots"),
    pytest.param(b"a" * 2**20, id="1MB-bytes"),
    pytest.param(GOOD.token + "A" * MAX_TOKEN_BYTES, id="oversized-signature"),
    pytest.param(b"\xff\xfe\xfd", id="bytes-not-utf8"),
    pytest.param(GOOD.token.encode() + b"\xff", id="token-then-non-utf8-byte"),
    pytest.param(b"\x80" + GOOD.token.encode(), id="continuation-byte-then-token"),
    pytest.param(GOOD.token.encode("utf-16"), id="token-as-utf16"),
    pytest.param("é".encode(), id="utf8-but-not-ascii-bytes"),
    pytest.param(("é" + GOOD.token).encode(), id="non-ascii-bytes-before-token"),
    pytest.param("\x00", id="nul"),
    pytest.param(f"{b64json(header())}\ud800.{b64json(claims())}.AAAA", id="lone-surrogate"),
    pytest.param(f"é{GOOD.token}", id="non-ascii-in-header"),
])
def test_malformed_input_of_any_size_or_type(token):
    decision = check(token)

    assert_refused(decision, MALFORMED)
    assert_nothing_unverified_shown(decision)


_SIG = GOOD.token.split(".")[2]
_BODY = GOOD.token.split(".")[1]
_HEAD = GOOD.token.split(".")[0]


@pytest.mark.parametrize("token", [
    pytest.param(f"a.{_BODY}.{_SIG}", id="header-bad-base64"),
    pytest.param(f"{b64(b'{alg')}.{_BODY}.{_SIG}", id="header-not-json"),
    pytest.param(f"{b64(bytes([0xFF, 0xFE]))}.{_BODY}.{_SIG}", id="header-not-utf8"),
    pytest.param(f"{b64json(['ES256'])}.{_BODY}.{_SIG}", id="header-json-array"),
    pytest.param(f"{b64json('ES256')}.{_BODY}.{_SIG}", id="header-json-string"),
    pytest.param(f"{b64json(None)}.{_BODY}.{_SIG}", id="header-json-null"),
    pytest.param(f"{b64json(256)}.{_BODY}.{_SIG}", id="header-json-number"),
    pytest.param(f"{b64(b'[' * 1200)}.{_BODY}.{_SIG}", id="header-deeply-nested"),
    pytest.param(f"{_HEAD}.a.{_SIG}", id="claims-bad-base64"),
    pytest.param(f"{_HEAD}.{b64(b'not json')}.{_SIG}", id="claims-not-json"),
    pytest.param(f"{_HEAD}.{b64(bytes([0xC3, 0x28]))}.{_SIG}", id="claims-not-utf8"),
    pytest.param(f"{_HEAD}.{b64json([claims()])}.{_SIG}", id="claims-json-array"),
    pytest.param(f"{_HEAD}.{b64json('green')}.{_SIG}", id="claims-json-string"),
    pytest.param(f"{_HEAD}.{b64json(True)}.{_SIG}", id="claims-json-bool"),
    pytest.param(es256(header(), claims(iss=DROP)), id="iss-missing"),
    pytest.param(es256(header(), claims(iss=7)), id="iss-int"),
    pytest.param(es256(header(), claims(iss=[ISSUER])), id="iss-list"),
    pytest.param(es256(header(), claims(iss=None)), id="iss-null"),
])
def test_unreadable_header_or_claims(token):
    decision = check(token)

    assert_refused(decision, MALFORMED)
    assert_nothing_unverified_shown(decision)


@pytest.mark.parametrize("body", [
    pytest.param(claims(hc="purple"), id="hc-purple"),
    pytest.param(claims(hc="GREEN"), id="hc-upper-case"),
    pytest.param(claims(hc=None), id="hc-null"),
    pytest.param(claims(hc=DROP), id="hc-missing"),
    pytest.param(claims(hc=["green"]), id="hc-list"),
    pytest.param(claims(hc=1), id="hc-int"),
    pytest.param(claims(iat=str(NOW.timestamp())), id="iat-string"),
    pytest.param(claims(iat=DROP), id="iat-missing"),
    pytest.param(claims(iat=None), id="iat-null"),
    pytest.param(claims(iat=True), id="iat-bool"),
    pytest.param(claims(iat=[NOW.timestamp()]), id="iat-list"),
    pytest.param(claims(exp=str(NOW.timestamp() + LIFETIME)), id="exp-string"),
    pytest.param(claims(exp=DROP), id="exp-missing"),
    pytest.param(claims(exp=False), id="exp-bool"),
    pytest.param(claims(sub=DROP), id="sub-missing"),
    pytest.param(claims(sub=7), id="sub-int"),
    pytest.param(claims(sub=None), id="sub-null"),
    pytest.param(claims(jti=DROP), id="jti-missing"),
    pytest.param(claims(jti=7), id="jti-int"),
    pytest.param(claims(nm=7), id="nm-int"),
    pytest.param(claims(nm=[HOLDER]), id="nm-list"),
    pytest.param(claims(scp=7), id="scp-int"),
    pytest.param(claims(scp=["transport:rail"]), id="scp-list"),
])
def test_signed_but_ill_typed_claims_are_malformed(body):
    decision = check(es256(header(), body))  # a genuine signature: only the claims are wrong

    assert_refused(decision, MALFORMED)
    assert decision.color is None and decision.holder is None


def test_hand_signed_well_typed_claims_are_admitted():
    """Control for the table above: the forging helper itself produces acceptable tokens."""
    assert check(es256(header(), claims())).reason == OK
    assert check(es256(header(), claims(nm=DROP))).reason == OK  # nm is optional


@pytest.mark.parametrize("body", [
    pytest.param(claims(exp=math.inf), id="exp-Infinity"),
    pytest.param(claims(exp=math.nan), id="exp-NaN"),
    pytest.param(claims(iat=math.nan), id="iat-NaN"),
    pytest.param(claims(iat=-math.inf), id="iat-minus-Infinity"),
    pytest.param(claims(iat=10**400), id="iat-beyond-float-range"),
    pytest.param(claims(exp=1e300), id="exp-1e300"),
    pytest.param(claims(exp=float(2**53)), id="exp-2^53-as-float"),
    pytest.param(claims(iat=-1e300), id="iat-minus-1e300"),
])
def test_non_finite_or_unrepresentable_times_are_malformed(body):
    """JSON has no NaN or Infinity (RFC 8259), so they are no NumericDate; refuse, never raise.

    Python's json module reads them anyway; ``exp: Infinity`` would otherwise never expire
    and ``iat: NaN`` would slip past every code-change comparison.
    """
    decision = check(es256(header(), body), status=StaticStatus({(ISSUER, SUBJECT): 1}))

    assert_refused(decision, MALFORMED)


# --------------------------------------------------------------------------- size and truncation


def test_every_truncation_of_a_real_token_is_refused():
    token = GOOD.token
    signature_starts = len(TWO_PARTS) + 1

    for end in range(len(token)):
        decision = check(token[:end])
        # "header.payload." is an unsigned token: a bad signature, not unreadable.
        expected = MALFORMED if end < signature_starts else BAD_SIGNATURE
        assert_refused(decision, expected)
        assert_nothing_unverified_shown(decision)


def test_every_token_missing_its_first_characters_is_refused():
    token = GOOD.token
    for start in range(1, len(token)):
        decision = check(token[start:])
        assert_refused(decision, MALFORMED)


def test_size_limit_is_exact():
    padded = GOOD.token + " " * (MAX_TOKEN_BYTES - len(GOOD.token))

    assert len(padded) == MAX_TOKEN_BYTES
    assert check(padded).reason == OK
    assert_refused(check(padded + " "), MALFORMED)
    assert_refused(check((padded + " ").encode()), MALFORMED)


def test_a_genuine_token_too_big_for_a_gate_is_malformed():
    huge = issue(name="A" * MAX_TOKEN_BYTES).token

    assert len(huge) > MAX_TOKEN_BYTES
    assert_refused(check(huge), MALFORMED)


# --------------------------------------------------------------------------- key set


@pytest.mark.parametrize("jwk", [
    pytest.param({**public_jwk(PUBLIC_KEY, KEY.kid), "kty": "RSA"}, id="not-EC"),
    pytest.param({**public_jwk(PUBLIC_KEY, KEY.kid), "crv": "P-384"}, id="not-P-256"),
    pytest.param({**public_jwk(PUBLIC_KEY, KEY.kid), "alg": "ES384"}, id="alg-ES384"),
    pytest.param({**public_jwk(PUBLIC_KEY, KEY.kid), "kid": ""}, id="no-kid"),
    pytest.param({**public_jwk(PUBLIC_KEY, KEY.kid), "x": b64(bytes(32))}, id="off-curve"),
    pytest.param({**public_jwk(PUBLIC_KEY, KEY.kid), "x": "a"}, id="x-bad-base64"),
    pytest.param({**public_jwk(PUBLIC_KEY, KEY.kid), "y": 5}, id="y-int"),
    pytest.param({k: v for k, v in public_jwk(PUBLIC_KEY, KEY.kid).items() if k != "y"},
                 id="y-missing"),
])
def test_unusable_jwks_are_skipped_so_their_tokens_are_refused(jwk):
    keys = KeySet.from_jwks({ISSUER: {"keys": [jwk]}})

    assert list(keys) == []
    decision = verify(GOOD.token, keys, GREEN_ONLY, NOW)
    assert_refused(decision, WRONG_ISSUER)


# --------------------------------------------------------------------------- properties

FUZZ = settings(max_examples=300, deadline=None)
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**64), 2**64),
                         st.floats(allow_nan=False), st.text(max_size=20),
                         st.sampled_from([ISSUER, PARTNER, SUBJECT, "green", "red", KEY.kid,
                                          NOW.timestamp(), "transport:rail"]))
json_values = st.recursive(json_scalars,
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=6)
CLAIM_NAMES = ("iss", "sub", "iat", "exp", "jti", "hc", "nm", "scp")


def _refused_cleanly(token: Any) -> ScanDecision:
    decision = check(token, status=StaticStatus())
    assert decision.decision == REFUSE
    assert decision.reason in REASONS - {OK}
    return decision


@FUZZ
@given(st.text(max_size=3 * MAX_TOKEN_BYTES))
def test_arbitrary_text_is_refused_without_raising(text):
    _refused_cleanly(text)


@FUZZ
@given(st.binary(max_size=3 * MAX_TOKEN_BYTES))
def test_arbitrary_bytes_are_refused_without_raising(data):
    _refused_cleanly(data)


@FUZZ
@given(st.lists(st.text(alphabet=B64URL + "=.+/ ", max_size=200), min_size=1, max_size=5))
def test_token_shaped_junk_is_refused_without_raising(parts):
    _refused_cleanly(".".join(parts))


@FUZZ
@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), json_values,
                 st.lists(st.binary(max_size=10), max_size=3)))
def test_objects_that_are_not_str_or_bytes_are_malformed(value):
    if isinstance(value, str):
        value = [value]
    assert_refused(check(value), MALFORMED)


@FUZZ
@given(
    head=st.fixed_dictionaries(
        {"alg": st.sampled_from(["ES256", "none", "HS256"]) | json_scalars},
        optional={"kid": st.sampled_from([KEY.kid, ROTATED.kid, PARTNER_KEY.kid]) | json_values,
                  "typ": json_values}),
    body=st.fixed_dictionaries({}, optional={name: json_values for name in CLAIM_NAMES}),
    signature=st.binary(max_size=80) | st.just(raw_signature(R, S)) | st.just(bytes(64)),
)
def test_arbitrary_json_headers_and_claims_with_forged_signatures_are_refused(head, body,
                                                                              signature):
    decision = _refused_cleanly(f"{b64json(head)}.{b64json(body)}.{b64(signature)}")
    assert_nothing_unverified_shown(decision)


@FUZZ
@given(st.data())
def test_changing_one_character_of_the_signed_part_is_refused(data):
    token = GOOD.token
    index = data.draw(st.integers(0, len(TWO_PARTS) - 1).filter(lambda i: token[i] != "."))
    replacement = data.draw(st.sampled_from(B64URL).filter(lambda c: c != token[index]))

    _refused_cleanly(token[:index] + replacement + token[index + 1:])


@FUZZ
@given(st.data())
def test_changing_one_character_of_the_signature_is_refused_unless_it_decodes_the_same(data):
    token = GOOD.token
    index = data.draw(st.integers(len(TWO_PARTS) + 1, len(token) - 1))
    replacement = data.draw(st.sampled_from(B64URL).filter(lambda c: c != token[index]))
    mutated = token[:index] + replacement + token[index + 1:]

    decision = check(mutated)

    if unb64(mutated.split(".")[2]) == unb64(token.split(".")[2]):
        assert decision.admitted  # only the unused low bits of the last character changed
    else:
        assert_refused(decision, BAD_SIGNATURE)
