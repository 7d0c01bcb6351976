"""Ruleset validation: every problem is reported, named by rule and field."""

from __future__ import annotations

import copy
import json

import pytest

from risk import (
    FACT_FIELDS,
    SYMPTOMS,
    Rule,
    RuleProblem,
    Ruleset,
    RulesetError,
    compile_ruleset,
    default_ruleset,
    parse_ruleset,
)

KIND_IS_CONTACT = {"==": [{"var": "kind"}, "close_contact"]}


def rule(**overrides: object) -> dict:
    when = copy.deepcopy(KIND_IS_CONTACT)
    base = {"id": "r1", "summary": "Something", "when": when, "color": "red", "quarantine_days": 14}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not ...}


def problems(*rules: dict, **document: object) -> list[RuleProblem]:
    data = {"version": 1, "rules": list(rules), **document}
    with pytest.raises(RulesetError) as caught:
        parse_ruleset(data)
    assert isinstance(caught.value, ValueError)
    return caught.value.problems


def only(*rules: dict) -> RuleProblem:
    found = problems(*rules)
    assert len(found) == 1, found
    return found[0]


def test_default_ruleset_is_valid_version_one_and_translated():
    rules = default_ruleset()
    assert rules.version == 1
    assert [r.id for r in rules.rules] == [
        "confirmed_case", "positive_test", "close_contact", "quarantine_order",
        "secondary_contact", "fever", "respiratory_symptoms", "travel_medium_risk",
        "travel_high_risk"]
    for r in rules.rules:
        assert r.summary and "\n" not in r.summary
        assert r.summaries.get("zh")


def test_round_trip_through_to_dict_and_json():
    original = default_ruleset()
    data = json.loads(json.dumps(original.to_dict()))
    assert parse_ruleset(data) == original
    assert parse_ruleset(data, version=7).version == 7


def test_parsing_copies_the_document():
    data = {"version": 2, "rules": [rule()]}
    parsed = parse_ruleset(data)
    data["rules"][0]["when"]["=="][1] = "confirmed_case"
    assert parsed.rules[0].when == KIND_IS_CONTACT
    exported = parsed.to_dict()
    exported["rules"][0]["when"]["=="][1] = "travel"
    assert parsed.rules[0].when == KIND_IS_CONTACT


def test_version_defaults_to_draft_and_must_be_an_integer():
    assert parse_ruleset({"rules": [rule()]}).version == 0
    for bad in (-1, "1", 1.5, True):
        (problem,) = problems(rule(), version=bad)
        assert (problem.field, problem.rule_id, problem.index) == ("version", None, None)


@pytest.mark.parametrize("data", [{}, {"rules": []}, {"rules": None}, {"rules": "r1"}])
def test_missing_or_empty_rules(data):
    with pytest.raises(RulesetError) as caught:
        parse_ruleset(data)
    assert [p.field for p in caught.value.problems] == ["rules"]


def test_not_an_object():
    with pytest.raises(RulesetError) as caught:
        parse_ruleset([rule()])  # type: ignore[arg-type]
    assert caught.value.problems[0].field == "ruleset"


def test_unknown_top_level_key():
    (problem,) = problems(rule(), extra=1)
    assert problem.field == "extra"


def test_duplicate_rule_ids():
    problem = only(rule(), rule())
    assert (problem.rule_id, problem.index, problem.field) == ("r1", 1, "id")
    assert "duplicate" in problem.message


def test_unknown_key_in_a_rule():
    problem = only(rule(colour="red"))
    assert (problem.rule_id, problem.field) == ("r1", "colour")
    assert "unknown key" in problem.message


@pytest.mark.parametrize("missing", ["id", "summary", "when", "color", "quarantine_days"])
def test_missing_required_fields(missing):
    problem = only(rule(**{missing: ...}))
    assert problem.field == missing
    assert problem.index == 0
    assert problem.rule_id == (None if missing == "id" else "r1")
    assert "required" in problem.message


