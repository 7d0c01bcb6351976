"""Identity before data: enrolments and how they become bound to a person.

A registration makes an unverified *enrolment* and a credential that can do nothing
but verify. The answer is the same whether or not the ID number is already
registered; the difference goes, through the notifier, to the verified owner.

Two ways to verify, each ending in a one-time code the enrolment confirms:

- ``sms``: a code is sent to the phone given at registration, and only when it is the
  phone the government ``identity`` record holds for that ID number (kept there as a
  keyed hash). A squatter who gives their own phone gets no code; one who gives the
  owner's phone sends the code to the owner.
- ``in_person``: a registrar at a service counter checks the ID card and hands a code
  over (audited, scoped to the registrar's region).

Confirming binds the enrolment's credential to the person (``Citizen``), making the
person on first verification. When the person already had an account (a lost phone
or secret), every earlier credential stops working at once, and every other
unverified enrolment on that ID number is frozen.

Other verifiers (a national eID login, say) need only end in ``bind_enrolment``.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..auth import issue_credential
from ..exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..identity import (
    IdentityKeys,
    new_one_time_code,
    new_subject,
    normalize_id_number,
)
from ..models import (
    Citizen,
    CodeHistory,
    CodeState,
    Credential,
    Enrolment,
    GovRecord,
    Role,
    VerificationCode,
)
from ..notifier import Message, Notifier
from .after_commit import CodeChange, record_changes
from .audit import Actor, record
from .codes import recompute_codes
from .facts import IDENTITY_KIND

SMS_CODE_LIFETIME = timedelta(minutes=10)
COUNTER_CODE_LIFETIME = timedelta(minutes=30)
# Wrong tries a code survives; with the request limit this bounds guessing far below 10^6.
MAX_ATTEMPTS = 5
# may_text(kind, id_hash): whether a text of kind "code" or "notice" may go out for this
# ID number now (backend.limits.within_texts_per_person); False sends nothing, silently.
MayText = Callable[[str, str], bool]


def _always(kind: str, id_hash: str) -> bool:
    return True


@dataclass(frozen=True)
class Bound:
    citizen: Citizen
    recovered: bool


def enrol(data: Mapping[str, Any], keys: IdentityKeys, now: datetime,
          notifier: Notifier, may_text: MayText = _always,
          ) -> tuple[Enrolment, Credential, str]:
    """Record a registration and make its credential (and one-time secret); the same
    answer for anyone."""
    id_number = normalize_id_number(data["id_number"])
    enrolment = Enrolment(
        id_hash=keys.id_hash(id_number), id_tail=id_number[-4:], name=data["name"].strip(),
        phone=data["phone"], region=data["region"], created_at=now,
    )
    db.session.add(enrolment)
    db.session.flush()
    credential, secret = issue_credential(Role.CITIZEN, region=enrolment.region,
                                          enrolment_id=enrolment.id)
    owner = _person(enrolment.id_hash)
    db.session.commit()
    if owner is not None and may_text("notice", enrolment.id_hash):
        notifier.post(Message(
            to=owner.phone, channel="sms",
            body=("Health code: someone registered with your ID number. They see nothing "
                  "unless they verify as you. If this was you, verify on the new phone; "
                  "if not, nothing needs doing."),
        ))
    return enrolment, credential, secret


def get_enrolment(enrolment_id: int | None) -> Enrolment:
    enrolment = db.session.get(Enrolment, enrolment_id) if enrolment_id is not None else None
    if enrolment is None:
        raise Forbidden("This credential does not belong to a registration.")
    _refuse_frozen(enrolment)
    return enrolment


def _refuse_frozen(enrolment: Enrolment) -> None:
    if enrolment.frozen_at is not None:
        raise Forbidden("This registration was frozen: the ID number's owner verified "
                        "through another registration.", code="frozen")


def request_sms_code(enrolment: Enrolment, keys: IdentityKeys, now: datetime,
                     notifier: Notifier, may_text: MayText = _always) -> None:
    """Send a code to the registration's phone if the government holds that phone for
    this ID number; otherwise send nothing. The caller answers the same either way, and
    so does trying a code afterwards: where none was sent, a decoy nobody holds is the
    live code, so 'wrong code' does not mean 'this phone is on record'."""
    if enrolment.verified_at is not None:
        return
    phone_hash = keys.phone_hash(enrolment.phone)
    on_record = db.session.execute(
        select(GovRecord.detail).where(
            GovRecord.kind == IDENTITY_KIND, GovRecord.id_hash == enrolment.id_hash,
            GovRecord.withdrawn_at.is_(None))
        .order_by(GovRecord.occurred_at.desc(), GovRecord.id.desc()).limit(1)
    ).scalar_one_or_none()
    if (not on_record
            or not hmac.compare_digest(on_record.get("phone_hash", ""), phone_hash)
            or not may_text("code", enrolment.id_hash)):
        _new_code(enrolment, "sms", keys, now, SMS_CODE_LIFETIME, issued_by=None, decoy=True)
        db.session.commit()
        return
    code = _new_code(enrolment, "sms", keys, now, SMS_CODE_LIFETIME, issued_by=None)
    db.session.commit()
    notifier.post(Message(
        to=enrolment.phone, channel="sms",
        body=f"Health code verification code: {code}. It expires in 10 minutes. "
             "Nobody from the service will ask you for it.",
    ))


def issue_counter_code(actor: Actor, enrolment_id: int, id_number: str, keys: IdentityKeys,
                       now: datetime) -> tuple[str, datetime]:
    """A registrar has checked the ID card of the person at the counter: hand them a code."""
    enrolment = db.session.get(Enrolment, enrolment_id)
    if enrolment is None or enrolment.region != actor.region or enrolment.frozen_at is not None:
        raise NotFound("No such registration in your region.")
    if not hmac.compare_digest(enrolment.id_hash, keys.id_hash(id_number)):
        raise ValidationFailed(
            "The ID number does not match this registration.",
            fields={"id_number": ["does not match the registration"]})
    person = _person(enrolment.id_hash)
    if person is not None and person.region != actor.region:
        # A registration names its region itself: were the registration's region
        # enough, any counter could hand someone's account (and region) to whoever
        # registered their ID number "here". A counter recovers its own residents only.
        raise NotFound("No such registration in your region.")
    code = _new_code(enrolment, "in_person", keys, now, COUNTER_CODE_LIFETIME,
                     issued_by=actor.id)
    record(actor, "identity.verify_in_person", f"enrolment:{enrolment.id}", now=now,
           detail={"id_tail": enrolment.id_tail})
    db.session.commit()
    return code, now + COUNTER_CODE_LIFETIME


def confirm_code(enrolment: Enrolment, credential_id: int, code: str, keys: IdentityKeys,
                 now: datetime, ruleset_cache: dict, notifier: Notifier) -> Bound:
    """Check ``code`` against the enrolment's live code; on success bind the credential."""
    _hold_claims(enrolment)
    live = db.session.execute(
        select(VerificationCode)
        .where(VerificationCode.enrolment_id == enrolment.id,
               VerificationCode.spent_at.is_(None))
        .order_by(VerificationCode.id.desc()).limit(1).with_for_update()
    ).scalar_one_or_none()
    if live is None or live.expires_at <= now or live.attempts >= MAX_ATTEMPTS:
        raise ValidationFailed("No live code: ask for a new one.", code="no_live_code",
                               fields={"code": ["no live code; ask for a new one"]})
    if not hmac.compare_digest(live.code_hash, keys.one_time_code_hash(enrolment.id, code)):
        live.attempts += 1
        left = MAX_ATTEMPTS - live.attempts
        db.session.commit()
        raise ValidationFailed(
            "Wrong code.", code="wrong_code",
            fields={"code": [f"wrong code; {left} tries left" if left
                             else "wrong code; ask for a new one"]})
    live.spent_at = now
    return bind_enrolment(enrolment, credential_id, now, ruleset_cache, notifier)


