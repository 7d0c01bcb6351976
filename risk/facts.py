"""What the engine knows about a person: facts, their kinds and the fields rules may read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

FACT_KINDS: tuple[str, ...] = (
    "questionnaire",
    "travel",
    "confirmed_case",
    "close_contact",
    "secondary_contact",
    "test_result",
    "quarantine_order",
    "vaccination",
)
SYMPTOMS: tuple[str, ...] = (
    "fever",
    "cough",
    "sore_throat",
    "loss_of_smell",
    "shortness_of_breath",
    "fatigue",
)
AREA_RISKS: tuple[str, ...] = ("low", "medium", "high")
TEST_RESULTS: tuple[str, ...] = ("positive", "negative")
COLORS: tuple[str, ...] = ("green", "yellow", "red")  # ascending severity
RULE_COLORS: tuple[str, ...] = ("yellow", "red")
CLEARING_CONDITIONS: tuple[str, ...] = ("clean_questionnaire", "negative_test")

# Field types as the rule checker sees them. "until" is deliberately absent: the engine
# uses it to extend a quarantine, conditions never read it.
FACT_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "kind": "string",
        "source": "string",
        "temperature_c": "number",
        "symptoms": "list[string]",
        "area_code": "string",
        "area_risk": "string",
        "result": "string",
        "dose": "number",
    }
)

# Closed value sets; for "symptoms" the set constrains the list's elements.
FIELD_VALUES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "kind": FACT_KINDS,
        "area_risk": AREA_RISKS,
        "result": TEST_RESULTS,
        "symptoms": SYMPTOMS,
    }
)

# Which data attributes each kind carries, for callers that validate incoming records.
KIND_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "questionnaire": ("temperature_c", "symptoms"),
        "travel": ("area_code", "area_risk"),
        "confirmed_case": (),
        "close_contact": (),
        "secondary_contact": (),
        "test_result": ("result",),
        "quarantine_order": ("until",),
        "vaccination": ("dose",),
    }
)


@dataclass(frozen=True, slots=True)
class Fact:
    kind: str
    at: datetime
    source: str
    ref: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Checked here so that evaluation itself never has to: comparing naive and aware
        # datetimes raises, and a non-mapping data would break every field lookup.
        if not isinstance(self.at, datetime) or self.at.utcoffset() is None:
            raise ValueError(f"Fact.at must be a timezone-aware datetime, got {self.at!r}")
        if not isinstance(self.data, Mapping):
            raise TypeError(f"Fact.data must be a mapping, got {type(self.data).__name__}")
