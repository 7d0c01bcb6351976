"""Appeals, daily reports, "my data" and the access log."""

from __future__ import annotations

from flask import current_app

from ..auth import requires
from ..exceptions import Conflict
from ..models import Role
from ..services.appeals import (
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
from .base import Blueprint
from .common import code_body, me, now, ruleset_cache
from .schemas.appeals import (
    AccessLogSchema,
    AppealListSchema,
    AppealOutSchema,
    AppealSchema,
    DailyReportSchema,
    DecisionSchema,
    MyDataSchema,
    QueuePageSchema,
    QueueQuerySchema,
)
from .schemas.common import ErrorSchema, QuestionnaireResultSchema

blp = Blueprint("appeals", __name__, url_prefix="/api/v1", description="Appeals and my data")


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
    cfg = current_app.config
    q, state, decision = submit_questionnaire(
        citizen, {**data, "travel": []}, at, max_age_days=cfg["QUESTIONNAIRE_MAX_AGE_DAYS"],
        clock_skew_seconds=cfg["CLOCK_SKEW_SECONDS"], ruleset_cache=ruleset_cache())
    return {"questionnaire_id": q.id, "code": code_body(state, decision)}


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
