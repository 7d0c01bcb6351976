"""Checkpoints over HTTP: registration by officials, scans and bundles by devices.

The verifier these routes call lives in the pure ``checkpoints`` package; this module
is its HTTP side. The scan route, the hottest of all, reads its own body: the fast
path and the decorators it needs are here, next to the one route that uses them.
"""

from __future__ import annotations

import json
import typing
from datetime import timedelta
from typing import Any

from flask import current_app, request
from marshmallow import Schema, ValidationError
from webargs.core import missing

from checkpoints.verifier import RESTRICTABLE

from ..auth import current_principal, requires
from ..exceptions import Forbidden, ValidationFailed
from ..metrics import count_scan
from ..models import Role
from ..services import context
from ..services.checkpoints import add_device, checkpoints_overview, create_checkpoint
from ..services.restrictions import holder_restricted
from ..services.scans import (
    build_bundle,
    record_bundle_download,
    scan_online,
    upload_offline,
)
from .auditing import current_actor
from .base import Blueprint
from .common import now, policy_cache
from .schemas.checkpoints import (
    SCAN_ID_RE,
    BundleQuerySchema,
    BundleSchema,
    CheckpointListSchema,
    CheckpointOutSchema,
    CheckpointSchema,
    DeviceOutSchema,
    DeviceSchema,
    OfflineScanSchema,
    ScanBatchResultSchema,
    ScanBatchSchema,
    ScanResultSchema,
    ScanSchema,
)

blp = Blueprint("checkpoints", __name__, url_prefix="/api/v1", description="Checkpoints")
OFFLINE_ROW = OfflineScanSchema()
SCAN_BODY = ScanSchema()  # one instance: the scan path builds no schema per request
SCAN_DEFAULTS = {"scan_id": None, "scanned_at": None}  # what SCAN_BODY loads when absent


def _device_checkpoint() -> int:
    checkpoint_id = current_principal().checkpoint_id
    if checkpoint_id is None:
        raise Forbidden("This credential is not a checkpoint device.")
    return checkpoint_id


@blp.post("/checkpoints")
@requires(Role.OFFICIAL)
@blp.arguments(CheckpointSchema)
@blp.response(201, CheckpointOutSchema)
def register(data):
    """Register a checkpoint of the caller's region with the colors it admits."""
    return create_checkpoint(current_actor(), data, now())


@blp.get("/checkpoints")
@requires(Role.OFFICIAL)
@blp.response(200, CheckpointListSchema)
def index():
    """The region's checkpoints, each with the offline scans its gates admitted that the
    server would have refused (counts by reason; nothing about the people)."""
    return {"checkpoints": checkpoints_overview(current_actor())}


@blp.post("/checkpoints/<id:checkpoint_id>/devices")
@requires(Role.OFFICIAL)
@blp.arguments(DeviceSchema)
@blp.response(201, DeviceOutSchema)
def new_device(data, checkpoint_id: int):
    """A scanning device for the checkpoint; the answer holds its secret, shown once."""
    device_id, secret = add_device(current_actor(), checkpoint_id, data.get("name"), now())
    return {"device_id": device_id, "token": secret}


def docs_only(decorator: typing.Callable) -> typing.Callable:
    """A flask-smorest decorator (``doc``, ``alt_response``) for its OpenAPI entry alone.

    Those decorators also wrap the view in a function that looks up the app and
    checks for a coroutine on every call; a view that serialises its own answer
    (the scan route) needs the documentation only, so it keeps its own function.
    """

    def apply(view: typing.Callable) -> typing.Callable:
        view._apidoc = decorator(view)._apidoc  # type: ignore[attr-defined]
        return view

    return apply


def json_body(schema: Schema) -> typing.Callable:
    """Document ``schema`` as the route's JSON body without parsing it on each call.

    For the scan route only: it calls ``scan_body`` itself, which refuses what
    ``@blp.arguments`` refuses, with the same answers, for a fraction of webargs'
    per-request work.
    """
    return docs_only(blp.doc(
        requestBody={"required": True, "content": {"application/json": {"schema": schema}}},
        responses={"422": {"$ref": "#/components/responses/UNPROCESSABLE_ENTITY"}}))


@blp.post("/scans")
@requires(Role.CHECKPOINT_DEVICE)
@json_body(SCAN_BODY)
@docs_only(blp.alt_response(200, schema=ScanResultSchema, success=True))
def scan():
    """Verify a scanned token online. A refusal is a 200 with its reason code."""
    # The body is loaded here rather than by @blp.arguments, and the answer is the
    # decision's own dict rather than a schema dump: together a tenth of a scan's cost.
    data = scan_body()
    checkpoint_id = _device_checkpoint()
    at = now()
    scanned_at = data["scanned_at"]
    if scanned_at is not None and abs(scanned_at - at) > timedelta(
            seconds=current_app.config["CLOCK_SKEW_SECONDS"]):
        raise ValidationFailed("scanned_at is too far from now for an online scan.",
                               fields={"scanned_at": ["use /scans/batch for offline scans"]})
    policy, _ = policy_cache().get(checkpoint_id)
    restricted = None
    if policy.category in RESTRICTABLE:
        issuer = current_app.config["ISSUER_ID"]

        def restricted(iss: str, subject: str) -> bool:
            return holder_restricted(iss, subject, policy.category, at, issuer)
    decision = scan_online(
        data["token"], checkpoint_id=checkpoint_id, policy=policy,
        keys=context.trusted_keys().keyset(at), ctx=context.scan_context(),
        now=at, scan_id=data["scan_id"], scanned_at=scanned_at, restricted=restricted,
        device_id=current_principal().credential_id,
    )
    count_scan(decision.decision, decision.reason)
    return decision.public()


