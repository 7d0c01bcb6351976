"""Which ruleset decides a region's codes: its newest published version.

A region that has never published gets the shipped default as its version 1,
stored on first use so that rollback and audit can name it like any other.
"""

from __future__ import annotations

import functools

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError

from risk import CompiledRuleset, compile_ruleset, default_ruleset, parse_ruleset

from ..extensions import db
from ..models import RulesetVersion, utcnow

PUBLISHED = "published"
DRAFT = "draft"


def _latest_published(region: str) -> RulesetVersion | None:
    return db.session.execute(
        select(RulesetVersion)
        .where(RulesetVersion.region == region, RulesetVersion.status == PUBLISHED)
        .order_by(RulesetVersion.version.desc())
        .limit(1)
    ).scalar_one_or_none()


def active_ruleset_row(region: str) -> RulesetVersion:
    row = _latest_published(region)
    if row is not None:
        return row
    default = default_ruleset()
    row = RulesetVersion(
        region=region,
        version=1,
        status=PUBLISHED,
        rules=default.to_dict()["rules"],
        note="shipped default ruleset",
        published_at=utcnow(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        # Another request stored version 1 of this region first.
        row = _latest_published(region)
        assert row is not None
    return row


@functools.cache
def _version_in_force() -> Select:
    return (select(RulesetVersion.version)
            .where(RulesetVersion.region == bindparam("region"),
                   RulesetVersion.status == PUBLISHED)
            .order_by(RulesetVersion.version.desc())
            .limit(1))


def active_ruleset(region: str, cache: dict) -> CompiledRuleset:
    """The compiled ruleset in force for ``region``; compiled once per (region, version).

    Every evaluation asks which version is in force, so that a publish takes effect at
    once in every worker; only the version number is read for that, not the rules.
    """
    version = db.session.execute(_version_in_force(), {"region": region}).scalar_one_or_none()
    compiled = cache.get((region, version)) if version is not None else None
    if compiled is None:
        row = active_ruleset_row(region)
        compiled = compile_ruleset(parse_ruleset({"rules": row.rules}, version=row.version))
        cache[(region, row.version)] = compiled
    return compiled


def latest_version(region: str) -> int:
    return db.session.execute(
        select(func.coalesce(func.max(RulesetVersion.version), 0)).where(
            RulesetVersion.region == region
        )
    ).scalar_one()
