""""Id in list" has one way, ``prebuilt.member`` bound a chunk at a time: a list longer
than one statement may bind is still read in full, on SQLite (whose expanding IN makes
each item a parameter) as on PostgreSQL (one array parameter)."""

import sqlite3
from datetime import UTC, datetime

from sqlalchemy import select

from backend.extensions import db
from backend.models import Citizen
from backend.services.codes import citizens_by_id_hashes, code_changes_in_database

UNKNOWN = 2500  # more than a statement binds, and more than SQLite allows below


def _cap_sqlite_parameters(limit: int) -> None:
    """Lower SQLite's parameters per statement on this session's connection (as an
    older or differently built SQLite would have it); PostgreSQL binds one array."""
    raw = db.session.connection().connection.driver_connection
    if isinstance(raw, sqlite3.Connection):
        raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)


def test_lists_longer_than_a_statement_binds_are_read_in_full(app, citizen):
    subjects = {citizen()[2]["subject"] for _ in range(2)}
    with app.app_context():
        _cap_sqlite_parameters(1200)
        hashes = list(db.session.execute(select(Citizen.id_hash)).scalars())
        found = citizens_by_id_hashes(hashes + [f"{n:064x}" for n in range(UNKNOWN)])
        assert {person.subject for person in found} == subjects

        changed = code_changes_in_database(
            sorted(subjects) + [f"unknown-{n}" for n in range(UNKNOWN)],
            since=datetime(2000, 1, 1, tzinfo=UTC))
        assert set(changed) == subjects
