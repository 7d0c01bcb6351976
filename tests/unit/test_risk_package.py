"""The package boundary: what it exports and what it must not import."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import risk

PUBLIC = {
    "Fact", "FACT_KINDS", "SYMPTOMS", "FACT_FIELDS", "Rule", "Ruleset", "parse_ruleset",
    "RulesetError", "RuleProblem", "default_ruleset", "compile_ruleset", "CompiledRuleset",
    "evaluate", "evaluate_many", "FactRef", "Reason", "Decision", "AREA_RISKS", "TEST_RESULTS",
}


def test_public_names_are_exported():
    assert PUBLIC.issubset(risk.__all__)
    for name in risk.__all__:
        assert hasattr(risk, name)


def test_standard_library_only():
    code = (
        "import sys, risk\n"
        "risk.evaluate([], risk.compile_ruleset(risk.default_ruleset()),"
        " __import__('datetime').datetime.now(__import__('datetime').UTC))\n"
        "bad = sorted(m for m in sys.modules"
        " if m.split('.')[0] in {'flask', 'sqlalchemy', 'redis', 'backend'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == ""


def test_facts_may_be_any_iterable():
    rules = risk.compile_ruleset(risk.default_ruleset())
    now = datetime(2024, 5, 2, tzinfo=UTC)
    sick = risk.Fact("questionnaire", datetime(2024, 5, 1, tzinfo=UTC), "self_report", "q1",
                     {"temperature_c": 38.0, "symptoms": []})
    healthy = risk.Fact("questionnaire", datetime(2024, 5, 1, 12, tzinfo=UTC), "self_report",
                        "q2", {"temperature_c": 36.5, "symptoms": []})
    from_list = risk.evaluate([sick, healthy], rules, now)
    from_generator = risk.evaluate((f for f in (sick, healthy)), rules, now)
    assert from_generator == from_list
    assert from_list.reasons[0].pending == ()