def scan_body() -> dict[str, Any]:
    """The scan's body, as ``@blp.arguments(ScanSchema)`` would load it.

    A fenced hot-path trick, for this route alone. The bodies scanners send,
    ``{"token": "<ASCII text>"}`` and ``{"token": ..., "scan_id": "<SCAN_ID_RE>"}`` (the
    scanner page's), which that schema loads unchanged, are read here with the JSON
    parser alone, at a quarter of webargs' and marshmallow's cost. Anything else, good
    or bad, goes the full way (``full_scan_body``), so every refusal still names its
    field. A test holds the two to the same answers.
    """
    if request.mimetype == "application/json":
        try:
            body = json.loads(request.get_data(cache=True).decode("utf-8"))
        except (ValueError, RecursionError):  # not UTF-8, not JSON, too deep
            body = None
        if (type(body) is dict and type(token := body.get("token")) is str
                and token.isascii() and "\x00" not in token):
            scan_id = body.get("scan_id")
            if len(body) == 1:
                return {"token": token, **SCAN_DEFAULTS}
            if (len(body) == 2 and type(scan_id) is str
                    and SCAN_ID_RE.fullmatch(scan_id) is not None):
                return {**SCAN_DEFAULTS, "token": token, "scan_id": scan_id}
    return full_scan_body()


def full_scan_body() -> dict[str, Any]:
    """The scan's body read by the API's one body parser and loaded by ``SCAN_BODY``:
    415, 400 or 422 naming the field, as ``@blp.arguments`` answers."""
    data = blp.ARGUMENTS_PARSER.load_json(request, SCAN_BODY)  # an empty body is missing
    try:
        return SCAN_BODY.load({} if data is missing else data)
    except ValidationError as err:
        raise ValidationFailed("The request has invalid fields.",
                               fields=err.normalized_messages()) from None


@blp.post("/scans/batch")
@requires(Role.CHECKPOINT_DEVICE)
@blp.arguments(ScanBatchSchema)
@blp.response(200, ScanBatchResultSchema)
def batch(data):
    """Upload scans made offline; ``scan_id`` makes a second upload store nothing twice."""
    checkpoint_id = _device_checkpoint()
    at = now()
    cfg = current_app.config
    policy, _ = policy_cache().get(checkpoint_id)
    result = upload_offline(
        data["scans"], row_schema=OFFLINE_ROW, checkpoint_id=checkpoint_id, policy=policy,
        keys=context.trusted_keys().keyset(at), now=at,
        clock_skew_seconds=cfg["CLOCK_SKEW_SECONDS"],
        max_age_days=cfg["CHECKIN_RETENTION_DAYS"],
        device_id=current_principal().credential_id, local_issuer=cfg["ISSUER_ID"],
        verifier_skew_seconds=cfg["VERIFIER_CLOCK_SKEW_SECONDS"],
        bundle_validity=timedelta(hours=cfg["BUNDLE_VALIDITY_HOURS"]),
        pseudonyms=context.token_pseudonyms(),
    )
    return result


@blp.get("/checkpoints/bundle")
@requires(Role.CHECKPOINT_DEVICE)
@blp.arguments(BundleQuerySchema, location="query")
@blp.response(200, BundleSchema)
def bundle(query):
    """Everything a gate needs to verify offline: keys, status deltas, its policy."""
    checkpoint_id = _device_checkpoint()
    at = now()
    cfg = current_app.config
    policy, region = policy_cache().get(checkpoint_id)
    cursor = int(query["cursor"]) if query.get("cursor") else None
    answer = build_bundle(
        keys_by_issuer=context.trusted_keys().jwks_by_issuer(at), policy=policy, region=region,
        redis=context.redis(), cursor=cursor, now=at, local_issuer=cfg["ISSUER_ID"],
        token_lifetime=cfg["TOKEN_LIFETIME_SECONDS"],
        clock_skew_seconds=cfg["VERIFIER_CLOCK_SKEW_SECONDS"], ctx=context.scan_context(),
    )
    valid_until = record_bundle_download(current_principal().credential_id, at,
                                         timedelta(hours=cfg["BUNDLE_VALIDITY_HOURS"]))
    return {**answer, "valid_until": valid_until.isoformat()}
