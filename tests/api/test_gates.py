"""Gates of issue 15: travel passes at transport gates (finding 4), the lifetime cap on
every issuer's tokens (9), canonical signatures only (12) and offline uploads decided
again as the server would have at ``scanned_at`` (10).

Each travel-gate case is decided online (``POST /scans``) and offline (the bundle's
``OfflineVerifier`` and ``python -m checkpoints.verify``), on both back ends.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import table_count
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, text

from backend.extensions import db
from backend.keys import SigningKey, key_id, public_jwk
from backend.models import CheckIn, Role, TrustedIssuer
from backend.tokens import sign_code_token
from checkpoints.bundle import OfflineVerifier

ROOT = Path(__file__).resolve().parents[2]
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
PARTNER = "hc-partner"


@pytest.fixture
def official(operator):
    return operator(Role.OFFICIAL, region="r1")


@pytest.fixture
def gate(client, official):
    """``gate(category, admits=...)`` -> (checkpoint_id, device headers)."""

    def make(category="venue", admits=("green",)):
        created = client.post("/api/v1/checkpoints", headers=official, json={
            "name": f"{category} gate", "category": category, "region": "r1",
            "admits": list(admits)})
        assert created.status_code == 201, created.json
        checkpoint_id = created.json["checkpoint_id"]
        device = client.post(f"/api/v1/checkpoints/{checkpoint_id}/devices", headers=official,
                             json={})
        assert device.status_code == 201, device.json
        return checkpoint_id, {"Authorization": f"Bearer {device.json['token']}"}

    return make


def _token(client, holder, scope=None) -> str:
    issued = client.post("/api/v1/me/tokens", headers=holder,
                         json={"scope": scope} if scope else {})
    assert issued.status_code == 201, issued.json
    return issued.json["token"]


def _scan(client, device, token) -> dict:
    answer = client.post("/api/v1/scans", headers=device, json={"token": token})
    assert answer.status_code == 200, answer.json
    return answer.json


def _decide_everywhere(client, device, token, tmp_path) -> set[tuple[str, str]]:
    """(decision, reason) online, with the bundle's verifier, and with the CLI."""
    bundle = client.get("/api/v1/checkpoints/bundle", headers=device).json
    offline = OfflineVerifier.from_bundle(bundle).verify(token, datetime.now(UTC))
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    run = subprocess.run([sys.executable, "-m", "checkpoints.verify", "--bundle", str(path),
                          token], cwd=ROOT, capture_output=True, text=True, timeout=60)
    cli = json.loads(run.stdout)
    assert run.returncode == (0 if cli["decision"] == "admit" else 1), run.stderr
    online = _scan(client, device, token)
    return {(online["decision"], online["reason"]), (offline.decision, offline.reason),
            (cli["decision"], cli["reason"])}


def _fever(client, holder) -> None:
    reported = client.post("/api/v1/me/questionnaires", headers=holder,
                           json={"temperature_c": 38.6, "symptoms": ["fever"]})
    assert reported.json["code"]["color"] == "yellow"


# --------------------------------------------------------------------------- finding 4


def test_plain_token_at_an_air_gate_is_refused_pass_required(client, citizen, gate, tmp_path):
    holder, _, _ = citizen()
    _, air = gate("air")
    assert _decide_everywhere(client, air, _token(client, holder), tmp_path) == {
        ("refuse", "pass_required")}


def test_air_pass_at_a_rail_gate_is_refused_and_a_rail_pass_admitted(client, citizen, gate,
                                                                      tmp_path):
    holder, _, _ = citizen()
    _, rail = gate("rail")
    assert _decide_everywhere(client, rail, _token(client, holder, "air"), tmp_path) == {
        ("refuse", "pass_required")}
    assert _decide_everywhere(client, rail, _token(client, holder, "rail"), tmp_path) == {
        ("admit", "ok")}
    assert _scan(client, rail, _token(client, holder, "hotel"))["reason"] == "pass_required"


def test_yellow_holder_gets_no_rail_pass_and_his_plain_token_is_refused(client, citizen, gate,
                                                                        tmp_path):
    holder, _, _ = citizen()
    _fever(client, holder)
    refused = client.post("/api/v1/me/tokens", headers=holder, json={"scope": "rail"})
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "color_not_admitted"
    _, rail = gate("rail", admits=("green", "yellow"))  # even where yellow is admitted
    assert _decide_everywhere(client, rail, _token(client, holder), tmp_path) == {
        ("refuse", "pass_required")}


