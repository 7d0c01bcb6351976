"""Registering citizens and taking their questionnaires."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from risk import Decision

from ..auth import issue_credential
from ..exceptions import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..identity import IdentityKeys, new_subject, normalize_id_number
from ..models import Citizen, CodeState, Questionnaire, QuestionnaireTravel, Role
from .codes import CodeChange, recompute_codes


def register_citizen(
    data: Mapping[str, Any], keys: IdentityKeys, now: datetime, ruleset_cache: dict
) -> tuple[Citizen, str, list[CodeChange]]:
    """Create a citizen and their bearer secret; 409 when the ID number is registered."""
    id_number = normalize_id_number(data["id_number"])
    id_hash = keys.id_hash(id_number)
    if db.session.execute(select(Citizen.id).where(Citizen.id_hash == id_hash)).first():
        raise Conflict("This ID number is already registered.", code="already_registered",
                       fields={"id_number": ["already registered"]})
    citizen = Citizen(
        subject=new_subject(),
        id_hash=id_hash,
        id_tail=id_number[-4:],
        name=data["name"].strip(),
        phone=data["phone"],
        region=data["region"],
        created_at=now,
    )
    db.session.add(citizen)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("This ID number is already registered.", code="already_registered",
                       fields={"id_number": ["already registered"]}) from None
    _, secret = issue_credential(Role.CITIZEN, region=citizen.region, citizen_id=citizen.id)
    # Government records may have arrived before the person registered.
    _, changes = recompute_codes([citizen], now, ruleset_cache)
    db.session.commit()
    return citizen, secret, changes


def get_citizen(citizen_id: int) -> Citizen:
    citizen = db.session.get(Citizen, citizen_id)
    if citizen is None:
        raise NotFound("No such citizen.")
    return citizen


def submit_questionnaire(
    citizen: Citizen,
    data: Mapping[str, Any],
    now: datetime,
    *,
    max_age_days: int,
    clock_skew_seconds: int,
    ruleset_cache: dict,
) -> tuple[Questionnaire, CodeState, Decision, list[CodeChange]]:
    reported_at: datetime = data.get("reported_at") or now
    if reported_at > now + timedelta(seconds=clock_skew_seconds):
        raise ValidationFailed("reported_at is in the future.",
                               fields={"reported_at": ["must not be in the future"]})
    if reported_at < now - timedelta(days=max_age_days):
        raise ValidationFailed(
            "reported_at is too old.",
            fields={"reported_at": [f"must be within the last {max_age_days} days"]},
        )
    reported_at = min(reported_at, now)
    travel_problems: dict[int, dict[str, list[str]]] = {}
    for i, stay in enumerate(data.get("travel", [])):
        if stay["to"] > reported_at + timedelta(seconds=clock_skew_seconds):
            travel_problems[i] = {"to": ["must not be after reported_at"]}
    if travel_problems:
        raise ValidationFailed("A travel entry is in the future.",
                               fields={"travel": travel_problems})

    questionnaire = Questionnaire(
        citizen_id=citizen.id,
        reported_at=reported_at,
        temperature_c=float(data["temperature_c"]),
        symptoms=sorted(set(data["symptoms"])),
        created_at=now,
    )
    for stay in data.get("travel", []):
        questionnaire.travel.append(
            QuestionnaireTravel(
                citizen_id=citizen.id,
                area_code=stay["area_code"],
                entered_at=stay["from_"],
                left_at=min(stay["to"], reported_at),
            )
        )
    db.session.add(questionnaire)
    db.session.flush()
    results, changes = recompute_codes([citizen], now, ruleset_cache)
    db.session.commit()
    state, decision = results[citizen.id]
    return questionnaire, state, decision, changes
