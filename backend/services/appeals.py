"""Appeals: a holder disputes a record behind their code, or a restriction.

Health appeals are decided by officials of the holder's region, restriction
appeals by credit authorities. A correction withdraws the disputed record (kept,
with who withdrew it and why) and recomputes the code, or lifts the restriction.
Every decision and every reading of the queue is audited (restriction appeals in
the credit store's own log) and shown in the access log of each holder concerned.

A holder has at most ``max_open`` appeals open at once, and one per target (a record,
a restriction, or their code as a whole): a second appeal of the same thing waits
for the first one's decision. The officials' queue is read a page at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, or_, select
from sqlalchemy.exc import IntegrityError

from ..credit import outbox
from ..credit.reads import own_restrictions
from ..credit.service import lift_restriction
from ..exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..models import Appeal, Citizen, GovRecord, Role
from . import prebuilt
from .audit import Actor, note_access, record, record_credit
from .codes import recompute_codes
from .credit_outbox import actor_payload, move_soon

OPEN, UPHELD, CORRECTED = "open", "upheld", "corrected"


def _holder_record(citizen: Citizen, target_id: str) -> GovRecord:
    source, _, ref = target_id.partition("/")
    found = db.session.execute(select(GovRecord).where(
        GovRecord.source == source, GovRecord.ref == ref, GovRecord.id_hash == citizen.id_hash,
    )).scalar_one_or_none()
    if found is None:
        raise ValidationFailed("No record about you has this source and ref.", fields={
            "target_id": ["give the record as source/ref, as shown in your reasons"]})
    return found


def file_appeal(citizen: Citizen, data: Mapping[str, Any], *, now: datetime,
                deadline_days: int, max_open: int) -> Appeal:
    """Store a new open appeal; 409 while the same target has one open, or while the
    holder already has ``max_open`` open."""
    target, target_id = data["target"], data.get("target_id")
    record_id = None
    if target == "code" and target_id:
        record_id = _holder_record(citizen, target_id).id
    if target == "restriction":
        mine = {str(r["restriction_id"]) for r in own_restrictions(citizen.id_hash, now)}
        if not target_id or str(target_id) not in mine:
            raise ValidationFailed("Name one of your restrictions.", fields={
                "target_id": ["must be the restriction_id of one of your restrictions"]})
    _lock_holder(citizen)
    appeal = Appeal(citizen_id=citizen.id, region=citizen.region, target=target,
                    target_id=str(target_id) if target_id else None, record_id=record_id,
                    reason=data["reason"], evidence=data.get("evidence"), state=OPEN,
                    created_at=now, deadline=now + timedelta(days=deadline_days))
    db.session.add(appeal)
    # Written first, then counted: on SQLite the write takes the database's write lock,
    # so a second appeal filed at the same moment counts this one (PostgreSQL: the lock
    # on the holder's row above).
    db.session.flush()
    _refuse_beyond_limits(citizen, appeal, max_open)
    db.session.commit()
    return appeal


def _lock_holder(citizen: Citizen) -> None:
    """Filing appeals is serialised per holder: two at once must not both pass the count."""
    if prebuilt.on_postgresql():
        db.session.execute(select(Citizen.id).where(Citizen.id == citizen.id)
                           .with_for_update())


def _refuse_beyond_limits(citizen: Citizen, new: Appeal, max_open: int) -> None:
    rows = db.session.execute(
        select(Appeal.id, Appeal.target, Appeal.target_id)
        .where(Appeal.citizen_id == citizen.id, Appeal.state == OPEN, Appeal.id != new.id)
        .order_by(Appeal.id)).all()
    same = next((r.id for r in rows
                 if (r.target, r.target_id) == (new.target, new.target_id)), None)
    if same is not None:
        db.session.rollback()
        raise Conflict(f"Your appeal #{same} of this is still open; its decision comes first.",
                       code="appeal_already_open", extra={"appeal_id": same},
                       fields={"target_id": [f"appeal #{same} of it is still open"]})
    if len(rows) >= max_open:
        db.session.rollback()
        raise Conflict(f"You may have at most {max_open} open appeals at once; "
                       "wait for a decision on one of them.",
                       code="too_many_open_appeals",
                       extra={"limit": max_open, "open": [r.id for r in rows]},
                       fields={"_form": [f"at most {max_open} open appeals at once"]})


def my_appeals(citizen: Citizen) -> list[Appeal]:
    return list(db.session.execute(
        select(Appeal).where(Appeal.citizen_id == citizen.id).order_by(Appeal.id.desc())
    ).scalars())


def _decides(actor: Actor) -> str:
    return "restriction" if actor.role == Role.CREDIT_AUTHORITY.value else "code"


# Where a queue page ends: (decided?, deadline, id). Open appeals come first, by
# deadline, so the overdue ones lead without the order depending on the clock.
QueuePosition = tuple[bool, datetime, int]


def queue(actor: Actor, now: datetime, *, after: QueuePosition | None = None,
          limit: int = 50) -> tuple[list[Appeal], QueuePosition | None]:
    """A page of the appeals this actor may decide: open ones by deadline (so overdue
    first), then decided ones; and where the next page starts (None after the last)."""
    decided = case((Appeal.state != OPEN, 1), else_=0)
    query = select(Appeal).where(Appeal.target == _decides(actor))
    if actor.role == Role.OFFICIAL.value:
        query = query.where(Appeal.region == actor.region)
    if after is not None:
        was_decided, deadline, last_id = after
        query = query.where(or_(
            decided > int(was_decided),
            and_(decided == int(was_decided), or_(
                Appeal.deadline > deadline,
                and_(Appeal.deadline == deadline, Appeal.id > last_id)))))
    page = list(db.session.execute(
        query.order_by(decided, Appeal.deadline, Appeal.id).limit(limit + 1)).scalars())
    more = len(page) > limit
    page = page[:limit]
    _note_queue_read(actor, page, now)
    if not more:
        return page, None
    last = page[-1]
    return page, (last.state != OPEN, last.deadline, last.id)


def _note_queue_read(actor: Actor, appeals: list[Appeal], now: datetime) -> None:
    """Reading the queue reads each holder's appeal: audited, and in their access log."""
    if not appeals:
        return
    detail = {"appeals": len(appeals)}
    if _decides(actor) == "restriction":
        # A credit act: audited in the credit store, and the holders' access logs are
        # written from its outbox (two databases: one commit cannot cover both).
        record_credit(actor, "appeals.read", "appeals:restriction", now=now, detail=detail)
        uid = outbox.post("appeals.read", {"actor": actor_payload(actor),
                                           "appeal_ids": [a.id for a in appeals]},
                          now=now).uid
        db.session.commit()
        move_soon(uid, now)
        return
    # A plain IN: a queue page holds at most 200 appeals (QueueQuerySchema's limit).
    subjects = dict(db.session.execute(
        select(Citizen.id, Citizen.subject).where(
            Citizen.id.in_(sorted({a.citizen_id for a in appeals})))).all())
    audit_id = record(actor, "appeals.read", "appeals:code", now=now, detail=detail).id
    for appeal in appeals:
        note_access(actor, subjects[appeal.citizen_id], "appeals.read", "appeals", None,
                    audit_id, now)
    db.session.commit()


