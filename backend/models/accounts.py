"""Bearer credentials: opaque secrets, stored only as hashes, each with one role."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class Role(enum.StrEnum):
    CITIZEN = "citizen"
    OFFICIAL = "official"
    DATA_PROVIDER = "data_provider"
    CHECKPOINT_DEVICE = "checkpoint_device"
    CREDIT_AUTHORITY = "credit_authority"
    ADMIN = "admin"
    # Verifies identities in person at a service counter; scoped to a region.
    REGISTRAR = "registrar"


class Credential(db.Model):
    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(120))
    # SHA-256 of a 256-bit random secret: a slow hash adds nothing for random secrets.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"), index=True)
    checkpoint_id: Mapped[int | None] = mapped_column(ForeignKey("checkpoints.id"), index=True)
    # A citizen's credential belongs to an enrolment; ``citizen_id`` is set only once
    # that enrolment is verified (see models/enrolments.py).
    enrolment_id: Mapped[int | None] = mapped_column(ForeignKey("enrolments.id"), index=True)
    # A data provider's record kinds; None: every kind but ``identity``, which binds
    # accounts to people and so comes only from a provider named for it (the
    # population registry), never from any lab's feed.
    record_kinds: Mapped[list | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
