"""Appeals, daily reports, "my data" and the access log."""

from __future__ import annotations

from flask import current_app
from marshmallow import Schema, fields, validate

from ..auth import requires
from ..exceptions import Conflict
from ..models import Role
from ..services import context
from ..services.appeals import appeal_view, decide, file_appeal, my_appeals, queue
from ..services.citizens import submit_questionnaire
from ..services.codes import current_code
from ..services.mydata import access_log, my_data
from .auditing import current_actor
from .base import Blueprint
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
    appeals = fields.List(fields.Dict())
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
def appeal(data):
    """Appeal a record behind your code (target_id "source/ref") or a restriction (its id)."""
    at = now()
    filed = file_appeal(me(), data, now=at,
                        deadline_days=current_app.config["APPEAL_DEADLINE_DAYS"])
    return appeal_view(filed, at)


@blp.get("/me/appeals")
@requires(Role.CITIZEN)
@blp.response(200, AppealListSchema)
def mine():
    at = now()
    return {"appeals": [appeal_view(a, at) for a in my_appeals(me())]}


@blp.get("/appeals")
@requires(Role.OFFICIAL, Role.CREDIT_AUTHORITY)
@blp.response(200, AppealListSchema)
def appeals_queue():
    """Appeals you decide: overdue first. Officials see code appeals of their region,
    credit authorities restriction appeals."""
    at = now()
    return {"appeals": [appeal_view(a, at) for a in queue(current_actor(), at)]}


@blp.post("/appeals/<id:appeal_id>/decision")
@requires(Role.OFFICIAL, Role.CREDIT_AUTHORITY)
@blp.arguments(DecisionSchema)
@blp.response(200, AppealOutSchema)
def decision(data, appeal_id: int):
    """Uphold, or correct: the disputed record is withdrawn and the code recomputed."""
    at = now()
    decided, changes = decide(current_actor(), appeal_id, data["outcome"], data["note"], at,
                              ruleset_cache())
    context.publish(changes)
    return appeal_view(decided, at)


@blp.post("/me/daily-reports")
@requires(Role.CITIZEN)
@blp.arguments(DailyReportSchema)
@blp.response(201, QuestionnaireResultSchema)
def daily_report(data):
    """The daily health report a yellow or red code asks for."""
    citizen, at = me(), now()
    state, _ = current_code(citizen, at, ruleset_cache(), context.publish,
                            explained=False)
    if state.color == "green":
        raise Conflict("A green code needs no daily report.", code="not_needed")
    cfg = context.settings()
    q, state, decision, changes = submit_questionnaire(
        citizen, {**data, "travel": []}, at, max_age_days=cfg.questionnaire_max_age_days,
        clock_skew_seconds=cfg.clock_skew, ruleset_cache=ruleset_cache())
    context.publish(changes)
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
