"""The only ways the rest of the service reads the credit store.

Gates and passes ask yes/no questions; the holder, and only the holder, sees the
full record of their own restrictions. None of these functions writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..extensions import db
from .models import RESTRICTABLE, CreditAuditEntry, Restriction


def _active_at(at: datetime):
    return select(Restriction).where(
        Restriction.lifted_at.is_(None),
        Restriction.effective_from <= at,
        (Restriction.expires_at.is_(None)) | (Restriction.expires_at > at),
    )


def is_restricted(id_hash: str, category: str, at: datetime) -> bool:
    """Is this person barred from ``category`` at ``at``? Nothing else is said."""
    if category not in RESTRICTABLE:
        return False
    rows = db.session.execute(_active_at(at).where(Restriction.id_hash == id_hash))
    return any(category in r.categories for r in rows.scalars())


def own_restrictions(id_hash: str, at: datetime) -> list[dict[str, Any]]:
    """Everything about the holder's own restrictions: basis, authority, remedy, state."""
    rows = db.session.execute(
        select(Restriction).where(Restriction.id_hash == id_hash).order_by(Restriction.id)
    ).scalars()
    return [
        {
            "restriction_id": r.id,
            "categories": list(r.categories),
            "legal_basis": {"kind": r.legal_kind, "ref": r.legal_ref,
                            "authority": r.authority, "authority_level": r.authority_level},
            "notified_at": r.notified_at.isoformat(),
            "effective_from": r.effective_from.isoformat(),
            "expires_at": r.expires_at.isoformat() if r.expires_at else None,
            "remedy": r.remedy,
            "lifted_at": r.lifted_at.isoformat() if r.lifted_at else None,
            "lift_reason": r.lift_reason,
            "active": r.active_at(at),
            "how_to_lift": r.remedy or (
                f"It ends on {r.expires_at.isoformat()}." if r.expires_at else None),
            "appeal": "You can appeal this restriction: POST /api/v1/me/appeals "
                      f'{{"target": "restriction", "target_id": {r.id}, ...}}',
        }
        for r in rows
    ]


def own_credit_acts(id_hash: str) -> list[dict[str, Any]]:
    """The credit audit entries about the holder's own records, oldest first."""
    rows = db.session.execute(
        select(CreditAuditEntry).where(CreditAuditEntry.id_hash == id_hash)
        .order_by(CreditAuditEntry.id)
    ).scalars()
    return [{"at": e.at.isoformat(), "who": e.actor_name, "role": e.role, "action": e.action,
             "target": e.target, "why": e.reason} for e in rows]
