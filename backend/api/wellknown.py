"""Public, unauthenticated documents: the JWKS that verifies every token we sign."""

from __future__ import annotations

from flask import jsonify

from ..services import context
from .base import Blueprint
from .common import now
from .schemas.wellknown import JWKSSchema

blp = Blueprint("wellknown", __name__, url_prefix="/.well-known", description="Public keys")


@blp.get("/jwks.json")
@blp.doc(security=[])
@blp.response(200, JWKSSchema)
def jwks():
    """The public keys (RFC 7517) of every token that may still be valid."""
    response = jsonify(context.keyring().jwks(now()))
    # Short enough that a rotation reaches verifiers well within a token's lifetime.
    response.headers["Cache-Control"] = "public, max-age=60"
    return response
