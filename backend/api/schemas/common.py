"""What the blueprints' schema modules share: field types and patterns, the error body,
a holder's code and the audit log's pages (each answered by routes of two blueprints).

Unknown fields are refused; every error names its field.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from marshmallow import Schema, ValidationError, fields, validate

from ...identity import id_number_problem

# Anchored with ^ and $ for every JSON Schema reader; matched with fullmatch here, so a
# trailing newline (which $ would let through) is refused too.
CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
PHONE_RE = re.compile(r"^\+?[0-9]{6,15}$")


class FullMatch(validate.Regexp):
    """``validate.Regexp`` that must match the whole value (documented as the pattern)."""

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def is_code(value: str) -> bool:
    return CODE_RE.fullmatch(value) is not None


class IdNumber(fields.String):
    """A resident ID number: 18 characters with a real date of birth and check digit."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Length(max=32), **kwargs)

    def _validate(self, value: str) -> None:
        super()._validate(value)  # the length first: a long value gets that one message
        if problem := id_number_problem(value):
            raise ValidationError(problem)


code_field = FullMatch(CODE_RE, error="must be 1-32 letters, digits, '-' or '_'")


class StrictFloat(fields.Float):
    """A JSON number: strings and booleans are wrong types, not numbers."""

    def _deserialize(self, value: Any, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Name(fields.String):
    def _deserialize(self, value: Any, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text or any(ord(ch) < 32 for ch in text):
            raise ValidationError("must be a non-empty name without control characters")
        return text


# Times outside this range are typos, and near years 1 or 9999 they overflow in UTC.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def aware_time(**kwargs: Any) -> fields.AwareDateTime:
    """An ISO 8601 time with its offset, between ``EARLIEST`` and ``LATEST``."""
    return fields.AwareDateTime(
        format="iso",
        validate=validate.Range(min=EARLIEST, max=LATEST,
                                error="must be between 2000-01-01 and 2100-01-01"),
        **kwargs,
    )


class ErrorDetailSchema(Schema):
    class Meta:
        unknown = ma.INCLUDE  # some errors add context, e.g. a refused pass's restrictions

    code = ma.fields.String(required=True, metadata={"description": "machine-readable"})
    message = ma.fields.String(required=True)
    fields = ma.fields.Dict(metadata={"description": "field name -> messages (nested)"})


class ErrorSchema(Schema):
    """Every 4xx/5xx answer: ``{"error": {"code", "message", "fields", ...}}``."""

    error = ma.fields.Nested(ErrorDetailSchema, required=True)


# A holder's code: GET /me/code answers with it, and so do questionnaires and daily
# reports (citizens and appeals blueprints).
class FactRefSchema(Schema):
    kind = fields.String()
    source = fields.String()
    ref = fields.String()
    at = fields.String()


class ReasonSchema(Schema):
    rule_id = fields.String()
    summary = fields.String()
    color = fields.String()
    quarantine_days = fields.Integer()
    until = fields.String()
    pending = fields.List(fields.String())
    clean_days_left = fields.Integer()
    facts = fields.List(fields.Nested(FactRefSchema))
    actions = fields.List(fields.Dict(), metadata={
        "description": "what the holder can do: daily reports, a test, an appeal"})


class CodeSchema(Schema):
    color = fields.String(metadata={"enum": ["green", "yellow", "red"]})
    reasons = fields.List(fields.Nested(ReasonSchema))
    turns_green_at = fields.String(allow_none=True)
    ruleset_version = fields.Integer()
    evaluated_at = fields.String()
    version = fields.Integer(metadata={"description": "grows whenever color or reasons change"})


class QuestionnaireResultSchema(Schema):
    questionnaire_id = fields.Integer()
    code = fields.Nested(CodeSchema)


# The audit log: officials read the health one, credit authorities the credit store's.
class AuditQuerySchema(Schema):
    action = fields.String(validate=validate.Length(max=64))
    actor = fields.Integer(strict=False, validate=validate.Range(min=1, max=2**31 - 1))
    since = fields.AwareDateTime()
    until = fields.AwareDateTime()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = fields.AwareDateTime()
    actor_id = fields.Integer(allow_none=True)
    actor_name = fields.String(allow_none=True)
    role = fields.String()
    region = fields.String(allow_none=True)
    action = fields.String()
    target = fields.String()
    reason = fields.String(allow_none=True)
    detail = fields.Dict()
    hash = fields.String()
    prev_hash = fields.String()


class AuditPageSchema(Schema):
    entries = fields.List(fields.Nested(AuditEntrySchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
