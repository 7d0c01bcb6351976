"""Two deployments in one test: region A's codes are verified by region B's checkpoints."""

import threading
from datetime import UTC, datetime

import pytest
from flask_migrate import upgrade
from werkzeug.serving import make_server

from backend import create_app
from backend.auth import issue_credential
from backend.config import TestConfig
from backend.extensions import db
from backend.models import Role
from checkpoints.bundle import OfflineVerifier


def _serve(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def region_b(tmp_path):
    """A second deployment: its own issuer id, SQLite databases, keys and Redis stand-in."""
    config = TestConfig(tmp_path / "b")
    config.ISSUER_ID = "region-b"
    config.SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'b-health.sqlite3'}"
    config.SQLALCHEMY_BINDS = {"credit": f"sqlite:///{tmp_path / 'b-credit.sqlite3'}"}
    config.REDIS_URL = ""
    config.CHECKIN_SINK = "database"
    config.TRUST_FETCH_ALLOW = "127.0.0.1/32"  # region A serves its keys on loopback
    app = create_app(config)
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture
def region_a_server(app):
    server, thread = _serve(app)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def _secret(app, role, region="rb"):
    with app.app_context():
        _, secret = issue_credential(role, region=region, name=f"B {role.value}")
        db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_region_b_verifies_region_a_and_follows_its_trust_list_and_keys(
        app, client, citizen, region_a_server, region_b, runner):
    b = region_b.test_client()
    admin, official = _secret(region_b, Role.ADMIN), _secret(region_b, Role.OFFICIAL)
    trusted = b.put("/api/v1/trust/issuers/hc-local", headers=admin, json={
        "name": "Region A", "jwks_url": f"{region_a_server}/.well-known/jwks.json"})
    assert trusted.status_code == 200, trusted.json
    assert trusted.json["keys"] and trusted.json["last_error"] is None
    listed = b.get("/api/v1/trust/issuers", headers=admin).json["issuers"]
    assert [i["issuer_id"] for i in listed] == ["region-b", "hc-local"]

    checkpoint = b.post("/api/v1/checkpoints", headers=official, json={
        "name": "B station", "category": "venue", "region": "rb", "admits": ["green"]}).json
    device = b.post(f"/api/v1/checkpoints/{checkpoint['checkpoint_id']}/devices",
                    headers=official, json={}).json
    gate = {"Authorization": f"Bearer {device['token']}"}

    holder, _, _ = citizen()  # registered in region A
    token = client.post("/api/v1/me/tokens", headers=holder, json={}).json["token"]
    assert b.post("/api/v1/scans", headers=gate, json={"token": token}).json["reason"] == "ok"

    bundle = b.get("/api/v1/checkpoints/bundle", headers=gate).json
    assert set(bundle["keys"]) == {"region-b", "hc-local"}
    offline = OfflineVerifier.from_bundle(bundle)
    assert offline.verify(token, datetime.now(UTC)).reason == "ok"

    assert b.delete("/api/v1/trust/issuers/hc-local", headers=admin).status_code == 204
    assert b.post("/api/v1/scans", headers=gate, json={"token": token}).json["reason"] == (
        "wrong_issuer")

    b.put("/api/v1/trust/issuers/hc-local", headers=admin, json={
        "name": "Region A", "jwks_url": f"{region_a_server}/.well-known/jwks.json"})
    old_key_token = client.post("/api/v1/me/tokens", headers=holder, json={}).json["token"]
    rotated = runner.invoke(args=["rotate-keys", "--withdraw-old"])
    assert rotated.exit_code == 0 and "withdrew key" in rotated.output
    # B still holds its cached copy of A's keys until it refreshes.
    assert b.post("/api/v1/scans", headers=gate, json={"token": old_key_token}).json[
        "reason"] == "ok"
    refreshed = b.post("/api/v1/trust/issuers/hc-local/refresh", headers=admin)
    assert refreshed.json["outcome"] == {"hc-local": "ok"}
    assert b.post("/api/v1/scans", headers=gate, json={"token": old_key_token}).json[
        "reason"] == "unknown_key"
    new_token = client.post("/api/v1/me/tokens", headers=holder, json={}).json["token"]
    assert b.post("/api/v1/scans", headers=gate, json={"token": new_token}).json["reason"] == "ok"
    audit = b.get("/api/v1/audit", headers=admin).json["entries"]
    assert [e["action"] for e in audit if e["action"].startswith("trust.")] == [
        "trust.refresh", "trust.refresh", "trust.put", "trust.delete", "trust.refresh",
        "trust.put"]


def test_unreachable_issuer_keeps_the_last_good_copy(app, region_a_server, region_b):
    b = region_b.test_client()
    admin = _secret(region_b, Role.ADMIN)
    first = b.put("/api/v1/trust/issuers/hc-local", headers=admin, json={
        "name": "Region A", "jwks_url": f"{region_a_server}/.well-known/jwks.json"}).json
    with region_b.app_context():
        from backend.models import TrustedIssuer

        issuer = db.session.get(TrustedIssuer, "hc-local")
        issuer.jwks_url = "http://127.0.0.1:9/.well-known/jwks.json"  # nothing listens there
        db.session.commit()
    outcome = b.post("/api/v1/trust/issuers/hc-local/refresh", headers=admin).json["outcome"]
    assert outcome["hc-local"].startswith("kept last good copy")
    listed = b.get("/api/v1/trust/issuers", headers=admin).json["issuers"][1]
    assert listed["keys"] == first["keys"] and listed["last_error"]


def test_our_tokens_verify_with_an_independent_jose_library(client, citizen):
    from joserfc import jwt
    from joserfc.jwk import KeySet

    holder, _, body = citizen()
    token = client.post("/api/v1/me/tokens", headers=holder, json={}).json["token"]
    jwks = client.get("/.well-known/jwks.json").json
    decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256"])
    assert decoded.header["alg"] == "ES256" and "kid" in decoded.header
    assert decoded.claims["sub"] != body["subject"] and decoded.claims["hc"] == "green"
    assert decoded.claims["iss"] == "hc-local"


def test_refresh_trust_respects_max_age(app, region_a_server, region_b):
    b = region_b.test_client()
    admin = _secret(region_b, Role.ADMIN)
    b.put("/api/v1/trust/issuers/hc-local", headers=admin, json={
        "name": "Region A", "jwks_url": f"{region_a_server}/.well-known/jwks.json"})
    runner = region_b.test_cli_runner()
    fresh = runner.invoke(args=["refresh-trust"])
    assert "fresh until" in fresh.output  # A's JWKS says max-age=60: no refetch yet
    forced = runner.invoke(args=["refresh-trust", "--force"])
    assert "hc-local: ok" in forced.output
