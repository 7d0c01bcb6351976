"""The trust list (admins): which other deployments' codes our checkpoints accept."""

from __future__ import annotations

from flask import current_app

from ..auth import requires
from ..exceptions import ValidationFailed
from ..models import Role
from ..services import context
from ..services.trust import delete_issuer, issuer_keys, list_issuers, put_issuer, refresh_all
from .auditing import current_actor
from .base import Blueprint
from .common import iso, now
from .schemas.common import is_code
from .schemas.trust import IssuerListSchema, IssuerOutSchema, IssuerSchema, RefreshSchema

blp = Blueprint("trust", __name__, url_prefix="/api/v1/trust", description="Trust list")


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