@pytest.mark.parametrize(("field", "value"), [
    ("id", ""), ("id", 3), ("summary", ""), ("summary", "x" * 501), ("summary", None),
    ("color", "green"), ("color", "blue"), ("color", None),
    ("quarantine_days", 0), ("quarantine_days", 29), ("quarantine_days", True),
    ("quarantine_days", 7.0), ("quarantine_days", "7"),
    ("clears_after", "time"), ("clears_after", 1),
    ("summaries", {"zh": ""}), ("summaries", "zh"),
])
def test_bad_field_values(field, value):
    problem = only(rule(**{field: value}))
    assert problem.field == field
    assert problem.index == 0


def test_color_and_days_messages_say_what_is_allowed():
    assert "yellow, red" in only(rule(color="green")).message
    assert "1 to 28" in only(rule(quarantine_days=30)).message
    assert "clean_questionnaire, negative_test" in only(rule(clears_after="x")).message


def when_problem(when: object) -> RuleProblem:
    problem = only(rule(when=when))
    assert (problem.rule_id, problem.index, problem.field) == ("r1", 0, "when")
    return problem


def test_unknown_fact_field_lists_known_fields():
    message = when_problem({">=": [{"var": "temprature_c"}, 37.3]}).message
    assert "temprature_c" in message
    for name in FACT_FIELDS:
        assert name in message


def test_until_is_not_visible_to_conditions():
    assert "unknown fact field" in when_problem({"!!": {"var": "until"}}).message


@pytest.mark.parametrize("when", [
    {">=": [{"var": "temperature_c"}, "37.3"]},
    {"<": [{"var": "symptoms"}, 3]},
    {"==": [{"var": "dose"}, "two"]},
    {"+": [{"var": "area_code"}, 1]},
    {"in": [{"var": "temperature_c"}, "37"]},
    {"some": [{"var": "dose"}, {"==": [{"var": ""}, 1]}]},
])
def test_wrong_operand_types(when):
    message = when_problem(when).message
    assert any(word in message for word in ("number", "compare", "list", "needs"))


@pytest.mark.parametrize(("when", "bad", "allowed"), [
    ({"==": [{"var": "kind"}, "close_contcat"]}, "close_contcat", "close_contact"),
    ({"==": ["extreme", {"var": "area_risk"}]}, "extreme", "medium"),
    ({"!=": [{"var": "result"}, "pos"]}, "pos", "positive"),
    ({"in": ["feverish", {"var": "symptoms"}]}, "feverish", "fever"),
    ({"some": [{"var": "symptoms"}, {"in": [{"var": ""}, ["cough", "runny_nose"]]}]},
     "runny_nose", "sore_throat"),
    ({"some": [{"var": "symptoms"}, {"==": [{"var": ""}, "sneeze"]}]}, "sneeze", "fatigue"),
    ({"in": [{"var": "area_risk"}, ["high", "severe"]]}, "severe", "low"),
    ({"and": [{"==": [{"var": "kind"}, "questionnaire"]},
              {"==": [{"var": "symptoms"}, ["fever", "chills"]]}]}, "chills", "cough"),
])
def test_literals_outside_an_enum_list_the_allowed_values(when, bad, allowed):
    message = when_problem(when).message
    assert repr(bad) in message
    assert allowed in message


def test_every_symptom_is_accepted():
    for symptom in SYMPTOMS:
        parse_ruleset({"rules": [rule(when={"in": [symptom, {"var": "symptoms"}]})]})