def bind_enrolment(enrolment: Enrolment, credential_id: int, now: datetime,
                   ruleset_cache: dict, notifier: Notifier) -> Bound:
    """The enrolment is proven: bind it to the person, retiring the person's old accounts."""
    _hold_claims(enrolment)
    person = _person(enrolment.id_hash, lock=True)
    recovered = False
    old_phone = person.phone if person is not None else None
    old_region = person.region if person is not None else enrolment.region
    if person is None:
        person = Citizen(subject=new_subject(), id_hash=enrolment.id_hash,
                         id_tail=enrolment.id_tail, name=enrolment.name,
                         phone=enrolment.phone, region=enrolment.region, created_at=now)
        db.session.add(person)
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            raise Conflict("Another registration of this person was verified at the "
                           "same moment; try again.", code="busy") from None
    else:
        # Recovery: the person's earlier secrets stop working now. An account from
        # before identity verification (migration 0008) has none bound: its first
        # verification recovers nothing, and nobody is told that something moved.
        recovered = db.session.execute(
            update(Credential)
            .where(Credential.citizen_id == person.id, Credential.revoked_at.is_(None))
            .values(revoked_at=now)).rowcount > 0
        person.name, person.phone, person.region = (enrolment.name, enrolment.phone,
                                                    enrolment.region)
    db.session.execute(
        update(Enrolment)
        .where(Enrolment.id_hash == enrolment.id_hash, Enrolment.id != enrolment.id,
               Enrolment.verified_at.is_(None), Enrolment.frozen_at.is_(None))
        .values(frozen_at=now))
    enrolment.verified_at, enrolment.citizen_id = now, person.id
    db.session.execute(
        update(Credential).where(Credential.id == credential_id).values(citizen_id=person.id))
    # Records may have arrived long before the person verified.
    results, changed = recompute_codes([person], now, ruleset_cache)
    if recovered:
        _void_old_tokens(person, results[person.id][0], changed > 0, old_region, now)
    db.session.commit()
    if recovered and old_phone:
        notifier.post(Message(
            to=old_phone, channel="sms",
            body="Health code: your code was moved to a newly verified registration; "
                 "the old one no longer works.",
        ))
    return Bound(person, recovered)


