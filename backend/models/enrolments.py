"""Enrolments: an account's claim to be the person holding an ID number, and its proof.

Knowing an ID number proves nothing: a registration makes an *enrolment*, which sees
nothing until it is verified (in person at a counter, or by a one-time code sent to
the phone the government identity record holds). Verification binds the enrolment's
credential to the person (``Citizen``), creating the person on first verification.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class Enrolment(db.Model):
    __tablename__ = "enrolments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Several enrolments may claim one ID number; only a verified one reaches the person.
    id_hash: Mapped[str] = mapped_column(String(64), index=True)
    id_tail: Mapped[str] = mapped_column(String(4))
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(20))
    region: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when the person verified through another enrolment: this one can do nothing.
    frozen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"), index=True)


class VerificationCode(db.Model):
    """A one-time code for one enrolment, stored hashed; spent once, or void after
    ``MAX_ATTEMPTS`` wrong tries or its expiry."""

    __tablename__ = "verification_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id"), index=True)
    method: Mapped[str] = mapped_column(String(16))  # "sms" | "in_person"
    code_hash: Mapped[str] = mapped_column(String(64))
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("credentials.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    spent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
