"""Contact tracing for officials: leads from check-ins, and importing them as contacts."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from ..auth import requires
from ..models import Role
from ..services import context
from ..services.tracing import find_case, find_leads, import_leads
from .auditing import current_actor
from .base import Blueprint
from .common import now, ruleset_cache
from .schemas.tracing import LeadsSchema, TracingImportSchema, TracingRequestSchema

blp = Blueprint("tracing", __name__, url_prefix="/api/v1/tracing", description="Tracing")


def _options(data) -> dict:
    minutes = data.get("window_minutes") or current_app.config["TRACING_WINDOW_MINUTES"]
    return {"issuer": current_app.config["ISSUER_ID"], "window": timedelta(minutes=minutes),
            "days": data["days"], "reason": data["reason"], "now": now()}


@blp.post("/leads")
@requires(Role.OFFICIAL)
@blp.arguments(TracingRequestSchema)
@blp.response(200, LeadsSchema)
def leads(data):
    """People checked in at the case's checkpoints near the case's visits (audited, and
    in the access log of each person read). An unknown case has no visits."""
    case = find_case(data["case"], context.identity_keys())
    visits, found = find_leads(current_actor(), case, **_options(data))
    return {"case_visits": visits, "leads": [lead.to_dict() for lead in found]}


@blp.post("/import")
@requires(Role.OFFICIAL)
@blp.arguments(TracingRequestSchema)
@blp.response(200, TracingImportSchema)
def import_(data):
    """Import the leads as secondary contacts; their codes are recomputed. Only for a
    founded case (positive test, confirmed infection or quarantine order): 422 otherwise."""
    case = find_case(data["case"], context.identity_keys())
    result = import_leads(current_actor(), case, ruleset_cache=ruleset_cache(),
                          keys=context.identity_keys(), **_options(data))
    return {"leads": [lead.to_dict() for lead in result.leads], "accepted": result.accepted,
            "duplicates": result.duplicates, "recomputed": result.recomputed}
