"""Small helpers shared by the API modules."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, g, request

from risk import Decision

from ..auth import current_principal
from ..exceptions import Forbidden
from ..models import Citizen, CodeState
from ..services.checkpoints import PolicyCache
from ..services.citizens import get_citizen
from ..services.explain import explain

LANGUAGES = ["en", "zh"]


def now() -> datetime:
    return datetime.now(UTC)


def ruleset_cache() -> dict:
    return current_app.extensions["ruleset_cache"]


def policy_cache() -> PolicyCache:
    """Each checkpoint's policy and region, as the scan and bundle routes read them."""
    return current_app.extensions["policy_cache"]


def language() -> str:
    return request.accept_languages.best_match(LANGUAGES) or "en"


def me() -> Citizen:
    """The citizen behind the caller's credential: citizens only ever see themselves."""
    principal = current_principal()
    if principal.citizen_id is None:
        raise Forbidden("This credential does not belong to a citizen.")
    loaded = g.get("caller_citizen")  # read along with the credential (backend.auth)
    if loaded is not None and loaded.id == principal.citizen_id:
        return loaded
    return get_citizen(principal.citizen_id)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def code_body(state: CodeState, decision: Decision) -> dict:
    """A holder's code as ``CodeSchema`` shows it: explained in the caller's language."""
    lang = language()
    body = explain(decision.to_dict(lang), lang)
    body["version"] = state.version
    return body
