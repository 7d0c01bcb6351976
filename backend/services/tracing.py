"""Contact tracing from check-ins: who was at the same checkpoint as a case, and when.

Every read of check-in data needs a reason and is written to the audit log
(target ``subject:<pseudonym>``), so the person concerned can later see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from ..exceptions import NotFound, ValidationFailed
from ..extensions import db
from ..identity import IdentityKeys
from ..models import CheckIn, Checkpoint, Citizen, GovRecord
from .audit import Actor, note_access, record
from .codes import CodeChange, recompute_codes

TRACING_SOURCE = "tracing"


@dataclass(frozen=True)
class Lead:
    subject: str
    checkpoint_id: int
    checkpoint_name: str
    case_visit_at: datetime
    visit_at: datetime

    @property
    def gap_minutes(self) -> float:
        return round(abs((self.visit_at - self.case_visit_at).total_seconds()) / 60, 1)

    def to_dict(self) -> dict:
        return {"subject": self.subject, "checkpoint_id": self.checkpoint_id,
                "checkpoint_name": self.checkpoint_name,
                "case_visit_at": self.case_visit_at.isoformat(),
                "visit_at": self.visit_at.isoformat(), "gap_minutes": self.gap_minutes}


def find_case(case: dict, keys: IdentityKeys) -> Citizen:
    if bool(case.get("subject")) == bool(case.get("id_number")):
        raise ValidationFailed("Name the case by subject or by id_number.",
                               fields={"case": ["give exactly one of subject, id_number"]})
    if case.get("subject"):
        query = select(Citizen).where(Citizen.subject == case["subject"])
    else:
        query = select(Citizen).where(Citizen.id_hash == keys.id_hash(case["id_number"]))
    citizen = db.session.execute(query).scalar_one_or_none()
    if citizen is None:
        raise NotFound("No registered person matches this case.")
    return citizen


def find_leads(actor: Actor, case: Citizen, *, issuer: str, window: timedelta, days: int,
               reason: str, now: datetime) -> tuple[int, list[Lead]]:
    """The case's visits in the official's region and everyone checked in near them."""
    if not reason or not reason.strip():
        raise ValidationFailed("Reading check-ins needs a reason.",
                               fields={"reason": ["is required"]})
    visits = db.session.execute(
        select(CheckIn.checkpoint_id, CheckIn.scanned_at, Checkpoint.name)
        .join(Checkpoint, Checkpoint.id == CheckIn.checkpoint_id)
        .where(CheckIn.issuer == issuer, CheckIn.subject == case.subject,
               CheckIn.scanned_at >= now - timedelta(days=days),
               Checkpoint.region == actor.region)
        .order_by(CheckIn.scanned_at)
    ).all()
    leads: dict[tuple[str, int], Lead] = {}
    if visits:
        near = or_(*[and_(CheckIn.checkpoint_id == v.checkpoint_id,
                          CheckIn.scanned_at >= v.scanned_at - window,
                          CheckIn.scanned_at <= v.scanned_at + window) for v in visits])
        others = db.session.execute(
            select(CheckIn.subject, CheckIn.checkpoint_id, CheckIn.scanned_at)
            .where(near, CheckIn.issuer == issuer, CheckIn.subject != case.subject)
        ).all()
        for other in others:
            for v in visits:
                if v.checkpoint_id != other.checkpoint_id:
                    continue
                if abs(other.scanned_at - v.scanned_at) > window:
                    continue
                lead = Lead(other.subject, v.checkpoint_id, v.name, v.scanned_at,
                            other.scanned_at)
                key = (other.subject, v.checkpoint_id)
                if key not in leads or lead.gap_minutes < leads[key].gap_minutes:
                    leads[key] = lead
    entry = record(actor, "checkins.read", f"subject:{case.subject}", now=now, reason=reason,
                   detail={"visits": len(visits), "leads": len(leads),
                           "window_minutes": window.total_seconds() / 60, "days": days})
    # Each person whose check-ins were read sees it in their own access log.
    for subject in {case.subject} | {s for s, _ in leads}:
        note_access(actor, subject, "checkins.read", "check_ins", reason, entry.id, now)
    db.session.commit()
    return len(visits), sorted(leads.values(), key=lambda lead: (lead.visit_at, lead.subject))


@dataclass
class TracingImport:
    leads: list[Lead]
    accepted: int
    duplicates: int
    recomputed: int
    changes: list[CodeChange]


def tracing_ref(keys: IdentityKeys, case_subject: str, subject: str, checkpoint_id: int,
                at: datetime) -> str:
    """A stable, opaque reference: the person sees it in their reasons, and it must not
    reveal who the case was."""
    return "trace-" + keys.keyed_digest(
        f"{case_subject}|{subject}|{checkpoint_id}|{at:%Y%m%d}")[:20]


def import_leads(actor: Actor, case: Citizen, *, issuer: str, window: timedelta, days: int,
                 reason: str, now: datetime, ruleset_cache: dict,
                 keys: IdentityKeys) -> TracingImport:
    """Record every lead as a ``secondary_contact`` (source ``tracing``) and recompute codes."""
    _, leads = find_leads(actor, case, issuer=issuer, window=window, days=days,
                          reason=reason, now=now)
    subjects = sorted({lead.subject for lead in leads})
    people = {c.subject: c for c in db.session.execute(
        select(Citizen).where(Citizen.subject.in_(subjects))).scalars()} if subjects else {}
    first_visit: dict[str, Lead] = {}
    for lead in leads:
        if lead.subject in people and (lead.subject not in first_visit
                                       or lead.visit_at < first_visit[lead.subject].visit_at):
            first_visit[lead.subject] = lead
    accepted = duplicates = 0
    for subject, lead in first_visit.items():
        ref = tracing_ref(keys, case.subject, subject, lead.checkpoint_id, lead.case_visit_at)
        exists = db.session.execute(select(GovRecord.id).where(
            GovRecord.source == TRACING_SOURCE, GovRecord.ref == ref)).first()
        if exists:
            duplicates += 1
            continue
        db.session.add(GovRecord(
            kind="secondary_contact", id_hash=people[subject].id_hash,
            occurred_at=min(lead.visit_at, now), source=TRACING_SOURCE, ref=ref,
            detail={}, received_at=now, provider_id=actor.id))
        accepted += 1
    db.session.flush()
    touched = [people[s] for s in first_visit]
    _, changes = recompute_codes(touched, now, ruleset_cache)
    record(actor, "tracing.import", f"subject:{case.subject}", now=now, reason=reason,
           detail={"accepted": accepted, "duplicates": duplicates})
    db.session.commit()
    return TracingImport(leads, accepted, duplicates, len(touched), changes)
