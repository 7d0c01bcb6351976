"""A code change reaches the gates after the transaction that stored it commits, and
never when it rolls back (backend/services/after_commit.py).

A gate sees a change two ways: an online scan of a token made before it answers
``code_changed`` (Redis's ``hc:code:<subject>``), and the offline bundle lists the
holder's live tokens as void. Both are read here after work that rolled back, after
a savepoint, and after a CLI command. On real PostgreSQL and Redis with DATABASE_URL,
CREDIT_DATABASE_URL and REDIS_URL set.
"""

import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import register_verified
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from backend.extensions import db
from backend.models import Citizen, GovRecord, Role
from backend.services.after_commit import CODE_KEY
from backend.services.codes import recompute_codes


@pytest.fixture
def official(operator):
    return operator(Role.OFFICIAL, region="r1")


@pytest.fixture
def gate(client, official):
    created = client.post("/api/v1/checkpoints", headers=official, json={
        "name": "Gate", "category": "venue", "region": "r1", "admits": ["green"]})
    assert created.status_code == 201, created.json
    device = client.post(f"/api/v1/checkpoints/{created.json['checkpoint_id']}/devices",
                         headers=official, json={})
    return {"Authorization": f"Bearer {device.json['token']}"}


@pytest.fixture
def holder(app, client):
    """A verified person with a green code and a token made from it: (headers, id
    number, subject, token)."""
    headers, id_number, body = register_verified(app, client)
    token = client.post("/api/v1/me/tokens", headers=headers, json={})
    assert token.status_code == 201, token.json
    return headers, id_number, body["subject"], token.json["token"]


def _second_holder(app, client):
    headers, id_number, body = register_verified(app, client)
    token = client.post("/api/v1/me/tokens", headers=headers, json={}).json["token"]
    return headers, id_number, body["subject"], token


def _gate_sees(client, gate, token) -> str:
    """What an online scan of ``token`` answers: ``code_changed`` once a change is told."""
    answer = client.post("/api/v1/scans", headers=gate, json={"token": token})
    assert answer.status_code == 200, answer.json
    return answer.json["reason"]


def _void_offline(client, gate) -> int:
    return len(client.get("/api/v1/checkpoints/bundle", headers=gate).json["status"]["changes"])


def _told_version(app, subject) -> str | None:
    """The code version Redis holds for ``subject``: what scans compare tokens with."""
    return app.extensions["redis"].hget(CODE_KEY.format(subject=subject), "v")


def _close_contact(app, subject: str, ref: str) -> None:
    """Store a close-contact record for ``subject`` and recompute the code: a change, in
    the current transaction, not committed."""
    at = datetime.now(UTC)
    person = db.session.execute(select(Citizen).where(Citizen.subject == subject)).scalar_one()
    db.session.add(GovRecord(kind="close_contact", id_hash=person.id_hash,
                             occurred_at=at - timedelta(hours=1), source="cdc", ref=ref,
                             detail={}, received_at=at))
    db.session.flush()
    _, changed = recompute_codes([person], at, app.extensions["ruleset_cache"])
    assert changed == 1


