"""Acts that change codes are audited; appends never collide; no log shows SQL values.

Finding 8 of issue 15: data-provider imports, area risk changes and simulations left
no audit entry; 6 of 10 concurrent tracing reads on the embedded default failed with
500 (``UNIQUE audit_log.prev_hash``) and the traceback logged the SQL parameters.
"""

import json
import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from conftest import table_count, unique_id_number
from sqlalchemy import text

from backend.extensions import db
from backend.models import Role


@pytest.fixture
def official(operator):
    return operator(Role.OFFICIAL, region="r1", name="Officer Lin")


AT = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0).isoformat()


def _records(*rows):
    return {"records": [{"kind": kind, "id_number": id_number, "source": "cdc", "ref": ref,
                         "occurred_at": AT,
                         **({"detail": {"result": "positive"}} if kind == "test_result" else {})}
                        for kind, id_number, ref in rows]}


def test_imports_and_area_changes_are_audited_with_counts_only(client, citizen, provider,
                                                               official):
    _, registered, body = citizen()
    unregistered = unique_id_number()
    answer = client.post("/api/v1/gov/records", headers=provider, json=_records(
        ("confirmed_case", registered, "C-1"), ("test_result", unregistered, "T-1"),
        ("close_contact", unregistered, "CC-1")))
    assert answer.status_code == 200
    again = client.post("/api/v1/gov/records", headers=provider, json=_records(
        ("confirmed_case", registered, "C-1"), ("close_contact", "not-an-id", "CC-2")))
    assert (again.json["duplicates"], len(again.json["rejected"])) == (1, 1)
    area = client.put("/api/v1/gov/areas/old-town", headers=provider, json={
        "risk_level": "high", "since": datetime.now(UTC).isoformat(), "region": "r1"})
    assert area.status_code == 200

    log = [e for e in client.get("/api/v1/audit", headers=official).json["entries"]
           if not e["action"].startswith("identity.")]  # the fixture's counter visit
    assert [e["action"] for e in log] == ["area.set", "gov.import", "gov.import"]
    area_entry, second, first = log
    assert (first["role"], first["actor_name"]) == ("data_provider", "data_provider")
    assert first["detail"] == {"accepted": 3, "duplicates": 0, "rejected": 0,
                               "kinds": {"close_contact": 1, "confirmed_case": 1,
                                         "test_result": 1},
                               "sources": ["cdc"]}
    assert (second["detail"]["accepted"], second["detail"]["duplicates"],
            second["detail"]["rejected"]) == (0, 1, 1)
    assert area_entry["target"] == "area:old-town"
    assert area_entry["detail"]["risk_level"] == "high"
    assert area_entry["region"] == "r1"
    blob = json.dumps(log)
    for secret in (registered, unregistered, registered[-4:], body["subject"], "C-1", "T-1"):
        assert secret not in blob  # who, what and how many: never whom


def test_concurrent_audited_acts_all_succeed_on_one_chain(app, client, citizen, official,
                                                          runner):
    """Ten tracing reads at once, each audited: none fails, and the chain holds."""
    _, id_number, _ = citizen()
    before = table_count(app, "audit_log")  # the citizen's counter visit
    barrier = threading.Barrier(10)
    outcomes: list[object] = []

    def read(n: int) -> None:
        own = app.test_client()
        barrier.wait()
        try:
            response = own.post("/api/v1/tracing/leads", headers=official, json={
                "case": {"id_number": id_number}, "reason": f"parallel read {n}"})
            outcomes.append(response.status_code)
        except Exception as exc:  # the route raised instead of answering
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=read, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == [200] * 10
    log = client.get("/api/v1/audit?action=checkins.read", headers=official).json
    assert log["total"] == 10
    assert sorted(e["reason"] for e in log["entries"]) == sorted(
        f"parallel read {n}" for n in range(10))
    result = runner.invoke(args=["verify-audit"])
    assert result.exit_code == 0, result.output
    assert f"audit log intact: {before + 10} entries" in result.output


def test_database_errors_are_logged_without_parameters(app, client, citizen, official,
                                                       caplog):
    """Fork the chain by hand so that the next append breaks a unique constraint: the
    answer is a JSON 500 and no log line holds a value the statement carried."""
    _, id_number, _ = citizen()
    forked = "f00d" * 16
    with app.app_context(), db.engine.begin() as conn:
        for row_id, prev, own in ((1000, "e" * 64, forked), (999, forked, "d" * 64)):
            conn.execute(text(
                "INSERT INTO audit_log (id, at, actor_id, actor_name, role, region, action, "
                "target, reason, detail, prev_hash, hash) VALUES (:id, :at, NULL, 'x', "
                "'official', 'r1', 'test', 'test', NULL, '{}', :prev, :own)"),
                {"id": row_id, "at": datetime.now(UTC).replace(tzinfo=None), "prev": prev,
                 "own": own})
    marker = "reason-marker-5417"
    with caplog.at_level(logging.DEBUG):
        response = client.post("/api/v1/tracing/leads", headers=official, json={
            "case": {"id_number": id_number}, "reason": marker})
    assert response.status_code == 500
    assert response.json["error"]["code"] == "internal_error"
    logged = caplog.text + "".join(
        str(r.args) + str(r.exc_info) for r in caplog.records)
    assert "IntegrityError" in logged  # the error is logged, and says what broke
    assert "prev_hash" in logged
    for value in (marker, forked, id_number):
        assert value not in logged
    # The next act goes through once the fork is gone: nothing was left half-written.
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id IN (999, 1000)"))
    assert client.post("/api/v1/tracing/leads", headers=official, json={
        "case": {"id_number": id_number}, "reason": "after the fork"}).status_code == 200


def test_every_engine_hides_parameters(app):
    with app.app_context():
        assert all(engine.hide_parameters for engine in db.engines.values())