def _void_old_tokens(person: Citizen, state: CodeState, changed: bool, old_region: str,
                     now: datetime) -> None:
    """A recovery is a new version of the code even when its color stays: the tokens the
    old phone made (a stolen one, say) are refused from now on, online, by the bundles of
    the old region's gates as well as the new one's, and in offline uploads re-checked
    against the code history."""
    if not changed:
        state.version += 1
        state.changed_at = now
        db.session.add(CodeHistory(citizen_id=person.id, version=state.version,
                                   color=state.color, reasons=state.reasons,
                                   ruleset_version=state.ruleset_version, changed_at=now))
        record_changes([CodeChange(person.subject, state.version, state.color, now,
                                   person.region)])
    if old_region != person.region:
        record_changes([CodeChange(person.subject, state.version, state.color, now,
                                   old_region)])


def _new_code(enrolment: Enrolment, method: str, keys: IdentityKeys, now: datetime,
              lifetime: timedelta, *, issued_by: int | None, decoy: bool = False) -> str:
    """A fresh code; any earlier live code of the enrolment is spent (only the newest works).

    A ``decoy`` is stored under a random hash that no code's hash can equal: it counts
    tries and dies like a real one, and nothing typed ever verifies against it."""
    db.session.execute(
        update(VerificationCode)
        .where(VerificationCode.enrolment_id == enrolment.id,
               VerificationCode.spent_at.is_(None))
        .values(spent_at=now))
    code = new_one_time_code()
    code_hash = secrets.token_hex(32) if decoy else keys.one_time_code_hash(enrolment.id, code)
    db.session.add(VerificationCode(
        enrolment_id=enrolment.id, method=method, code_hash=code_hash, issued_by=issued_by,
        created_at=now, expires_at=now + lifetime, attempts=0,
    ))
    return code


def _hold_claims(enrolment: Enrolment) -> None:
    """Lock every registration of this ID number (in id order: two confirmations never
    deadlock) and read them again. A confirmation that read its registration just before
    another one verified and froze it sees the freeze here, and does not go on to
    'recover' the person from the account verified a moment before."""
    db.session.execute(
        select(Enrolment).where(Enrolment.id_hash == enrolment.id_hash)
        .order_by(Enrolment.id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalars().all()
    _refuse_frozen(enrolment)


def _person(id_hash: str, *, lock: bool = False) -> Citizen | None:
    query = select(Citizen).where(Citizen.id_hash == id_hash)
    if lock:
        query = query.with_for_update()
    return db.session.execute(query).scalar_one_or_none()


def purge_unbound_registrations(now: datetime, *, days: int) -> dict[str, int]:
    """Delete registrations that never became anyone's account (unverified, frozen ones
    included, made more than ``days`` ago) with their credentials and codes, and every
    code long dead.

    A squatter's registration keeps the name and phone it gave; it is kept no longer
    than check-ins are, and no request reads an ever-growing list of them.
    """
    cutoff = now - timedelta(days=days)
    unbound = select(Enrolment.id).where(Enrolment.verified_at.is_(None),
                                         Enrolment.created_at < cutoff)
    counts = {"verification_codes": db.session.execute(delete(VerificationCode).where(or_(
        VerificationCode.enrolment_id.in_(unbound),
        VerificationCode.expires_at < now - timedelta(days=1)))).rowcount}
    counts["registration_credentials"] = db.session.execute(
        delete(Credential).where(Credential.enrolment_id.in_(unbound),
                                 Credential.citizen_id.is_(None))).rowcount
    counts["registrations"] = db.session.execute(
        delete(Enrolment).where(Enrolment.id.in_(unbound))).rowcount
    db.session.commit()
    return counts
