"""Rate limits, health and readiness, metrics, and scans that survive a Redis outage."""

import socket
import threading

import conftest
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from backend.auth import issue_credential
from backend.config import TestConfig
from backend.extensions import db
from backend.models import Role


@pytest.fixture
def limited_app(migrated):
    config = TestConfig(migrated)
    config.RATELIMIT_ENABLED = True
    config.RATELIMIT_STORAGE_URI = "memory://"
    config.RATE_LIMIT_FAILED_AUTH = "3/minute"
    config.RATE_LIMIT_REGISTRATION = "2/minute"
    config.RATE_LIMIT_TOKENS = "2/minute"
    config.RATE_LIMIT_QUESTIONNAIRES = "2/minute"
    yield from conftest.app_on_migrated(config)


def _register(client):
    return client.post("/api/v1/citizens", json={
        "name": "Rate Tester", "id_number": conftest.unique_id_number(),
        "phone": "13800000000", "region": "r1"})


def test_registration_is_limited_per_address(limited_app):
    client = limited_app.test_client()
    assert [_register(client).status_code for _ in range(3)] == [201, 201, 429]
    refused = _register(client)
    assert refused.json["error"]["code"] == "too_many_requests"
    assert "Retry-After" in refused.headers


def test_token_issuance_is_limited_per_credential(limited_app):
    client = limited_app.test_client()
    holders = [conftest.register_verified(limited_app, client)[0] for _ in range(2)]
    answers = [client.post("/api/v1/me/tokens", headers=holders[0], json={}) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].json["error"]["code"] == "too_many_requests"
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60
    assert client.post("/api/v1/me/tokens", headers=holders[1], json={}).status_code == 201


def test_questionnaires_are_limited_per_credential_and_a_refused_one_is_not_stored(
        limited_app):
    client = limited_app.test_client()
    holders = [conftest.register_verified(limited_app, client)[0] for _ in range(2)]
    report = {"temperature_c": 38.5, "symptoms": ["cough"]}
    answers = [client.post("/api/v1/me/questionnaires", headers=holders[0], json=report)
               for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].json["error"]["code"] == "too_many_requests"
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60
    assert conftest.table_count(limited_app, "questionnaires") == 2
    assert client.post("/api/v1/me/questionnaires", headers=holders[1],
                       json=report).status_code == 201


def test_failed_authentication_is_limited_per_address(limited_app):
    client = limited_app.test_client()
    bad = {"Authorization": "Bearer hc_guess"}
    statuses = [client.get("/api/v1/me/code", headers=bad).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    refused = client.get("/api/v1/me/code", headers=bad)
    assert refused.json["error"]["code"] == "too_many_requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_guessing_does_not_lock_out_a_good_credential_at_the_same_address(limited_app):
    """Failures are counted where they happen: a holder behind the same address (a
    carrier's NAT) keeps working while a guesser there is refused."""
    client = limited_app.test_client()
    holder = conftest.register_verified(limited_app, client)[0]
    bad = {"Authorization": "Bearer hc_guess"}
    assert [client.get("/api/v1/me/code", headers=bad).status_code
            for _ in range(4)] == [401, 401, 401, 429]
    assert client.get("/api/v1/me/code", headers=holder).status_code == 200


@pytest.fixture
def app_with_counters_down(migrated):
    config = TestConfig(migrated)
    config.RATELIMIT_ENABLED = True
    config.RATELIMIT_STORAGE_URI = f"redis://127.0.0.1:{_closed_port()}/0"
    config.RATE_LIMIT_REGISTRATION = "1/minute"
    yield from conftest.app_on_migrated(config)


def test_a_limit_whose_counter_is_unreachable_lets_the_request_through(
        app_with_counters_down, caplog):
    """The counters' Redis down: the request goes on, and the miss is logged."""
    client = app_with_counters_down.test_client()
    with caplog.at_level("WARNING", logger="backend.limits"):
        assert [_register(client).status_code for _ in range(2)] == [201, 201]
    assert [r.getMessage() for r in caplog.records if r.name == "backend.limits"] == [
        "rate-limit counter unavailable (registration): ConnectionError"] * 2


@pytest.fixture
def silent_counter_server():
    """A loopback server that accepts connections and never answers: a hung Redis."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_a_limit_whose_counter_hangs_lets_the_request_through(migrated,
                                                              silent_counter_server):
    """The counters' Redis accepts and never answers: the registration still answers,
    after the client's timeout, instead of waiting for ever."""
    config = TestConfig(migrated)
    config.RATELIMIT_ENABLED = True
    config.RATELIMIT_STORAGE_URI = f"redis://127.0.0.1:{silent_counter_server}/0"
    answers = []
    for app in conftest.app_on_migrated(config):
        worker = threading.Thread(target=_register_into, args=(app.test_client(), answers),
                                  daemon=True)
        worker.start()
        worker.join(30)  # a bound for the test to end, not a speed target
    assert answers == [201]


def _register_into(client, answers: list) -> None:
    answers.append(_register(client).status_code)


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json == {"status": "ok", "degraded": []}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"] == {"database": "ok", "credit_database": "ok", "redis": "ok",
                                    "signing_key": "ok"}


