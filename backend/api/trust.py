"""The trust list (admins): which other deployments' codes our checkpoints accept."""

from __future__ import annotations

from flask import current_app
from marshmallow import Schema, fields, validate

from ..auth import requires
from ..exceptions import ValidationFailed
from ..models import Role
from ..services import context
from ..services.trust import delete_issuer, issuer_keys, list_issuers, put_issuer, refresh_all
from .auditing import current_actor
from .base import Blueprint
from .common import iso, now
from .schemas import is_code

blp = Blueprint("trust", __name__, url_prefix="/api/v1/trust", description="Trust list")


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


def _view(issuer) -> dict:
    return {"issuer_id": issuer.issuer_id, "name": issuer.name, "jwks_url": issuer.jwks_url,
            "own": False, "keys": [k["kid"] for k in issuer_keys(issuer)],
            "fetched_at": iso(issuer.fetched_at), "fresh_until": iso(issuer.fresh_until),
            "last_error": issuer.last_error, "dropped_keys": issuer.dropped_keys or []}


def _check_id(issuer_id: str) -> None:
    if not is_code(issuer_id):
        raise ValidationFailed("Bad issuer id.", fields={
            "issuer_id": ["must be 1-32 letters, digits, '-' or '_'"]})


@blp.get("/issuers")
@requires(Role.ADMIN)
@blp.response(200, IssuerListSchema)
def index():
    """The trusted issuers, this deployment's own first."""
    at, cfg = now(), current_app.config
    own = {"issuer_id": cfg["ISSUER_ID"], "name": "this deployment", "own": True,
           "jwks_url": "/.well-known/jwks.json",
           "keys": [k["kid"] for k in context.keyring().jwks(at)["keys"]],
           "fetched_at": None, "fresh_until": None, "last_error": None, "dropped_keys": []}
    return {"issuers": [own, *(_view(i) for i in list_issuers())]}


@blp.put("/issuers/<string:issuer_id>")
@requires(Role.ADMIN)
@blp.arguments(IssuerSchema)
@blp.response(200, IssuerOutSchema)
def put(data, issuer_id: str):
    """Trust an issuer (or change it); its JWKS is fetched and cached now."""
    _check_id(issuer_id)
    issuer = put_issuer(current_actor(), issuer_id, data,
                        local_issuer=current_app.config["ISSUER_ID"], now=now(),
                        policy=context.trust_fetch())
    context.trusted_keys().invalidate()
    return _view(issuer)


@blp.delete("/issuers/<string:issuer_id>")
@requires(Role.ADMIN)
@blp.response(204)
def delete(issuer_id: str):
    """Stop trusting an issuer: its codes are refused with wrong_issuer from now on."""
    delete_issuer(current_actor(), issuer_id, now())
    context.trusted_keys().invalidate()


@blp.post("/issuers/<string:issuer_id>/refresh")
@requires(Role.ADMIN)
@blp.response(200, RefreshSchema)
def refresh(issuer_id: str):
    """Fetch this issuer's JWKS now (keys it withdrew stop verifying)."""
    outcome = refresh_all(now(), context.trust_fetch(), current_actor(), only=issuer_id)
    context.trusted_keys().invalidate()
    return {"outcome": outcome}
