"""Where health-side flows meet the credit store, through its narrow reads only.

Passes and travel gates ask "is this holder barred from category C now?"; the
holder alone is shown the restriction itself. Nothing here writes to the credit
store, and a health code never influences a restriction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from checkpoints.verifier import RESTRICTABLE, restriction_tag

from ..credit.reads import is_restricted, own_restrictions, restricted_among
from ..exceptions import Forbidden
from ..extensions import db
from ..models import Citizen, CodeState


def holder_restricted(issuer: str, subject: str, category: str, at: datetime,
                      local_issuer: str) -> bool:
    """For a travel gate: is the token's holder restricted for the gate's category?

    Only this deployment's own restriction list applies; other issuers' holders are
    checked by their own deployments when they ask for a pass.
    """
    if category not in RESTRICTABLE or issuer != local_issuer:
        return False
    id_hash = db.session.execute(
        select(Citizen.id_hash).where(Citizen.subject == subject)
    ).scalar_one_or_none()
    return id_hash is not None and is_restricted(id_hash, category, at)


def restricted_tags(category: str, at: datetime, salt: str, local_issuer: str) -> list[str]:
    """Salted tags of the holders barred from ``category``: for an offline gate's bundle."""
    if category not in RESTRICTABLE:
        return []
    hashes = sorted(restricted_among(None, category, at))
    subjects: list[str] = []
    for i in range(0, len(hashes), 500):
        subjects.extend(db.session.execute(
            select(Citizen.subject).where(Citizen.id_hash.in_(hashes[i:i + 500]))).scalars())
    return sorted(restriction_tag(salt, local_issuer, s) for s in subjects)


def check_pass(citizen: Citizen, state: CodeState, scope: str, at: datetime,
               travel_admits: frozenset[str]) -> None:
    """Refuse a travel pass (403) when the code is not admitted for travel or the
    holder is restricted for ``scope``; the answer tells the holder why."""
    if state.color not in travel_admits:
        raise Forbidden(
            f"A {state.color} code is not admitted for travel.", code="color_not_admitted",
            extra={"color": state.color, "reasons": state.reasons},
        )
    if is_restricted(citizen.id_hash, scope, at):
        mine = [r for r in own_restrictions(citizen.id_hash, at)
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
