"""Bodies of the tracing routes."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from .common import IdNumber


class CaseSchema(Schema):
    subject = fields.String(validate=validate.Length(min=1, max=32))
    id_number = IdNumber()


class TracingRequestSchema(Schema):
    case = fields.Nested(CaseSchema, required=True)
    reason = fields.String(required=True, validate=validate.Length(min=3, max=500))
    window_minutes = fields.Integer(strict=True, load_default=None,
                                    validate=validate.Range(min=1, max=1440))
    days = fields.Integer(strict=True, load_default=14, validate=validate.Range(min=1, max=28))


class LeadsSchema(Schema):
    case_visits = fields.Integer()
    leads = fields.List(fields.Dict())


class TracingImportSchema(Schema):
    leads = fields.List(fields.Dict())
    accepted = fields.Integer()
    duplicates = fields.Integer()
    recomputed = fields.Integer()
