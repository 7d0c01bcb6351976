"""Everything stored about a holder, and who among officials has read it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..credit.reads import own_credit_acts, own_restrictions
from ..extensions import db
from ..models import (
    Appeal,
    CheckIn,
    Checkpoint,
    Citizen,
    CodeHistory,
    CodeState,
    DataAccess,
    GovRecord,
    Questionnaire,
)
from .appeals import appeal_view


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def my_data(citizen: Citizen, *, issuer: str, now: datetime,
            retention_days: dict[str, int]) -> dict[str, Any]:
    questionnaires = db.session.execute(
        select(Questionnaire).where(Questionnaire.citizen_id == citizen.id)
        .order_by(Questionnaire.reported_at)).scalars().all()
    records = db.session.execute(
        select(GovRecord).where(GovRecord.id_hash == citizen.id_hash)
        .order_by(GovRecord.occurred_at)).scalars().all()
    history = db.session.execute(
        select(CodeHistory).where(CodeHistory.citizen_id == citizen.id)
        .order_by(CodeHistory.version)).scalars().all()
    checkins = db.session.execute(
        select(CheckIn, Checkpoint.name).join(Checkpoint, Checkpoint.id == CheckIn.checkpoint_id)
        .where(CheckIn.issuer == issuer, CheckIn.subject == citizen.subject)
        .order_by(CheckIn.scanned_at)).all()
    state = db.session.get(CodeState, citizen.id)
    appeals = db.session.execute(
        select(Appeal).where(Appeal.citizen_id == citizen.id).order_by(Appeal.id)).scalars()
    return {
        "profile": {
            "citizen_id": citizen.id, "subject": citizen.subject, "name": citizen.name,
            "phone": citizen.phone, "region": citizen.region,
            "id_number": f"{'*' * 14}{citizen.id_tail}", "registered_at": _iso(citizen.created_at),
        },
        "questionnaires": [{
            "questionnaire_id": q.id, "reported_at": _iso(q.reported_at),
            "temperature_c": q.temperature_c, "symptoms": list(q.symptoms or []),
            "travel": [{"area_code": t.area_code, "from": _iso(t.entered_at), "to": _iso(t.left_at)}
                       for t in q.travel],
        } for q in questionnaires],
        "records": [{
            "kind": r.kind, "source": r.source, "ref": r.ref, "occurred_at": _iso(r.occurred_at),
            "detail": r.detail or {}, "received_at": _iso(r.received_at),
            "withdrawn_at": _iso(r.withdrawn_at), "withdrawn_reason": r.withdrawn_reason,
        } for r in records],
        "code": None if state is None else {
            "color": state.color, "version": state.version, "changed_at": _iso(state.changed_at),
            "ruleset_version": state.ruleset_version},
        "code_history": [{
            "version": h.version, "color": h.color, "reasons": h.reasons,
            "ruleset_version": h.ruleset_version, "changed_at": _iso(h.changed_at),
        } for h in history],
        "check_ins": [{
            "checkpoint": name, "checkpoint_id": c.checkpoint_id,
            "scanned_at": _iso(c.scanned_at), "offline": c.offline,
        } for c, name in checkins],
        "restrictions": own_restrictions(citizen.id_hash, now),
        # What credit authorities did about your restrictions (from the credit audit log).
        "credit_acts": own_credit_acts(citizen.id_hash),
        "appeals": [appeal_view(a, now) for a in appeals],
        "access_log": access_log(citizen),
        "retention_days": retention_days,
        "not_kept": ["your full ID number (only a keyed hash and its last four characters)",
                     "who was refused at a checkpoint (refusals are only counted)"],
    }


def access_log(citizen: Citizen) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(DataAccess).where(DataAccess.subject == citizen.subject)
        .order_by(DataAccess.at.desc(), DataAccess.id.desc())).scalars()
    return [{"at": _iso(a.at), "who": a.actor_name, "role": a.role, "action": a.action,
             "what": a.what, "why": a.reason} for a in rows]
