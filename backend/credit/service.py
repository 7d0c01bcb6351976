"""Credit authorities place and lift restrictions; due process is checked by the schema."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..exceptions import NotFound, ValidationFailed
from ..extensions import db
from .models import Restriction, RestrictionEvent


def place_restriction(data: Mapping[str, Any], *, id_hash: str, actor_id: int | None,
                      now: datetime) -> Restriction:
    basis = data["legal_basis"]
    restriction = Restriction(
        id_hash=id_hash, categories=sorted(set(data["categories"])),
        legal_kind=basis["kind"], legal_ref=basis["ref"], authority=basis["authority"],
        authority_level=basis["authority_level"], notified_at=data["notified_at"],
        effective_from=data["effective_from"], expires_at=data.get("expires_at"),
        remedy=data.get("remedy"), created_by=actor_id, created_at=now,
    )
    db.session.add(restriction)
    db.session.flush()
    db.session.add(RestrictionEvent(restriction_id=restriction.id, at=now, action="placed",
                                    actor_id=actor_id))
    return restriction


def lift_restriction(restriction_id: int, *, reason: str, actor_id: int | None,
                     now: datetime) -> Restriction:
    restriction = db.session.get(Restriction, restriction_id)
    if restriction is None:
        raise NotFound("No such restriction.")
    if restriction.lifted_at is not None:
        raise ValidationFailed("This restriction was already lifted.", code="already_lifted",
                               fields={"restriction_id": ["already lifted"]})
    restriction.lifted_at, restriction.lift_reason = now, reason
    db.session.add(RestrictionEvent(restriction_id=restriction.id, at=now, action="lifted",
                                    actor_id=actor_id, reason=reason))
    return restriction
