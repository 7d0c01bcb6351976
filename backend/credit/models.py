"""Restrictions and their history, on the credit bind (a database of their own)."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..dbtypes import UTCDateTime
from ..extensions import db

# Categories a restriction may name. Everyday access (venue, school, residential,
# workplace) and daily transit are never restricted.
RESTRICTABLE = ("air", "rail", "hotel")
LEGAL_KINDS = ("court_judgment", "administrative_decision")
AUTHORITY_LEVELS = ("county", "city", "province", "national")


class Restriction(db.Model):
    """A lawful travel restriction of one person (known here only by a keyed hash)."""

    __bind_key__ = "credit"
    __tablename__ = "restrictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), index=True)
    categories: Mapped[list] = mapped_column(JSON)
    legal_kind: Mapped[str] = mapped_column(String(32))
    legal_ref: Mapped[str] = mapped_column(String(128))
    authority: Mapped[str] = mapped_column(String(200))
    authority_level: Mapped[str] = mapped_column(String(16))
    notified_at: Mapped[datetime] = mapped_column(UTCDateTime())
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    remedy: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lift_reason: Mapped[str | None] = mapped_column(Text)

    def active_at(self, at: datetime) -> bool:
        return (self.effective_from <= at and self.lifted_at is None
                and (self.expires_at is None or at < self.expires_at))


class RestrictionEvent(db.Model):
    """The history of a restriction: created, lifted (records are never deleted)."""

    __bind_key__ = "credit"
    __tablename__ = "restriction_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    restriction_id: Mapped[int] = mapped_column(ForeignKey("restrictions.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)


class CreditAuditEntry(db.Model):
    """The credit store's own audit log: every credit act, chained by hashes.

    Kept here, apart from the health audit log, so that legal bases, lift reasons and
    appeal notes are read only by credit authorities and, for their own records, by
    the holder (``id_hash``). It holds credit acts only, never health data.
    """

    __bind_key__ = "credit"
    __tablename__ = "credit_audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_name: Mapped[str | None] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(200))
    # Whose record the act concerns (keyed hash of the ID number), so the holder sees it.
    id_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class OutboxEntry(db.Model):
    """What the health side must still record about a credit act (the outbox).

    A credit act that the health database must know of (a restriction appeal decided,
    the appeals queue read) writes its entry here, in the credit store's own
    transaction, so that the act and the promise to record it commit together; a mover
    on the health side records it there and then sets ``moved_at``. The payload names
    the act (who, what, the appeal ids it concerns): never health data.
    """

    __bind_key__ = "credit"
    __tablename__ = "credit_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What the health side knows the entry by: random, so a credit store restored or
    # rebuilt (ids counted again from 1) never names a new entry as a moved one.
    uid: Mapped[str] = mapped_column(String(32), unique=True,
                                     default=lambda: secrets.token_hex(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(64))
    # At most one entry per key: a restriction appeal is decided once ("appeal:17").
    key: Mapped[str | None] = mapped_column(String(64), unique=True)
    payload: Mapped[dict] = mapped_column(JSON)
    moved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # Failed moves, and the last one's exception class (never its message, which can
    # quote the payload): an entry that keeps failing is listed by the mover.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(64))