@pytest.mark.parametrize(("when", "needle"), [
    ({"regex": [{"var": "source"}, "x"]}, "unknown operator 'regex'"),
    ({"==": [1, 1], "!=": [1, 2]}, "exactly one key"),
    ({"and": [{"cat": ["a", "b"]}]}, "unknown operator 'cat'"),
    ("kind == close_contact", "must be a JsonLogic operation"),
    ({"var": "kind", "x": 1}, "exactly one key"),
    ({"==": [{"var": "kind"}]}, "takes 2 arguments"),
    ({"!": [1, 2]}, "takes 1 arguments"),
    ({"var": ["kind", "x", "y"]}, "field name"),
    ({"var": 3}, "field name"),
    ({"==": [{"var": "dose"}, None]}, "null"),
    ({"var": ""}, "only meaningful inside"),
    ({"some": [{"var": "symptoms"}, {"var": "kind"}]}, "current element"),
    ({">": [{"var": "dose"}, float("inf")]}, "finite"),
    ({"==": [{"var": "source"}, {1, 2}]}, "unsupported value"),
])
def test_structural_problems(when, needle):
    assert needle in when_problem(when).message


def test_depth_and_size_are_limited():
    deep: object = True
    for _ in range(100):
        deep = {"!": deep}
    assert "too large" in when_problem(deep).message
    wide = {"or": [{"==": [{"var": "source"}, f"s{i}"]} for i in range(200)]}
    assert "too large" in when_problem(wide).message
    huge = {"in": [{"var": "area_code"}, [str(i) for i in range(20_000)]]}
    assert "too large" in when_problem(huge).message
    # a long list of literals is fine: it costs one set lookup per fact
    long_list = {"in": [{"var": "area_code"}, [str(i) for i in range(5_000)]]}
    parse_ruleset({"rules": [rule(when=long_list)]})


def test_all_problems_are_collected_across_rules():
    found = problems(
        rule(id="a", color="purple", quarantine_days=0),
        rule(id="b", when={">=": [{"var": "temperature_c"}, "hot"]}, clears_after="never"),
        rule(id="a", extra=True),
    )
    assert sorted((p.rule_id, p.field) for p in found) == [
        ("a", "color"), ("a", "extra"), ("a", "id"), ("a", "quarantine_days"),
        ("b", "clears_after"), ("b", "when")]


def test_problem_to_dict_and_error_message():
    error = RulesetError([RuleProblem("r1", 0, "color", "must be one of yellow, red")])
    assert error.problems[0].to_dict() == {
        "rule_id": "r1", "index": 0, "field": "color", "message": "must be one of yellow, red"}
    assert "r1.color" in str(error)


def test_compile_revalidates_hand_built_rulesets():
    broken = Ruleset(5, (Rule("x", "X", {"==": [{"var": "kind"}, "nope"]}, "red", 3),))
    with pytest.raises(RulesetError):
        compile_ruleset(broken)
    compiled = compile_ruleset(default_ruleset())
    assert compiled.version == 1
    assert compiled.ruleset == default_ruleset()
    with_tuples = Rule("t", "T", {"in": ({"var": "kind"}, ("travel",))}, "red", 3)
    assert compile_ruleset(Ruleset(2, (with_tuples,))).candidates("travel")[0].rule.id == "t"


def test_kind_index_only_offers_rules_that_can_match():
    compiled = compile_ruleset(default_ruleset())
    assert [r.rule.id for r in compiled.candidates("questionnaire")] == [
        "fever", "respiratory_symptoms"]
    assert [r.rule.id for r in compiled.candidates("travel")] == [
        "travel_medium_risk", "travel_high_risk"]
    assert compiled.candidates("vaccination") == ()


def test_valid_optional_fields_are_kept():
    data = rule(clears_after="negative_test", summaries={"zh": "密接"})
    parsed = parse_ruleset({"version": 4, "rules": [copy.deepcopy(data)]})
    assert parsed.rules[0].clears_after == "negative_test"
    assert parsed.rules[0].summaries == {"zh": "密接"}


def test_hostile_input_gives_short_bounded_reports():
    many = {"or": [{"==": [{"var": "area_risk"}, f"x{i}"]} for i in range(60)]}
    found = problems(rule(when=many))
    assert 1 < len(found) <= 21
    assert found[-1].message == "more problems not shown"
    (long_op,) = problems(rule(when={"x" * 100_000: 1}))
    assert len(long_op.message) < 200
