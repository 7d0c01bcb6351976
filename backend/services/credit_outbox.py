"""Recording credit acts on the health side, from the credit store's outbox.

The credit store and the health database are two databases, and one commit cannot
cover both. A credit act that the health side must know of (a restriction appeal
decided; the appeals queue read by a credit authority, which the holders see in their
access log) commits in the credit store with an outbox entry (``backend.credit.outbox``).
This module records each entry here in a transaction of its own, which also writes a
``MovedCreditAct`` keyed on the entry's uid, and only then marks the entry moved in the
credit store. A failure in between leaves the entry pending; moving it again finds the
``MovedCreditAct`` and records nothing twice.

Each credit act's request moves its own entry right after the commit (``move_soon``),
so the health side is normally current at once; ``flask move-credit-outbox`` (cron,
every minute) moves whatever a failure left behind, every pending entry each run. An
entry that keeps failing is counted, and listed by that command once parked, but
never holds up the others: a request moves no entry but its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..credit import outbox
from ..extensions import db
from ..models import Appeal, Citizen, MovedCreditAct
from . import prebuilt
from .audit import Actor, note_access

log = logging.getLogger(__name__)

# Entries read from the credit store at a time by ``move_pending``.
PAGE = 1000
# Failed moves after which ``flask move-credit-outbox`` lists an entry as parked (it
# is still retried: a rolling deploy's unknown action moves once the release is out).
PARK_AFTER = 5


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
    statement = (select(Appeal.id, Citizen.subject)
                 .join(Citizen, Citizen.id == Appeal.citizen_id)
                 .where(prebuilt.member(Appeal.id, prebuilt.on_postgresql())))
    subjects: dict[int, str] = {}
    for ids in prebuilt.chunks(payload["appeal_ids"]):  # one page of the queue: 200 at most
        subjects.update(db.session.execute(statement, {"ids": ids}).all())
    for appeal_id in payload["appeal_ids"]:
        # The audit entry is in the credit store's log, which health officials never read.
        note_access(actor, subjects[appeal_id], "appeals.read", "appeals", None, None, at)


RECORDERS: dict[str, Callable[[dict[str, Any], datetime], None]] = {
    "appeal.decide": _appeal_decided,
    "appeals.read": _appeals_read,
}


class Failed(NamedTuple):
    """An entry not moved: its id, action, failed moves so far and the last exception's
    class (never its payload or message, which name people)."""

    id: int
    action: str
    attempts: int
    error: str


class _Entry(NamedTuple):
    id: int
    uid: str
    action: str
    at: datetime
    payload: dict[str, Any]
    attempts: int


def _pending(limit: int, *, after: int = 0, uid: str | None = None) -> list[_Entry]:
    entries = [_Entry(e.id, e.uid, e.action, e.at, dict(e.payload), e.attempts)
               for e in outbox.pending(limit, after=after, uid=uid)]
    db.session.commit()  # ends the read; nothing is written yet
    return entries


def move_pending(now: datetime) -> tuple[int, list[Failed]]:
    """Move every pending entry, oldest first: how many moved, and those that failed.
    A failed entry stays pending, its failure counted; the ones after it move all the
    same."""
    moved, failed, after = 0, [], 0
    while entries := _pending(PAGE, after=after):
        for entry in entries:
            failure = _move(entry, now)
            if failure is None:
                moved += 1
            else:
                failed.append(failure)
        after = entries[-1].id
    return moved, failed


def move_soon(uid: str, now: datetime) -> None:
    """Right after a credit act's commit: move its entry (``uid``) now, and no other, so
    that entries which keep failing cost a request nothing. Nothing is lost if this
    fails: the entry waits for ``flask move-credit-outbox``."""
    try:
        for entry in _pending(1, uid=uid):
            _move(entry, now)
    except Exception as exc:  # noqa: BLE001 (the act is committed: the request succeeds)
        db.session.rollback()
        log.warning("credit outbox not moved now: %s", type(exc).__name__)


def _move(entry: _Entry, now: datetime) -> Failed | None:
    """Record one entry here, then mark it moved in the credit store; on a failure,
    count it there instead."""
    try:
        _record_here(entry, now)
        outbox.mark_moved(entry.id, now)
        db.session.commit()
        return None
    except Exception as exc:  # noqa: BLE001 (whatever it was, the entry is retried)
        db.session.rollback()
        error = type(exc).__name__
        # The entry's id only: its payload names people.
        log.warning("credit outbox entry %s not moved: %s", entry.id, error)
    try:
        outbox.note_failure(entry.id, error)
        db.session.commit()
    except Exception:  # noqa: BLE001 (the count is a report; the entry stays pending)
        db.session.rollback()
    return Failed(entry.id, entry.action, entry.attempts + 1, error)


def _record_here(entry: _Entry, now: datetime) -> None:
    """Record one entry in the health database and commit, unless it is recorded already."""
    if db.session.get(MovedCreditAct, entry.uid) is not None:
        return
    RECORDERS[entry.action](entry.payload, entry.at)
    db.session.add(MovedCreditAct(outbox_uid=entry.uid, moved_at=now))
    try:
        db.session.commit()
    except IntegrityError:  # another mover recorded it first: its commit stands
        db.session.rollback()
