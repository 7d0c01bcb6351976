"""The engine's answer: a color, the reasons behind it and when it turns green."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .facts import Fact


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _utc(moment: datetime | None) -> str | None:
    # Fingerprints compare instants, not how an offset happened to be written.
    return None if moment is None else moment.astimezone(UTC).isoformat()


@dataclass(frozen=True, slots=True)
class FactRef:
    kind: str
    source: str
    ref: str
    at: datetime

    @classmethod
    def of(cls, fact: Fact) -> FactRef:
        return cls(fact.kind, fact.source, fact.ref, fact.at)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "ref": self.ref, "at": _iso(self.at)}


@dataclass(frozen=True, slots=True)
class Reason:
    rule_id: str
    summary: str
    color: str
    quarantine_days: int
    facts: tuple[FactRef, ...]
    until: datetime
    pending: tuple[str, ...] = ()
    clean_days_left: int = 0  # clean daily reports still needed (clean_questionnaire rules)
    # Translations of summary, carried along so to_dict(lang) needs no ruleset at hand.
    summaries: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "summary": self.summaries.get(lang, self.summary),
            "color": self.color,
            "quarantine_days": self.quarantine_days,
            "facts": [ref.to_dict() for ref in self.facts],
            "until": _iso(self.until),
            "pending": list(self.pending),
            "clean_days_left": self.clean_days_left,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    color: str
    reasons: tuple[Reason, ...]
    turns_green_at: datetime | None
    ruleset_version: int
    evaluated_at: datetime
    # The first moment after evaluated_at at which a match's quarantine ends, so that
    # the same facts may decide otherwise; None: they never will. Not part of the
    # outcome (not in to_dict or the fingerprint).
    changes_at: datetime | None = None

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {
            "color": self.color,
            "reasons": [reason.to_dict(lang) for reason in self.reasons],
            "turns_green_at": _iso(self.turns_green_at),
            "ruleset_version": self.ruleset_version,
            "evaluated_at": _iso(self.evaluated_at),
        }

    def fingerprint(self) -> str:
        """Stable hash of the outcome; evaluated_at is left out so that merely re-evaluating
        never bumps the person's code version."""
        payload = {
            "color": self.color,
            "turns_green_at": _utc(self.turns_green_at),
            "reasons": [
                {
                    "rule_id": r.rule_id,
                    "color": r.color,
                    "facts": [[f.kind, f.source, f.ref, _utc(f.at)] for f in r.facts],
                    "until": _utc(r.until),
                    "pending": list(r.pending),
                    "clean_days_left": r.clean_days_left,
                }
                for r in self.reasons
            ],
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
