"""Bodies of the government data feeds: records about people and area risk levels."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from risk import AREA_RISKS, TEST_RESULTS

from .common import PHONE_RE, FullMatch, IdNumber, aware_time, code_field

SOURCE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
REF_RE = re.compile(r"^[\x21-\x7e]{1,128}$")
RECORD_KINDS = (
    "confirmed_case", "close_contact", "secondary_contact",
    "test_result", "quarantine_order", "vaccination", "identity",
)


class TestResultDetail(Schema):
    result = fields.String(required=True, validate=validate.OneOf(TEST_RESULTS))


class QuarantineDetail(Schema):
    until = aware_time(required=True)


class VaccinationDetail(Schema):
    dose = fields.Integer(strict=True, validate=validate.Range(min=1, max=10))
    vaccine = fields.String(validate=validate.Length(max=64))


class IdentityDetail(Schema):
    """The phone the government holds for the person; stored only as a keyed hash."""

    phone = fields.String(required=True, validate=FullMatch(
        PHONE_RE, error="must be 6-15 digits, optionally after '+'"))


DETAIL_SCHEMAS: dict[str, Schema] = {
    "identity": IdentityDetail(),
    "test_result": TestResultDetail(),
    "quarantine_order": QuarantineDetail(),
    "vaccination": VaccinationDetail(),
}


class GovRecordSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(RECORD_KINDS))
    id_number = IdNumber(required=True)
    occurred_at = aware_time(required=True)
    source = fields.String(required=True, validate=FullMatch(
        SOURCE_RE, error="must be 1-64 letters, digits or . _ : -"))
    ref = fields.String(required=True, validate=FullMatch(
        REF_RE, error="must be 1-128 printable characters without spaces"))
    detail = fields.Dict(load_default=None, allow_none=True)

    @validates_schema(skip_on_field_errors=True)
    def _detail(self, data: dict, **_: Any) -> None:
        schema = DETAIL_SCHEMAS.get(data["kind"])
        detail = data.get("detail") or {}
        if schema is None:
            if detail:
                raise ValidationError(f"{data['kind']} records take no detail", field_name="detail")
            data["detail"] = {}
            return
        try:
            loaded = schema.load(detail)
        except ValidationError as err:
            raise ValidationError(err.messages, field_name="detail") from None
        if "until" in loaded:
            if loaded["until"] <= data["occurred_at"]:
                raise ValidationError({"until": ["must be after occurred_at"]}, field_name="detail")
            loaded["until"] = loaded["until"].isoformat()
        data["detail"] = loaded


class ImportRequestSchema(Schema):
    records = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1, max=5000))


class RejectedRowSchema(Schema):
    index = fields.Integer()
    error = fields.String()
    fields_ = fields.Dict(data_key="fields", attribute="fields")


class ImportResultSchema(Schema):
    # No count of the people recomputed: for a batch of one it told a data provider
    # whether that ID number belongs to a registered person (identity before data).
    accepted = fields.Integer()
    duplicates = fields.Integer()
    rejected = fields.List(fields.Nested(RejectedRowSchema))


class AreaRiskSchema(Schema):
    risk_level = fields.String(required=True, validate=validate.OneOf(AREA_RISKS))
    since = aware_time(required=True)
    region = fields.String(required=True, validate=code_field)


class AreaRiskResultSchema(AreaRiskSchema):
    area_code = fields.String()
    recomputed = fields.Integer()
