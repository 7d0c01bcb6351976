"""Request and response bodies. Unknown fields are refused; every error names its field."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from checkpoints.verifier import RESTRICTABLE
from risk import AREA_RISKS, SYMPTOMS, TEST_RESULTS

from ..identity import id_number_problem

# Anchored with ^ and $ for every JSON Schema reader; matched with fullmatch here, so a
# trailing newline (which $ would let through) is refused too.
CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
SOURCE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
REF_RE = re.compile(r"^[\x21-\x7e]{1,128}$")
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
RECORD_KINDS = (
    "confirmed_case", "close_contact", "secondary_contact",
    "test_result", "quarantine_order", "vaccination", "identity",
)
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


def _time(**kwargs: Any) -> fields.AwareDateTime:
    return fields.AwareDateTime(
        format="iso",
        validate=validate.Range(min=EARLIEST, max=LATEST,
                                error="must be between 2000-01-01 and 2100-01-01"),
        **kwargs,
    )


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


class VerificationRequestSchema(Schema):
    method = fields.String(required=True, validate=validate.OneOf(["sms"]))


class VerificationRequestedSchema(Schema):
    method = fields.String()
    status = fields.String(metadata={
        "description": "the same whether or not a code was sent"})


ONE_TIME_CODE = FullMatch(re.compile(r"^[0-9]{6}$"), error="must be the 6 digits you were given")


class VerificationConfirmSchema(Schema):
    code = fields.String(required=True, validate=ONE_TIME_CODE)


class VerificationResultSchema(Schema):
    verified = fields.Boolean()
    citizen_id = fields.Integer(metadata={"description": "the person this account now holds"})
    subject = fields.String(metadata={"description": "the holder's own pseudonymous id"})
    recovered = fields.Boolean(metadata={
        "description": "the person had an account before; its secrets no longer work"})


class CounterVerificationSchema(Schema):
    citizen_id = fields.Integer(required=True, strict=True, metadata={
        "description": "the registration number the person shows"})
    id_number = IdNumber(required=True, metadata={
        "description": "read off the ID card the registrar has checked"})


class CounterCodeSchema(Schema):
    code = fields.String(metadata={"description": "one-time code handed to the person"})
    expires_at = fields.String()


class TravelSchema(Schema):
    area_code = fields.String(required=True, validate=code_field)
    from_ = _time(required=True, data_key="from")
    to = _time(required=True)

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
    reported_at = _time(load_default=None)

    @validates("symptoms")
    def _unique(self, value: list[str], **_: Any) -> None:
        if len(set(value)) != len(value):
            raise ValidationError("must not repeat a symptom")


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


class TestResultDetail(Schema):
    result = fields.String(required=True, validate=validate.OneOf(TEST_RESULTS))


class QuarantineDetail(Schema):
    until = _time(required=True)


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
    occurred_at = _time(required=True)
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
    since = _time(required=True)
    region = fields.String(required=True, validate=code_field)


class AreaRiskResultSchema(AreaRiskSchema):
    area_code = fields.String()
    recomputed = fields.Integer()


class RestrictionsSchema(Schema):
    restrictions = fields.List(fields.Dict(), metadata={
        "description": "legal basis, authority, dates, remedy, whether active, how to lift"})


class NoticesSchema(Schema):
    notices = fields.List(fields.Dict())
