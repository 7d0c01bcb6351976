"""Contact tracing from check-ins: who was at the same checkpoint as a case, and when.

Every read of check-in data needs a reason with visible text, is written to the
audit log and to the access log of each person whose check-ins were read. The audit
names the case by an opaque reference (a keyed hash), never by the pseudonym in
their tokens, so the log maps no ID number to a QR subject. Asking about an ID
number nobody registered answers exactly as for a registered person with no
visits. Importing leads as contacts needs a founded case: a positive test, a
confirmed case or a quarantine order on record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, and_, or_, select

from ..exceptions import ValidationFailed
from ..extensions import db
from ..identity import IdentityKeys
from ..models import CheckIn, Checkpoint, Citizen, GovRecord
from . import prebuilt
from .audit import Actor, note_access, record, visible_reason
from .codes import recompute_codes
from .facts import LOOKBACK

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


@dataclass(frozen=True)
class Case:
    """The person a tracing request is about, registered or not."""

    ref: str  # what the audit log names: opaque, the same kind for everyone
    id_hash: str | None
    citizen: Citizen | None


def find_case(case: dict, keys: IdentityKeys) -> Case:
    """The case named by subject or ID number; an unknown one is a case with no visits."""
    if bool(case.get("subject")) == bool(case.get("id_number")):
        raise ValidationFailed("Name the case by subject or by id_number.",
                               fields={"case": ["give exactly one of subject, id_number"]})
    if case.get("subject"):
        citizen = db.session.execute(
            select(Citizen).where(Citizen.subject == case["subject"])).scalar_one_or_none()
        id_hash = citizen.id_hash if citizen else None
        basis = f"id:{id_hash}" if id_hash else f"subject:{case['subject']}"
    else:
        id_hash = keys.id_hash(case["id_number"])
        citizen = db.session.execute(
            select(Citizen).where(Citizen.id_hash == id_hash)).scalar_one_or_none()
        basis = f"id:{id_hash}"
    return Case(ref="person:" + keys.keyed_digest("audit-case|" + basis)[:20],
                id_hash=id_hash, citizen=citizen)


FOUNDING_KINDS = ("confirmed_case", "test_result", "quarantine_order")


def is_founded(case: Case, now: datetime) -> bool:
    """Has the case a confirmed infection, a positive test or a quarantine order on
    record (not withdrawn, within the look-back of the facts)?"""
    if case.id_hash is None:
        return False
    records = db.session.execute(
        select(GovRecord.kind, GovRecord.detail).where(
            GovRecord.id_hash == case.id_hash, GovRecord.kind.in_(FOUNDING_KINDS),
            GovRecord.withdrawn_at.is_(None), GovRecord.occurred_at >= now - LOOKBACK)
    ).all()
    return any(kind != "test_result" or (detail or {}).get("result") == "positive"
               for kind, detail in records)


def find_leads(actor: Actor, case: Case, *, issuer: str, window: timedelta, days: int,
               reason: str, now: datetime) -> tuple[int, list[Lead]]:
    """The case's visits in the official's region and everyone checked in near them."""
    reason = visible_reason(reason)
    subject = case.citizen.subject if case.citizen else None
    visits = [] if subject is None else db.session.execute(
        select(CheckIn.checkpoint_id, CheckIn.scanned_at, Checkpoint.name)
        .join(Checkpoint, Checkpoint.id == CheckIn.checkpoint_id)
        .where(CheckIn.issuer == issuer, CheckIn.subject == subject,
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
            .where(near, CheckIn.issuer == issuer, CheckIn.subject != subject)
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
    entry = record(actor, "checkins.read", case.ref, now=now, reason=reason,
                   detail={"visits": len(visits), "leads": len(leads),
                           "window_minutes": window.total_seconds() / 60, "days": days})
    # Each person whose check-ins were read sees it in their own access log.
    read = {s for s, _ in leads} | ({subject} if subject else set())
    for each in sorted(read):
        note_access(actor, each, "checkins.read", "check_ins", reason, entry.id, now)
    db.session.commit()
    return len(visits), sorted(leads.values(), key=lambda lead: (lead.visit_at, lead.subject))


@dataclass
class TracingImport:
    leads: list[Lead]
    accepted: int
    duplicates: int
    recomputed: int


def tracing_ref(keys: IdentityKeys, case_key: str, subject: str, checkpoint_id: int,
                at: datetime) -> str:
    """A stable, opaque reference: the person sees it in their reasons, and it must not
    reveal who the case was."""
    return "trace-" + keys.keyed_digest(
        f"{case_key}|{subject}|{checkpoint_id}|{at:%Y%m%d}")[:20]


def import_leads(actor: Actor, case: Case, *, issuer: str, window: timedelta, days: int,
                 reason: str, now: datetime, ruleset_cache: dict,
                 keys: IdentityKeys) -> TracingImport:
    """Record every lead as a ``secondary_contact`` (source ``tracing``) and recompute codes.

    Only a founded case turns anyone yellow: 422 naming ``case`` otherwise, before
    anything is read.
    """
    reason = visible_reason(reason)
    if not is_founded(case, now):
        raise ValidationFailed(
            "Leads are imported only for a confirmed case: a positive test, a confirmed "
            "infection or a quarantine order must be on record.", code="unfounded_case",
            fields={"case": ["has no positive test, confirmed infection or quarantine order "
                             "on record"]})
    _, leads = find_leads(actor, case, issuer=issuer, window=window, days=days,
                          reason=reason, now=now)
    subjects = sorted({lead.subject for lead in leads})
    known = select(Citizen).where(
        prebuilt.member(Citizen.subject, prebuilt.on_postgresql(), String, "subjects"))
    people = {c.subject: c for chunk in prebuilt.chunks(subjects)
              for c in db.session.execute(known, {"subjects": chunk}).scalars()}
    first_visit: dict[str, Lead] = {}
    for lead in leads:
        if lead.subject in people and (lead.subject not in first_visit
                                       or lead.visit_at < first_visit[lead.subject].visit_at):
            first_visit[lead.subject] = lead
    case_key = case.citizen.subject if case.citizen else case.ref
    accepted = duplicates = 0
    for subject, lead in first_visit.items():
        ref = tracing_ref(keys, case_key, subject, lead.checkpoint_id, lead.case_visit_at)
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
    recompute_codes(touched, now, ruleset_cache)
    record(actor, "tracing.import", case.ref, now=now, reason=reason,
           detail={"accepted": accepted, "duplicates": duplicates})
    db.session.commit()
    return TracingImport(leads, accepted, duplicates, len(touched))
