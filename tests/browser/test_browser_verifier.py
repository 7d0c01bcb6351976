"""The scanner's offline verifier (static/js/lib/verifier.js, WebCrypto) decides exactly as
checkpoints/verifier.py does, on the same bundle, tokens and time.

Each case is a token and an offline bundle; the Python ``OfflineVerifier`` and the
browser's decide it, and the (decision, reason, color, holder) must agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from backend.keys import public_jwk
from checkpoints.bundle import OfflineVerifier

ISSUER = "hc-test"
NOW = datetime.now(UTC).replace(microsecond=0)
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
KEY = ec.generate_private_key(ec.SECP256R1())
OTHER = ec.generate_private_key(ec.SECP256R1())
KID, OTHER_KID = "k1", "k2"

VERIFY_IN_PAGE = """
const [cases, nowMs, done] = arguments;
import('/static/js/lib/verifier.js').then(async ({ OfflineVerifier }) => {
  const out = [];
  for (const [bundle, token] of cases) {
    const d = await (await OfflineVerifier.fromBundle(bundle)).verify(token, new Date(nowMs));
    out.push([d.decision, d.reason, d.color, d.holder]);
  }
  done(out);
}).catch((err) => done(String(err)));
"""


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def part(obj) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def raw_signature(key, signing_input: str, high_s: bool = False) -> bytes:
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    s = N - min(s, N - s) if high_s else min(s, N - s)  # canonical low-S unless asked
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def token(claims: dict | None = None, header: dict | None = None, key=KEY,
          high_s: bool = False, **changes) -> str:
    body = {"iss": ISSUER, "sub": "subject-1", "iat": NOW.timestamp() - 10,
            "exp": int(NOW.timestamp()) + 290, "jti": "jti-1", "hc": "green", "nm": "张*",
            **(claims or {})}
    for name, value in changes.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    head = {"alg": "ES256", "kid": KID, "typ": "JWT", **(header or {})}
    signing_input = f"{part(head)}.{part(body)}"
    return f"{signing_input}.{b64(raw_signature(key, signing_input, high_s))}"


def bundle(admits=("green",), category="venue", required_scope=None, issuers=None,
           changes=(), revoked=(), restricted_subjects=(), void_before=None,
           max_lifetime_seconds=1200) -> dict:
    return {
        "issued_at": NOW.isoformat(),
        "keys": {ISSUER: {"keys": [public_jwk(KEY.public_key(), KID),
                                   {"kty": "RSA", "kid": "rsa", "n": "xx", "e": "AQAB"}]}},
        "status": {
            "changes": [{"iss": ISSUER, "sub": s, "changed_ms": ms} for s, ms in changes],
            "revoked": [{"iss": ISSUER, "jti": j} for j in revoked],
            "restricted": {"category": category, "tokens": [
                {"iss": ISSUER, "sub": s} for s in restricted_subjects]}
            if restricted_subjects else None,
            **({"void_before": void_before} if void_before is not None else {}),
        },
        "status_cursor": "0",
        "policy": {"admits": list(admits), "category": category, "issuers": issuers,
                   "required_scope": required_scope,
                   "max_lifetime_seconds": max_lifetime_seconds},
        "clock_skew_seconds": 5,
    }


def cases() -> dict[str, tuple[dict, str]]:
    venue = bundle()
    good = token()
    head, body, sig = good.split(".")
    unsigned = f"{part({'alg': 'none', 'kid': KID})}.{body}."
    hs_input = f"{part({'alg': 'HS256', 'kid': KID})}.{body}"
    hs = hmac.new(json.dumps(venue["keys"]).encode(), hs_input.encode(), hashlib.sha256)
    iat_ms = int((NOW.timestamp() - 10) * 1000)
    return {
        "good": (venue, good),
        "padded with whitespace": (venue, f"  {good}\n"),
        "high-S signature": (venue, token(high_s=True)),
        "yellow at a green-only gate": (venue, token(hc="yellow")),
        "yellow where admitted": (bundle(admits=("green", "yellow")), token(hc="yellow")),
        "expired": (venue, token(exp=int(NOW.timestamp()) - 6)),
        "expired within skew": (venue, token(exp=int(NOW.timestamp()) - 4)),
        "issued in the future": (venue, token(iat=NOW.timestamp() + 60)),
        "alg none": (venue, unsigned),
        "HMAC": (venue, f"{hs_input}.{b64(hs.digest())}"),
        "other key with our kid": (venue, token(key=OTHER)),
        "unknown kid": (venue, token(header={"kid": OTHER_KID})),
        "kid not a string": (venue, token(header={"kid": 7})),
        "issuer not trusted": (venue, token(iss="hc-stranger")),
        "issuer not in policy": (bundle(issuers=["hc-partner"]), good),
        "payload swapped": (venue, f"{head}.{part({'iss': ISSUER, 'hc': 'green'})}.{sig}"),
        "zero signature": (venue, f"{head}.{body}.{b64(bytes(64))}"),
        "short signature": (venue, f"{head}.{body}.{b64(bytes(10))}"),
        "signature out of range": (venue, f"{head}.{body}.{b64(bytes([255]) * 64)}"),
        "no subject": (venue, token(sub=None)),
        "color blue": (venue, token(hc="blue")),
        "iat true": (venue, token(iat=True)),
        "exp a string": (venue, token(exp="soon")),
        "exp beyond 2^53": (venue, token(exp=2**60)),
        "name not a string": (venue, token(nm=["张"])),
        "no name": (venue, token(nm=None)),
        "two parts": (venue, f"{head}.{body}"),
        "not base64": (venue, "!!.??.**"),
        "header a list": (venue, f"{b64(b'[1]')}.{body}.{sig}"),
        "not a token": (venue, "https://example.org/menu"),
        "empty": (venue, ""),
        "too long": (venue, good + "A" * 2048),
        "code changed after issue": (bundle(changes=[("subject-1", iat_ms + 1)]), good),
        "code changed before issue": (bundle(changes=[("subject-1", iat_ms - 1)]), good),
        "revoked": (bundle(revoked=["jti-1"]), good),
        "issued before the issuer's status was complete": (
            bundle(void_before={ISSUER: iat_ms + 1}), good),
        "issued after the issuer's status was complete": (
            bundle(void_before={ISSUER: iat_ms}), good),
        "another issuer's status incomplete": (bundle(void_before={"hc-other": iat_ms + 1}),
                                               good),
        "listed and void before": (
            bundle(changes=[("subject-1", iat_ms - 5)], void_before={ISSUER: iat_ms - 1}), good),
        "restricted at a rail gate": (bundle(category="rail", restricted_subjects=["subject-1"]),
                                      token(scp="rail")),
        "someone else restricted": (bundle(category="rail", restricted_subjects=["other"]),
                                    token(scp="rail")),
        "pass needed, none shown": (bundle(category="rail", required_scope="rail"), good),
        "pass for the gate": (bundle(category="rail", required_scope="rail"), token(scp="rail")),
        "pass for another mode": (bundle(category="air", required_scope="air"), token(scp="rail")),
        "plain token at an air gate": (bundle(category="air", required_scope="air"), good),
        "rail pass at a rail gate, scope implied": (bundle(category="rail"), token(scp="rail")),
        "plain token at a hotel, scope implied": (bundle(category="hotel"), good),
        "expired before pass_required": (bundle(category="rail"),
                                         token(exp=int(NOW.timestamp()) - 6)),
        "pass_required before code_changed": (bundle(category="rail", changes=[
            ("subject-1", iat_ms + 1)]), good),
        "lifetime at the cap": (venue, token(iat=NOW.timestamp() - 10,
                                             exp=NOW.timestamp() - 10 + 1200)),
        "lifetime over the cap": (venue, token(iat=NOW.timestamp() - 10,
                                               exp=NOW.timestamp() - 10 + 1201)),
        "no cap in the bundle": (bundle(max_lifetime_seconds=None),
                                 token(exp=int(NOW.timestamp()) + 86400)),
        "exp 1e300": (venue, token(exp=1e300)),
        "iat -1e300": (venue, token(iat=-1e300)),
    }


def test_browser_verifier_decides_as_the_python_verifier(browser):
    named = cases()
    expected = {}
    for name, (offline_bundle, text) in named.items():
        d = OfflineVerifier.from_bundle(offline_bundle).verify(text, NOW).public()
        expected[name] = [d["decision"], d["reason"], d["color"], d["holder"]]
    b = browser()
    b.open("/scan")
    b.driver.set_script_timeout(30)
    got = b.driver.execute_async_script(VERIFY_IN_PAGE, list(named.values()),
                                        NOW.timestamp() * 1000)
    assert isinstance(got, list), got
    assert dict(zip(named, got, strict=True)) == expected
    # The cases cover every refusal the verifier can make offline.
    assert {e[1] for e in expected.values()} == {
        "ok", "color_not_admitted", "expired", "bad_signature", "unknown_key", "code_changed",
        "restricted", "malformed", "wrong_issuer", "pass_required"}
    assert expected["high-S signature"][1] == "bad_signature"
    assert expected["plain token at an air gate"][1] == "pass_required"
    assert expected["pass for another mode"][1] == "pass_required"
    assert expected["pass for the gate"][:2] == ["admit", "ok"]
    assert expected["lifetime over the cap"][1] == "expired"
    assert expected["exp 1e300"][1] == "malformed"
    b.assert_clean()