def test_passes_are_admitted_at_ordinary_gates_and_the_bundle_names_the_pass(client, citizen,
                                                                            gate):
    holder, _, _ = citizen()
    _, shop = gate("venue")
    assert _scan(client, shop, _token(client, holder, "rail"))["reason"] == "ok"
    _, hotel = gate("hotel")
    policy = client.get("/api/v1/checkpoints/bundle", headers=hotel).json["policy"]
    assert policy["required_scope"] == "hotel"
    assert policy["max_lifetime_seconds"] == 1200
    shop_policy = client.get("/api/v1/checkpoints/bundle", headers=shop).json["policy"]
    assert shop_policy["required_scope"] is None


# --------------------------------------------------------------------------- a trusted partner


def _partner_key() -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    return SigningKey(key_id(private.public_key()), private, datetime.now(UTC), None)


@pytest.fixture
def partner(app) -> SigningKey:
    """A trusted issuer whose key is pinned (nothing is fetched)."""
    key = _partner_key()
    with app.app_context():
        db.session.add(TrustedIssuer(
            issuer_id=PARTNER, name="Partner province", jwks_url="https://partner.invalid/jwks",
            pinned_keys=[public_jwk(key.private_key.public_key(), key.kid)],
            updated_at=datetime.now(UTC)))
        db.session.commit()
    return key


def _partner_token(key: SigningKey, *, scope=None, lifetime=300, at=None) -> str:
    return sign_code_token(key=key, issuer=PARTNER, subject="partner-subject", color="green",
                           display_name="李*", now=at or datetime.now(UTC),
                           lifetime_seconds=lifetime, scope=scope).token


