"""Bodies of the trust-list routes."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class IssuerSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    jwks_url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False,
                          validate=validate.Length(max=500))
    pinned_keys = fields.List(fields.Dict(), load_default=None, validate=validate.Length(max=20))


class DroppedKeySchema(Schema):
    index = fields.Integer(allow_none=True, metadata={
        "description": "position in the issuer's `keys`; null: the whole document"})
    kid = fields.String()
    reason = fields.String()


class IssuerOutSchema(Schema):
    issuer_id = fields.String()
    name = fields.String()
    jwks_url = fields.String()
    own = fields.Boolean()
    keys = fields.List(fields.String(), metadata={"description": "kids currently trusted"})
    fetched_at = fields.String(allow_none=True)
    fresh_until = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True, metadata={
        "description": "why the last fetch failed, as a category (e.g. 'timed out')"})
    dropped_keys = fields.List(fields.Nested(DroppedKeySchema), metadata={
        "description": "keys of the cached copy that were not usable, and why"})


class IssuerListSchema(Schema):
    issuers = fields.List(fields.Nested(IssuerOutSchema))


class RefreshSchema(Schema):
    outcome = fields.Dict()
