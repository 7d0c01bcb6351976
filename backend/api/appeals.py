"""Appeals, daily reports, "my data" and the access log."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate

from ..auth import requires
from ..exceptions import Conflict
from ..models import Role
from ..services import context
from ..services.appeals import (
    QueuePosition,
    appeal_view,
    decide,
    file_appeal,
    my_appeals,
    queue,
)
from ..services.citizens import submit_questionnaire
from ..services.codes import current_code
from ..services.mydata import access_log, my_data
from .auditing import current_actor
from .base import Blueprint, ErrorSchema
from .citizens import _code_body
from .common import me, now, ruleset_cache
from .schemas import SYMPTOMS, QuestionnaireResultSchema, StrictFloat

blp = Blueprint("appeals", __name__, url_prefix="/api/v1", description="Appeals and my data")


class AppealSchema(Schema):
    target = fields.String(required=True, validate=validate.OneOf(["code", "restriction"]))
    target_id = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    reason = fields.String(required=True, validate=validate.Length(min=5, max=2000))
    evidence = fields.String(load_default=None, validate=validate.Length(max=4000))


class AppealOutSchema(Schema):
    id = fields.Integer()
    target = fields.String()
    target_id = fields.String(allow_none=True)
    reason = fields.String()
    evidence = fields.String(allow_none=True)
    state = fields.String(metadata={"enum": ["open", "upheld", "corrected"]})
    created_at = fields.String()
    deadline = fields.String()
    overdue = fields.Boolean()
    decided_at = fields.String(allow_none=True)
    decided_by = fields.String(allow_none=True)
    decision_note = fields.String(allow_none=True)


class AppealListSchema(Schema):
    appeals = fields.List(fields.Nested(AppealOutSchema))


class QueueCursor(fields.String):
    """Where the previous page ended, as the opaque string its ``next_cursor`` gave."""

    def _serialize(self, value: QueuePosition | None, attr, obj, **kwargs) -> str | None:
        if value is None:
            return None
        decided, deadline, appeal_id = value
        raw = json.dumps([int(decided), deadline.isoformat(), appeal_id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def _deserialize(self, value, attr, data, **kwargs) -> QueuePosition:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            decided, deadline, appeal_id = json.loads(
                base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            at = datetime.fromisoformat(deadline)
            if (decided not in (0, 1) or type(appeal_id) is not int or at.tzinfo is None
                    or not 0 < appeal_id < 2**63):
                raise ValueError
        except (ValueError, TypeError, binascii.Error):
            raise ValidationError("is not a next_cursor this service gave") from None
        return bool(decided), at, appeal_id


class QueueQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = QueueCursor(load_default=None, validate=validate.Length(max=200))


class QueuePageSchema(AppealListSchema):
    next_cursor = QueueCursor(allow_none=True, metadata={
        "description": "pass as ?cursor= for the next page; null after the last page"})


class DecisionSchema(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(["upheld", "corrected"]))
    note = fields.String(required=True, validate=validate.Length(min=3, max=2000))


class DailyReportSchema(Schema):
    temperature_c = StrictFloat(required=True, allow_nan=False, validate=validate.Range(
        min=30, max=45, error="must be between 30 and 45 (degrees C)"))
    symptoms = fields.List(fields.String(validate=validate.OneOf(SYMPTOMS)), required=True,
                           validate=validate.Length(max=len(SYMPTOMS)))


class MyDataSchema(Schema):
    profile = fields.Dict()
    questionnaires = fields.List(fields.Dict())
    records = fields.List(fields.Dict())
    code = fields.Dict(allow_none=True)
    code_history = fields.List(fields.Dict())
    check_ins = fields.List(fields.Dict())
    restrictions = fields.List(fields.Dict())
    credit_acts = fields.List(fields.Dict(), metadata={
        "description": "credit authorities' acts about your restrictions: "
                       "[{at, who, role, action, target, why}]"})
    appeals = fields.List(fields.Dict())
    access_log = fields.List(fields.Dict(), metadata={
        "description": "who among officials read your data: as GET /me/access-log"})
    registrations = fields.List(fields.Dict(), metadata={
        "description": "every registration made with your ID number, and how yours were "
                       "verified"})
    retention_days = fields.Dict()
    not_kept = fields.List(fields.String())


class AccessLogSchema(Schema):
    entries = fields.List(fields.Dict())


@blp.post("/me/appeals")
@requires(Role.CITIZEN)
@blp.arguments(AppealSchema)
@blp.response(201, AppealOutSchema)
@blp.alt_response(409, schema=ErrorSchema, description=(
    "appeal_already_open: this target has an open appeal; too_many_open_appeals: "
    "the holder has APPEAL_MAX_OPEN open appeals (the answer's `limit`)"))
def appeal(data):
    """Appeal a record behind your code (target_id "source/ref") or a restriction (its id).

    One open appeal per target, and a few open at once (APPEAL_MAX_OPEN)."""
    at, cfg = now(), current_app.config
    filed = file_appeal(me(), data, now=at, deadline_days=cfg["APPEAL_DEADLINE_DAYS"],
                        max_open=cfg["APPEAL_MAX_OPEN"])
    return appeal_view(filed, at)


@blp.get("/me/appeals")
@requires(Role.CITIZEN)
@blp.response(200, AppealListSchema)
def mine():
    at = now()
    return {"appeals": [appeal_view(a, at) for a in my_appeals(me())]}


@blp.get("/appeals")
@requires(Role.OFFICIAL, Role.CREDIT_AUTHORITY)
@blp.arguments(QueueQuerySchema, location="query")
@blp.response(200, QueuePageSchema)
def appeals_queue(query):
    """Appeals you decide, a page at a time: open ones by deadline (overdue first), then
    decided ones. Officials see code appeals of their region, credit authorities
    restriction appeals. Ask for the next page with ``?cursor=<next_cursor>``."""
    at = now()
    page, next_at = queue(current_actor(), at, after=query["cursor"], limit=query["limit"])
    return {"appeals": [appeal_view(a, at) for a in page], "next_cursor": next_at}


@blp.post("/appeals/<id:appeal_id>/decision")
@requires(Role.OFFICIAL, Role.CREDIT_AUTHORITY)
@blp.arguments(DecisionSchema)
@blp.response(200, AppealOutSchema)
def decision(data, appeal_id: int):
    """Uphold, or correct: the disputed record is withdrawn and the code recomputed."""
    at = now()
    decided = decide(current_actor(), appeal_id, data["outcome"], data["note"], at,
                     ruleset_cache())
    return appeal_view(decided, at)


@blp.post("/me/daily-reports")
@requires(Role.CITIZEN)
@blp.arguments(DailyReportSchema)
@blp.response(201, QuestionnaireResultSchema)
def daily_report(data):
    """The daily health report a yellow or red code asks for."""
    citizen, at = me(), now()
    state, _ = current_code(citizen, at, ruleset_cache(), explained=False)
    if state.color == "green":
        raise Conflict("A green code needs no daily report.", code="not_needed")
    cfg = context.settings()
    q, state, decision = submit_questionnaire(
        citizen, {**data, "travel": []}, at, max_age_days=cfg.questionnaire_max_age_days,
        clock_skew_seconds=cfg.clock_skew, ruleset_cache=ruleset_cache())
    return {"questionnaire_id": q.id, "code": _code_body(state, decision)}


@blp.get("/me/data")
@requires(Role.CITIZEN)
@blp.response(200, MyDataSchema)
def data_about_me():
    """Everything stored about you, and how long each kind is kept."""
    cfg = current_app.config
    return my_data(me(), issuer=cfg["ISSUER_ID"], now=now(), retention_days={
        "questionnaires": cfg["QUESTIONNAIRE_RETENTION_DAYS"],
        "check_ins": cfg["CHECKIN_RETENTION_DAYS"],
        "code_history": cfg["CODE_HISTORY_RETENTION_DAYS"],
    })


@blp.get("/me/access-log")
@requires(Role.CITIZEN)
@blp.response(200, AccessLogSchema)
def my_access_log():
    """Every official read of your check-ins or records: who, when, why."""
    return {"entries": access_log(me())}