def _forge_exp(key: SigningKey, exp) -> str:
    """A partner token whose exp is any JSON number, genuinely signed by the partner."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = datetime.now(UTC).timestamp()
    head = b64(json.dumps({"alg": "ES256", "kid": key.kid}).encode())
    body = b64(json.dumps({"iss": PARTNER, "sub": "p", "iat": now, "exp": exp, "jti": "j1",
                           "hc": "green", "nm": "李*"}).encode())
    r, s = decode_dss_signature(key.private_key.sign(f"{head}.{body}".encode(),
                                                     ec.ECDSA(hashes.SHA256())))
    s = min(s, N - s)
    return f"{head}.{body}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def test_foreign_tokens_at_a_travel_gate_need_the_matching_pass(client, gate, partner,
                                                                tmp_path):
    _, rail = gate("rail")
    assert _decide_everywhere(client, rail, _partner_token(partner), tmp_path) == {
        ("refuse", "pass_required")}
    assert _decide_everywhere(client, rail, _partner_token(partner, scope="air"), tmp_path) == {
        ("refuse", "pass_required")}
    assert _decide_everywhere(client, rail, _partner_token(partner, scope="rail"), tmp_path) == {
        ("admit", "ok")}


# --------------------------------------------------------------------------- finding 9


def test_foreign_token_with_an_absurd_or_too_long_lifetime_is_refused(client, gate, partner,
                                                                      tmp_path):
    _, shop = gate("venue")
    assert _scan(client, shop, _partner_token(partner))["reason"] == "ok"
    assert _decide_everywhere(client, shop, _forge_exp(partner, 1e300), tmp_path) == {
        ("refuse", "malformed")}
    year = int(datetime.now(UTC).timestamp()) + 365 * 86400
    assert _decide_everywhere(client, shop, _forge_exp(partner, year), tmp_path) == {
        ("refuse", "expired")}
    day = _partner_token(partner, lifetime=86400)
    assert _decide_everywhere(client, shop, day, tmp_path) == {("refuse", "expired")}
    at_cap = _partner_token(partner, lifetime=1200)
    assert _scan(client, shop, at_cap)["reason"] == "ok"


def test_the_cap_applies_to_our_own_tokens_too(app, client, citizen, gate):
    _, shop = gate("venue")
    with app.app_context():
        key = app.extensions["keyring"].active()
    long_lived = sign_code_token(key=key, issuer=app.config["ISSUER_ID"], subject="s-1",
                                 color="green", display_name="张*", now=datetime.now(UTC),
                                 lifetime_seconds=2 * 86400).token
    assert _scan(client, shop, long_lived)["reason"] == "expired"


def test_a_cap_below_our_own_lifetime_is_a_configuration_error(monkeypatch, tmp_path):
    from backend.config import TestConfig

    monkeypatch.setenv("MAX_TOKEN_LIFETIME_SECONDS", "60")
    with pytest.raises(ValueError, match="MAX_TOKEN_LIFETIME_SECONDS"):
        TestConfig(tmp_path)


# --------------------------------------------------------------------------- finding 12


def test_every_token_we_issue_is_low_s_and_its_high_s_twin_is_refused(client, citizen, gate):
    holder, _, _ = citizen()
    _, shop = gate("venue")
    bundle = client.get("/api/v1/checkpoints/bundle", headers=shop).json
    verifier = OfflineVerifier.from_bundle(bundle)
    now = datetime.now(UTC)
    for _ in range(64):  # all 64 low-S by chance: 2^-64
        token = _token(client, holder)
        head, body, sig = token.split(".")
        raw = base64.urlsafe_b64decode(sig + "==")
        r, s = raw[:32], int.from_bytes(raw[32:], "big")
        assert 0 < s <= N // 2
        assert verifier.verify(token, now).reason == "ok"
        twin = base64.urlsafe_b64encode(r + (N - s).to_bytes(32, "big")).rstrip(b"=").decode()
        assert verifier.verify(f"{head}.{body}.{twin}", now).reason == "bad_signature"
    assert _scan(client, shop, f"{head}.{body}.{twin}")["reason"] == "bad_signature"
    assert _scan(client, shop, token)["reason"] == "ok"


# --------------------------------------------------------------------------- finding 10


def _upload(client, device, *scans) -> dict:
    answer = client.post("/api/v1/scans/batch", headers=device, json={"scans": [
        {"scan_id": scan_id, "token": token, "scanned_at": at.isoformat(), "decision": decision}
        for scan_id, token, at, decision in scans]})
    assert answer.status_code == 200, answer.json
    return answer.json


def _claims(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def _stored(app) -> dict[str, str | None]:
    with app.app_context():
        return dict(db.session.execute(select(CheckIn.scan_id, CheckIn.disagreement)).all())


def _disagreements(client, official, checkpoint_id) -> dict:
    listed = client.get("/api/v1/checkpoints", headers=official)
    assert listed.status_code == 200, listed.json
    [mine] = [c for c in listed.json["checkpoints"] if c["checkpoint_id"] == checkpoint_id]
    return mine["disagreements"]


def test_a_token_21_s_past_exp_uploaded_as_admitted_is_stored_and_flagged(
        app, client, citizen, gate, official, monkeypatch):
    holder, _, _ = citizen()
    checkpoint_id, device = gate("venue")
    token = _token(client, holder)
    exp = datetime.fromtimestamp(_claims(token)["exp"], UTC)
    # The gate uploads a minute after the token expired.
    monkeypatch.setattr("backend.api.checkpoints.now", lambda: exp + timedelta(seconds=60))
    answer = _upload(client, device,
                     ("late-scan-0001", token, exp + timedelta(seconds=21), "admit"),
                     ("skew-scan-0001", token, exp + timedelta(seconds=4), "admit"),
                     ("good-scan-0001", token, exp - timedelta(seconds=60), "admit"))
    assert (answer["accepted"], answer["checkins"], answer["disagreements"]) == (3, 3, 1)
    assert _stored(app) == {"late-scan-0001": "expired", "skew-scan-0001": None,
                            "good-scan-0001": None}
    seen = _disagreements(client, official, checkpoint_id)
    assert (seen["count"], seen["reasons"]) == (1, {"expired": 1})
    assert seen["last_received_at"].startswith(str((exp + timedelta(seconds=60)).date()))


def test_a_stale_green_token_uploaded_as_admitted_is_flagged(app, client, citizen, gate,
                                                             official, provider):
    holder, id_number, _ = citizen()
    checkpoint_id, device = gate("venue")
    token = _token(client, holder)
    iat = datetime.fromtimestamp(_claims(token)["iat"], UTC)
    imported = client.post("/api/v1/gov/records", headers=provider, json={"records": [{
        "kind": "close_contact", "id_number": id_number,
        "occurred_at": (iat - timedelta(hours=3)).isoformat(), "source": "cdc",
        "ref": "CC-stale-1"}]})
    assert imported.status_code == 200, imported.json
    assert client.get("/api/v1/me/code", headers=holder).json["color"] == "red"
    # Place the change at a known moment, 60 s after the token was made.
    with app.app_context():
        db.session.execute(text(
            "UPDATE code_history SET changed_at = :at WHERE version = "
            "(SELECT max(version) FROM code_history h WHERE h.citizen_id = "
            "code_history.citizen_id) AND color = 'red'"), {"at": iat + timedelta(seconds=60)})
        db.session.commit()
    answer = _upload(client, device,
                     ("before-change-01", token, iat + timedelta(seconds=30), "admit"),
                     ("after-change-001", token, iat + timedelta(seconds=90), "admit"))
    assert (answer["checkins"], answer["disagreements"]) == (2, 1)
    assert _stored(app) == {"before-change-01": None, "after-change-001": "code_changed"}
    assert _disagreements(client, official, checkpoint_id)["reasons"] == {"code_changed": 1}


def test_a_plain_token_admitted_offline_at_a_rail_gate_is_flagged(app, client, citizen, gate):
    holder, _, _ = citizen()
    _, rail = gate("rail")
    now = datetime.now(UTC)
    answer = _upload(client, rail,
                     ("plain-at-rail-01", _token(client, holder), now, "admit"),
                     ("pass-at-rail-001", _token(client, holder, "rail"), now, "admit"),
                     ("forged-at-rail-1", "forged.token.here", now, "admit"))
    assert (answer["accepted"], answer["checkins"], answer["disagreements"]) == (3, 2, 2)
    assert _stored(app) == {"plain-at-rail-01": "pass_required", "pass-at-rail-001": None}
    # The forged one names nobody: no check-in, but its receipt is flagged.
    with app.app_context():
        flagged = db.session.execute(text(
            "SELECT scan_id, disagreement FROM scan_receipts WHERE disagreement IS NOT NULL "
            "ORDER BY scan_id")).all()
    assert [tuple(r) for r in flagged] == [("forged-at-rail-1", "malformed"),
                                           ("plain-at-rail-01", "pass_required")]


def test_backdating_beyond_the_last_bundle_is_rejected_naming_the_field(app, client, citizen,
                                                                        gate):
    holder, _, _ = citizen()
    _, device = gate("venue")
    bundle = client.get("/api/v1/checkpoints/bundle", headers=device).json
    token = _token(client, holder)
    now = datetime.now(UTC)
    answer = _upload(client, device,
                     ("backdated-28d-01", token, now - timedelta(days=27, hours=23), "admit"),
                     ("backdated-2d-001", token, now - timedelta(days=2), "refuse"),
                     ("fresh-scan-00001", token, now, "admit"))
    assert answer["accepted"] == 1
    assert [r["index"] for r in answer["rejected"]] == [0, 1]
    for rejection in answer["rejected"]:
        assert list(rejection["fields"]) == ["scanned_at"]
        assert "last bundle download" in rejection["fields"]["scanned_at"][0]
    assert table_count(app, "scan_receipts") == 1
    issued = datetime.fromisoformat(bundle["issued_at"])
    assert datetime.fromisoformat(bundle["valid_until"]) == issued + timedelta(hours=24)


def test_the_bound_follows_the_devices_last_bundle(app, client, gate):
    _, device = gate("venue")
    client.get("/api/v1/checkpoints/bundle", headers=device)
    three_days_ago = datetime.now(UTC) - timedelta(days=3)
    with app.app_context():
        db.session.execute(text("UPDATE device_bundles SET downloaded_at = :at"),
                           {"at": three_days_ago})
        db.session.commit()
    answer = _upload(client, device,
                     ("in-old-bundle-01", "x.y.z", three_days_ago - timedelta(hours=23), "refuse"),
                     ("before-bundle-01", "x.y.z", three_days_ago - timedelta(hours=25), "refuse"))
    assert answer["accepted"] == 1
    assert [r["index"] for r in answer["rejected"]] == [1]


def test_a_device_without_a_bundle_may_reach_back_one_validity_from_now(client, gate):
    _, device = gate("venue")
    now = datetime.now(UTC)
    answer = _upload(client, device,
                     ("no-bundle-23h-01", "x.y.z", now - timedelta(hours=23), "refuse"),
                     ("no-bundle-25h-01", "x.y.z", now - timedelta(hours=25), "refuse"))
    assert answer["accepted"] == 1
    [rejection] = answer["rejected"]
    assert rejection["index"] == 1
    assert "downloaded no bundle" in rejection["fields"]["scanned_at"][0]
