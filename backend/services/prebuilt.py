"""Statements on hot paths are built once, per dialect where it matters.

Building a SQLAlchemy statement and computing its cache key cost more than running
it for one person (building the credential query took about 220 µs of a code
read's CPU), so requests reuse one statement object with bound parameters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY

from ..extensions import db


def on_postgresql() -> bool:
    """Whether the health database is PostgreSQL (else the embedded SQLite)."""
    return db.engine.dialect.name == "postgresql"


def member(column: Any, postgresql: bool, item_type: Any = Integer, name: str = "ids") -> Any:
    """``column`` is one of the list bound as ``name``.

    ``= ANY(:ids)`` on PostgreSQL: the text is the same for every list, so psycopg
    prepares it once (an IN list of a thousand placeholders would be rendered, sent
    and planned anew each time); an expanding IN elsewhere.
    """
    if postgresql:
        return column == any_(bindparam(name, type_=ARRAY(item_type)))
    return column.in_(bindparam(name, expanding=True))


def dialect_insert(model: Any) -> Any:
    """An INSERT for the health database's dialect, which offers ``on_conflict_do_nothing``
    and ``on_conflict_do_update`` on PostgreSQL and SQLite alike."""
    if on_postgresql():
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model)
