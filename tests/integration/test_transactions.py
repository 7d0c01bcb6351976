"""On PostgreSQL a transaction begins at the first write or lock (backend/transactions.py).

What must not change: every write of a request commits or rolls back as one; a row
lock, an advisory lock and a savepoint hold until the commit. What does: a request
that only reads sends no BEGIN and no ROLLBACK.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import event, func, insert, literal, literal_column, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from backend.extensions import db
from backend.models import Citizen, Credential, GovRecord
from backend.services import codes

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


pytestmark = pytest.mark.postgresql(
    "the autocommit-until-write mode is PostgreSQL's (SQLite is left as is)")


def _status():
    return db.session.connection().connection.dbapi_connection.info.transaction_status


def _record(ref: str) -> GovRecord:
    return GovRecord(kind="close_contact", id_hash="h" * 64, occurred_at=NOW, source="tx",
                     ref=ref, detail={})


def _stored_refs(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.execute(
            select(GovRecord.ref).where(GovRecord.source == "tx")).scalars())


def _other_connection(app, lock_timeout_ms: int = 200):
    conn = db.engines[None].connect()
    conn.execute(text(f"SET lock_timeout = {int(lock_timeout_ms)}"))
    conn.commit()  # a SET inside a transaction would end with it
    return conn


def test_reads_open_no_transaction_and_the_first_write_opens_one(app):
    with app.app_context():
        db.session.execute(select(Credential.id).limit(1)).all()
        assert _status() is TransactionStatus.IDLE  # no BEGIN sent for a SELECT
        db.session.add(_record("r1"))
        db.session.flush()
        assert _status() is TransactionStatus.INTRANS
        db.session.commit()
    assert _stored_refs(app) == ["r1"]


def test_the_writes_of_a_request_still_roll_back_together(app):
    with app.app_context():
        db.session.execute(select(Credential.id)).all()  # a read first, as every request does
        db.session.add(_record("kept-until-the-error"))
        db.session.flush()
        db.session.add(_record("kept-until-the-error"))  # the same (source, ref): refused
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()
    assert _stored_refs(app) == []


def test_a_row_lock_is_held_until_the_commit(app, citizen):
    citizen()
    with app.app_context():
        # The evaluation's lock on a stored code is the first statement: it begins.
        locked = db.session.execute(codes._lock_codes(True), {"ids": [1]}).scalars().all()
        assert len(locked) == 1 and _status() is TransactionStatus.INTRANS
        other = _other_connection(app)
        try:
            with pytest.raises(OperationalError, match="lock timeout"):
                other.execute(text("SELECT 1 FROM code_states WHERE citizen_id = 1 FOR UPDATE"))
            other.rollback()
            db.session.commit()
            assert other.execute(text(
                "SELECT 1 FROM code_states WHERE citizen_id = 1 FOR UPDATE")).scalar() == 1
        finally:
            other.close()


def test_an_advisory_lock_in_sql_text_is_held_until_the_commit(app):
    with app.app_context():
        db.session.execute(text("SELECT pg_advisory_xact_lock(4242)"))
        other = _other_connection(app)
        try:
            assert other.execute(text("SELECT pg_try_advisory_xact_lock(4242)")).scalar() is False
            other.rollback()
            db.session.commit()
            assert other.execute(text("SELECT pg_try_advisory_xact_lock(4242)")).scalar() is True
        finally:
            other.close()


@pytest.mark.parametrize("lock", [
    lambda key: select(func.pg_advisory_xact_lock(key)),
    lambda key: select(literal_column(f"pg_advisory_xact_lock({int(key)})")),
    lambda key: select(literal(1).label("one"), func.pg_advisory_xact_lock(key)),
], ids=["func", "literal_column", "beside-a-value"])
def test_a_select_of_a_function_runs_inside_the_transaction(app, lock):
    """A function may act beyond its result (here a lock held until the commit, as
    nextval draws a number): as the first statement of a unit of work it begins the
    transaction, never runs alone in autocommit."""
    with app.app_context():
        db.session.execute(lock(4243)).all()
        assert _status() is TransactionStatus.INTRANS
        other = _other_connection(app)
        try:
            assert other.execute(text("SELECT pg_try_advisory_xact_lock(4243)")).scalar() is False
            other.rollback()
            db.session.commit()
            assert other.execute(text("SELECT pg_try_advisory_xact_lock(4243)")).scalar() is True
        finally:
            other.close()


def test_a_select_carrying_a_write_in_a_cte_runs_inside_the_transaction(app):
    """Its SQL calls nothing (``WITH anon_1 AS (INSERT ... RETURNING ...) SELECT``), but
    it writes: as the first statement it begins the transaction, so a rollback undoes it."""
    write = insert(GovRecord).values(
        kind="close_contact", id_hash="h" * 64, occurred_at=NOW, source="tx", ref="in-a-cte",
        detail={}).returning(GovRecord.ref).cte()
    with app.app_context():
        assert db.session.execute(select(write.c.ref).add_cte(write)).scalars().all() == [
            "in-a-cte"]
        assert _status() is TransactionStatus.INTRANS
        db.session.rollback()
    assert _stored_refs(app) == []


def test_a_savepoint_as_the_first_statement_is_inside_a_transaction(app):
    with app.app_context():
        with db.session.begin_nested():
            db.session.add(_record("in-a-savepoint"))
        assert _status() is TransactionStatus.INTRANS
        db.session.rollback()
    assert _stored_refs(app) == []


def test_a_code_read_and_a_token_send_one_statement_each(app, client, citizen):
    """The credential query outside any transaction, and nothing to roll back after it."""
    holder, _, _ = citizen()
    client.get("/api/v1/me/code", headers=holder)  # the first read may evaluate and store
    with app.app_context():
        engine = db.engines[None]
    seen: list[tuple[str, TransactionStatus]] = []

    def status(conn) -> TransactionStatus:
        return conn.connection.dbapi_connection.info.transaction_status

    def on_execute(conn, cursor, statement, *_):
        seen.append((statement.split()[0], status(conn)))

    def on_end(name):
        return lambda conn: seen.append((name, status(conn)))

    listeners = [("before_cursor_execute", on_execute), ("commit", on_end("commit")),
                 ("rollback", on_end("rollback"))]
    for name, fn in listeners:
        event.listen(engine, name, fn)
    per_request = []
    try:
        for call in (lambda: client.get("/api/v1/me/code", headers=holder),
                     lambda: client.post("/api/v1/me/tokens", headers=holder, json={})):
            seen.clear()
            answer = call()
            assert answer.status_code in (200, 201), answer.json
            per_request.append(list(seen))
    finally:
        for name, fn in listeners:
            event.remove(engine, name, fn)
    # IDLE: psycopg sent no BEGIN before the SELECT and sends no ROLLBACK at the end.
    idle = TransactionStatus.IDLE
    assert per_request == [[("SELECT", idle), ("rollback", idle)]] * 2


def test_a_connection_dropped_before_the_first_write_is_reported_and_replaced(app):
    """The BEGIN sent ahead of a write fails like the write itself would: the
    connection is invalidated, the caller sees SQLAlchemy's error, the next one works."""
    with app.app_context():
        # The request's read: no transaction is open, but the session keeps its connection.
        db.session.execute(select(Credential.id).limit(1)).all()
        assert _status() is TransactionStatus.IDLE
        pid = db.session.connection().connection.dbapi_connection.info.backend_pid
        with psycopg.connect(db.engines[None].url.set(drivername="postgresql")
                             .render_as_string(hide_password=False), autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        db.session.add(_record("after-the-drop"))
        with pytest.raises(OperationalError) as failed:
            db.session.flush()
        # The cause as PostgreSQL gave it, not a later "connection is lost".
        assert isinstance(failed.value.orig, psycopg.errors.AdminShutdown)
        assert failed.value.connection_invalidated
        db.session.rollback()
        db.session.add(_record("after-the-drop"))
        db.session.commit()
    assert _stored_refs(app) == ["after-the-drop"]


def test_a_connection_asking_for_autocommit_gets_it_and_vacuum_runs(app):
    """bench/simulate.py runs VACUUM ANALYZE this way: no BEGIN may be slipped in."""
    with app.app_context():
        engine = db.engines[None]
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE gov_records"))
            conn.execute(text("INSERT INTO gov_records (kind, id_hash, occurred_at, source, "
                              "ref, detail, received_at) VALUES ('close_contact', 'h', now(), "
                              "'tx', 'autocommitted', '{}', now())"))
            # no commit(): in autocommit the row is stored already
    assert _stored_refs(app) == ["autocommitted"]


def test_an_isolation_level_asked_for_is_the_one_used_and_the_mode_comes_back(app):
    with app.app_context():
        engine = db.engines[None]
        with engine.connect().execution_options(isolation_level="SERIALIZABLE") as conn:
            assert conn.execute(text("SHOW transaction_isolation")).scalar() == "serializable"
            pid = conn.connection.dbapi_connection.info.backend_pid
        # The same pooled connection, checked out again: reads open no transaction.
        with engine.connect() as conn:
            dbapi = conn.connection.dbapi_connection
            assert dbapi.info.backend_pid == pid
            conn.execute(select(Credential.id).limit(1)).all()
            assert dbapi.info.transaction_status is TransactionStatus.IDLE
            conn.execute(text("SELECT 1"))  # SQL text begins one, at the default level
            assert conn.execute(text("SHOW transaction_isolation")).scalar() == "read committed"
            assert dbapi.info.transaction_status is TransactionStatus.INTRANS


def test_reads_through_a_server_side_cursor_run_in_a_transaction(app, citizen):
    """yield_per streams through a named cursor, a DECLARE that needs a transaction."""
    for _ in range(3):
        citizen()
    with app.app_context():
        streamed = db.session.execute(
            select(Citizen.id).order_by(Citizen.id).execution_options(yield_per=2))
        assert len(list(streamed.scalars())) == 3
        locked = db.session.execute(
            select(Citizen.id).with_for_update().execution_options(yield_per=2))
        assert len(list(locked.scalars())) == 3
        db.session.rollback()


def test_the_credit_store_runs_in_the_same_mode(app):
    with app.app_context():
        engine = db.engines["credit"]
        with engine.connect() as conn:
            conn.execute(select(literal(1))).scalar()
            assert conn.connection.dbapi_connection.info.transaction_status \
                is TransactionStatus.IDLE
