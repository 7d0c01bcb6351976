"""Credit acts and what the health side records of them commit together or not at all.

Issue 16, point 6: a restriction appeal's decision lifts the restriction and audits it
in the credit store, while the appeal and the holder's access log are in the health
database; one commit spanning both could leave either without the other. The act
commits in the credit store with an outbox entry, which is moved to the health side
once (in the request, and by ``flask move-credit-outbox`` after a failure).
"""

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from backend.credit import outbox
from backend.extensions import db
from backend.models import Role
from backend.services import credit_outbox

NOTE = "the judgment was set aside on 2 March"


@pytest.fixture
def authority(operator):
    return operator(Role.CREDIT_AUTHORITY, region="r1", name="Intermediate People's Court")


def _credit(app, sql: str) -> list[tuple]:
    with app.app_context(), db.engines["credit"].connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def _health(app, sql: str) -> list[tuple]:
    with app.app_context(), db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def _appealed_restriction(client, citizen, authority):
    """A holder with an active rail restriction and an open appeal against it."""
    holder, id_number, _ = citizen()
    now = datetime.now(UTC)
    placed = client.post("/api/v1/credit/restrictions", headers=authority, json={
        "id_number": id_number, "categories": ["rail"],
        "legal_basis": {"kind": "court_judgment", "ref": "(2026) Hu 01 Zhi 12",
                        "authority": "Shanghai No. 1 Intermediate People's Court",
                        "authority_level": "city"},
        "notified_at": (now - timedelta(days=3)).isoformat(),
        "effective_from": (now - timedelta(days=1)).isoformat(),
        "remedy": "Pay the judgment debt."})
    assert placed.status_code == 201, placed.json
    filed = client.post("/api/v1/me/appeals", headers=holder, json={
        "target": "restriction", "target_id": str(placed.json["restriction_id"]),
        "reason": "the judgment was set aside"})
    assert filed.status_code == 201, filed.json
    return holder, filed.json["id"]


def _decisions_in_access_log(client, holder) -> int:
    log = client.get("/api/v1/me/access-log", headers=holder).json["entries"]
    return sum(1 for e in log if e["action"] == "appeal.decide")


def _restricted(client, holder) -> bool:
    [mine] = client.get("/api/v1/me/restrictions", headers=holder).json["restrictions"]
    return mine["active"]


def _both_chains_intact(runner) -> None:
    result = runner.invoke(args=["verify-audit"])
    assert result.exit_code == 0, result.output


def _fail(*_args, **_kwargs):
    raise OperationalError("INSERT ...", {}, Exception("the database went away"))


def test_a_decision_survives_a_failure_between_the_two_commits(app, client, citizen,
                                                               authority, runner,
                                                               monkeypatch):
    holder, appeal_id = _appealed_restriction(client, citizen, authority)
    monkeypatch.setitem(credit_outbox.RECORDERS, "appeal.decide", _fail)

    decided = client.post(f"/api/v1/appeals/{appeal_id}/decision", headers=authority,
                          json={"outcome": "corrected", "note": NOTE})

    # The credit act is done, and says so; the health side has not recorded it yet.
    assert decided.status_code == 200, decided.json
    assert decided.json["state"] == "corrected"
    assert not _restricted(client, holder)
    assert _credit(app, "SELECT action, reason FROM credit_audit_log "
                        "WHERE action = 'appeal.decide'") == [("appeal.decide", NOTE)]
    assert _credit(app, "SELECT action FROM credit_outbox WHERE moved_at IS NULL") == [
        ("appeal.decide",)]
    assert _health(app, f"SELECT state FROM appeals WHERE id = {appeal_id}") == [("open",)]
    assert _decisions_in_access_log(client, holder) == 0
    # A second decision meanwhile finds the first one in the credit store.
    again = client.post(f"/api/v1/appeals/{appeal_id}/decision", headers=authority,
                        json={"outcome": "upheld", "note": "upheld after all"})
    assert again.status_code == 422
    assert again.json["error"]["code"] == "already_decided"

    monkeypatch.undo()
    moved = runner.invoke(args=["move-credit-outbox"])
    assert moved.exit_code == 0, moved.output
    assert "moved=1 failed=0" in moved.output
    assert runner.invoke(args=["move-credit-outbox"]).output.strip() == "moved=0 failed=0"

    [mine] = client.get("/api/v1/me/appeals", headers=holder).json["appeals"]
    assert (mine["state"], mine["decision_note"]) == ("corrected", NOTE)
    assert _decisions_in_access_log(client, holder) == 1
    assert len(_credit(app, "SELECT id FROM credit_audit_log "
                            "WHERE action = 'appeal.decide'")) == 1
    assert _credit(app, "SELECT id FROM credit_outbox WHERE moved_at IS NULL") == []
    _both_chains_intact(runner)


