"""Two deployments in one test: region A's codes are verified by region B's checkpoints.

Region A is the suite's app. Region B runs on back ends named for it alone:
PEER_DATABASE_URL, PEER_CREDIT_DATABASE_URL and PEER_REDIS_URL (the databases made with
CREATE DATABASE when missing, their tables dropped and rebuilt by the migrations for each
test; the Redis database flushed). Unset, region B runs on the embedded default (SQLite
files in a temporary directory and the in-process Redis stand-in). They are never derived
from region A's URLs: a test must not drop or flush a database nobody named for it.
"""

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from flask_migrate import upgrade
from psycopg import sql
from sqlalchemy import MetaData
from sqlalchemy.engine import make_url
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


def _peer_database(url: str) -> str:
    """``url``, its database made if missing."""
    peer = make_url(url)
    server = peer.set(drivername="postgresql", database="postgres")
    with psycopg.connect(server.render_as_string(hide_password=False),
                         autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                        [peer.database]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(peer.database)))
    return url


def _peer_environment() -> dict[str, str]:
    """Region B's DATABASE_URL, CREDIT_DATABASE_URL and REDIS_URL: the PEER_ variables
    where set, else empty, which is the embedded default (see the module's docstring)."""
    env = {}
    for name in ("DATABASE_URL", "CREDIT_DATABASE_URL", "REDIS_URL"):
        url = os.environ.get(f"PEER_{name}", "")
        if url and url == os.environ.get(name):
            pytest.fail(f"PEER_{name} names region A's own {name}: region B would wipe it")
        if url.startswith(("postgres://", "postgresql")):
            url = _peer_database(url)
        env[name] = url
    return env


@pytest.fixture
def region_b(tmp_path) -> Iterator:
    """A second deployment: its own issuer id, databases, keys and Redis."""
    with pytest.MonkeyPatch.context() as patch:  # only while B's configuration is read
        for name, value in _peer_environment().items():
            patch.setenv(name, value)
        config = TestConfig(tmp_path / "b")
    config.ISSUER_ID = "region-b"
    config.TRUST_FETCH_ALLOW = "127.0.0.1/32"  # region A serves its keys on loopback
    app = create_app(config)
    with app.app_context():
        for bind_key in (None, "credit"):  # what a previous run left behind
            meta = MetaData()
            meta.reflect(bind=db.engines[bind_key])
            meta.drop_all(bind=db.engines[bind_key])
        if config.REDIS_URL:
            app.extensions["redis"].flushdb()
        upgrade()
    yield app
    with app.app_context():
        db.session.remove()
        if config.REDIS_URL:
            app.extensions["redis"].flushdb()
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


def test_region_b_runs_only_on_back_ends_named_for_it(monkeypatch):
    # Region A on real back ends that nothing listens on: deriving region B's from them
    # would try to reach them (and, where they exist, drop and flush what it found).
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:9/health")
    monkeypatch.setenv("CREDIT_DATABASE_URL", "postgresql://postgres@127.0.0.1:9/credit")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/7")
    for name in ("PEER_DATABASE_URL", "PEER_CREDIT_DATABASE_URL", "PEER_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    assert _peer_environment() == {"DATABASE_URL": "", "CREDIT_DATABASE_URL": "", "REDIS_URL": ""}

    monkeypatch.setenv("PEER_REDIS_URL", "redis://127.0.0.1:9/3")
    assert _peer_environment()["REDIS_URL"] == "redis://127.0.0.1:9/3"
    monkeypatch.setenv("PEER_REDIS_URL", "redis://127.0.0.1:9/7")
    with pytest.raises(pytest.fail.Exception, match="PEER_REDIS_URL names region A's own"):
        _peer_environment()
