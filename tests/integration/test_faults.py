"""Faults, for real: Redis killed and restarted, PostgreSQL restarted, under a running app.

The test starts its own ``redis-server`` (in memory only) and its own PostgreSQL
cluster on spare loopback ports, builds an app on them exactly as production would
(``REDIS_URL`` set, check-ins through the Redis stream, Alembic migrations), and
then stops and starts those processes between requests.

What it shows:

- Redis killed mid-run: scans still get an answer. Code versions come from the
  database (a close contact imported while Redis is down is refused with
  ``code_changed``), admitted scans are written to ``check_ins`` synchronously, the
  import answers 200 and is stored, the degradation is logged and named by
  ``/healthz``. Redis started again (empty) on the same port: scans work as before
  and the change made while it was down is republished before Redis is trusted.
  Every admitted scan ends up in ``check_ins`` exactly once.
- PostgreSQL restarted mid-run: the same app object (no restart of its own) answers
  the next requests (``pool_pre_ping``); an import killed by the restart and sent
  again stores each (source, ref) once, and sending it once more (or twice at once)
  only counts duplicates. Rows are counted in the database directly.

What it does not show: the Redis here keeps nothing on disk (``--save ""
--appendonly no``, as the service expects). Admitted scans sit in the Redis stream
until ``drain-checkins`` moves them to the database, so whatever the worker had not
drained when such a Redis dies is gone with it. The test drains the stream before
it kills Redis (as a worker that keeps up would have), so it proves that no scan is
lost *across* the outage and that scans during the outage go straight to the
database; it does not prove that undrained stream entries survive a crash (they do
not, with an in-memory Redis).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from itertools import count
from types import SimpleNamespace

import psycopg
import pytest
from conftest import register_verified
from faults_support import PostgresCluster, RedisServer, postgres_bindir, redis_binary
from flask_migrate import upgrade
from sqlalchemy import text

from backend import create_app
from backend.config import TestConfig
from backend.extensions import db
from backend.services.after_commit import CODE_KEY
from backend.services.checkins import STREAM, drain_all

_databases = count(1)


# --- processes -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_cluster():
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb, pg_ctl) "
                    "are not installed")
    if redis_binary() is None:
        pytest.skip("redis-server is not installed")
    cluster = PostgresCluster(bindir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture
def redis_server(tmp_path):
    binary = redis_binary()
    if binary is None:
        pytest.skip("redis-server is not installed")
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(binary, workdir)
    try:
        server.start()
        yield server
    finally:
        server.kill()


# --- the service -----------------------------------------------------------------------------


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def service(pg_cluster, redis_server, tmp_path):
    """An app on this test's own databases and Redis, with operators, a checkpoint and a gate."""
    n = next(_databases)
    health_db, credit_db = f"health_{n}", f"credit_{n}"
    pg_cluster.createdb(health_db)
    pg_cluster.createdb(credit_db)
    config = TestConfig(tmp_path / "instance")
    config.SQLALCHEMY_DATABASE_URI = pg_cluster.sqlalchemy_url(health_db)
    config.SQLALCHEMY_BINDS = {"credit": {"url": pg_cluster.sqlalchemy_url(credit_db),
                                          "pool_pre_ping": True}}
    config.REDIS_URL = redis_server.url
    config.RATELIMIT_STORAGE_URI = redis_server.url
    config.CHECKIN_SINK = "stream"
    app = create_app(config)
    try:
        with app.app_context():
            upgrade()
        client = app.test_client()
        runner = app.test_cli_runner()

        def operator(role: str, region: str | None = "r1") -> dict[str, str]:
            args = ["create-user", "--role", role, "--name", f"faults {role}"]
            if region:
                args += ["--region", region]
            made = runner.invoke(args=args)
            assert made.exit_code == 0, made.output
            return _bearer(made.output.strip().splitlines()[-1])

        provider = operator("data_provider", region=None)
        official = operator("official")
        checkpoint = client.post("/api/v1/checkpoints", headers=official, json={
            "name": "Station gate", "category": "venue", "region": "r1", "admits": ["green"]})
        assert checkpoint.status_code == 201, checkpoint.json
        device = client.post(f"/api/v1/checkpoints/{checkpoint.json['checkpoint_id']}/devices",
                             headers=official, json={"name": "gate 1"})
        assert device.status_code == 201, device.json

        def register() -> SimpleNamespace:
            headers, id_number, made = register_verified(app, client)
            return SimpleNamespace(headers=headers, id_number=id_number,
                                   subject=made["subject"])

        def token(holder: SimpleNamespace) -> str:
            made = client.post("/api/v1/me/tokens", headers=holder.headers, json={})
            assert made.status_code == 201, made.json
            return made.json["token"]

        def sql(query: str, **params):
            with app.app_context(), db.engines[None].connect() as conn:
                return conn.execute(text(query), params).all()

        def drain() -> int:
            with app.app_context():
                return drain_all(app.extensions["redis"], consumer="faults-test")

        yield SimpleNamespace(
            app=app, client=client, provider=provider, gate=_bearer(device.json["token"]),
            register=register, token=token, sql=sql, drain=drain,
            conninfo=pg_cluster.conninfo(health_db), redis=redis_server,
        )
    finally:
        with app.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


