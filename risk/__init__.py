"""Pure risk engine: facts + compiled ruleset + now -> Decision. Standard library only."""

from .decision import Decision, FactRef, Reason
from .engine import CompiledRuleset, compile_ruleset, evaluate, evaluate_many, restore
from .facts import (
    AREA_RISKS,
    CLEARING_CONDITIONS,
    COLORS,
    FACT_FIELDS,
    FACT_KINDS,
    FIELD_VALUES,
    KIND_FIELDS,
    RULE_COLORS,
    SYMPTOMS,
    TEST_RESULTS,
    Fact,
)
from .logic import compile_logic
from .logic_check import check_logic
from .rules import (
    MAX_QUARANTINE_DAYS,
    MIN_QUARANTINE_DAYS,
    Rule,
    RuleProblem,
    Ruleset,
    RulesetError,
    default_ruleset,
    parse_ruleset,
)

__all__ = [
    "AREA_RISKS",
    "CLEARING_CONDITIONS",
    "COLORS",
    "FACT_FIELDS",
    "FACT_KINDS",
    "FIELD_VALUES",
    "KIND_FIELDS",
    "MAX_QUARANTINE_DAYS",
    "MIN_QUARANTINE_DAYS",
    "RULE_COLORS",
    "SYMPTOMS",
    "TEST_RESULTS",
    "CompiledRuleset",
    "Decision",
    "Fact",
    "FactRef",
    "Reason",
    "Rule",
    "RuleProblem",
    "Ruleset",
    "RulesetError",
    "check_logic",
    "compile_logic",
    "compile_ruleset",
    "default_ruleset",
    "evaluate",
    "evaluate_many",
    "restore",
    "parse_ruleset",
]
