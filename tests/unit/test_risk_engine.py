"""Behaviour of the engine with the default ruleset, as a person would notice it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from risk import (
    Decision,
    Fact,
    FactRef,
    Rule,
    Ruleset,
    compile_ruleset,
    default_ruleset,
    evaluate,
    evaluate_many,
)

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
RULES = compile_ruleset(default_ruleset())


def fact(kind: str, at: datetime = T0, ref: str | None = None, source: str = "cdc-feed",
         **data: object) -> Fact:
    return Fact(kind, at, source, ref or f"{kind}-1", data)


def clean(at: datetime, ref: str = "q-clean") -> Fact:
    return fact("questionnaire", at, ref, "self_report", temperature_c=36.6, symptoms=[])


def decide(facts: list[Fact], now: datetime) -> Decision:
    return evaluate(facts, RULES, now)


# (rule that should fire, the fact, its color, its quarantine days, facts that clear it)
CASES = [
    ("confirmed_case", fact("confirmed_case", ref="case-7"), "red", 14, []),
    ("positive_test", fact("test_result", source="lab", result="positive"), "red", 14, []),
    ("close_contact", fact("close_contact"), "red", 14, []),
    ("quarantine_order", fact("quarantine_order", source="health-office"), "red", 14, []),
    ("secondary_contact", fact("secondary_contact"), "yellow", 7, []),
    ("fever", fact("questionnaire", source="self_report", temperature_c=37.3, symptoms=[]),
     "yellow", 7, [clean(T0 + DAY)]),
    ("fever", fact("questionnaire", source="self_report", temperature_c=36.5,
                   symptoms=["fever"]), "yellow", 7, [clean(T0 + DAY)]),
    ("respiratory_symptoms", fact("questionnaire", source="self_report", temperature_c=36.5,
                                  symptoms=["loss_of_smell"]), "yellow", 7, [clean(T0 + DAY)]),
    ("travel_medium_risk", fact("travel", source="carrier", area_code="310101",
                                area_risk="medium"), "yellow", 7, []),
    ("travel_high_risk", fact("travel", source="carrier", area_code="420106",
                              area_risk="high"), "red", 14, []),
]


@pytest.mark.parametrize(("rule_id", "trigger", "color", "days", "clearing"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_default_rule_fires_and_expires(rule_id, trigger, color, days, clearing):
    facts = [trigger, *clearing]
    end = T0 + timedelta(days=days)

    inside = decide(facts, end - SECOND)
    assert inside.color == color
    assert [r.rule_id for r in inside.reasons] == [rule_id]
    reason = inside.reasons[0]
    assert reason.color == color
    assert reason.quarantine_days == days
    assert reason.facts == (FactRef(trigger.kind, trigger.source, trigger.ref, T0),)
    assert reason.until == end
    assert reason.pending == ()
    assert inside.turns_green_at == end

    after = decide(facts, end)
    assert after.color == "green"
    assert after.reasons == ()
    assert after.turns_green_at is None


@pytest.mark.parametrize("harmless", [
    fact("questionnaire", temperature_c=37.2, symptoms=[]),
    fact("questionnaire", temperature_c=36.8, symptoms=["fatigue"]),
    fact("questionnaire"),
    fact("travel", area_code="110101", area_risk="low"),
    fact("test_result", result="negative"),
    fact("vaccination", dose=3),
])
def test_harmless_facts_stay_green(harmless):
    decision = decide([harmless], T0 + DAY)
    assert decision.color == "green"
    assert decision.reasons == ()
    assert decision.ruleset_version == 1


def test_close_contact_turns_green_fourteen_days_after_it_occurred():
    occurred = T0 - 3 * DAY
    decision = decide([fact("close_contact", occurred)], T0)
    assert decision.color == "red"
    assert decision.turns_green_at == occurred + 14 * DAY


def test_red_beats_yellow_and_every_fired_rule_is_listed():
    facts = [
        fact("secondary_contact", T0 - 2 * DAY),
        fact("travel", T0 - DAY, area_code="310101", area_risk="medium"),
        fact("close_contact", T0 - 5 * DAY),
    ]
    decision = decide(facts, T0)
    assert decision.color == "red"
    # red first, then by until, latest first
    assert [r.rule_id for r in decision.reasons] == [
        "close_contact", "travel_medium_risk", "secondary_contact"]
    assert decision.turns_green_at == T0 + 9 * DAY


def test_two_red_rules_are_ordered_by_until():
    facts = [fact("confirmed_case", T0 - 10 * DAY), fact("close_contact", T0 - DAY)]
    assert [r.rule_id for r in decide(facts, T0).reasons] == ["close_contact", "confirmed_case"]


def test_repeated_matches_are_listed_in_time_order_and_extend_until():
    later = fact("close_contact", T0 - DAY, ref="cc-2")
    earlier = fact("close_contact", T0 - 4 * DAY, ref="cc-1")
    (reason,) = decide([later, earlier], T0).reasons
    assert [f.ref for f in reason.facts] == ["cc-1", "cc-2"]
    assert reason.until == T0 + 13 * DAY


def test_expired_matches_are_not_listed():
    old = fact("close_contact", T0 - 20 * DAY, ref="old")
    recent = fact("close_contact", T0 - DAY, ref="recent")
    (reason,) = decide([old, recent], T0).reasons
    assert [f.ref for f in reason.facts] == ["recent"]


def test_quarantine_order_until_longer_than_fourteen_days():
    order = fact("quarantine_order", T0, until=T0 + 21 * DAY)
    assert decide([order], T0 + 20 * DAY).color == "red"
    assert decide([order], T0 + 21 * DAY - SECOND).reasons[0].until == T0 + 21 * DAY
    assert decide([order], T0 + 21 * DAY).color == "green"
    assert decide([order], T0 + DAY).turns_green_at == T0 + 21 * DAY


def test_quarantine_order_until_shorter_than_fourteen_days_keeps_fourteen():
    order = fact("quarantine_order", T0, until=T0 + 3 * DAY)
    assert decide([order], T0 + 10 * DAY).turns_green_at == T0 + 14 * DAY


def test_quarantine_order_until_may_be_an_iso_string_and_junk_is_ignored():
    as_text = fact("quarantine_order", T0, until=(T0 + 20 * DAY).isoformat())
    assert decide([as_text], T0).turns_green_at == T0 + 20 * DAY
    for junk in ("not a date", "2024-06-01T00:00:00", 12, None):
        assert decide([fact("quarantine_order", T0, until=junk)], T0).turns_green_at == (
            T0 + 14 * DAY)


def test_symptoms_stay_pending_without_a_later_clean_questionnaire():
    sick = fact("questionnaire", T0, "q1", "self_report", temperature_c=38.2, symptoms=["cough"])
    decision = decide([sick], T0 + 30 * DAY)
    assert decision.color == "yellow"
    assert {r.rule_id for r in decision.reasons} == {"fever", "respiratory_symptoms"}
    assert all(r.pending == ("clean_questionnaire",) for r in decision.reasons)
    assert all(r.until == T0 + 7 * DAY for r in decision.reasons)
    assert decision.turns_green_at is None
    # still pending inside the seven days
    assert decide([sick], T0 + DAY).turns_green_at is None


def test_clean_questionnaire_after_the_quarantine_turns_green():
    sick = fact("questionnaire", T0, "q1", "self_report", temperature_c=38.2, symptoms=[])
    decision = decide([sick, clean(T0 + 9 * DAY)], T0 + 10 * DAY)
    assert decision.color == "green"


def test_clean_questionnaire_inside_the_seven_days_turns_green_at_the_end():
    sick = fact("questionnaire", T0, "q1", "self_report", temperature_c=38.2, symptoms=[])
    facts = [sick, clean(T0 + 2 * DAY)]
    decision = decide(facts, T0 + 3 * DAY)
    assert decision.color == "yellow"
    assert decision.reasons[0].pending == ()
    assert decision.turns_green_at == T0 + 7 * DAY
    assert decide(facts, T0 + 7 * DAY).color == "green"


def test_a_questionnaire_that_still_matches_does_not_clear():
    sick = fact("questionnaire", T0, "q1", "self_report", temperature_c=38.2, symptoms=[])
    still = fact("questionnaire", T0 + DAY, "q2", "self_report", temperature_c=37.9, symptoms=[])
    (reason,) = decide([sick, still], T0 + 10 * DAY).reasons
    assert reason.pending == ("clean_questionnaire",)
    assert [f.ref for f in reason.facts] == ["q1", "q2"]


def test_clean_means_clean_for_that_rule():
    # No fever any more clears "fever", but the new cough starts "respiratory_symptoms".
    sick = fact("questionnaire", T0, "q1", "self_report", temperature_c=38.2, symptoms=[])
    cough = fact("questionnaire", T0 + 8 * DAY, "q2", "self_report", temperature_c=36.6,
                 symptoms=["cough"])
    decision = decide([sick, cough], T0 + 9 * DAY)
    assert [r.rule_id for r in decision.reasons] == ["respiratory_symptoms"]


def test_a_clean_questionnaire_in_the_future_does_not_clear():
    sick = fact("questionnaire", T0, "q1", "self_report", temperature_c=38.2, symptoms=[])
    decision = decide([sick, clean(T0 + 12 * DAY)], T0 + 10 * DAY)
    assert decision.reasons[0].pending == ("clean_questionnaire",)


def test_facts_in_the_future_are_ignored_and_a_fact_at_now_counts():
    assert decide([fact("close_contact", T0 + SECOND)], T0).color == "green"
    assert decide([fact("close_contact", T0)], T0).color == "red"


def test_negative_test_clears_a_rule_that_asks_for_it():
    rule = Rule("contact", "Contact", {"==": [{"var": "kind"}, "secondary_contact"]}, "yellow", 7,
                clears_after="negative_test")
    rules = compile_ruleset(Ruleset(3, (rule,)))
    contact = fact("secondary_contact", T0)
    pending = evaluate([contact], rules, T0 + 10 * DAY)
    assert pending.reasons[0].pending == ("negative_test",)
    assert pending.turns_green_at is None
    for not_clearing in (fact("test_result", T0 - DAY, result="negative"),
                         fact("test_result", T0 + DAY, result="positive"),
                         fact("test_result", T0 + 11 * DAY, result="negative")):
        assert evaluate([contact, not_clearing], rules, T0 + 10 * DAY).color == "yellow"
    negative = fact("test_result", T0 + DAY, result="negative")
    assert evaluate([contact, negative], rules, T0 + 2 * DAY).turns_green_at == T0 + 7 * DAY
    assert evaluate([contact, negative], rules, T0 + 7 * DAY).color == "green"


def test_a_rule_without_a_kind_test_sees_every_fact():
    rule = Rule("bad_feed", "Bad feed", {"==": [{"var": "source"}, "bad-feed"]}, "red", 3)
    rules = compile_ruleset(Ruleset(2, (rule,)))
    for kind in ("vaccination", "travel", "unheard-of-kind"):
        decision = evaluate([fact(kind, source="bad-feed")], rules, T0)
        assert decision.color == "red"
        assert decision.ruleset_version == 2


def test_fingerprint_ignores_evaluated_at_but_not_new_facts():
    facts = [fact("secondary_contact", T0)]
    first = decide(facts, T0 + DAY)
    assert decide(facts, T0 + 2 * DAY).fingerprint() == first.fingerprint()
    assert dataclasses.replace(first, evaluated_at=T0).fingerprint() == first.fingerprint()
    more = decide([*facts, fact("close_contact", T0 + DAY)], T0 + 2 * DAY)
    assert more.fingerprint() != first.fingerprint()
    assert decide(facts, T0 + 7 * DAY).fingerprint() != first.fingerprint()  # expired


def test_fingerprint_compares_instants_not_offsets():
    shanghai = timezone(timedelta(hours=8))
    in_utc = decide([fact("close_contact", T0)], T0 + DAY)
    local = decide([fact("close_contact", T0.astimezone(shanghai))], T0 + DAY)
    assert local.reasons[0].until.utcoffset() == timedelta(hours=8)
    assert local.fingerprint() == in_utc.fingerprint()


def test_green_decisions_share_one_fingerprint():
    assert decide([], T0).fingerprint() == decide([clean(T0)], T0 + DAY).fingerprint()


def test_to_dict_uses_iso_strings_and_translations():
    decision = decide([fact("close_contact", T0, ref="cc-9")], T0 + DAY)
    data = decision.to_dict()
    assert data["color"] == "red"
    assert data["evaluated_at"] == "2024-05-02T08:00:00+00:00"
    assert data["turns_green_at"] == "2024-05-15T08:00:00+00:00"
    assert data["ruleset_version"] == 1
    (reason,) = data["reasons"]
    assert reason["summary"] == "Close contact of a confirmed case"
    assert reason["facts"] == [{"kind": "close_contact", "source": "cdc-feed", "ref": "cc-9",
                                "at": "2024-05-01T08:00:00+00:00"}]
    assert reason["pending"] == []
    assert decision.to_dict("zh")["reasons"][0]["summary"] == "确诊病例的密切接触者"
    assert decision.to_dict("fr")["reasons"][0]["summary"] == reason["summary"]
    assert decide([], T0).to_dict()["turns_green_at"] is None


def test_evaluate_many_keeps_keys_and_matches_evaluate():
    people = [("a", [fact("close_contact", T0)]), ("b", []), ("c", [clean(T0)]),
              ("d", [fact("secondary_contact", T0)])]
    results = list(evaluate_many(iter(people), RULES, T0 + DAY))
    assert [key for key, _ in results] == ["a", "b", "c", "d"]
    assert [d.color for _, d in results] == ["red", "green", "green", "yellow"]
    for (_, facts), (_, decision) in zip(people, results, strict=True):
        assert decision == evaluate(facts, RULES, T0 + DAY)


def test_bad_arguments_fail_loudly_before_evaluating():
    with pytest.raises(ValueError, match="timezone-aware"):
        decide([], datetime(2024, 5, 1))
    with pytest.raises(TypeError, match="compile_ruleset"):
        evaluate([], default_ruleset(), T0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        Fact("close_contact", datetime(2024, 5, 1), "cdc-feed", "x")
    with pytest.raises(TypeError, match="mapping"):
        Fact("close_contact", T0, "cdc-feed", "x", ["not", "a", "mapping"])  # type: ignore


def test_odd_data_never_raises():
    weird = [
        fact("questionnaire", temperature_c="38.5", symptoms="cough"),
        fact("questionnaire", temperature_c=[1], symptoms=[["cough"], {"a": 1}]),
        fact("questionnaire", temperature_c=float("nan"), symptoms=None),
        fact("travel", area_risk=["high"]),
        fact("test_result", result=None),
    ]
    assert decide(weird, T0 + DAY).color == "green"
