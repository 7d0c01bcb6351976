"""The trust list: other deployments whose codes our checkpoints accept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime


class TrustedIssuer(db.Model):
    __tablename__ = "trusted_issuers"

    issuer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    jwks_url: Mapped[str] = mapped_column(String(500))
    # Keys configured by hand: used when the JWKS cannot be fetched, and always trusted.
    pinned_keys: Mapped[list | None] = mapped_column(JSON)
    # The last good copy of the issuer's JWKS and how long it may be used.
    jwks: Mapped[dict | None] = mapped_column(JSON)
    etag: Mapped[str | None] = mapped_column(String(200))
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fresh_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Keys of that copy that were not usable: [{index, kid?, reason}].
    dropped_keys: Mapped[list | None] = mapped_column(JSON)
    # A category ("timed out", "refused address", ...), never the system's message.
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
