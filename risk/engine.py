"""Evaluate one person's facts against a compiled ruleset.

The hot path is: for each fact, try only the rules indexed under its kind. Most people match
nothing and share one pre-built green Decision, so the per-person cost is a few closure calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from .decision import Decision, FactRef, Reason
from .facts import COLORS, FACT_KINDS, Fact
from .kind_index import split_kinds
from .logic import compile_checked
from .rules import Rule, Ruleset, parse_ruleset

K = TypeVar("K")
_SEVERITY = {color: rank for rank, color in enumerate(COLORS)}


class _CompiledRule:
    __slots__ = ("index", "rule", "test", "kinds", "days", "severity", "clears_after",
                 "clean_days")

    def __init__(self, index: int, rule: Rule) -> None:
        self.index = index
        self.rule = rule
        kinds, rest = split_kinds(rule.when)
        # The kind clause is settled by the index; only the rest needs testing per fact.
        self.test: Callable[[Any], Any] | None = None if rest is True else compile_checked(rest)
        self.kinds = kinds
        self.days = timedelta(days=rule.quarantine_days)
        self.severity = _SEVERITY[rule.color]
        self.clears_after = rule.clears_after
        self.clean_days = rule.clean_days


class CompiledRuleset:
    """A ruleset turned into per-kind tables of closures; build once, reuse for every person."""

    def __init__(self, ruleset: Ruleset) -> None:
        # Re-validate, and compile from the private copy parsing makes: a Ruleset built by
        # hand has not been checked and its conditions may still be mutated by the caller.
        checked = parse_ruleset(ruleset.to_dict(), version=ruleset.version)
        self.ruleset = ruleset
        self.version = ruleset.version
        self.rules = tuple(_CompiledRule(i, rule) for i, rule in enumerate(checked.rules))
        self.by_id = {compiled.rule.id: compiled.rule for compiled in self.rules}
        self._any_kind = tuple(r for r in self.rules if r.kinds is None)
        self._by_kind = {
            kind: tuple(r for r in self.rules if r.kinds is None or kind in r.kinds)
            for kind in FACT_KINDS
        }

    def candidates(self, kind: str) -> tuple[_CompiledRule, ...]:
        """Rules that could match a fact of this kind."""
        return self._by_kind.get(kind, self._any_kind)


def compile_ruleset(ruleset: Ruleset) -> CompiledRuleset:
    return CompiledRuleset(ruleset)


def evaluate(facts: Sequence[Fact], ruleset: CompiledRuleset, now: datetime) -> Decision:
    _check_args(ruleset, now)
    return _evaluate(facts, ruleset, now, _green(ruleset, now))


def evaluate_many(
    people: Iterable[tuple[K, Sequence[Fact]]], ruleset: CompiledRuleset, now: datetime
) -> Iterator[tuple[K, Decision]]:
    """Lazily evaluate (key, facts) pairs, all as of the same `now`."""
    _check_args(ruleset, now)
    green = _green(ruleset, now)
    for key, facts in people:
        yield key, _evaluate(facts, ruleset, now, green)


def _check_args(ruleset: Any, now: Any) -> None:
    if not isinstance(ruleset, CompiledRuleset):
        raise TypeError("evaluate needs a CompiledRuleset; call compile_ruleset() once first")
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError(f"now must be a timezone-aware datetime, got {now!r}")


def _green(ruleset: CompiledRuleset, now: datetime) -> Decision:
    return Decision("green", (), None, ruleset.version, now)


def _evaluate(
    facts: Sequence[Fact], ruleset: CompiledRuleset, now: datetime, green: Decision
) -> Decision:
    if not isinstance(facts, list | tuple):
        facts = list(facts)  # clearing conditions walk the facts a second time
    hits: dict[_CompiledRule, list[Fact]] | None = None
    by_kind, any_kind = ruleset._by_kind, ruleset._any_kind
    for fact in facts:
        if fact.at > now:
            continue
        for rule in by_kind.get(fact.kind, any_kind):
            test = rule.test
            if test is not None:
                try:
                    matched = test(fact)
                except Exception:  # odd data must never take the whole batch down
                    matched = False
                if not matched:
                    continue
            if hits is None:
                hits = {}
            hits.setdefault(rule, []).append(fact)
    if hits is None:
        return green
    return _decide(facts, hits, now, ruleset.version)


def _decide(
    facts: Sequence[Fact],
    hits: dict[_CompiledRule, list[Fact]],
    now: datetime,
    version: int,
) -> Decision:
    reasons: list[tuple[_CompiledRule, Reason]] = []
    changes_at: datetime | None = None
    for rule, matched in hits.items():
        active: list[Fact] = []
        until: datetime | None = None
        pending = False
        days_left = 0
        for fact in matched:
            end = fact.at + rule.days
            order_end = _until(fact.data.get("until"))
            if order_end is not None and order_end > end:
                end = order_end
            missing = 0 if rule.clears_after is None else _still_needed(
                rule, fact, matched, facts, now)
            unmet = missing > 0
            if end > now and (changes_at is None or end < changes_at):
                changes_at = end
            if end > now or unmet:
                active.append(fact)
                until = end if until is None or end > until else until
                pending = pending or unmet
                days_left = max(days_left, missing)
        if until is None:
            continue
        active.sort(key=lambda f: (f.at, f.kind, f.source, f.ref))
        spec = rule.rule
        reasons.append((rule, Reason(
            rule_id=spec.id,
            summary=spec.summary,
            color=spec.color,
            quarantine_days=spec.quarantine_days,
            facts=tuple(FactRef.of(f) for f in active),
            until=until,
            pending=(spec.clears_after,) if pending else (),
            summaries=spec.summaries,
            clean_days_left=days_left if spec.clears_after == "clean_questionnaire" else 0,
        )))
    if not reasons:
        return Decision("green", (), None, version, now)  # time alone only ends matches
    reasons.sort(key=lambda pair: (-pair[0].severity, -pair[1].until.timestamp(), pair[0].index))
    ordered = tuple(reason for _, reason in reasons)
    color = max((reason.color for reason in ordered), key=_SEVERITY.__getitem__)
    if any(reason.pending for reason in ordered):
        turns_green_at = None  # a clearing condition needs new input; time alone won't do
    else:
        turns_green_at = max(reason.until for reason in ordered)
    return Decision(color, ordered, turns_green_at, version, now, changes_at)


def _still_needed(
    rule: _CompiledRule, match: Fact, matched: list[Fact], facts: Sequence[Fact], now: datetime
) -> int:
    """How many more clearing facts the match needs (0: its clearing condition is met)."""
    start = match.at
    if rule.clears_after == "negative_test":
        cleared = any(
            g.kind == "test_result" and start < g.at <= now and g.data.get("result") == "negative"
            for g in facts
        )
        return 0 if cleared else 1
    # clean_questionnaire: later questionnaires this rule did not match, on distinct days.
    # Everything the rule matched is in `matched`, so "not in it" is "its condition was
    # false there".
    clean_days = {
        g.at.astimezone(UTC).date()
        for g in facts
        if g.kind == "questionnaire" and start < g.at <= now and not any(g is m for m in matched)
    }
    return max(0, rule.clean_days - len(clean_days))


def _until(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime) and value.utcoffset() is not None:
        return value
    return None


def restore(color: str, stored_reasons: Sequence[Mapping[str, Any]],
            turns_green_at: datetime | None, ruleset: CompiledRuleset,
            now: datetime) -> Decision | None:
    """A stored decision (its color, ``Decision.to_dict()["reasons"]`` and turns-green
    time) as of ``now``, each reason's texts taken from ``ruleset`` (the version that
    made it) so that every language reads as a fresh evaluation would. Valid only while
    nothing the decision rests on has changed. None if the ruleset lacks one of its rules.
    """
    reasons = []
    for reason in stored_reasons:
        spec = ruleset.by_id.get(reason["rule_id"])
        if spec is None:
            return None
        reasons.append(Reason(
            rule_id=spec.id, summary=spec.summary, color=reason["color"],
            quarantine_days=reason["quarantine_days"],
            facts=tuple(FactRef(f["kind"], f["source"], f["ref"], datetime.fromisoformat(f["at"]))
                        for f in reason["facts"]),
            until=datetime.fromisoformat(reason["until"]), pending=tuple(reason["pending"]),
            clean_days_left=reason["clean_days_left"], summaries=spec.summaries,
        ))
    return Decision(color, tuple(reasons), turns_green_at, ruleset.version, now)
