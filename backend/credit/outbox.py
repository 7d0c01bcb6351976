"""The credit store's outbox: credit acts the health database has still to record.

An entry is written in the same transaction as the act, so neither exists without the
other; the health side moves it (``backend.services.credit_outbox``) and marks it moved
here afterwards. Moving is keyed on the entry's id on the health side, so an entry
moved twice (a crash between the two commits, two movers at once) is recorded once.
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


def pending(limit: int) -> list[OutboxEntry]:
    """The oldest entries not yet moved."""
    return list(db.session.execute(
        select(OutboxEntry).where(OutboxEntry.moved_at.is_(None))
        .order_by(OutboxEntry.id).limit(limit)
    ).scalars())


def mark_moved(entry_id: int, now: datetime) -> None:
    """Record that the health side has the entry (the caller commits)."""
    db.session.execute(update(OutboxEntry).where(OutboxEntry.id == entry_id,
                                                 OutboxEntry.moved_at.is_(None))
                       .values(moved_at=now))
