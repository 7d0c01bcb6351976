"""Government data feeds: records about people and area risk levels."""

from __future__ import annotations

from flask import current_app

from ..auth import current_principal, requires
from ..exceptions import ValidationFailed
from ..metrics import IMPORT_BATCH, IMPORT_ROWS
from ..models import Role
from ..services import context
from ..services.gov import import_records, set_area_risk
from .auditing import current_actor
from .base import Blueprint
from .common import now, ruleset_cache
from .schemas.common import is_code
from .schemas.gov import (
    AreaRiskResultSchema,
    AreaRiskSchema,
    GovRecordSchema,
    ImportRequestSchema,
    ImportResultSchema,
)

blp = Blueprint("gov", __name__, url_prefix="/api/v1/gov", description="Government data")
ROW_SCHEMA = GovRecordSchema()


@blp.post("/records")
@requires(Role.DATA_PROVIDER)
@blp.arguments(ImportRequestSchema)
@blp.response(200, ImportResultSchema)
def post_records(data):
    """Import a batch of records: idempotent by (source, ref), all-or-nothing for valid rows.

    The answer is the same whether or not the people named are registered; the batch
    is audited (counts by kind, never an ID number)."""
    result = import_records(
        data["records"],
        row_schema=ROW_SCHEMA,
        keys=context.identity_keys(),
        actor=current_actor(),
        record_kinds=current_principal().record_kinds,
        now=now(),
        clock_skew_seconds=current_app.config["CLOCK_SKEW_SECONDS"],
        ruleset_cache=ruleset_cache(),
    )
    IMPORT_BATCH.observe(len(data["records"]))
    for outcome, count in (("accepted", result.accepted), ("duplicate", result.duplicates),
                           ("rejected", len(result.rejected))):
        IMPORT_ROWS.labels(outcome).inc(count)
    return result


@blp.put("/areas/<string:area_code>")
@requires(Role.DATA_PROVIDER)
@blp.arguments(AreaRiskSchema)
@blp.response(200, AreaRiskResultSchema)
def put_area(data, area_code: str):
    """Set an area's risk level from ``since``; travellers' codes are recomputed (audited)."""
    if not is_code(area_code):
        raise ValidationFailed("Bad area code.", fields={"area_code": [
            "must be 1-32 letters, digits, '-' or '_'"]})
    level, recomputed = set_area_risk(
        area_code, data, actor=current_actor(), now=now(),
        ruleset_cache=ruleset_cache(),
    )
    return {
        "area_code": level.area_code, "risk_level": level.risk_level,
        "since": level.since, "region": level.region, "recomputed": recomputed,
    }
