"""Officials steer a region's rules: draft -> simulate -> publish -> roll back.

Simulation evaluates the draft and the active ruleset over the region's whole
current population, batch by batch (one query per kind of row per batch), and
writes nothing but its audit entry; its samples are groups (transition, the rules
that would fire, how many people), never a person. Publishing stores the new
version and recomputes every code of the region in one transaction: if anything
fails, the old version stays active and no code changes.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.exc import IntegrityError

from risk import CompiledRuleset, RulesetError, compile_ruleset, evaluate_many, parse_ruleset

from ..exceptions import Conflict, ValidationFailed
from ..extensions import db
from ..models import Citizen, RulesetVersion
from .audit import Actor, in_actors_region, record
from .codes import recompute_codes
from .facts import load_facts
from .rulesets import DRAFT, PUBLISHED, active_ruleset, active_ruleset_row, latest_version

BATCH = 1000
SAMPLES_PER_TRANSITION = 5
Progress = Callable[[int], None]


def ruleset_problems(exc: RulesetError) -> ValidationFailed:
    fields: dict[str, Any] = {}
    for p in exc.problems:
        if p.index is None:
            fields.setdefault(p.field, []).append(p.message)
        else:
            rule = fields.setdefault("rules", {}).setdefault(str(p.index), {})
            rule.setdefault(p.field, []).append(p.message)
    return ValidationFailed(
        "The ruleset is invalid; nothing was stored.", code="invalid_ruleset", fields=fields,
        extra={"problems": [p.to_dict() for p in exc.problems]},
    )


def create_draft(actor: Actor, rules: list, note: str, now: datetime) -> RulesetVersion:
    try:
        parse_ruleset({"rules": rules})
    except RulesetError as exc:
        raise ruleset_problems(exc) from None
    draft = RulesetVersion(region=actor.region, version=None, status=DRAFT, rules=rules,
                           note=note, created_by=actor.id, created_at=now)
    db.session.add(draft)
    db.session.flush()
    record(actor, "ruleset.draft", f"ruleset:{draft.id}", now=now, reason=note or None,
           detail={"rules": len(rules)})
    db.session.commit()
    return draft


def get_ruleset(actor: Actor, ruleset_id: int) -> RulesetVersion:
    return in_actors_region(RulesetVersion, ruleset_id, actor, "ruleset")


def _compiled(row: RulesetVersion, version: int) -> CompiledRuleset:
    return compile_ruleset(parse_ruleset({"rules": row.rules}, version=version))


def population(region: str, batch: int = BATCH) -> Iterator[list[Row]]:
    """The region's citizens in id order, a batch at a time (keyset pagination).

    Rows of (id, subject, region), which is all evaluation needs; ORM objects for
    a whole city would cost more than evaluating it.
    """
    last_id = 0
    while True:
        people = db.session.execute(
            select(Citizen.id, Citizen.subject, Citizen.region)
            .where(Citizen.region == region, Citizen.id > last_id)
            .order_by(Citizen.id).limit(batch)
        ).all()
        if not people:
            return
        yield people
        last_id = people[-1].id


@contextmanager
def _bulk_work() -> Iterator[None]:
    """Keep the cyclic garbage collector out of a long batch loop.

    A batch makes tens of thousands of small objects and no reference cycles, yet
    each generation-0 threshold crossed sets off a collection that walks them:
    about a fifth of a simulation's time. Reference counting still frees every
    batch as it goes; the collector runs again as soon as the loop ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class Simulation:
    subjects: int = 0
    transitions: Counter = field(default_factory=Counter)
    # (transition, rule ids that would fire) -> how many people: no one is named.
    groups: Counter = field(default_factory=Counter)
    rules: dict[str, dict[str, str]] = field(default_factory=dict)
    seconds: float = 0.0

    def note(self, transition: str, reasons: Iterable[Any]) -> None:
        ids = []
        for reason in reasons:
            ids.append(reason.rule_id)
            self.rules.setdefault(reason.rule_id, {
                "rule_id": reason.rule_id, "summary": reason.summary, "color": reason.color})
        self.groups[(transition, tuple(ids))] += 1

    def samples(self) -> list[dict[str, Any]]:
        """The commonest groups of each transition: what would fire, and for how many."""
        by_transition: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        for (transition, ids), count in self.groups.items():
            by_transition.setdefault(transition, []).append((ids, count))
        out = []
        for transition, groups in sorted(by_transition.items()):
            groups.sort(key=lambda g: (-g[1], g[0]))
            out.extend({"transition": transition, "count": count,
                        "reasons": [self.rules[i] for i in ids]}
                       for ids, count in groups[:SAMPLES_PER_TRANSITION])
        return out

    def to_dict(self) -> dict[str, Any]:
        changes = {k: v for k, v in sorted(self.transitions.items()) if "->" in k}
        return {
            "subjects": self.subjects,
            "changes": changes,
            "unchanged": self.transitions.get("unchanged", 0),
            "samples": self.samples(),
            "seconds": round(self.seconds, 3),
        }


