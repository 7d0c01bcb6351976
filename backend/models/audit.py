"""The append-only audit log of official acts, chained by hashes.

Credit acts have a log of their own in the credit store (``CreditAuditEntry``), read
only by credit authorities and the holder; both refuse changes alike.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from ..credit.models import CreditAuditEntry
from ..extensions import db
from .types import UTCDateTime

GENESIS = "0" * 64


class AuditEntry(db.Model):
    """Who did what, when and why. ``prev_hash`` is unique, so the chain cannot fork."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_action_at", "action", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_name: Mapped[str | None] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditLogIsAppendOnly(RuntimeError):
    pass


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
@event.listens_for(CreditAuditEntry, "before_update")
@event.listens_for(CreditAuditEntry, "before_delete")
def _refuse_change(mapper, connection, target) -> None:
    raise AuditLogIsAppendOnly("audit entries are never changed or deleted")
