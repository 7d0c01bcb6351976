"""Computing and keeping citizens' codes.

A code is recomputed whenever something it depends on changes (a questionnaire,
a government record, an area's risk, a published ruleset) and whenever it is
read, since quarantines run out with time. ``version`` grows only when the
decision's fingerprint changes; the new version is then published to Redis, where
online scans compare it with a token's ``iat``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from risk import Decision, evaluate

from ..extensions import db
from ..models import Citizen, CodeHistory, CodeState
from .facts import load_facts
from .rulesets import active_ruleset

CODE_KEY = "hc:code:{subject}"
CHANGES_KEY = "hc:code:changes"


@dataclass(frozen=True)
class CodeChange:
    subject: str
    version: int
    color: str
    changed_at: datetime


def recompute_codes(
    citizens: Sequence[Citizen], now: datetime, ruleset_cache: dict
) -> tuple[dict[int, tuple[CodeState, Decision]], list[CodeChange]]:
    """Evaluate ``citizens`` now and update their stored codes in the current transaction.

    The caller commits, then hands the changes to ``publish_changes``.
    """
    if not citizens:
        return {}, []
    facts = load_facts(citizens, now)
    ids = [c.id for c in citizens]
    states = {
        s.citizen_id: s
        for s in db.session.execute(
            select(CodeState).where(CodeState.citizen_id.in_(ids))
        ).scalars()
    }
    by_region: dict[str, list[Citizen]] = defaultdict(list)
    for c in citizens:
        by_region[c.region].append(c)
    results: dict[int, tuple[CodeState, Decision]] = {}
    changes: list[CodeChange] = []
    for region, people in by_region.items():
        ruleset = active_ruleset(region, ruleset_cache)
        for citizen in people:
            decision = evaluate(facts[citizen.id], ruleset, now)
            state, changed = _store(states.get(citizen.id), citizen, decision, now)
            results[citizen.id] = (state, decision)
            if changed:
                changes.append(CodeChange(citizen.subject, state.version, state.color, now))
    return results, changes


def _store(
    state: CodeState | None, citizen: Citizen, decision: Decision, now: datetime
) -> tuple[CodeState, bool]:
    fingerprint = decision.fingerprint()
    if state is not None and state.fingerprint == fingerprint:
        return state, False
    reasons = decision.to_dict()["reasons"]
    if state is None:
        state = CodeState(citizen_id=citizen.id, version=1)
        db.session.add(state)
    else:
        state.version = state.version + 1
    state.color = decision.color
    state.reasons = reasons
    state.turns_green_at = decision.turns_green_at
    state.ruleset_version = decision.ruleset_version
    state.fingerprint = fingerprint
    state.evaluated_at = now
    state.changed_at = now
    db.session.add(CodeHistory(citizen_id=citizen.id, version=state.version, color=state.color,
                               reasons=reasons, ruleset_version=state.ruleset_version,
                               changed_at=now))
    return state, True


def publish_changes(redis, changes: Sequence[CodeChange]) -> None:
    """Tell online verifiers about new code versions; call after the database commit.

    The change is stamped now, after the commit: a token signed from the old state
    was stamped before it was read, hence before this, and is refused online.
    """
    if not changes:
        return
    ms = int(time.time() * 1000)
    pipe = redis.pipeline(transaction=False)
    for change in changes:
        pipe.hset(
            CODE_KEY.format(subject=change.subject),
            mapping={"v": change.version, "changed_ms": ms, "color": change.color},
        )
        pipe.zadd(CHANGES_KEY, {change.subject: ms})
    pipe.execute()


def current_code(
    citizen: Citizen, now: datetime, ruleset_cache: dict, redis
) -> tuple[CodeState, Decision]:
    """Re-evaluate one citizen now, store any change, and return the fresh decision."""
    results, changes = recompute_codes([citizen], now, ruleset_cache)
    db.session.commit()
    publish_changes(redis, changes)
    return results[citizen.id]


def citizens_by_id_hashes(hashes: Sequence[str]) -> list[Citizen]:
    found: list[Citizen] = []
    unique = sorted(set(hashes))
    for i in range(0, len(unique), 500):
        found.extend(
            db.session.execute(
                select(Citizen).where(Citizen.id_hash.in_(unique[i : i + 500]))
            ).scalars()
        )
    return found
