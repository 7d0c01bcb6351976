"""Citizens and their questionnaires (registration is in ``services.verification``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from risk import Decision

from ..exceptions import NotFound, ValidationFailed
from ..extensions import db
from ..models import Citizen, CodeState, Questionnaire, QuestionnaireTravel
from .codes import recompute_codes


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
) -> tuple[Questionnaire, CodeState, Decision]:
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
    results, _ = recompute_codes([citizen], now, ruleset_cache)
    db.session.commit()
    state, decision = results[citizen.id]
    return questionnaire, state, decision
