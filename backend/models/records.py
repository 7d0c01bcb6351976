"""Government records and area risk levels, as received from data providers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class GovRecord(db.Model):
    """A confirmed case, contact, test result, quarantine order or vaccination.

    ``(source, ref)`` is the provider's own key and makes imports idempotent.
    Records are matched to citizens by ``id_hash`` and may arrive before the
    person registers.
    """

    __tablename__ = "gov_records"
    __table_args__ = (UniqueConstraint("source", "ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    id_hash: Mapped[str] = mapped_column(String(64), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(64))
    ref: Mapped[str] = mapped_column(String(128))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("credentials.id"))
    # A record found wrong on appeal is withdrawn, never deleted: who, when and why.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_by: Mapped[int | None] = mapped_column(Integer)
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)


class AreaRiskLevel(db.Model):
    """One period of an area's risk level: in force from ``since`` until the next row."""

    __tablename__ = "area_risk_levels"
    __table_args__ = (Index("ix_area_risk_levels_area_since", "area_code", "since"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area_code: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(32))
    risk_level: Mapped[str] = mapped_column(String(8))
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    set_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    set_by: Mapped[int | None] = mapped_column(ForeignKey("credentials.id"))
