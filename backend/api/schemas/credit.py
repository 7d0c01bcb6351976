"""Bodies of the credit authorities' routes: restrictions placed with due process, and lifted."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from ...credit.models import AUTHORITY_LEVELS, LEGAL_KINDS, RESTRICTABLE
from ...models import CATEGORIES
from .common import IdNumber, aware_time


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
