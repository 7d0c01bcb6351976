"""Credit authorities place and lift lawful travel restrictions, with due process.

Their acts are audited in the credit store's own log (``GET /credit/audit``), which
health officials never read.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from ..auth import requires
from ..credit.models import CreditAuditEntry
from ..models import Role
from ..services import context, restrictions
from ..services.audit import query_entries
from .auditing import current_actor
from .base import Blueprint
from .common import now
from .schemas.common import AuditPageSchema, AuditQuerySchema
from .schemas.credit import LiftedSchema, LiftSchema, RestrictionCreatedSchema, RestrictionSchema

blp = Blueprint("credit", __name__, url_prefix="/api/v1/credit", description="Credit records")


@blp.post("/restrictions")
@requires(Role.CREDIT_AUTHORITY)
@blp.arguments(RestrictionSchema)
@blp.response(201, RestrictionCreatedSchema)
def create(data):
    """Place a restriction; refused with 422 naming the field when due process is missing."""
    at = now()
    restriction = restrictions.place(
        current_actor(), data, keys=context.identity_keys(), now=at,
        clock_skew=timedelta(seconds=current_app.config["CLOCK_SKEW_SECONDS"]))
    context.bar_live_passes(restriction.id_hash, restriction.categories, at)
    return {"restriction_id": restriction.id}


@blp.post("/restrictions/<id:restriction_id>/lift")
@requires(Role.CREDIT_AUTHORITY)
@blp.arguments(LiftSchema)
@blp.response(200, LiftedSchema)
def lift(data, restriction_id: int):
    """End a restriction; the record stays, with who lifted it and why."""
    at = now()
    restriction = restrictions.lift(current_actor(), restriction_id, data["reason"], now=at)
    return {"restriction_id": restriction.id, "lifted_at": at.isoformat()}


@blp.get("/audit")
@requires(Role.CREDIT_AUTHORITY)
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditPageSchema)
def audit(query):
    """The credit store's audit log, newest first: restrictions placed and lifted,
    restriction appeals read and decided. Only credit authorities read it."""
    entries, total = query_entries(region=None, model=CreditAuditEntry, **query)
    return {"entries": entries, "page": query["page"], "per_page": query["per_page"],
            "total": total}
