"""The example rules in risk/README.md are valid and fire on the kind they document."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from risk import Fact, compile_ruleset, evaluate, parse_ruleset

README = Path(__file__).resolve().parents[2] / "risk" / "README.md"


def _examples() -> list[dict]:
    block = README.read_text().split("One example rule for each kind of fact:")[1]
    block = block.split("```json")[1].split("```")[0].strip()
    decoder, i, rules = json.JSONDecoder(), 0, []
    while i < len(block):
        obj, i = decoder.raw_decode(block, i)
        rules.append(obj)
        while i < len(block) and block[i].isspace():
            i += 1
    return rules


def test_every_documented_example_is_a_valid_rule():
    rules = _examples()
    assert len(rules) >= 8
    parse_ruleset({"rules": rules})


def test_examples_cover_every_kind_of_fact():
    text = json.dumps(_examples())
    for kind in ("questionnaire", "travel", "confirmed_case", "close_contact",
                 "secondary_contact", "test_result", "quarantine_order", "vaccination"):
        assert f'"{kind}"' in text, kind


def test_harbour_example_fires_on_a_stay_there():
    now = datetime(2026, 11, 27, tzinfo=UTC)
    ruleset = compile_ruleset(parse_ruleset({"rules": _examples()}, version=1))
    stay = Fact("travel", now - timedelta(days=1), "self_report", "q1/t1",
                {"area_code": "pier-3", "area_risk": "low"})
    decision = evaluate([stay], ruleset, now)
    assert [r.rule_id for r in decision.reasons] == ["harbour_district"]
