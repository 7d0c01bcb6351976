"""Checkpoints, their check-ins (kept only for the retention period) and refusal counts."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from checkpoints.verifier import RESTRICTABLE

from ..extensions import db
from .types import UTCDateTime, utcnow

# Everyday access and daily transit: no restriction ever bars them.
EVERYDAY = ("venue", "school", "residential", "workplace", "transit")
# Every checkpoint category: the everyday ones, then the travel ones with rail first,
# the order the API has always listed them in.
CATEGORIES = EVERYDAY + tuple(sorted(RESTRICTABLE, key=lambda category: category != "rail"))


class Checkpoint(db.Model):
    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(String(32), index=True)
    admits: Mapped[list] = mapped_column(JSON)
    # None: every trusted issuer is accepted.
    issuers: Mapped[list | None] = mapped_column(JSON)
    # The official's credential id; no foreign key, since devices' credentials point here.
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CheckIn(db.Model):
    """An admitted scan: who (pseudonymous), where, when. Purged after the retention period."""

    __tablename__ = "check_ins"
    __table_args__ = (Index("ix_check_ins_checkpoint_at", "checkpoint_id", "scanned_at"),
                      Index("ix_check_ins_subject_at", "issuer", "subject", "scanned_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scan_id: Mapped[str] = mapped_column(String(64), unique=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoints.id"))
    issuer: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(32))
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    offline: Mapped[bool] = mapped_column(default=False)
    # An offline scan the gate admitted that the server, re-checking it at scanned_at,
    # would have refused: the server's reason (``expired``, ``code_changed``, ...).
    disagreement: Mapped[str | None] = mapped_column(String(32))


class ScanReceipt(db.Model):
    """That an offline scan id was received, so a second upload stores nothing twice."""

    __tablename__ = "scan_receipts"
    __table_args__ = (Index("ix_scan_receipts_checkpoint_disagreement", "checkpoint_id",
                            "disagreement"),)

    scan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoints.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # As on CheckIn; also set for a scan admitted offline that cannot be stored as a
    # check-in at all (a token the server cannot verify names nobody).
    disagreement: Mapped[str | None] = mapped_column(String(32))


class DeviceBundle(db.Model):
    """When a checkpoint device last downloaded its offline bundle: uploads of scans
    older than that minus the bundle's validity are refused (no backdating)."""

    __tablename__ = "device_bundles"

    credential_id: Mapped[int] = mapped_column(ForeignKey("credentials.id"), primary_key=True)
    downloaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RefusalCount(db.Model):
    """Refusals are only counted: per checkpoint, day and reason; nothing about the person."""

    __tablename__ = "refusal_counts"
    __table_args__ = (UniqueConstraint("checkpoint_id", "day", "reason"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoints.id"))
    day: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(Integer, default=0)
