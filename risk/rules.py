"""Rules as data: the Rule/Ruleset model, validation (parse_ruleset) and the default ruleset."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from .facts import CLEARING_CONDITIONS, RULE_COLORS
from .logic_check import check_logic

MAX_RULES = 1000
MAX_TEXT = 500
MIN_QUARANTINE_DAYS = 1
MAX_QUARANTINE_DAYS = 28
_REQUIRED = ("id", "summary", "when", "color", "quarantine_days")
_OPTIONAL = ("clears_after", "clean_days", "summaries")
MAX_CLEAN_DAYS = 14


@dataclass(frozen=True)
class Rule:
    id: str
    summary: str
    when: Any  # raw JsonLogic, kept verbatim so to_dict() round-trips
    color: str
    quarantine_days: int
    clears_after: str | None = None
    # With clears_after "clean_questionnaire": how many days with a clean daily report
    # (after the trigger) it takes.
    clean_days: int = 1
    summaries: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "summary": self.summary,
            "summaries": dict(self.summaries),
            "when": _plain(self.when),
            "color": self.color,
            "quarantine_days": self.quarantine_days,
            "clears_after": self.clears_after,
            "clean_days": self.clean_days,
        }


@dataclass(frozen=True)
class Ruleset:
    version: int
    rules: tuple[Rule, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "rules": [rule.to_dict() for rule in self.rules]}


@dataclass(frozen=True)
class RuleProblem:
    rule_id: str | None
    index: int | None
    field: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "index": self.index, "field": self.field,
                "message": self.message}


class RulesetError(ValueError):
    def __init__(self, problems: list[RuleProblem]) -> None:
        self.problems = problems
        lines = [f"{p.rule_id or p.index if p.index is not None else 'ruleset'}.{p.field}: "
                 f"{p.message}" for p in problems[:10]]
        more = f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"invalid ruleset: {'; '.join(lines)}{more}")


def parse_ruleset(data: Mapping, version: int | None = None) -> Ruleset:
    """Validate a ruleset document; every problem is reported at once in RulesetError.

    `version` overrides data["version"]; with neither, the ruleset is an unversioned draft (0).
    """
    problems: list[RuleProblem] = []

    def top(field_name: str, message: str) -> None:
        problems.append(RuleProblem(None, None, field_name, message))

    if not isinstance(data, Mapping):
        raise RulesetError([RuleProblem(None, None, "ruleset", "expected a JSON object with "
                                        "'version' and 'rules'")])
    for key in data:
        if key not in ("version", "rules"):
            top(_key(key), "unknown key; expected 'version' and 'rules'")
    if version is None:
        version = data.get("version", 0)
    if not _is_int(version) or version < 0:
        top("version", f"must be a non-negative integer, got {_show(version)}")
    raw_rules = data.get("rules")
    rules: list[Rule] = []
    if not isinstance(raw_rules, list) or not raw_rules:
        top("rules", "must be a non-empty list of rules")
    elif len(raw_rules) > MAX_RULES:
        top("rules", f"at most {MAX_RULES} rules are allowed, got {len(raw_rules)}")
    else:
        seen: set[str] = set()
        for index, raw in enumerate(raw_rules):
            rule = _parse_rule(raw, index, seen, problems)
            if rule is not None:
                rules.append(rule)
    if problems:
        raise RulesetError(problems)
    return Ruleset(version=version, rules=tuple(rules))


def _parse_rule(raw: Any, index: int, seen: set[str], problems: list[RuleProblem]) -> Rule | None:
    if not isinstance(raw, Mapping):
        problems.append(RuleProblem(None, index, "rule", "must be an object"))
        return None
    rule_id = raw.get("id")
    name = rule_id if isinstance(rule_id, str) and rule_id else None
    before = len(problems)

    def bad(field_name: str, message: str) -> None:
        problems.append(RuleProblem(name, index, field_name, message))

    for key in raw:
        if key not in _REQUIRED and key not in _OPTIONAL:
            bad(_key(key), f"unknown key; allowed: {', '.join(_REQUIRED + _OPTIONAL)}")
    for key in _REQUIRED:
        if key not in raw:
            bad(key, "is required")
    if "id" in raw:
        if not _is_text(rule_id):
            bad("id", f"must be a non-empty string of at most {MAX_TEXT} characters")
        elif rule_id in seen:
            bad("id", f"duplicate rule id {rule_id!r}")
        else:
            seen.add(rule_id)
    if "summary" in raw and not _is_text(raw["summary"]):
        bad("summary", f"must be a non-empty string of at most {MAX_TEXT} characters")
    summaries = raw.get("summaries") or {}
    if not isinstance(summaries, Mapping) or not all(
        _is_text(k) and _is_text(v) for k, v in summaries.items()
    ):
        bad("summaries", "must map language codes to non-empty strings")
    if "when" in raw:
        for message in check_logic(raw["when"]):
            bad("when", message)
    color = raw.get("color")
    if "color" in raw and color not in RULE_COLORS:
        bad("color", f"must be one of {', '.join(RULE_COLORS)}, got {_show(color)}")
    days = raw.get("quarantine_days")
    if "quarantine_days" in raw and not (
        _is_int(days) and MIN_QUARANTINE_DAYS <= days <= MAX_QUARANTINE_DAYS
    ):
        bad("quarantine_days", f"must be an integer from {MIN_QUARANTINE_DAYS} to "
                               f"{MAX_QUARANTINE_DAYS}, got {_show(days)}")
    clears_after = raw.get("clears_after")
    if clears_after is not None and clears_after not in CLEARING_CONDITIONS:
        bad("clears_after", f"must be null or one of {', '.join(CLEARING_CONDITIONS)}, "
                            f"got {_show(clears_after)}")
    clean_days = raw.get("clean_days", 1)
    if not (_is_int(clean_days) and 1 <= clean_days <= MAX_CLEAN_DAYS):
        bad("clean_days", f"must be an integer from 1 to {MAX_CLEAN_DAYS}, got {_show(clean_days)}")
    elif clean_days > 1 and clears_after != "clean_questionnaire":
        bad("clean_days", "only applies with clears_after 'clean_questionnaire'")
    if len(problems) > before:
        return None
    return Rule(
        id=rule_id,
        summary=raw["summary"],
        when=_plain(raw["when"]),  # a private copy: the caller may mutate its document
        color=color,
        quarantine_days=days,
        clears_after=clears_after,
        clean_days=clean_days,
        summaries=dict(summaries),
    )


def default_ruleset() -> Ruleset:
    """The built-in ruleset shipped as package data (risk/default_ruleset.json)."""
    text = resources.files(__package__).joinpath("default_ruleset.json").read_text("utf-8")
    return parse_ruleset(json.loads(text))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_TEXT and value.strip() != ""


def _key(key: Any) -> str:
    # An unknown key names the problem's field; keep it short and never empty.
    text = key if isinstance(key, str) and key.strip() else repr(key)
    return text[:60]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
