"""Bodies of the checkpoint and scan routes."""

from __future__ import annotations

import re

from marshmallow import Schema, fields, validate

from ...models import CATEGORIES
from .common import FullMatch, Name, aware_time, code_field

SCAN_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")
COLORS = ("green", "yellow", "red")


class CheckpointSchema(Schema):
    name = Name(required=True, validate=validate.Length(max=120))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    region = fields.String(required=True, validate=code_field)
    admits = fields.List(fields.String(validate=validate.OneOf(COLORS)), required=True,
                         validate=validate.Length(min=1, max=3))
    issuers = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                          load_default=None, allow_none=True,
                          metadata={"description": "issuers accepted; null: every trusted one"})


class CheckpointOutSchema(Schema):
    checkpoint_id = fields.Integer(attribute="id")
    name = fields.String()
    category = fields.String()
    region = fields.String()
    admits = fields.List(fields.String())
    issuers = fields.List(fields.String(), allow_none=True)


class DisagreementsSchema(Schema):
    count = fields.Integer(metadata={"description": "offline scans the gate admitted that the "
                                                    "server, re-checking them, would have refused"})
    reasons = fields.Dict(keys=fields.String(), values=fields.Integer(),
                          metadata={"description": "how many for each of the server's reasons"})
    last_received_at = fields.String(allow_none=True)


class CheckpointListItemSchema(CheckpointOutSchema):
    disagreements = fields.Nested(DisagreementsSchema)


class CheckpointListSchema(Schema):
    checkpoints = fields.List(fields.Nested(CheckpointListItemSchema))


class DeviceSchema(Schema):
    name = Name(load_default=None, validate=validate.Length(max=120))


class DeviceOutSchema(Schema):
    device_id = fields.Integer()
    token = fields.String(metadata={"description": "bearer secret of the device, shown once"})


_scan_id = FullMatch(SCAN_ID_RE, error="must be 8-64 letters, digits or . _ : -")


class ScanSchema(Schema):
    token = fields.String(required=True, metadata={"description": "the text read from the QR"})
    scan_id = fields.String(load_default=None, validate=_scan_id)
    scanned_at = aware_time(load_default=None)


class ScanResultSchema(Schema):
    decision = fields.String(metadata={"enum": ["admit", "refuse"]})
    reason = fields.String()
    color = fields.String(allow_none=True)
    holder = fields.String(allow_none=True, metadata={"description": "masked display name"})


class OfflineScanSchema(Schema):
    scan_id = fields.String(required=True, validate=_scan_id)
    token = fields.String(required=True)
    scanned_at = aware_time(required=True)
    decision = fields.String(required=True, validate=validate.OneOf(["admit", "refuse"]))


class ScanBatchSchema(Schema):
    scans = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1, max=1000))


class ScanBatchResultSchema(Schema):
    accepted = fields.Integer()
    duplicates = fields.Integer()
    checkins = fields.Integer()
    disagreements = fields.Integer(metadata={
        "description": "scans the gate admitted that the server would have refused at "
                       "scanned_at: stored, flagged and shown to the checkpoint's officials"})
    rejected = fields.List(fields.Dict())


class BundleQuerySchema(Schema):
    cursor = fields.String(load_default=None, validate=FullMatch(r"^[0-9]{1,16}$"))


class BundleSchema(Schema):
    issued_at = fields.String()
    keys = fields.Dict()
    status = fields.Dict()
    status_cursor = fields.String()
    policy = fields.Dict()
    clock_skew_seconds = fields.Integer()
    valid_until = fields.String(metadata={
        "description": "offline scans made with this bundle are accepted back to this "
                       "device's last download minus the bundle's validity"})
