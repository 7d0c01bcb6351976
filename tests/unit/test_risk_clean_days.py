"""Rules that ask for several days of clean daily reports before a code turns green."""

from datetime import UTC, datetime, timedelta

import pytest

from risk import Fact, RulesetError, compile_ruleset, evaluate, parse_ruleset

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
FEVER = {"id": "fever", "summary": "Fever", "color": "yellow", "quarantine_days": 3,
         "clears_after": "clean_questionnaire", "clean_days": 3,
         "when": {"and": [{"==": [{"var": "kind"}, "questionnaire"]},
                          {">=": [{"var": "temperature_c"}, 37.3]}]}}
RULES = compile_ruleset(parse_ruleset({"rules": [FEVER]}, version=1))


def report(at, temperature=36.5):
    return Fact("questionnaire", at, "self_report", f"q{at:%d%H}",
                {"temperature_c": temperature, "symptoms": []})


def test_each_clean_day_counts_down_until_green():
    facts = [report(T0, 38.0)]
    now = T0 + timedelta(days=4)
    [reason] = evaluate(facts, RULES, now).reasons
    assert reason.clean_days_left == 3 and reason.pending == ("clean_questionnaire",)
    for day, left in ((1, 2), (2, 1)):
        facts.append(report(T0 + timedelta(days=day)))
        [reason] = evaluate(facts, RULES, now).reasons
        assert reason.clean_days_left == left
    facts.append(report(T0 + timedelta(days=3)))
    assert evaluate(facts, RULES, now).color == "green"


def test_two_reports_on_one_day_count_once():
    facts = [report(T0, 38.0), report(T0 + timedelta(days=1)),
             report(T0 + timedelta(days=1, hours=3))]
    [reason] = evaluate(facts, RULES, T0 + timedelta(days=5)).reasons
    assert reason.clean_days_left == 2
    assert reason.to_dict()["clean_days_left"] == 2


@pytest.mark.parametrize("value", [0, 15, "3", True])
def test_clean_days_out_of_range_is_a_problem(value):
    with pytest.raises(RulesetError) as err:
        parse_ruleset({"rules": [{**FEVER, "clean_days": value}]})
    assert [p.field for p in err.value.problems] == ["clean_days"]


def test_clean_days_needs_the_clean_questionnaire_condition():
    rule = {**FEVER, "clears_after": "negative_test"}
    with pytest.raises(RulesetError) as err:
        parse_ruleset({"rules": [rule]})
    assert err.value.problems[0].field == "clean_days"
