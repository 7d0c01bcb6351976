"""Bodies of the citizens' routes: registration, questionnaires, codes and tokens."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from checkpoints.verifier import RESTRICTABLE
from risk import SYMPTOMS

from .common import PHONE_RE, FullMatch, IdNumber, Name, StrictFloat, aware_time, code_field


class RegistrationSchema(Schema):
    name = Name(required=True, validate=validate.Length(max=60))
    id_number = IdNumber(required=True)
    phone = fields.String(required=True, validate=FullMatch(
        PHONE_RE, error="must be 6-15 digits, optionally after '+'"))
    region = fields.String(required=True, validate=code_field)


class RegistrationResultSchema(Schema):
    citizen_id = fields.Integer(metadata={
        "description": "this registration's number, given at a service counter to verify"})
    token = fields.String(metadata={"description": "bearer secret, shown once"})
    verified = fields.Boolean(metadata={
        "description": "always false: the account sees nothing until it is verified"})


class TravelSchema(Schema):
    area_code = fields.String(required=True, validate=code_field)
    from_ = aware_time(required=True, data_key="from")
    to = aware_time(required=True)

    @validates_schema
    def _order(self, data: dict, **_: Any) -> None:
        if data["from_"] > data["to"]:
            raise ValidationError("must not be before 'from'", field_name="to")


class QuestionnaireSchema(Schema):
    temperature_c = StrictFloat(
        required=True, allow_nan=False,
        validate=validate.Range(min=30, max=45, error="must be between 30 and 45 (degrees C)"),
    )
    symptoms = fields.List(
        fields.String(validate=validate.OneOf(SYMPTOMS)),
        required=True, validate=validate.Length(max=len(SYMPTOMS)),
    )
    travel = fields.List(fields.Nested(TravelSchema), load_default=list,
                         validate=validate.Length(max=20))
    reported_at = aware_time(load_default=None)

    @validates("symptoms")
    def _unique(self, value: list[str], **_: Any) -> None:
        if len(set(value)) != len(value):
            raise ValidationError("must not repeat a symptom")


class TokenRequestSchema(Schema):
    scope = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(RESTRICTABLE))


class TokenResultSchema(Schema):
    token = fields.String()
    jti = fields.String()
    expires_at = fields.String()
    color = fields.String()
    scope = fields.String(allow_none=True)
    qr_png = fields.String()
    qr_svg = fields.String()


class RestrictionsSchema(Schema):
    restrictions = fields.List(fields.Dict(), metadata={
        "description": "legal basis, authority, dates, remedy, whether active, how to lift"})


class NoticesSchema(Schema):
    notices = fields.List(fields.Dict())