def test_an_entry_moved_twice_is_recorded_once(app, client, citizen, authority, runner,
                                               monkeypatch):
    """The health side committed but the credit store never heard: the next move
    finds the entry recorded and only marks it moved."""
    holder, appeal_id = _appealed_restriction(client, citizen, authority)
    monkeypatch.setattr(outbox, "mark_moved", _fail)

    decided = client.post(f"/api/v1/appeals/{appeal_id}/decision", headers=authority,
                          json={"outcome": "upheld", "note": NOTE})
    assert decided.status_code == 200, decided.json
    assert _decisions_in_access_log(client, holder) == 1
    assert len(_credit(app, "SELECT id FROM credit_outbox WHERE moved_at IS NULL")) == 1
    with app.app_context():  # every mover fails to mark it, again
        moved, failed = credit_outbox.move_pending(datetime.now(UTC))
        assert (moved, [entry.id for entry in failed]) == (0, [1])

    monkeypatch.undo()
    assert "moved=1 failed=0" in runner.invoke(args=["move-credit-outbox"]).output
    assert _decisions_in_access_log(client, holder) == 1
    assert _health(app, "SELECT count(*) FROM moved_credit_acts") == [(1,)]
    assert _credit(app, "SELECT id FROM credit_outbox WHERE moved_at IS NULL") == []
    assert _restricted(client, holder)  # upheld
    _both_chains_intact(runner)


def test_a_failed_credit_transaction_leaves_neither_side_changed(app, client, citizen,
                                                                 authority, runner,
                                                                 monkeypatch):
    holder, appeal_id = _appealed_restriction(client, citizen, authority)
    audited = _credit(app, "SELECT count(*) FROM credit_audit_log")
    monkeypatch.setattr(outbox, "post", _fail)  # after the lift and its audit entry

    decided = client.post(f"/api/v1/appeals/{appeal_id}/decision", headers=authority,
                          json={"outcome": "corrected", "note": NOTE})

    assert decided.status_code == 503  # "the database is unavailable; nothing was stored"
    assert decided.json["error"]["code"] == "service_unavailable"
    assert _restricted(client, holder)
    assert _credit(app, "SELECT count(*) FROM credit_audit_log") == audited
    assert _credit(app, "SELECT count(*) FROM credit_outbox") == [(0,)]
    assert _health(app, f"SELECT state FROM appeals WHERE id = {appeal_id}") == [("open",)]
    assert _decisions_in_access_log(client, holder) == 0
    _both_chains_intact(runner)


def test_a_queue_read_reaches_the_holders_access_log_after_a_failure(client, citizen,
                                                                     authority, runner,
                                                                     monkeypatch):
    holder, _ = _appealed_restriction(client, citizen, authority)

    def reads() -> int:
        log = client.get("/api/v1/me/access-log", headers=holder).json["entries"]
        return sum(1 for e in log if e["action"] == "appeals.read")

    assert client.get("/api/v1/appeals", headers=authority).status_code == 200
    assert reads() == 1  # the normal path: at once
    monkeypatch.setitem(credit_outbox.RECORDERS, "appeals.read", _fail)
    assert client.get("/api/v1/appeals", headers=authority).status_code == 200
    assert reads() == 1
    monkeypatch.undo()
    assert "moved=1 failed=0" in runner.invoke(args=["move-credit-outbox"]).output
    assert reads() == 2
    _both_chains_intact(runner)


def test_the_mover_exits_1_while_an_entry_cannot_be_moved(client, citizen, authority,
                                                         runner, monkeypatch):
    _appealed_restriction(client, citizen, authority)
    monkeypatch.setitem(credit_outbox.RECORDERS, "appeals.read", _fail)
    client.get("/api/v1/appeals", headers=authority)
    result = runner.invoke(args=["move-credit-outbox"])
    assert result.exit_code == 1
    assert "moved=0 failed=1" in result.output


def test_credit_migrations_match_the_models(app):
    with app.app_context(), db.engines["credit"].connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadatas["credit"])
    structural = [d for d in diff if d[0] in ("add_table", "remove_table", "add_column",
                                                "remove_column", "add_index", "remove_index")]
    assert structural == []


