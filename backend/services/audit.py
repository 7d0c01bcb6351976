"""Writing, reading and verifying the audit log.

Each entry's hash covers its content and the previous entry's hash, so an edited
or deleted entry breaks the chain at that point; ``verify_chain`` finds it.
Entries are written in the same transaction as the act they record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text

from ..exceptions import Forbidden, NotFound
from ..extensions import db
from ..models.appeals import DataAccess
from ..models.audit import GENESIS, AuditEntry
from . import prebuilt

# Arbitrary constant naming the audit chain's PostgreSQL advisory lock.
_CHAIN_LOCK = 7_301_202_611


@dataclass(frozen=True)
class Actor:
    id: int | None
    name: str | None
    role: str
    region: str | None


def in_actors_region(model: type, row_id: int, actor: Actor, noun: str):
    """The row ``row_id`` of ``model`` if it belongs to the actor's region (404 / 403)."""
    row = db.session.get(model, row_id)
    if row is None:
        raise NotFound(f"No such {noun}.")
    if row.region != actor.region:
        raise Forbidden(f"This {noun} belongs to another region.")
    return row


def entry_hash(prev_hash: str, entry: AuditEntry) -> str:
    content = {
        "prev": prev_hash,
        "at": entry.at.isoformat(),
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "role": entry.role,
        "region": entry.region,
        "action": entry.action,
        "target": entry.target,
        "reason": entry.reason,
        "detail": entry.detail or {},
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record(
    actor: Actor,
    action: str,
    target: str,
    *,
    now: datetime,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
    region: str | None = None,
) -> AuditEntry:
    """Append an entry in the current transaction (the caller commits with its act)."""
    if prebuilt.on_postgresql():
        # Serialise appends so two transactions never chain onto the same entry.
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})
    last = db.session.execute(
        select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).scalar_one_or_none()
    prev = last or GENESIS
    entry = AuditEntry(
        at=now.replace(microsecond=now.microsecond // 1000 * 1000),
        actor_id=actor.id, actor_name=actor.name, role=actor.role,
        region=region if region is not None else actor.region,
        action=action, target=target, reason=reason, detail=detail or {},
        prev_hash=prev,
    )
    entry.hash = entry_hash(prev, entry)
    db.session.add(entry)
    db.session.flush()
    return entry


def note_access(actor: Actor, subject: str, action: str, what: str, reason: str | None,
                audit_id: int | None, now: datetime) -> None:
    """Tell ``subject`` (in their access log) that an official read their data."""
    db.session.add(DataAccess(subject=subject, at=now, actor_name=actor.name, role=actor.role,
                              action=action, what=what, reason=reason, audit_id=audit_id))


@dataclass(frozen=True)
class ChainBreak:
    entry_id: int
    problem: str


def verify_chain(batch: int = 1000) -> tuple[int, ChainBreak | None]:
    """Walk the whole log; return how many entries were checked and the first break."""
    prev = GENESIS
    checked = 0
    for entry in _entries(batch):
        if entry.prev_hash != prev:
            return checked, ChainBreak(entry.id, "an entry before it was removed or changed")
        if entry_hash(prev, entry) != entry.hash:
            return checked, ChainBreak(entry.id, "its content was changed")
        prev = entry.hash
        checked += 1
    return checked, None


def _entries(batch: int) -> Iterator[AuditEntry]:
    last_id = 0
    while True:
        rows = db.session.execute(
            select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)
        ).scalars().all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id
        db.session.expunge_all()


def query_entries(
    *,
    region: str | None,
    action: str | None = None,
    actor: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[AuditEntry], int]:
    """Entries newest first; ``region`` None means every region (admins)."""
    query = select(AuditEntry)
    if region is not None:
        query = query.where(AuditEntry.region == region)
    if action:
        query = query.where(AuditEntry.action == action)
    if actor:
        query = query.where(AuditEntry.actor_id == actor)
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    total = db.session.execute(
        select(func.count()).select_from(query.subquery())
    ).scalar_one()
    rows = db.session.execute(
        query.order_by(AuditEntry.id.desc()).offset((page - 1) * per_page).limit(per_page)
    ).scalars().all()
    return list(rows), total
