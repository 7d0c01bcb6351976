"""Bodies of the appeals routes, daily reports and "my data"."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from marshmallow import Schema, ValidationError, fields, validate

from risk import SYMPTOMS

from ...services.appeals import QueuePosition
from .common import StrictFloat


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
