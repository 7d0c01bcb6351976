"""Aggregates for officials: how a region's colors moved over time (no one is named)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, select

from ..extensions import db
from ..models import Citizen, CodeHistory


def color_distribution(region: str, days: int, now: datetime) -> list[dict]:
    """For each of the last ``days`` days, how many residents held each color at its end."""
    out = []
    for back in range(days - 1, -1, -1):
        day = (now - timedelta(days=back)).date()
        end = min(now, datetime.combine(day, time.max, tzinfo=UTC))
        latest = (
            select(CodeHistory.citizen_id, func.max(CodeHistory.version).label("version"))
            .join(Citizen, Citizen.id == CodeHistory.citizen_id)
            .where(Citizen.region == region, CodeHistory.changed_at <= end)
            .group_by(CodeHistory.citizen_id).subquery()
        )
        counts = dict(db.session.execute(
            select(CodeHistory.color, func.count())
            .join(latest, (latest.c.citizen_id == CodeHistory.citizen_id)
                  & (latest.c.version == CodeHistory.version))
            .group_by(CodeHistory.color)).all())
        out.append({"date": day.isoformat(), "green": counts.get("green", 0),
                    "yellow": counts.get("yellow", 0), "red": counts.get("red", 0)})
    return out
