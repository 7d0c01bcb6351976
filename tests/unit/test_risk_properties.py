"""Properties over generated facts and rulesets (Hypothesis)."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from risk import (
    AREA_RISKS,
    COLORS,
    FACT_FIELDS,
    FACT_KINDS,
    SYMPTOMS,
    TEST_RESULTS,
    Fact,
    RuleProblem,
    Ruleset,
    RulesetError,
    compile_logic,
    compile_ruleset,
    default_ruleset,
    evaluate,
    evaluate_many,
    parse_ruleset,
)
from risk.logic_check import OPERATORS

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
DEFAULT = compile_ruleset(default_ruleset())
SINGLE = {rule.id: compile_ruleset(Ruleset(1, (rule,))) for rule in default_ruleset().rules}
SEVERITY = {color: rank for rank, color in enumerate(COLORS)}
PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

junk = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(allow_nan=True),
    st.text(max_size=6), st.lists(st.one_of(st.text(max_size=4), st.integers()), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))])
moments = st.builds(
    lambda minutes, tz: (NOW + timedelta(minutes=minutes)).astimezone(tz),
    st.integers(-40 * 24 * 60, 3 * 24 * 60), zones)


def usual_or_junk(usual: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(usual, usual, usual, junk)


DATA = {
    "questionnaire": st.fixed_dictionaries({
        "temperature_c": usual_or_junk(st.floats(35.0, 41.0)),
        "symptoms": usual_or_junk(st.lists(st.sampled_from(SYMPTOMS), max_size=3)),
    }),
    "travel": st.fixed_dictionaries({
        "area_code": usual_or_junk(st.sampled_from(["110101", "310104"])),
        "area_risk": usual_or_junk(st.sampled_from(AREA_RISKS)),
    }),
    "test_result": st.fixed_dictionaries({"result": usual_or_junk(st.sampled_from(TEST_RESULTS))}),
    "quarantine_order": st.fixed_dictionaries({"until": usual_or_junk(moments)}),
    "vaccination": st.fixed_dictionaries({}, optional={"dose": usual_or_junk(st.integers(1, 4))}),
}


@st.composite
def facts(draw: st.DrawFn) -> Fact:
    kind = draw(st.sampled_from((*FACT_KINDS, "someday_kind")))
    data = draw(DATA.get(kind, st.just({})))
    if draw(st.booleans()):
        data = {**data, **draw(st.dictionaries(st.sampled_from(sorted(FACT_FIELDS)), junk))}
    return Fact(kind, draw(moments), draw(st.sampled_from(["cdc-feed", "self_report", "lab"])),
                draw(st.text("abc123", min_size=1, max_size=4)), data)


fact_lists = st.lists(facts(), max_size=8)


@PROPERTY
@given(fact_lists)
def test_decision_is_the_combination_of_individually_fired_rules(person):
    decision = evaluate(person, DEFAULT, NOW)
    alone = {rule_id: evaluate(person, rules, NOW) for rule_id, rules in SINGLE.items()}
    fired = {rule_id: d.reasons[0] for rule_id, d in alone.items() if d.reasons}
    assert {r.rule_id: r for r in decision.reasons} == fired
    expected = max((r.color for r in fired.values()), key=SEVERITY.__getitem__, default="green")
    assert decision.color == expected


@PROPERTY
@given(fact_lists)
def test_decision_is_consistent(person):
    decision = evaluate(person, DEFAULT, NOW)
    assert decision.color in COLORS
    assert (decision.color == "green") == (decision.reasons == ())
    severities = [-SEVERITY[r.color] for r in decision.reasons]
    assert severities == sorted(severities)
    for reason in decision.reasons:
        assert reason.facts and all(ref.at <= NOW for ref in reason.facts)
        assert reason.until > NOW or reason.pending
    if decision.turns_green_at is not None:
        assert decision.turns_green_at > NOW
        assert decision.turns_green_at == max(r.until for r in decision.reasons)
        known = [fact for fact in person if fact.at <= NOW]  # "if nothing new happens"
        assert evaluate(known, DEFAULT, decision.turns_green_at).color == "green"
    elif decision.reasons:
        assert any(r.pending for r in decision.reasons)
    assert decision.to_dict()["color"] == decision.color


@PROPERTY
@given(fact_lists, st.randoms(use_true_random=False))
def test_fact_order_and_evaluated_at_do_not_change_the_fingerprint(person, rnd: random.Random):
    decision = evaluate(person, DEFAULT, NOW)
    shuffled = list(person)
    rnd.shuffle(shuffled)
    assert evaluate(shuffled, DEFAULT, NOW).fingerprint() == decision.fingerprint()
    later = dataclasses.replace(decision, evaluated_at=NOW + timedelta(hours=1))
    assert later.fingerprint() == decision.fingerprint()


@settings(max_examples=50, deadline=None)
@given(st.lists(fact_lists, max_size=5))
def test_evaluate_many_agrees_with_evaluate(people):
    many = list(evaluate_many(enumerate(people), DEFAULT, NOW))
    assert many == [(i, evaluate(p, DEFAULT, NOW)) for i, p in enumerate(people)]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20,
)
logic_leaves = st.one_of(
    st.sampled_from([{"var": name} for name in FACT_FIELDS] + [{"var": ""}, {"var": "nope"},
                                                               {"var": ["dose", 1]}]),
    st.none(), st.booleans(), st.integers(-3, 45), st.floats(30.0, 45.0),
    st.sampled_from([*SYMPTOMS, *AREA_RISKS, *FACT_KINDS, "positive", "negative", "x", ""]),
)
logic_trees = st.recursive(
    logic_leaves,
    lambda inner: st.one_of(
        st.builds(lambda op, args: {op: args},
                  st.sampled_from(sorted(OPERATORS - {"var"}) + ["merge"]),
                  st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda op, arg: {op: arg}, st.sampled_from(["!", "!!", "and", "or"]), inner),
        st.lists(inner, max_size=3),
    ),
    max_leaves=12,
)
rule_like = st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b", ""]), "summary": st.just("S"), "when": logic_trees},
    optional={
        "color": st.sampled_from(["red", "yellow", "green"]),
        "quarantine_days": st.sampled_from([7, 14, 0, True]),
        "clears_after": st.sampled_from([None, "clean_questionnaire", "negative_test", "x"]),
        "summaries": json_values,
        "extra": json_values,
    },
)


def parse_or_problems(document: object) -> Ruleset | None:
    try:
        return parse_ruleset(document)  # type: ignore[arg-type]
    except RulesetError as error:
        assert error.problems
        assert all(isinstance(p, RuleProblem) and p.field and p.message for p in error.problems)
        return None


@PROPERTY
@given(json_values)
def test_random_json_only_ever_raises_ruleset_error(document):
    parse_or_problems(document)
    parse_or_problems({"version": 1, "rules": document})
    parse_or_problems({"version": 1, "rules": [document]})


@PROPERTY
@given(st.lists(rule_like, min_size=1, max_size=3), fact_lists)
def test_random_rules_parse_or_fail_cleanly_and_never_break_evaluation(rules, person):
    parsed = parse_or_problems({"version": 1, "rules": rules})
    if parsed is None:
        return
    compiled = compile_ruleset(parsed)
    evaluate(person, compiled, NOW)
    for rule in parsed.rules:
        test = compile_logic(rule.when)
        for fact in person:
            test(fact)  # the closures themselves must not raise either


@PROPERTY
@given(person=fact_lists, later=st.integers(1, 60 * 24 * 60))
def test_the_decision_holds_until_changes_at(person, later):
    """With no fact starting to count in between, evaluating later than ``now`` but before
    ``changes_at`` gives the same outcome; green (``changes_at`` None) never changes."""
    decision = evaluate(person, DEFAULT, NOW)
    then = NOW + timedelta(minutes=later)
    if decision.changes_at is not None and then >= decision.changes_at:
        then = decision.changes_at - timedelta(microseconds=1)
    if any(NOW < fact.at <= then for fact in person):
        return  # a fact starting later is the caller's to watch (backend load_facts)
    if then <= NOW:
        return
    assert decision.changes_at is None or decision.changes_at > NOW
    assert evaluate(person, DEFAULT, then).fingerprint() == decision.fingerprint()
