"""Writing, reading and verifying the audit logs.

There are two logs, each a chain of its own: official acts on the health side
(``audit_log``), and credit acts (``credit_audit_log``, in the credit store) that
only credit authorities and, for their own records, the holder may read. Each
entry's hash covers its content and the previous entry's hash, so an edited or
deleted entry breaks the chain at that point; ``verify_chain`` finds it. Entries are
written in the same transaction as the act they record, and appends are serialised
(an advisory lock on PostgreSQL, the database's write lock on SQLite) so that two
acts at once never chain onto the same entry.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import false, func, select, text, update

from ..credit.models import CreditAuditEntry
from ..exceptions import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..models.accounts import Role
from ..models.appeals import DataAccess
from ..models.audit import GENESIS, AuditEntry

AuditModel = type[AuditEntry] | type[CreditAuditEntry]

# Arbitrary constants naming each chain's PostgreSQL advisory lock.
_CHAIN_LOCKS = {AuditEntry: 7_301_202_611, CreditAuditEntry: 7_301_202_612}
# What each chain's hash covers, beyond the previous hash: the health chain's list is
# what it always was, so that existing entries still verify.
_HASHED = {
    AuditEntry: ("at", "actor_id", "actor_name", "role", "region", "action", "target",
                 "reason", "detail"),
    CreditAuditEntry: ("at", "actor_id", "actor_name", "role", "region", "action", "target",
                       "id_hash", "reason", "detail"),
}


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


def entry_hash(prev_hash: str, entry: AuditEntry | CreditAuditEntry) -> str:
    content: dict[str, Any] = {"prev": prev_hash}
    for name in _HASHED[type(entry)]:
        value = getattr(entry, name)
        if name == "at":
            value = value.isoformat()
        elif name == "detail":
            value = value or {}
        content[name] = value
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _serialise_appends(model: AuditModel) -> None:
    """Hold the chain's lock until this transaction ends, before reading its last hash.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: a write that changes
    nothing takes the database's write lock (another writer waits for our commit);
    the driver starts a transaction only at a write, so a read of the last hash
    outside one could otherwise be overtaken by a concurrent append.
    """
    bind = {"mapper": model}
    dialect = db.session.get_bind(mapper=model).dialect.name
    if dialect == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                           {"k": _CHAIN_LOCKS[model]}, bind_arguments=bind)
    elif dialect == "sqlite":
        table = model.__table__
        db.session.execute(update(table).where(false()).values(id=table.c.id),
                           bind_arguments=bind)


def _append(model: AuditModel, actor: Actor, action: str, target: str, *, now: datetime,
            reason: str | None, detail: dict[str, Any] | None, region: str | None,
            **extra: Any) -> Any:
    _serialise_appends(model)
    last = db.session.execute(
        select(model.hash).order_by(model.id.desc()).limit(1)
    ).scalar_one_or_none()
    prev = last or GENESIS
    entry = model(
        at=now.replace(microsecond=now.microsecond // 1000 * 1000),
        actor_id=actor.id, actor_name=actor.name, role=actor.role,
        region=region if region is not None else actor.region,
        action=action, target=target, reason=reason, detail=detail or {},
        prev_hash=prev, **extra,
    )
    entry.hash = entry_hash(prev, entry)
    db.session.add(entry)
    db.session.flush()
    return entry


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
    """Append a health-side entry in the current transaction (the caller commits)."""
    return _append(AuditEntry, actor, action, target, now=now, reason=reason, detail=detail,
                   region=region)


def record_credit(
    actor: Actor,
    action: str,
    target: str,
    *,
    now: datetime,
    id_hash: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> CreditAuditEntry:
    """Append a credit act to the credit store's own log (the caller commits).

    ``id_hash`` names the person the act concerns, so that they see it among their
    own data. Only credit acts go here: never anything from the health side.
    """
    return _append(CreditAuditEntry, actor, action, target, now=now, reason=reason,
                   detail=detail, region=None, id_hash=id_hash)


# Characters that show nothing: spaces, controls, format characters (zero-width space,
# joiners, the byte-order mark, direction marks), unassigned and private-use code
# points, combining marks (they show only on a base character), and the few letters
# and symbols that are drawn blank.
_UNSEEN_CATEGORIES = {"Zs", "Zl", "Zp", "Cc", "Cf", "Cn", "Co", "Cs", "Mn", "Me"}
_BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def visible_characters(text_: str) -> int:
    return sum(1 for ch in text_ if unicodedata.category(ch) not in _UNSEEN_CATEGORIES
               and not ch.isspace() and ch not in _BLANK_CHARACTERS)


def visible_reason(raw: str | None, *, field: str = "reason", minimum: int = 3) -> str:
    """The reason an official gave for an act that is audited: 422 naming ``field``
    unless at least ``minimum`` characters of it show (three zero-width spaces are
    not a reason)."""
    if visible_characters(raw or "") < minimum:
        raise ValidationFailed("Give a reason: it is written to the audit log.", fields={
            field: [f"must have at least {minimum} visible characters"]})
    return (raw or "").strip()


def note_access(actor: Actor, subject: str, action: str, what: str, reason: str | None,
                audit_id: int | None, now: datetime) -> None:
    """Tell ``subject`` (in their access log) that an official read their data."""
    db.session.add(DataAccess(subject=subject, at=now, actor_name=actor.name, role=actor.role,
                              action=action, what=what, reason=reason, audit_id=audit_id))


@dataclass(frozen=True)
class ChainBreak:
    entry_id: int
    problem: str


def verify_chain(batch: int = 1000, model: AuditModel = AuditEntry
                 ) -> tuple[int, ChainBreak | None]:
    """Walk a whole log; return how many entries were checked and the first break."""
    prev = GENESIS
    checked = 0
    for entry in _entries(batch, model):
        if entry.prev_hash != prev:
            return checked, ChainBreak(entry.id, "an entry before it was removed or changed")
        if entry_hash(prev, entry) != entry.hash:
            return checked, ChainBreak(entry.id, "its content was changed")
        prev = entry.hash
        checked += 1
    return checked, None


def _entries(batch: int, model: AuditModel) -> Iterator[Any]:
    last_id = 0
    while True:
        rows = db.session.execute(
            select(model).where(model.id > last_id).order_by(model.id).limit(batch)
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
    model: AuditModel = AuditEntry,
) -> tuple[list[Any], int]:
    """Entries newest first; ``region`` None means every region (admins).

    The health log never answers with a credit authority's entry: such entries
    written before credit acts had a log of their own stay in the chain, unread.
    """
    query = select(model)
    if model is AuditEntry:
        query = query.where(model.role != Role.CREDIT_AUTHORITY.value)
    if region is not None:
        query = query.where(model.region == region)
    if action:
        query = query.where(model.action == action)
    if actor:
        query = query.where(model.actor_id == actor)
    if since:
        query = query.where(model.at >= since)
    if until:
        query = query.where(model.at < until)
    total = db.session.execute(
        select(func.count()).select_from(query.subquery())
    ).scalar_one()
    rows = db.session.execute(
        query.order_by(model.id.desc()).offset((page - 1) * per_page).limit(per_page)
    ).scalars().all()
    return list(rows), total
