"""Computed health codes and the rulesets they were computed under."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class CodeState(db.Model):
    """A citizen's current code. ``version`` grows whenever color or reasons change."""

    __tablename__ = "code_states"

    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), primary_key=True)
    color: Mapped[str] = mapped_column(String(8))
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    turns_green_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ruleset_version: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Until when a read may serve this code without evaluating again (see
    # services/codes.py); NULL: evaluate on every read.
    reusable_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RulesetVersion(db.Model):
    """A region's ruleset: a draft (no version yet) or a published version."""

    __tablename__ = "rulesets"
    __table_args__ = (UniqueConstraint("region", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    rules: Mapped[list] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("credentials.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
