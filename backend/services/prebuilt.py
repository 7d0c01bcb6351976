"""Statements on hot paths are built once, per dialect where it matters.

Building a SQLAlchemy statement and computing its cache key cost more than running
it for one person (building the credential query took about 220 µs of a code
read's CPU), so requests reuse one statement object with bound parameters.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Integer, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY

from ..extensions import db

# Items bound per execution of a ``member`` statement (see ``chunks``).
CHUNK = 1000


def on_postgresql() -> bool:
    """Whether the health database is PostgreSQL (else the embedded SQLite)."""
    return db.engine.dialect.name == "postgresql"


def member(column: Any, postgresql: bool, item_type: Any = Integer, name: str = "ids") -> Any:
    """``column`` is one of the list bound as ``name``: the one way to ask "id in list".

    ``= ANY(:ids)`` on PostgreSQL: the text is the same for every list, so psycopg
    prepares it once (an IN list of a thousand placeholders would be rendered, sent
    and planned anew each time); an expanding IN elsewhere. Bind a list of any length
    through ``chunks``: the expanding IN makes each item a parameter, and SQLite caps
    a statement's parameters (32,766 by default since SQLite 3.32; less if so built).

        statement = select(Citizen).where(member(Citizen.id, on_postgresql()))
        for ids in chunks(citizen_ids):
            rows = db.session.execute(statement, {"ids": ids})
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


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    """``items`` a list of at most ``size`` at a time, to bind to a ``member`` statement."""
    for i in range(0, len(items), size):
        yield list(items[i : i + size])
