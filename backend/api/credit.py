"""Credit authorities place and lift lawful travel restrictions, with due process.

Their acts are audited in the credit store's own log (``GET /credit/audit``), which
health officials never read.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from ..auth import requires
from ..credit.models import AUTHORITY_LEVELS, LEGAL_KINDS, RESTRICTABLE, CreditAuditEntry
from ..models import CATEGORIES, Role
from ..services import context, restrictions
from ..services.audit import query_entries
from .auditing import current_actor
from .base import Blueprint
from .common import now
from .schemas.common import AuditPageSchema, AuditQuerySchema, IdNumber, aware_time

blp = Blueprint("credit", __name__, url_prefix="/api/v1/credit", description="Credit records")


class LegalBasisSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(LEGAL_KINDS))
    ref = fields.String(required=True, validate=validate.Length(min=1, max=128))
    authority = fields.String(required=True, validate=validate.Length(min=2, max=200))
    authority_level = fields.String(required=True, validate=validate.OneOf(
        AUTHORITY_LEVELS, error="must be county or above: one of {choices}"))


class RestrictionSchema(Schema):
    id_number = IdNumber(required=True)
    categories = fields.List(fields.String(), required=True,
                             validate=validate.Length(min=1, max=len(RESTRICTABLE)))
    legal_basis = fields.Nested(LegalBasisSchema, required=True)
    notified_at = aware_time(required=True)
    effective_from = aware_time(required=True)
    expires_at = aware_time(load_default=None)
    remedy = fields.String(load_default=None, validate=validate.Length(min=5, max=1000))

    @validates("categories")
    def _categories(self, value: list[str], **_: Any) -> None:
        problems = {}
        for i, category in enumerate(value):
            if category in RESTRICTABLE:
                continue
            problems[i] = [f"{category!r} is never restricted: everyday access and daily "
                           f"transit stay open to everyone" if category in CATEGORIES
                           else f"unknown category; one of {', '.join(RESTRICTABLE)}"]
        if problems:
            raise ValidationError(problems)

    @validates_schema(skip_on_field_errors=False)
    def _due_process(self, data: dict, **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        notified, effective = data.get("notified_at"), data.get("effective_from")
        if notified and effective and notified > effective:
            errors["notified_at"] = ["the person must be notified on or before effective_from"]
        expires = data.get("expires_at")
        if expires and effective and expires <= effective:
            errors["expires_at"] = ["must be after effective_from"]
        if not expires and not data.get("remedy"):
            msg = "give expires_at or a remedy that says what lifts the restriction"
            errors["remedy"] = [msg]
            errors["expires_at"] = [msg]
        if errors:
            raise ValidationError(errors)


class RestrictionCreatedSchema(Schema):
    restriction_id = fields.Integer()


class LiftSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=500))


class LiftedSchema(Schema):
    restriction_id = fields.Integer()
    lifted_at = fields.String()


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
