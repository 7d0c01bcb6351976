"""Recording credit acts on the health side, from the credit store's outbox.

The credit store and the health database are two databases, and one commit cannot
cover both. A credit act that the health side must know of (a restriction appeal
decided; the appeals queue read by a credit authority, which the holders see in their
access log) commits in the credit store with an outbox entry (``backend.credit.outbox``).
This module records each entry here in a transaction of its own, which also writes a
``MovedCreditAct`` keyed on the entry's id, and only then marks the entry moved in the
credit store. A failure in between leaves the entry pending; moving it again finds the
``MovedCreditAct`` and records nothing twice.

Moves run right after each credit act's commit, in the same request (``move_soon``),
so the health side is normally current at once; ``flask move-credit-outbox`` (cron,
every minute) moves whatever a failure left behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..credit import outbox
from ..extensions import db
from ..models import Appeal, Citizen, MovedCreditAct
from .audit import Actor, note_access

log = logging.getLogger(__name__)

# Entries moved in the request after a credit act: its own and a few a failure left.
SOON = 20


def actor_payload(actor: Actor) -> dict[str, Any]:
    """The actor as an outbox entry names them (the health side's access log shows them)."""
    return {"id": actor.id, "name": actor.name, "role": actor.role}


def _actor(payload: dict[str, Any]) -> Actor:
    who = payload["actor"]
    return Actor(id=who["id"], name=who["name"], role=who["role"], region=None)


def _appeal_decided(payload: dict[str, Any], at: datetime) -> None:
    """A restriction appeal was decided: the appeal shows it, and so does the holder's
    access log."""
    actor, note = _actor(payload), payload["note"]
    appeal = db.session.get(Appeal, payload["appeal_id"])
    if appeal.decided_at is None:
        appeal.record_decision(payload["outcome"], at, actor.id, actor.name, note)
    subject = db.session.execute(
        select(Citizen.subject).where(Citizen.id == appeal.citizen_id)).scalar_one()
    note_access(actor, subject, "appeal.decide", "restrictions", note, None, at)


def _appeals_read(payload: dict[str, Any], at: datetime) -> None:
    """A credit authority read a page of the appeals queue: each holder is told."""
    actor = _actor(payload)
    rows = db.session.execute(
        select(Appeal.id, Citizen.subject).join(Citizen, Citizen.id == Appeal.citizen_id)
        .where(Appeal.id.in_(payload["appeal_ids"]))).all()
    subjects = dict(rows)
    for appeal_id in payload["appeal_ids"]:
        # The audit entry is in the credit store's log, which health officials never read.
        note_access(actor, subjects[appeal_id], "appeals.read", "appeals", None, None, at)


RECORDERS: dict[str, Callable[[dict[str, Any], datetime], None]] = {
    "appeal.decide": _appeal_decided,
    "appeals.read": _appeals_read,
}


def move_pending(now: datetime, *, limit: int = 1000) -> tuple[int, list[int]]:
    """Move up to ``limit`` of the oldest pending entries: how many moved, and the ids of
    those that failed. A failed entry stays pending; the ones after it move all the same."""
    entries = [(e.id, e.action, e.at, dict(e.payload)) for e in outbox.pending(limit)]
    db.session.commit()  # ends the read; nothing is written yet
    moved, failed = 0, []
    for entry_id, action, at, payload in entries:
        try:
            _record_here(entry_id, action, at, payload, now)
            outbox.mark_moved(entry_id, now)
            db.session.commit()
            moved += 1
        except Exception as exc:  # noqa: BLE001 (whatever it was, the entry is retried)
            db.session.rollback()
            failed.append(entry_id)
            # The entry's id only: its payload names people.
            log.warning("credit outbox entry %s not moved: %s", entry_id, type(exc).__name__)
    return moved, failed


def _record_here(entry_id: int, action: str, at: datetime, payload: dict[str, Any],
                 now: datetime) -> None:
    """Record one entry in the health database and commit, unless it is recorded already."""
    if db.session.get(MovedCreditAct, entry_id) is not None:
        return
    RECORDERS[action](payload, at)
    db.session.add(MovedCreditAct(outbox_id=entry_id, moved_at=now))
    try:
        db.session.commit()
    except IntegrityError:  # another mover recorded it first: its commit stands
        db.session.rollback()


def move_soon(now: datetime) -> None:
    """Right after a credit act's commit: move its entry (and a few older ones a failure
    left) now. Nothing is lost if this fails: the entry waits for the next move."""
    try:
        move_pending(now, limit=SOON)
    except Exception as exc:  # noqa: BLE001 (the act is committed: the request succeeds)
        db.session.rollback()
        log.warning("credit outbox not moved now: %s", type(exc).__name__)