def test_two_movers_at_once_record_an_entry_once(app, client, citizen, authority,
                                                 monkeypatch):
    """A request's move and the cron's, on the same entry: both find it unrecorded, one
    commit stands, the other finds the key taken."""
    import threading

    holder, _ = _appealed_restriction(client, citizen, authority)
    monkeypatch.setitem(credit_outbox.RECORDERS, "appeals.read", _fail)
    client.get("/api/v1/appeals", headers=authority)  # leaves the entry pending
    monkeypatch.undo()

    both_checked = threading.Barrier(2, timeout=30)
    record = credit_outbox.RECORDERS["appeals.read"]

    def record_together(payload, at):
        both_checked.wait()  # each mover has found the entry not yet recorded
        record(payload, at)

    monkeypatch.setitem(credit_outbox.RECORDERS, "appeals.read", record_together)
    results = []

    def mover():
        with app.app_context():
            results.append(credit_outbox.move_pending(datetime.now(UTC)))
            db.session.remove()

    threads = [threading.Thread(target=mover) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [(1, []), (1, [])]  # each saw it moved; one recorded it
    log = client.get("/api/v1/me/access-log", headers=holder).json["entries"]
    assert sum(1 for e in log if e["action"] == "appeals.read") == 1
    assert _health(app, "SELECT count(*) FROM moved_credit_acts") == [(1,)]


def _post_entries(app, action: str, count: int) -> None:
    """Entries no mover can record (an action this release does not know, as in a
    rolling deploy), written straight to the credit store's outbox."""
    with app.app_context():
        for _ in range(count):
            outbox.post(action, {}, now=datetime.now(UTC))
        db.session.commit()


def test_entries_that_never_move_do_not_hold_up_a_requests_own_entry(app, client, citizen,
                                                                    authority):
    holder, appeal_id = _appealed_restriction(client, citizen, authority)
    _post_entries(app, "restriction.renamed", 25)

    decided = client.post(f"/api/v1/appeals/{appeal_id}/decision", headers=authority,
                          json={"outcome": "corrected", "note": NOTE})

    assert decided.status_code == 200, decided.json
    assert _decisions_in_access_log(client, holder) == 1  # moved in the request
    [mine] = client.get("/api/v1/me/appeals", headers=holder).json["appeals"]
    assert mine["state"] == "corrected"
    # The request moved its own entry only: the stuck ones were not tried again.
    assert _credit(app, "SELECT action, count(*) FROM credit_outbox "
                        "WHERE moved_at IS NULL GROUP BY action") == [
        ("restriction.renamed", 25)]
    assert _credit(app, "SELECT max(attempts) FROM credit_outbox") == [(0,)]


def test_the_mover_lists_an_entry_that_failed_five_times_as_parked(app, client, citizen,
                                                                  authority, runner,
                                                                  monkeypatch):
    holder, _ = _appealed_restriction(client, citizen, authority)
    _post_entries(app, "restriction.renamed", 1)
    [(stuck,)] = _credit(app, "SELECT id FROM credit_outbox WHERE moved_at IS NULL")
    monkeypatch.setitem(credit_outbox.RECORDERS, "appeals.read", _fail)
    client.get("/api/v1/appeals", headers=authority)  # pending, behind the stuck one
    monkeypatch.undo()

    for run in range(1, 5):
        result = runner.invoke(args=["move-credit-outbox"])
        assert result.exit_code == 1
        # The mover goes on past the stuck entry.
        assert f"moved={int(run == 1)} failed=1" in result.output
        assert "parked" not in result.output
    result = runner.invoke(args=["move-credit-outbox"])
    assert result.exit_code == 1
    assert "moved=0 failed=1" in result.output
    assert (f"parked: entry {stuck} (restriction.renamed), 5 attempts, last KeyError"
            in result.output)
    assert _credit(app, f"SELECT attempts, last_error, moved_at FROM credit_outbox "
                        f"WHERE id = {stuck}") == [(5, "KeyError", None)]
    log = client.get("/api/v1/me/access-log", headers=holder).json["entries"]
    assert sum(1 for e in log if e["action"] == "appeals.read") == 1


def test_an_entry_is_moved_though_its_credit_id_was_used_before(app, client, citizen,
                                                                authority):
    """The credit store was rebuilt (or SQLite reused a rowid): a new entry has the id
    of one moved before, and is moved all the same."""
    holder, _ = _appealed_restriction(client, citizen, authority)

    def reads() -> int:
        log = client.get("/api/v1/me/access-log", headers=holder).json["entries"]
        return sum(1 for e in log if e["action"] == "appeals.read")

    assert client.get("/api/v1/appeals", headers=authority).status_code == 200
    assert reads() == 1
    [(first,)] = _credit(app, "SELECT id FROM credit_outbox")
    with app.app_context(), db.engines["credit"].begin() as conn:
        conn.execute(text("DELETE FROM credit_outbox"))
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('credit_outbox', 'id'),"
                              " 1, false)"))

    assert client.get("/api/v1/appeals", headers=authority).status_code == 200
    assert _credit(app, "SELECT id FROM credit_outbox") == [(first,)]
    assert reads() == 2
    assert _credit(app, "SELECT id FROM credit_outbox WHERE moved_at IS NULL") == []
