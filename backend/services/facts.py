"""Turning stored rows into the facts document ``risk/`` evaluates, in batches.

One query per kind of row for a whole batch of people (never one per person),
so the same loader serves a single citizen, an import and a city-wide simulation.
The queries select plain columns, not ORM objects: a city-wide simulation reads
hundreds of thousands of rows and building an object for each would cost more
than the evaluation itself.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, Text, bindparam, cast, select

from risk import Fact

from ..extensions import db
from ..models import AreaRiskLevel, Citizen, GovRecord, Questionnaire, QuestionnaireTravel
from . import prebuilt

# The longest quarantine a rule may set; older self-reports cannot fire any rule.
LOOKBACK = timedelta(days=28)
RISK_ORDER = {"low": 0, "medium": 1, "high": 2}
SELF_REPORT = "self_report"
# Who the person is, not what happened to them: never a fact a rule may read.
IDENTITY_KIND = "identity"


class _Statements:
    """``load_facts``' statements, built once per dialect (see ``prebuilt``); a batch
    of ids is one parameter."""

    def __init__(self, postgresql: bool) -> None:
        def member(column: Any, item_type: Any = Integer) -> Any:
            return prebuilt.member(column, postgresql, item_type)

        self.questionnaires = (
            select(Questionnaire.id, Questionnaire.citizen_id, Questionnaire.reported_at,
                   Questionnaire.temperature_c, cast(Questionnaire.symptoms, Text))
            .where(member(Questionnaire.citizen_id),
                   Questionnaire.reported_at >= bindparam("since")))
        self.travel = (
            select(QuestionnaireTravel.id, QuestionnaireTravel.questionnaire_id,
                   QuestionnaireTravel.citizen_id, QuestionnaireTravel.area_code,
                   QuestionnaireTravel.entered_at, QuestionnaireTravel.left_at)
            .where(member(QuestionnaireTravel.citizen_id),
                   QuestionnaireTravel.left_at >= bindparam("since")))
        # Records are keyed by id_hash (they may predate registration): join, don't look up.
        self.records = (
            select(Citizen.id.label("citizen_id"), GovRecord.kind, GovRecord.occurred_at,
                   GovRecord.source, GovRecord.ref, GovRecord.detail)
            .join(Citizen, Citizen.id_hash == GovRecord.id_hash)
            .where(member(Citizen.id), GovRecord.withdrawn_at.is_(None),
                   GovRecord.kind != IDENTITY_KIND))
        self.area_periods = (
            select(AreaRiskLevel.area_code, AreaRiskLevel.risk_level, AreaRiskLevel.since)
            .where(member(AreaRiskLevel.area_code, String))
            .order_by(AreaRiskLevel.area_code, AreaRiskLevel.since, AreaRiskLevel.id))


@functools.cache
def _statements(postgresql: bool) -> _Statements:
    return _Statements(postgresql)


def _current_statements() -> _Statements:
    return _statements(prebuilt.on_postgresql())


def _parse_time(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def record_fact(record: Any) -> Fact:
    """A government record (a ``GovRecord`` or a row with its columns) as a fact."""
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


def area_risk_during(periods: Sequence[Any], start: datetime, now: datetime) -> str:
    """The highest level an area had at any time from ``start`` until ``now``.

    ``periods`` are the area's rows (``since``, ``risk_level``) in time order. Real
    practice flags travellers when an area is declared risky after they left, so
    the window runs to now, not to the end of the stay.
    """
    level = "low"
    for i, period in enumerate(periods):
        end = periods[i + 1].since if i + 1 < len(periods) else None
        if period.since > now or (end is not None and (end <= start or end <= period.since)):
            continue
        if RISK_ORDER.get(period.risk_level, 0) > RISK_ORDER[level]:
            level = period.risk_level
    return level


class _SymptomLists:
    """Stored symptom lists, parsed once per distinct value.

    A population reports a few dozen distinct combinations, so reading the JSON
    as text and parsing each text once is far cheaper than decoding every row.
    Each fact gets its own list, so no two facts share a mutable value.
    """

    def __init__(self) -> None:
        self._parsed: dict[str | None, tuple[str, ...]] = {}

    def __call__(self, text: str | None) -> list[str]:
        parsed = self._parsed.get(text)
        if parsed is None:
            value = json.loads(text) if text else None
            parsed = tuple(value) if isinstance(value, list) else ()
            self._parsed[text] = parsed
        return list(parsed)


def load_facts(
    citizen_ids: Sequence[int], now: datetime, next_change: dict[int, datetime] | None = None,
) -> dict[int, list[Fact]]:
    """Every fact about each of ``citizen_ids`` that a rule could still act on at ``now``.

    With ``next_change``, also record for each person the first moment after ``now``
    at which these facts would read differently without any new data: a record dated
    in the future starts to count, an area they stayed in takes on a level set in
    advance, or a self-report leaves the lookback window. People absent from it have
    no such moment.
    """
    facts: dict[int, list[Fact]] = {cid: [] for cid in citizen_ids}
    since = now - LOOKBACK
    symptoms = _SymptomLists()
    statements = _current_statements()
    for ids in prebuilt.chunks(list(facts)):
        batch = {"ids": ids, "since": since}
        for q in db.session.execute(statements.questionnaires, batch):
            facts[q[1]].append(
                Fact("questionnaire", q[2], SELF_REPORT, f"questionnaire:{q[0]}",
                     {"temperature_c": q[3], "symptoms": symptoms(q[4])})
            )
        travel = db.session.execute(statements.travel, batch).all()
        periods = _area_periods({t.area_code for t in travel})
        for t in travel:
            area_periods = periods.get(t.area_code, ())
            risk = area_risk_during(area_periods, t.entered_at, now)
            if next_change is not None:
                for period in area_periods:
                    if period.since > now:
                        _earliest(next_change, t.citizen_id, period.since)
            facts[t.citizen_id].append(
                Fact("travel", t.left_at, SELF_REPORT,
                     f"questionnaire:{t.questionnaire_id}/travel:{t.id}",
                     {"area_code": t.area_code, "area_risk": risk})
            )
        for record in db.session.execute(statements.records, {"ids": ids}):
            facts[record.citizen_id].append(record_fact(record))
    if next_change is not None:
        for cid, found in facts.items():
            for fact in found:
                if fact.at > now:
                    _earliest(next_change, cid, fact.at)
                elif fact.source == SELF_REPORT:
                    _earliest(next_change, cid, fact.at + LOOKBACK)
    return facts


def _earliest(moments: dict[int, datetime], key: int, at: datetime) -> None:
    if key not in moments or at < moments[key]:
        moments[key] = at


def _area_periods(area_codes: set[str]) -> dict[str, list[Any]]:
    periods: dict[str, list[Any]] = defaultdict(list)
    statement = _current_statements().area_periods
    for chunk in prebuilt.chunks(sorted(area_codes)):
        for row in db.session.execute(statement, {"ids": chunk}):
            periods[row.area_code].append(row)
    return periods