def simulate(
    actor: Actor, ruleset_id: int, now: datetime, cache: dict, progress: Progress | None = None
) -> Simulation:
    """How the draft would change the region's codes right now; only the act is written
    (to the audit log, with its counts)."""
    row = get_ruleset(actor, ruleset_id)
    started = time.perf_counter()
    draft = _compiled(row, row.version or 0)
    current = active_ruleset(actor.region, cache)
    result = Simulation()
    with _bulk_work():
        for people in population(actor.region):
            facts = load_facts([p.id for p in people], now)
            befores = evaluate_many(((p, facts[p.id]) for p in people), current, now)
            afters = evaluate_many(((p, facts[p.id]) for p in people), draft, now)
            for (_, before), (_, after) in zip(befores, afters, strict=True):
                if before.color == after.color:
                    result.transitions["unchanged"] += 1
                    continue
                key = f"{before.color}->{after.color}"
                result.transitions[key] += 1
                result.note(key, after.reasons)
            result.subjects += len(people)
            if progress:
                progress(result.subjects)
    result.seconds = time.perf_counter() - started
    summary = result.to_dict()
    record(actor, "ruleset.simulate", f"ruleset:{row.id}", now=now, detail={
        "subjects": summary["subjects"], "changes": summary["changes"],
        "unchanged": summary["unchanged"]})
    db.session.commit()
    return result


@dataclass
class Publication:
    version: int
    recomputed: int
    changed: int


def _publish(
    actor: Actor, row: RulesetVersion, action: str, now: datetime, cache: dict,
    detail: Mapping[str, Any], progress: Progress | None = None,
) -> Publication:
    """Make ``row`` the region's newest version and recompute every code, atomically."""
    version = 0
    try:
        active_ruleset_row(actor.region)  # version 1 (the default) exists before any other
        version = latest_version(actor.region) + 1
        row.version, row.status, row.published_at = version, PUBLISHED, now
        db.session.add(row)
        db.session.flush()
        recomputed = changed = 0
        with _bulk_work():
            for people in population(actor.region):
                _, batch_changed = recompute_codes(people, now, cache)
                changed += batch_changed
                recomputed += len(people)
                if progress:
                    progress(recomputed)
        record(actor, action, f"ruleset:{row.id}", now=now, reason=row.note or None,
               detail={**detail, "version": version, "recomputed": recomputed,
                       "changed": changed})
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        cache.pop((actor.region, version), None)
        raise Conflict("Another version was published at the same time; try again.",
                       code="concurrent_publish") from None
    except Exception:
        db.session.rollback()
        cache.pop((actor.region, version), None)
        raise
    return Publication(version, recomputed, changed)


def publish(actor: Actor, ruleset_id: int, now: datetime, cache: dict,
            progress: Progress | None = None) -> Publication:
    """Publish a draft: it becomes the region's next version."""
    row = get_ruleset(actor, ruleset_id)
    if row.status != DRAFT:
        raise ValidationFailed("Only a draft can be published.", code="not_a_draft",
                               fields={"id": [f"is already version {row.version}"]})
    return _publish(actor, row, "ruleset.publish", now, cache, {"draft": ruleset_id}, progress)


def rollback(actor: Actor, to_version: int, reason: str, now: datetime, cache: dict,
             progress: Progress | None = None) -> Publication:
    """Publish a new version whose rules equal those of ``to_version``."""
    active_ruleset_row(actor.region)
    old = db.session.execute(
        select(RulesetVersion).where(RulesetVersion.region == actor.region,
                                     RulesetVersion.version == to_version)
    ).scalar_one_or_none()
    if old is None:
        raise ValidationFailed("No such version.", code="unknown_version",
                               fields={"to_version": [f"version {to_version} does not exist"]})
    copy = RulesetVersion(region=actor.region, status=DRAFT, rules=list(old.rules),
                          note=reason or f"rollback to version {to_version}",
                          created_by=actor.id, created_at=now)
    return _publish(actor, copy, "ruleset.rollback", now, cache, {"to_version": to_version},
                    progress)


def list_rulesets(actor: Actor) -> list[RulesetVersion]:
    active_ruleset_row(actor.region)
    db.session.commit()
    return list(db.session.execute(
        select(RulesetVersion).where(RulesetVersion.region == actor.region)
        .order_by(RulesetVersion.version.desc().nulls_first(), RulesetVersion.id.desc())
    ).scalars())