def _import(client, provider, id_number, ref):
    return client.post("/api/v1/gov/records", headers=provider, json={"records": [{
        "kind": "close_contact", "id_number": id_number, "source": "cdc", "ref": ref,
        "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}]})


def test_an_import_that_fails_after_recomputing_tells_the_gates_nothing(
        app, client, holder, provider, gate, monkeypatch):
    headers, id_number, subject, token = holder
    assert _told_version(app, subject) == "1"

    def audit_log_down(*args, **kwargs):
        raise SQLAlchemyError("the audit log could not be written")

    # The import stores the record and recomputes the code, then its audit entry fails.
    with monkeypatch.context() as patch:
        patch.setattr("backend.services.gov.record", audit_log_down)
        failed = _import(client, provider, id_number, "R-1")
    assert failed.status_code == 500, failed.json
    assert client.get("/api/v1/me/code", headers=headers).json["color"] == "green"
    assert _told_version(app, subject) == "1"
    assert _gate_sees(client, gate, token) == "ok"
    assert _void_offline(client, gate) == 0

    assert _import(client, provider, id_number, "R-1").status_code == 200
    assert _told_version(app, subject) == "2"
    assert _gate_sees(client, gate, token) == "code_changed"
    assert _void_offline(client, gate) == 1


def test_a_rolled_back_change_is_not_published_by_the_next_commit(app, client, holder, gate):
    _, _, subject, token = holder
    with app.app_context():
        _close_contact(app, subject, "R-1")
        db.session.rollback()
        db.session.commit()  # a later commit of the same session has nothing to tell
        assert _told_version(app, subject) == "1"
    assert _gate_sees(client, gate, token) == "ok"
    assert _void_offline(client, gate) == 0

    with app.app_context():
        _close_contact(app, subject, "R-2")
        assert _told_version(app, subject) == "1"  # not before the commit
        db.session.commit()
        assert _told_version(app, subject) == "2"
    assert _gate_sees(client, gate, token) == "code_changed"
    assert _void_offline(client, gate) == 1


def test_a_released_savepoint_publishes_with_its_transaction_and_not_before(
        app, client, holder, gate):
    _, _, subject, token = holder
    _, _, other, other_token = _second_holder(app, client)
    with app.app_context():
        # A write first: on SQLite (pysqlite) a SAVEPOINT that opens the transaction
        # would commit at its RELEASE.
        _close_contact(app, other, "R-0")
        with db.session.begin_nested():
            _close_contact(app, subject, "R-1")
        assert (_told_version(app, subject), _told_version(app, other)) == ("1", "1")
        db.session.rollback()
        db.session.commit()
        assert (_told_version(app, subject), _told_version(app, other)) == ("1", "1")
    assert _gate_sees(client, gate, token) == "ok"
    assert _gate_sees(client, gate, other_token) == "ok"

    with app.app_context():
        _close_contact(app, other, "R-0")
        with db.session.begin_nested():
            _close_contact(app, subject, "R-1")
        db.session.commit()
        assert (_told_version(app, subject), _told_version(app, other)) == ("2", "2")
    assert _gate_sees(client, gate, token) == "code_changed"
    assert _gate_sees(client, gate, other_token) == "code_changed"


def test_a_savepoint_rolled_back_forgets_only_its_own_changes(app, client, holder, gate):
    _, _, subject, token = holder
    _, _, other, other_token = _second_holder(app, client)
    with app.app_context():
        _close_contact(app, subject, "R-1")
        savepoint = db.session.begin_nested()
        _close_contact(app, other, "R-2")
        savepoint.rollback()
        db.session.commit()
        assert (_told_version(app, subject), _told_version(app, other)) == ("2", "1")
    assert _gate_sees(client, gate, token) == "code_changed"
    assert _gate_sees(client, gate, other_token) == "ok"


def test_a_ruleset_published_from_the_command_line_is_told_to_the_gates(
        app, client, holder, official, gate, runner):
    headers, _, subject, token = holder
    reported = client.post("/api/v1/me/questionnaires", headers=headers,
                           json={"temperature_c": 37.1, "symptoms": []})
    assert reported.json["code"]["color"] == "green"
    token = client.post("/api/v1/me/tokens", headers=headers, json={}).json["token"]
    rules = client.get("/api/v1/rulesets/active", headers=official).json["rules"]
    fever = next(r for r in rules if r["id"] == "fever")
    fever["when"]["and"][1]["or"][0][">="][1] = 37.0
    draft_id = client.post("/api/v1/rulesets", headers=official,
                           json={"rules": rules, "note": "fever from 37.0 C"}).json["id"]
    told = _told_version(app, subject)

    published = runner.invoke(args=["publish-ruleset", str(draft_id), "--region", "r1"])
    assert "1 of 1 codes changed" in published.output, published.output
    assert _told_version(app, subject) == str(int(told) + 1)
    assert _gate_sees(client, gate, token) == "code_changed"


def test_a_publish_that_fails_makes_every_process_refill_redis_first(
        app, client, holder, provider, gate, monkeypatch):
    """Redis failed at the commit, then answers again: the gates of another worker
    (whose own process saw no failure) must not trust Redis's stale code version."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from backend.services import after_commit
    from backend.services.after_commit import STATUS_READY_KEY

    headers, id_number, subject, token = holder
    assert _gate_sees(client, gate, token) == "ok"  # Redis is complete and trusted
    redis = app.extensions["redis"]
    assert redis.exists(STATUS_READY_KEY)

    def redis_blinks(*args, **kwargs):
        raise RedisConnectionError("Redis did not answer")

    with monkeypatch.context() as patch:
        patch.setattr(after_commit, "publish_changes", redis_blinks)
        assert _import(client, provider, id_number, "R-1").status_code == 200
    for _ in range(100):  # the withdrawal runs in a thread once Redis answers
        if not redis.exists(STATUS_READY_KEY):
            break
        time.sleep(0.05)
    assert _told_version(app, subject) == "1"  # the change never reached Redis...
    assert not redis.exists(STATUS_READY_KEY)  # ...and Redis is no longer trusted

    with app.app_context():  # another worker: it saw no failure of its own
        from backend.services.context import scan_context

        scan_context().status_stale = False
    assert _gate_sees(client, gate, token) == "code_changed"
    assert _told_version(app, subject) == "2"  # refilled from the database
    assert redis.exists(STATUS_READY_KEY)