def decide(actor: Actor, appeal_id: int, outcome: str, note: str, now: datetime,
           ruleset_cache: dict) -> Appeal:
    appeal = db.session.get(Appeal, appeal_id)
    if appeal is None:
        raise NotFound("No such appeal.")
    if appeal.target != _decides(actor):
        who = "credit authorities" if appeal.target == "restriction" else "health officials"
        raise Forbidden(f"Appeals against a {appeal.target} are decided by {who}.")
    if actor.role == Role.OFFICIAL.value and appeal.region != actor.region:
        raise Forbidden("This appeal belongs to another region.")
    if appeal.state != OPEN:
        raise ValidationFailed("This appeal was already decided.", code="already_decided",
                               fields={"appeal_id": [f"is {appeal.state}"]})
    citizen = db.session.get(Citizen, appeal.citizen_id)
    if appeal.target == "restriction":
        return _decide_restriction(actor, appeal, citizen.id_hash, outcome, note, now)
    if outcome == CORRECTED:
        if appeal.record_id is None:
            raise ValidationFailed("This appeal names no record to correct.",
                                   fields={"outcome": ["only 'upheld' is possible"]})
        disputed = db.session.get(GovRecord, appeal.record_id)
        disputed.withdrawn_at, disputed.withdrawn_by = now, actor.id
        disputed.withdrawn_reason = note
        db.session.flush()
        recompute_codes([citizen], now, ruleset_cache)
    appeal.record_decision(outcome, now, actor.id, actor.name, note)
    detail = {"outcome": outcome, "target": appeal.target, "target_id": appeal.target_id}
    entry = record(actor, "appeal.decide", f"appeal:{appeal.id}", now=now, reason=note,
                   region=appeal.region, detail=detail)
    note_access(actor, citizen.subject, "appeal.decide", "records", note, entry.id, now)
    db.session.commit()
    return appeal


def _decide_restriction(actor: Actor, appeal: Appeal, id_hash: str, outcome: str, note: str,
                        now: datetime) -> Appeal:
    """A credit act: the lift and its audit entry (in the credit store's log, never on
    the health officials') commit in the credit store with an outbox entry, from which
    the appeal and the holder's access log record the decision."""
    if outcome == CORRECTED:
        lift_restriction(int(appeal.target_id), reason=f"corrected on appeal: {note}",
                         actor_id=actor.id, now=now)
    detail = {"outcome": outcome, "target": appeal.target, "target_id": appeal.target_id}
    record_credit(actor, "appeal.decide", f"appeal:{appeal.id}", now=now, reason=note,
                  id_hash=id_hash, detail=detail)
    try:
        # Keyed on the appeal: of two decisions at once, the second finds the key taken.
        uid = outbox.post("appeal.decide", {"actor": actor_payload(actor),
                                            "appeal_id": appeal.id, "outcome": outcome,
                                            "note": note},
                          now=now, key=f"appeal:{appeal.id}").uid
    except IntegrityError:
        db.session.rollback()
        raise ValidationFailed("This appeal was already decided.", code="already_decided",
                               fields={"appeal_id": ["is decided"]}) from None
    db.session.commit()
    move_soon(uid, now)
    if appeal.decided_at is None:  # not recorded here yet: answer with the decision made
        db.session.expunge(appeal)
        appeal.record_decision(outcome, now, actor.id, actor.name, note)
    return appeal


def appeal_view(appeal: Appeal, now: datetime) -> dict[str, Any]:
    return {
        "id": appeal.id, "target": appeal.target, "target_id": appeal.target_id,
        "reason": appeal.reason, "evidence": appeal.evidence, "state": appeal.state,
        "created_at": appeal.created_at.isoformat(), "deadline": appeal.deadline.isoformat(),
        "overdue": appeal.state == OPEN and now > appeal.deadline,
        "decided_at": appeal.decided_at.isoformat() if appeal.decided_at else None,
        "decided_by": appeal.decided_by_name, "decision_note": appeal.decision_note,
    }