class Gate:
    """Scans at the service's gate, remembering every scan id it admitted or refused."""

    def __init__(self, service) -> None:
        self.s = service
        self.admitted: list[str] = []
        self.refused = 0
        self.seconds: list[float] = []

    def scan(self, token: str) -> dict:
        scan_id = f"faults-{secrets.token_hex(8)}"
        started = time.perf_counter()
        answer = self.s.client.post("/api/v1/scans", headers=self.s.gate,
                                    json={"token": token, "scan_id": scan_id})
        self.seconds.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        if answer.json["decision"] == "admit":
            self.admitted.append(scan_id)
        else:
            self.refused += 1
        return answer.json

    def reason(self, token: str) -> str:
        return self.scan(token)["reason"]


def _close_contact(holder, ref: str, source: str = "cdc") -> dict:
    return {"kind": "close_contact", "id_number": holder.id_number, "source": source,
            "ref": ref, "occurred_at": (datetime.now(UTC) - timedelta(days=1)).isoformat()}


def _stored_checkins(s) -> list[str]:
    return [row[0] for row in s.sql("SELECT scan_id FROM check_ins")]


# --- Redis -----------------------------------------------------------------------------------


def test_scans_answer_while_redis_is_down_and_nothing_accepted_is_lost(service, caplog):
    s, gate = service, Gate(service)
    good, contact = s.register(), s.register()
    good_token, contact_token = s.token(good), s.token(contact)  # issuing a token needs Redis

    # Redis up: admitted scans go to the stream, the worker drains it into check_ins.
    assert gate.reason(good_token) == "ok"
    assert gate.reason(contact_token) == "ok"
    assert gate.reason("not-a-token") == "malformed"
    assert s.drain() == 3  # two check-ins and one refusal count
    assert sorted(_stored_checkins(s)) == sorted(gate.admitted)
    assert s.redis.client().xlen(STREAM) == 0  # nothing left that a crash could take

    s.redis.kill()  # SIGKILL: Redis is gone, with everything it held in memory
    caplog.set_level(logging.WARNING, logger="backend.health")

    imported = s.client.post("/api/v1/gov/records", headers=s.provider, json={
        "records": [_close_contact(contact, "OUT-1")]})
    assert imported.status_code == 200, imported.get_data(as_text=True)
    assert imported.json["accepted"] == 1 and imported.json["rejected"] == []
    assert s.sql("SELECT count(*) FROM gov_records WHERE source = 'cdc' AND ref = 'OUT-1'"
                 ) == [(1,)]

    outage_start = len(gate.seconds)
    assert gate.reason(good_token) == "ok"  # still admitted, from the database's versions
    assert gate.reason(contact_token) == "code_changed"  # the import, seen in the database
    assert gate.reason("not-a-token") == "malformed"
    # An answer in time for a gate: no retry loop against the dead server (measured: tens of ms).
    outage_seconds = gate.seconds[outage_start:]
    assert max(outage_seconds) < 2.0, outage_seconds
    # Written at once (no stream to go to): in the table before any worker runs.
    assert sorted(_stored_checkins(s)) == sorted(gate.admitted)

    assert s.client.get("/healthz").json == {"status": "degraded", "degraded": ["redis"]}
    ready = s.client.get("/readyz")
    assert ready.status_code == 503 and ready.json["checks"]["redis"].startswith("error")
    assert ready.json["checks"]["database"] == "ok"
    assert any("redis unavailable, degraded mode" in r.getMessage() for r in caplog.records)

    # Redis back on the same port, empty (it kept nothing): the app reconnects by itself.
    s.redis.start()
    assert s.client.get("/readyz").status_code == 200
    assert gate.reason(good_token) == "ok"
    # The change made while Redis was down was republished before Redis was trusted.
    assert gate.reason(contact_token) == "code_changed"
    assert s.redis.client().hget(CODE_KEY.format(subject=contact.subject), "changed_ms")
    red = gate.scan(s.token(contact))  # a fresh token carries the new color
    assert red["decision"] == "refuse" and red["color"] == "red", red
    assert gate.reason(s.token(good)) == "ok"

    s.drain()
    stored = _stored_checkins(s)
    assert sorted(stored) == sorted(gate.admitted) and len(gate.admitted) == 5  # once each
    assert s.sql("SELECT coalesce(sum(count), 0) FROM refusal_counts") == [(gate.refused,)]
    assert s.redis.client().xlen(STREAM) == 0


