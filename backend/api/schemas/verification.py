"""Bodies of the identity-verification routes."""

from __future__ import annotations

import re

from marshmallow import Schema, fields, validate

from .common import FullMatch, IdNumber


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