def test_readyz_is_503_without_redis(app, client, monkeypatch):
    def down():
        raise RedisConnectionError("connection refused")

    monkeypatch.setattr(app.extensions["redis"], "ping", down)
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json["checks"]["redis"].startswith("error")


def _device(client, operator):
    official = operator(Role.OFFICIAL, region="r1")
    created = client.post("/api/v1/checkpoints", headers=official, json={
        "name": "Shop", "category": "venue", "region": "r1", "admits": ["green"]})
    device = client.post(f"/api/v1/checkpoints/{created.json['checkpoint_id']}/devices",
                         headers=official, json={})
    return {"Authorization": f"Bearer {device.json['token']}"}


def test_metrics_count_scans_by_decision_and_reason(client, citizen, operator):
    gate = _device(client, operator)
    holder, _, _ = citizen()
    token = client.post("/api/v1/me/tokens", headers=holder, json={}).json["token"]
    client.post("/api/v1/scans", headers=gate, json={"token": token})
    client.post("/api/v1/scans", headers=gate, json={"token": "garbage"})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'hc_scans_total{decision="admit",reason="ok"}' in text
    assert 'hc_scans_total{decision="refuse",reason="malformed"}' in text
    assert "hc_request_seconds_bucket" in text and "hc_evaluation_seconds" in text


class BrokenRedis:
    """Every command fails as if the server had gone away."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise RedisConnectionError("Redis is down")
        return fail


def test_scans_answer_from_the_database_while_redis_is_down(app, client, citizen, operator,
                                                            provider):
    from backend.services import context

    gate = _device(client, operator)
    fine, _, _ = citizen()
    stale, stale_id, _ = citizen()
    fine_token = client.post("/api/v1/me/tokens", headers=fine, json={}).json["token"]
    stale_token = client.post("/api/v1/me/tokens", headers=stale, json={}).json["token"]
    real = app.extensions["redis"]
    with app.app_context():
        scan_ctx = context.scan_context()
    script = scan_ctx.script
    scan_ctx.redis = BrokenRedis()
    scan_ctx.script = BrokenRedis().script
    app.extensions["redis"] = BrokenRedis()
    try:
        imported = client.post("/api/v1/gov/records", headers=provider, json={"records": [{
            "kind": "close_contact", "id_number": stale_id, "source": "cdc", "ref": "R-1",
            "occurred_at": "2026-11-26T08:00:00+00:00"}]})
        assert imported.status_code == 200 and imported.json["accepted"] == 1
        assert client.post("/api/v1/scans", headers=gate, json={"token": fine_token}
                           ).json["reason"] == "ok"
        assert client.post("/api/v1/scans", headers=gate, json={"token": stale_token}
                           ).json["reason"] == "code_changed"
        assert client.get("/healthz").json == {"status": "degraded", "degraded": ["redis"]}
    finally:
        app.extensions["redis"] = real
        scan_ctx.redis = real
        scan_ctx.script = script
    conftest.settle_scans(app)
    assert conftest.table_count(app, "check_ins") == 1  # nothing accepted was lost
    # Redis is back: the change made while it was down is republished before it is trusted.
    assert client.post("/api/v1/scans", headers=gate, json={"token": stale_token}
                       ).json["reason"] == "code_changed"


def test_scans_are_limited_per_device_inside_the_scan_script(limited_app):
    from backend.services import context

    client = limited_app.test_client()
    with limited_app.app_context():
        context.scan_context().device_scans_per_minute = 2
        _, secret = issue_credential(Role.OFFICIAL, region="r1")
        db.session.commit()
    official = {"Authorization": f"Bearer {secret}"}
    created = client.post("/api/v1/checkpoints", headers=official, json={
        "name": "Gate", "category": "venue", "region": "r1", "admits": ["green"]}).json
    device = client.post(f"/api/v1/checkpoints/{created['checkpoint_id']}/devices",
                         headers=official, json={}).json
    gate = {"Authorization": f"Bearer {device['token']}"}
    holder = conftest.register_verified(limited_app, client)[0]
    token = client.post("/api/v1/me/tokens", headers=holder, json={}).json["token"]
    answers = [client.post("/api/v1/scans", headers=gate, json={"token": token})
               for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json["error"]["code"] == "too_many_requests"
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60
