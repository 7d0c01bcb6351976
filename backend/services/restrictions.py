"""Where health-side flows meet the credit store, through its narrow reads only.

Passes and travel gates ask "is this holder barred from category C now?"; the
holder alone is shown the restriction itself. Credit authorities place and lift
restrictions here, through the credit store's own functions; a health code never
influences a restriction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from checkpoints.verifier import RESTRICTABLE

from ..credit.models import Restriction
from ..credit.reads import is_restricted, own_restrictions
from ..credit.service import lift_restriction, place_restriction
from ..exceptions import Forbidden, ValidationFailed
from ..extensions import db
from ..identity import IdentityKeys
from ..models import Citizen, CodeState
from .audit import Actor, record_credit
from .token_status import bar_passes


def place(actor: Actor, data: Mapping[str, Any], *, keys: IdentityKeys, now: datetime,
          clock_skew: timedelta) -> Restriction:
    """Place a restriction whose due process the schema has checked, once the person
    has been notified. The restriction and its audit entry are both in the credit
    store: one commit. Then bar the holder's live passes (``bar_live_passes``)."""
    if data["notified_at"] > now + clock_skew:
        raise ValidationFailed("The person has not been notified yet.", fields={
            "notified_at": ["must not be in the future: notify the person first"]})
    id_hash = keys.id_hash(data["id_number"])
    restriction = place_restriction(data, id_hash=id_hash, actor_id=actor.id, now=now)
    record_credit(actor, "restriction.place", f"restriction:{restriction.id}", now=now,
                  id_hash=id_hash, detail={"categories": restriction.categories,
                                           "legal_basis": data["legal_basis"]["ref"]})
    db.session.commit()
    return restriction


def lift(actor: Actor, restriction_id: int, reason: str, *, now: datetime) -> Restriction:
    """End a restriction; the record stays, with who lifted it and why (audited)."""
    restriction = lift_restriction(restriction_id, reason=reason, actor_id=actor.id, now=now)
    record_credit(actor, "restriction.lift", f"restriction:{restriction.id}", now=now,
                  id_hash=restriction.id_hash, reason=reason)
    db.session.commit()
    return restriction


def holder_restricted(issuer: str, subject: str, category: str, at: datetime,
                      local_issuer: str) -> bool:
    """For a travel gate: is the token's holder (``subject``: the stored subject, read
    back from the token's pseudonym) restricted for the gate's category?

    Only this deployment's own restriction list applies; other issuers' holders are
    checked by their own deployments when they ask for a pass.
    """
    if category not in RESTRICTABLE or issuer != local_issuer:
        return False
    id_hash = db.session.execute(
        select(Citizen.id_hash).where(Citizen.subject == subject)
    ).scalar_one_or_none()
    return id_hash is not None and is_restricted(id_hash, category, at)


def bar_live_passes(id_hash: str, categories: list[str], at: datetime, redis) -> int:
    """A restriction was just placed: the holder's passes still live for ``categories``
    are refused at offline travel gates too (online scans ask the credit store anyway).
    Call after the restriction is committed. Returns how many passes."""
    holders = db.session.execute(
        select(Citizen.subject, Citizen.region).where(Citizen.id_hash == id_hash)).all()
    travel = [c for c in categories if c in RESTRICTABLE]
    return sum(bar_passes(redis, subject, region, travel, int(at.timestamp() * 1000))
               for subject, region in holders)


def check_pass(citizen: Citizen, state: CodeState, scope: str, at: datetime,
               travel_admits: frozenset[str], *, until: datetime | None = None) -> None:
    """Refuse a travel pass (403) when the code is not admitted for travel or the
    holder is restricted for ``scope`` now or, with ``until``, when the pass would
    expire (a restriction taking effect in between); the answer tells the holder why.

    Offline travel gates rely on this: they learn nothing about a holder's
    restrictions, only which live passes were barred after they were issued."""
    if state.color not in travel_admits:
        raise Forbidden(
            f"A {state.color} code is not admitted for travel.", code="color_not_admitted",
            extra={"color": state.color, "reasons": state.reasons},
        )
    when = [t for t in (at, until) if t is not None
            and is_restricted(citizen.id_hash, scope, t)]
    if when:
        mine = [r for r in own_restrictions(citizen.id_hash, when[0])
                if r["active"] and scope in r["categories"]]
        raise Forbidden(
            f"You are restricted from {scope} travel.", code="restricted",
            extra={"scope": scope, "restrictions": mine},
        )


def restriction_notices(restrictions: list[dict]) -> list[dict]:
    """A notice per restriction, in words the holder can act on."""
    notices = []
    for r in restrictions:
        basis = r["legal_basis"]
        ends = (f"It ends on {r['expires_at']}." if r["expires_at"] else "")
        lift = f" What lifts it: {r['remedy']}" if r["remedy"] else ""
        state = "was lifted" if r["lifted_at"] else ("is in force" if r["active"] else
                                                     "is not in force")
        notices.append({
            "kind": "restriction",
            "restriction_id": r["restriction_id"],
            "at": r["notified_at"],
            "title": f"Travel restriction ({', '.join(r['categories'])}) {state}",
            "text": (f"{basis['authority']} ({basis['authority_level']}) placed a restriction "
                     f"on {', '.join(r['categories'])} travel from {r['effective_from']} by "
                     f"{basis['kind'].replace('_', ' ')} {basis['ref']}. {ends}{lift} "
                     f"You can appeal it."),
        })
    return notices
