"""The credit store's outbox: credit acts the health database has still to record.

An entry is written in the same transaction as the act, so neither exists without the
other; the health side moves it (``backend.services.credit_outbox``) and marks it moved
here afterwards. Moving is keyed on the entry's random uid on the health side (never
its id, which a restored or rebuilt credit store counts again), so an entry moved
twice (a crash between the two commits, two movers at once) is recorded once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from ..extensions import db
from .models import OutboxEntry


def post(action: str, payload: dict[str, Any], *, now: datetime,
         key: str | None = None) -> OutboxEntry:
    """Add an entry in the current credit transaction (the caller commits). With a
    ``key`` already used, the flush raises ``IntegrityError``: that act was done."""
    entry = OutboxEntry(at=now, action=action, key=key, payload=payload)
    db.session.add(entry)
    db.session.flush()
    return entry


def pending(limit: int, *, after: int = 0, uid: str | None = None) -> list[OutboxEntry]:
    """The oldest entries not yet moved whose id is above ``after`` (the one with
    ``uid`` if given)."""
    query = select(OutboxEntry).where(OutboxEntry.moved_at.is_(None), OutboxEntry.id > after)
    if uid is not None:
        query = query.where(OutboxEntry.uid == uid)
    return list(db.session.execute(query.order_by(OutboxEntry.id).limit(limit)).scalars())


def mark_moved(entry_id: int, now: datetime) -> None:
    """Record that the health side has the entry (the caller commits)."""
    db.session.execute(update(OutboxEntry).where(OutboxEntry.id == entry_id,
                                                 OutboxEntry.moved_at.is_(None))
                       .values(moved_at=now))


def note_failure(entry_id: int, error: str) -> None:
    """Count a failed move of the entry, naming the exception's class (the caller
    commits)."""
    db.session.execute(update(OutboxEntry).where(OutboxEntry.id == entry_id)
                       .values(attempts=OutboxEntry.attempts + 1, last_error=error[:64]))
