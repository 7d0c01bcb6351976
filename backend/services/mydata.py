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
    Credential,
    DataAccess,
    Enrolment,
    GovRecord,
    Questionnaire,
    VerificationCode,
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
        "registrations": _registrations(citizen),
        "retention_days": retention_days,
        "not_kept": ["your full ID number (only a keyed hash and its last four characters)",
                     "who was refused at a checkpoint (refusals are only counted)"],
    }


def _registrations(citizen: Citizen) -> list[dict[str, Any]]:
    """Every registration made with the holder's ID number. Their own come with what
    they entered, when their secret stopped working, and the codes a counter handed
    over or that verified them; others' claims (frozen or pending) only with when, where
    and their state: what a claimant typed is not the holder's to read."""
    enrolments = db.session.execute(
        select(Enrolment).where(Enrolment.id_hash == citizen.id_hash)
        .order_by(Enrolment.id)).scalars().all()
    own = {e.id: e for e in enrolments if e.citizen_id == citizen.id}
    revoked = dict(db.session.execute(
        select(Credential.enrolment_id, Credential.revoked_at)
        .where(Credential.enrolment_id.in_(list(own)))).all())
    codes: dict[int, list[dict[str, Any]]] = {}
    for code, counter in db.session.execute(
            select(VerificationCode, Credential.name)
            .outerjoin(Credential, Credential.id == VerificationCode.issued_by)
            .where(VerificationCode.enrolment_id.in_(list(own)))
            .order_by(VerificationCode.id)).all():
        used = code.spent_at is not None and code.spent_at == own[code.enrolment_id].verified_at
        if code.method == "in_person" or used:  # an SMS code not used may be a decoy
            codes.setdefault(code.enrolment_id, []).append({
                "method": code.method, "by": counter, "issued_at": _iso(code.created_at),
                "used": used})
    views = []
    for e in enrolments:
        view = {
            "registration_id": e.id, "registered_at": _iso(e.created_at), "region": e.region,
            "state": "verified" if e.verified_at else "frozen" if e.frozen_at else "pending",
            "verified_at": _iso(e.verified_at), "frozen_at": _iso(e.frozen_at),
            "yours": e.id in own,
        }
        if e.id in own:
            view.update(name=e.name, phone=e.phone, secret_revoked_at=_iso(revoked.get(e.id)),
                        verifications=codes.get(e.id, []))
        views.append(view)
    return views


def access_log(citizen: Citizen) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(DataAccess).where(DataAccess.subject == citizen.subject)
        .order_by(DataAccess.at.desc(), DataAccess.id.desc())).scalars()
    return [{"at": _iso(a.at), "who": a.actor_name, "role": a.role, "action": a.action,
             "what": a.what, "why": a.reason} for a in rows]
