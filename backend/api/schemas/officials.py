"""Bodies of the officials' routes: rulesets, statistics (the audit log's are in common)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class DraftSchema(Schema):
    rules = fields.List(fields.Raw(), required=True,
                        metadata={"description": "rules as in risk/README.md"})
    note = fields.String(load_default="", validate=validate.Length(max=500))


class RulesetSchema(Schema):
    id = fields.Integer()
    region = fields.String()
    version = fields.Integer(allow_none=True)
    status = fields.String(metadata={"enum": ["draft", "published"]})
    rules = fields.List(fields.Raw())
    note = fields.String()
    created_at = fields.AwareDateTime()
    published_at = fields.AwareDateTime(allow_none=True)


class RulesetListSchema(Schema):
    rulesets = fields.List(fields.Nested(RulesetSchema))


class SimulationSchema(Schema):
    ruleset_id = fields.Integer()
    active_version = fields.Integer()
    subjects = fields.Integer(metadata={"description": "people evaluated"})
    changes = fields.Dict(keys=fields.String(), values=fields.Integer(),
                          metadata={"description": "counts by transition, e.g. green->yellow"})
    unchanged = fields.Integer()
    samples = fields.List(fields.Dict(), metadata={
        "description": "the commonest groups per transition, no person named: "
                       "{transition, count, reasons: [{rule_id, summary, color}]}"})
    seconds = fields.Float()


class PublicationSchema(Schema):
    version = fields.Integer()
    recomputed = fields.Integer()
    changed = fields.Integer(metadata={"description": "codes whose color or reasons changed"})


class RollbackSchema(Schema):
    to_version = fields.Integer(required=True, strict=True,
                                validate=validate.Range(min=1, max=2**31 - 1))
    reason = fields.String(load_default="", validate=validate.Length(max=500))


class ColorStatsQuerySchema(Schema):
    days = fields.Integer(load_default=14, validate=validate.Range(min=1, max=90))


class ColorStatsSchema(Schema):
    region = fields.String()
    days = fields.List(fields.Dict(), metadata={
        "description": "[{date, green, yellow, red}] oldest first"})
