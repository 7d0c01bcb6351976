"""Turning stored rows into the facts document ``risk/`` evaluates, in batches.

One query per kind of row for a whole batch of people (never one per person),
so the same loader serves a single citizen, an import and a city-wide simulation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select

from risk import Fact

from ..extensions import db
from ..models import AreaRiskLevel, Citizen, GovRecord, Questionnaire, QuestionnaireTravel

# The longest quarantine a rule may set; older self-reports cannot fire any rule.
LOOKBACK = timedelta(days=28)
CHUNK = 500
RISK_ORDER = {"low": 0, "medium": 1, "high": 2}
SELF_REPORT = "self_report"


def _chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _parse_time(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def record_fact(record: GovRecord) -> Fact:
    data: dict[str, object] = {}
    detail = record.detail or {}
    if "result" in detail:
        data["result"] = detail["result"]
    if "dose" in detail:
        data["dose"] = detail["dose"]
    until = _parse_time(detail.get("until"))
    if until is not None:
        data["until"] = until
    return Fact(record.kind, record.occurred_at, record.source, record.ref, data)


def area_risk_during(
    periods: Sequence[AreaRiskLevel], start: datetime, now: datetime
) -> str:
    """The highest level an area had at any time from ``start`` until ``now``.

    Real practice flags travellers when an area is declared risky after they
    left, so the window runs to now, not to the end of the stay.
    """
    level = "low"
    for i, period in enumerate(periods):
        end = periods[i + 1].since if i + 1 < len(periods) else None
        if period.since > now or (end is not None and (end <= start or end <= period.since)):
            continue
        if RISK_ORDER.get(period.risk_level, 0) > RISK_ORDER[level]:
            level = period.risk_level
    return level


def load_facts(citizens: Sequence[Citizen], now: datetime) -> dict[int, list[Fact]]:
    facts: dict[int, list[Fact]] = {c.id: [] for c in citizens}
    since = now - LOOKBACK
    for chunk in _chunks(list(citizens)):
        ids = [c.id for c in chunk]
        by_hash = {c.id_hash: c.id for c in chunk}
        for q in db.session.execute(
            select(Questionnaire.id, Questionnaire.citizen_id, Questionnaire.reported_at,
                   Questionnaire.temperature_c, Questionnaire.symptoms)
            .where(Questionnaire.citizen_id.in_(ids), Questionnaire.reported_at >= since)
        ):
            facts[q.citizen_id].append(
                Fact("questionnaire", q.reported_at, SELF_REPORT, f"questionnaire:{q.id}",
                     {"temperature_c": q.temperature_c, "symptoms": list(q.symptoms or [])})
            )
        travel = db.session.execute(
            select(QuestionnaireTravel)
            .where(QuestionnaireTravel.citizen_id.in_(ids), QuestionnaireTravel.left_at >= since)
        ).scalars().all()
        periods = _area_periods({t.area_code for t in travel})
        for t in travel:
            risk = area_risk_during(periods.get(t.area_code, ()), t.entered_at, now)
            facts[t.citizen_id].append(
                Fact("travel", t.left_at, SELF_REPORT,
                     f"questionnaire:{t.questionnaire_id}/travel:{t.id}",
                     {"area_code": t.area_code, "area_risk": risk})
            )
        for record in db.session.execute(
            select(GovRecord).where(
                GovRecord.id_hash.in_(list(by_hash)), GovRecord.withdrawn_at.is_(None)
            )
        ).scalars():
            facts[by_hash[record.id_hash]].append(record_fact(record))
    return facts


def _area_periods(area_codes: set[str]) -> dict[str, list[AreaRiskLevel]]:
    periods: dict[str, list[AreaRiskLevel]] = defaultdict(list)
    for chunk in _chunks(sorted(area_codes)):
        for row in db.session.execute(
            select(AreaRiskLevel)
            .where(AreaRiskLevel.area_code.in_(chunk))
            .order_by(AreaRiskLevel.area_code, AreaRiskLevel.since, AreaRiskLevel.id)
        ).scalars():
            periods[row.area_code].append(row)
    return periods
