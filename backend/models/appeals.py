"""Appeals, the history of each code, and who read whose data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime


class Appeal(db.Model):
    """A holder's appeal against a record behind their code, or against a restriction."""

    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    region: Mapped[str] = mapped_column(String(32), index=True)
    target: Mapped[str] = mapped_column(String(16))  # code | restriction
    target_id: Mapped[str | None] = mapped_column(String(200))
    record_id: Mapped[int | None] = mapped_column(ForeignKey("gov_records.id"))
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)  # open | upheld | corrected
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[int | None] = mapped_column(Integer)
    decided_by_name: Mapped[str | None] = mapped_column(String(120))
    decision_note: Mapped[str | None] = mapped_column(Text)

    def record_decision(self, outcome: str, at: datetime, by: int | None,
                        by_name: str | None, note: str) -> None:
        self.state, self.decided_at, self.decided_by = outcome, at, by
        self.decided_by_name, self.decision_note = by_name, note


class CodeHistory(db.Model):
    """Each version of a citizen's code, kept for the code-history retention period."""

    __tablename__ = "code_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    color: Mapped[str] = mapped_column(String(8))
    reasons: Mapped[list] = mapped_column(JSON)
    ruleset_version: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class DataAccess(db.Model):
    """An official's read of a person's check-ins or records, shown to that person."""

    __tablename__ = "data_access"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_name: Mapped[str | None] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    what: Mapped[str] = mapped_column(String(32))  # check_ins | records
    reason: Mapped[str | None] = mapped_column(Text)
    audit_id: Mapped[int | None] = mapped_column(Integer)


class MovedCreditAct(db.Model):
    """A credit-store outbox entry already recorded here (``backend.credit.outbox``).

    Written in the same transaction as what the entry records, keyed on its uid: moving
    the same entry again finds this row (or fails on its key) and records nothing twice.
    """

    __tablename__ = "moved_credit_acts"

    outbox_uid: Mapped[str] = mapped_column(String(32), primary_key=True)
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime())
