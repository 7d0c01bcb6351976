"""Bodies of the public documents."""

from __future__ import annotations

from marshmallow import Schema, fields


class JWKSSchema(Schema):
    keys = fields.List(fields.Dict(), metadata={"description": "RFC 7517 EC P-256 keys"})
