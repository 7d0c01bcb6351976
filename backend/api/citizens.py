"""Citizens: registration, questionnaires, their code and its signed token."""

from __future__ import annotations

from datetime import timedelta

from flask import Response, current_app, url_for

from ..auth import requires
from ..credit.reads import own_restrictions
from ..limits import (
    count_questionnaire,
    count_registration,
    count_token_issue,
    within_texts_per_person,
)
from ..models import Role
from ..qr import qr_png, qr_svg
from ..services import context
from ..services.citizens import submit_questionnaire
from ..services.codes import current_code
from ..services.restrictions import check_pass, restriction_notices
from ..services.tokens import issue_code_token, stored_token
from ..services.verification import enrol
from .base import Blueprint
from .common import code_body, iso, me, now, ruleset_cache
from .schemas.citizens import (
    NoticesSchema,
    QuestionnaireSchema,
    RegistrationResultSchema,
    RegistrationSchema,
    RestrictionsSchema,
    TokenRequestSchema,
    TokenResultSchema,
)
from .schemas.common import CodeSchema, QuestionnaireResultSchema

blp = Blueprint("citizens", __name__, url_prefix="/api/v1", description="Citizens and their codes")


@blp.post("/citizens")
@blp.arguments(RegistrationSchema)
@blp.response(201, RegistrationResultSchema)
@blp.doc(security=[])
def register(data):
    """Register; the answer holds a bearer secret (shown once) that sees nothing until the
    registration is verified (``/me/verification``). The same answer whether or not the
    ID number is already registered."""
    count_registration()
    enrolment, _, secret = enrol(data, context.identity_keys(), now(), context.notifier(),
                                 within_texts_per_person)
    return {"citizen_id": enrolment.id, "token": secret, "verified": False}


@blp.post("/me/questionnaires")
@requires(Role.CITIZEN)
@blp.arguments(QuestionnaireSchema)
@blp.response(201, QuestionnaireResultSchema)
def questionnaire(data):
    """Report temperature, symptoms and travel; the answer is the recomputed code."""
    count_questionnaire()
    cfg = current_app.config
    q, state, decision = submit_questionnaire(
        me(), data, now(),
        max_age_days=cfg["QUESTIONNAIRE_MAX_AGE_DAYS"],
        clock_skew_seconds=cfg["CLOCK_SKEW_SECONDS"],
        ruleset_cache=ruleset_cache(),
    )
    return {"questionnaire_id": q.id, "code": code_body(state, decision)}


@blp.get("/me/code")
@requires(Role.CITIZEN)
@blp.response(200, CodeSchema)
def my_code():
    """The holder's color with every reason, the facts behind it and when it turns green."""
    state, decision = current_code(me(), now(), ruleset_cache())
    return code_body(state, decision)


@blp.post("/me/tokens")
@requires(Role.CITIZEN)
@blp.arguments(TokenRequestSchema)
@blp.response(201, TokenResultSchema)
def new_token(data):
    """Sign a short-lived token of the holder's current code, to show as a QR.

    With a ``scope`` (air, rail, hotel) it is a travel pass, refused with 403 and the
    holder's own reasons when the code is not admitted for travel or the holder is
    restricted for that category.
    """
    count_token_issue()
    citizen = me()
    cfg = current_app.config
    stamped = now()

    def read_state():
        state, _ = current_code(citizen, stamped, ruleset_cache(), explained=False)
        if data.get("scope"):
            check_pass(citizen, state, data["scope"], stamped,
                       frozenset(current_app.config["TRAVEL_ADMITS"]),
                       until=stamped + timedelta(seconds=cfg["TOKEN_LIFETIME_SECONDS"]))
        return state

    signed = issue_code_token(
        citizen, read_state, keyring=context.keyring(), pseudonyms=context.token_pseudonyms(),
        issuer=cfg["ISSUER_ID"], lifetime_seconds=cfg["TOKEN_LIFETIME_SECONDS"], now=stamped,
        redis=context.redis(), scope=data.get("scope"), on_degraded=context.redis_degraded,
        on_unregistered=context.tokens_unregistered,
    )
    return {
        "token": signed.token,
        "jti": signed.jti,
        "expires_at": iso(signed.expires_at),
        "color": signed.color,
        "scope": signed.scope,
        "qr_png": url_for("citizens.token_qr", jti=signed.jti, fmt="png"),
        "qr_svg": url_for("citizens.token_qr", jti=signed.jti, fmt="svg"),
    }


QR_FORMATS = {"png": (qr_png, "image/png"), "svg": (qr_svg, "image/svg+xml")}


@blp.get("/me/tokens/<string:jti>/qr.<any(png, svg):fmt>")
@requires(Role.CITIZEN)
@blp.doc(responses={"200": {"description": "the QR image", "content": {
    "image/png": {"schema": {"type": "string", "format": "binary"}},
    "image/svg+xml": {"schema": {"type": "string"}}}}})
def token_qr(jti: str, fmt: str):
    """The QR image (PNG or SVG) of one of the holder's live tokens."""
    render, mimetype = QR_FORMATS[fmt]
    token = stored_token(me(), jti, context.redis())
    return Response(render(token), mimetype=mimetype, headers={"Cache-Control": "no-store"})


@blp.get("/me/restrictions")
@requires(Role.CITIZEN)
@blp.response(200, RestrictionsSchema)
def my_restrictions():
    """The holder's own restrictions: legal basis, authority, dates, remedy and state."""
    return {"restrictions": own_restrictions(me().id_hash, now())}


@blp.get("/me/notices")
@requires(Role.CITIZEN)
@blp.response(200, NoticesSchema)
def my_notices():
    """Notices to the holder, such as a restriction placed on them, with how to lift it."""
    return {"notices": restriction_notices(own_restrictions(me().id_hash, now()))}