# --- PostgreSQL ------------------------------------------------------------------------------


def _backends_waiting_on_locks(conninfo: str) -> int:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()[0]


def _wait_for_waiters(conninfo: str, n: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while _backends_waiting_on_locks(conninfo) < n:
        assert time.monotonic() < deadline, f"fewer than {n} requests blocked in PostgreSQL"
        time.sleep(0.02)


def _post_in_thread(app, path: str, headers: dict, body: dict, out: dict, key: str):
    def run() -> None:
        try:
            out[key] = app.test_client().post(path, headers=headers, json=body)
        except BaseException as exc:  # noqa: BLE001 (reported by the assertions below)
            out[key] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _lock_code_states(conninfo: str) -> psycopg.Connection:
    """Hold a lock that stops an import after it inserted its rows, before it commits."""
    conn = psycopg.connect(conninfo)  # a transaction stays open until rollback/close
    conn.execute("LOCK TABLE code_states IN ACCESS EXCLUSIVE MODE")
    return conn


def _rows_per_key(s, prefix: str) -> dict[str, int]:
    rows = s.sql("SELECT ref, count(*) FROM gov_records WHERE source = 'cdc' AND ref LIKE :p "
                 "GROUP BY ref", p=f"{prefix}%")
    return dict(rows)


def test_the_same_app_answers_after_a_postgresql_restart(service, pg_cluster):
    s, gate = service, Gate(service)
    # What a real client gets (a JSON 500), not the exception the test client would re-raise.
    s.app.config["PROPAGATE_EXCEPTIONS"] = False
    holder = s.register()
    assert gate.reason(s.token(holder)) == "ok"
    assert s.client.get("/api/v1/me/restrictions", headers=holder.headers).status_code == 200
    assert s.client.get("/readyz").status_code == 200

    # Every pooled connection, to both databases, dies with the restart; the app is kept.
    pg_cluster.restart()
    answers = {
        "GET /me/restrictions (credit database)": s.client.get(
            "/api/v1/me/restrictions", headers=holder.headers),
        "GET /me/code": s.client.get("/api/v1/me/code", headers=holder.headers),
        "GET /readyz": s.client.get("/readyz"),
        "POST /me/tokens": s.client.post("/api/v1/me/tokens", headers=holder.headers, json={}),
    }
    statuses = {name: (a.status_code, a.get_data(as_text=True)[:300] if a.status_code >= 400
                       else "") for name, a in answers.items()}
    assert statuses == {
        "GET /me/restrictions (credit database)": (200, ""), "GET /me/code": (200, ""),
        "GET /readyz": (200, ""), "POST /me/tokens": (201, "")}
    assert gate.reason(answers["POST /me/tokens"].json["token"]) == "ok"
    s.drain()  # the worker, too, carries on with the restarted database
    assert sorted(_stored_checkins(s)) == sorted(gate.admitted) and len(gate.admitted) == 2


def test_an_import_cut_by_a_postgresql_restart_is_stored_once_when_sent_again(
        service, pg_cluster):
    s, gate = service, Gate(service)
    s.app.config["PROPAGATE_EXCEPTIONS"] = False  # the interrupted request answers a JSON 500
    holders = [s.register() for _ in range(3)]
    tokens = [s.token(h) for h in holders]

    # 1. A restart in the middle of an import: the request fails, the client sends it again.
    batch = {"records": [_close_contact(h, f"B-{i}") for i, h in enumerate(holders, 1)]}
    locker = _lock_code_states(s.conninfo)
    answers: dict = {}
    try:
        first = _post_in_thread(s.app, "/api/v1/gov/records", s.provider, batch, answers, "first")
        _wait_for_waiters(s.conninfo, 1)  # the import has inserted its rows and waits
        pg_cluster.restart()  # terminates the import's session (and the locker's)
        first.join(timeout=30)
    finally:
        locker.close()
    interrupted = answers["first"]
    assert not isinstance(interrupted, BaseException), repr(interrupted)
    assert interrupted.status_code >= 500, interrupted.json  # it did not go through
    assert _rows_per_key(s, "B-") == {}  # rolled back with the session

    retried = s.client.post("/api/v1/gov/records", headers=s.provider, json=batch)
    assert retried.status_code == 200, retried.get_data(as_text=True)
    assert (retried.json["accepted"], retried.json["duplicates"]) == (3, 0)
    again = s.client.post("/api/v1/gov/records", headers=s.provider, json=batch)
    assert again.status_code == 200, again.get_data(as_text=True)
    assert (again.json["accepted"], again.json["duplicates"]) == (0, 3)
    assert _rows_per_key(s, "B-") == {"B-1": 1, "B-2": 1, "B-3": 1}
    # The import took effect: the contacts' earlier tokens are refused online.
    assert [gate.reason(t) for t in tokens] == ["code_changed"] * 3

    # 2. The retry arrives while the first attempt is still in flight (a client that timed
    # out): the second insert waits on the first, hits the unique (source, ref) when the
    # first commits, and starts again, counting duplicates (import_records' retry).
    batch = {"records": [_close_contact(h, f"C-{i}") for i, h in enumerate(holders, 1)]}
    locker = _lock_code_states(s.conninfo)
    answers = {}
    try:
        threads = [_post_in_thread(s.app, "/api/v1/gov/records", s.provider, batch, answers, k)
                   for k in ("one", "two")]
        _wait_for_waiters(s.conninfo, 2)
    finally:
        locker.close()  # releases the lock: the first commits, the second conflicts
    for thread in threads:
        thread.join(timeout=30)
    for key in ("one", "two"):
        answer = answers[key]
        assert not isinstance(answer, BaseException), repr(answer)
        assert answer.status_code == 200, answer.get_data(as_text=True)
    outcomes = sorted((a.json["accepted"], a.json["duplicates"]) for a in answers.values())
    assert outcomes == [(0, 3), (3, 0)]
    assert _rows_per_key(s, "C-") == {"C-1": 1, "C-2": 1, "C-3": 1}
    assert s.sql("SELECT count(*) FROM gov_records") == [(6,)]
