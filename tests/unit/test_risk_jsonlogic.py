"""The JsonLogic subset, operator by operator, evaluated against one fact."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from risk import Fact, check_logic, compile_logic
from risk.kind_index import split_kinds

AT = datetime(2024, 5, 1, tzinfo=UTC)


def run(expr: dict, kind: str = "questionnaire", source: str = "self_report", **data: object):
    return compile_logic(expr)(Fact(kind, AT, source, "ref-1", data))


TEMP = {"var": "temperature_c"}
DOSE = {"var": "dose"}
SYMPTOMS = {"var": "symptoms"}


@pytest.mark.parametrize(("expr", "data", "expected"), [
    # var
    ({"var": "temperature_c"}, {"temperature_c": 37.5}, 37.5),
    ({"var": ["temperature_c"]}, {}, None),
    ({"var": ["dose", 1]}, {}, 1),
    ({"var": ["dose", 1]}, {"dose": 3}, 3),
    # equality, with None never equal or unequal
    ({"==": [DOSE, 2]}, {"dose": 2}, True),
    ({"==": [DOSE, 2]}, {"dose": 2.0}, True),
    ({"!=": [DOSE, 2]}, {"dose": 3}, True),
    ({"!=": [DOSE, 2]}, {}, False),
    ({"==": [DOSE, 2]}, {}, False),
    ({"===": [DOSE, 2]}, {"dose": 2.0}, True),
    ({"===": [DOSE, 1]}, {"dose": True}, False),
    ({"!==": [DOSE, 1]}, {"dose": True}, True),
    ({"!==": [DOSE, 1]}, {}, False),
    ({"==": [DOSE, {"var": ["temperature_c"]}]}, {"dose": 1, "temperature_c": 1}, True),
    ({"==": [DOSE, {"var": ["temperature_c"]}]}, {"dose": 1}, False),
    # orderings, including the between form
    ({">=": [TEMP, 37.3]}, {"temperature_c": 37.3}, True),
    ({">": [TEMP, 37.3]}, {"temperature_c": 37.3}, False),
    ({"<": [TEMP, 37.3]}, {"temperature_c": 36.0}, True),
    ({"<=": [TEMP, 37.3]}, {"temperature_c": 37.4}, False),
    ({"<": [TEMP, 37.3]}, {}, False),
    ({"<": [TEMP, 37.3]}, {"temperature_c": "36"}, False),
    ({"<": [36, TEMP, 38]}, {"temperature_c": 37}, True),
    ({"<": [36, TEMP, 38]}, {"temperature_c": 38}, False),
    ({"<=": [36, TEMP, 38]}, {"temperature_c": 38}, True),
    ({"<=": [36, TEMP, 38]}, {}, False),
    # logic
    ({"and": [{">": [TEMP, 37]}, {"<": [TEMP, 39]}]}, {"temperature_c": 38}, True),
    ({"and": [{">": [TEMP, 37]}, {"<": [TEMP, 39]}, SYMPTOMS]},
     {"temperature_c": 38, "symptoms": []}, []),
    ({"and": [{">": [TEMP, 37]}, {"<": [TEMP, 39]}, {"!!": [SYMPTOMS]}]},
     {"temperature_c": 38, "symptoms": ["cough"]}, True),
    ({"or": [{">": [TEMP, 39]}, {"in": ["cough", SYMPTOMS]}]}, {"symptoms": ["cough"]}, True),
    ({"or": [{">": [TEMP, 39]}, {"<": [TEMP, 35]}, {"var": "dose"}]}, {"dose": 0}, 0),
    ({"and": [{"var": "dose"}]}, {"dose": 2}, 2),
    ({"!": [TEMP]}, {}, True),
    ({"!": TEMP}, {"temperature_c": 36}, False),
    ({"!!": [SYMPTOMS]}, {"symptoms": []}, False),
    ({"!!": [SYMPTOMS]}, {"symptoms": ["cough"]}, True),
    # if
    ({"if": [{">=": [TEMP, 38]}, "high", {">=": [TEMP, 37.3]}, "raised", "normal"]},
     {"temperature_c": 37.5}, "raised"),
    ({"if": [{">=": [TEMP, 38]}, "high", "normal"]}, {"temperature_c": 39}, "high"),
    ({"if": [{">=": [TEMP, 38]}, "high"]}, {"temperature_c": 36}, None),
    ({"if": ["only"]}, {}, "only"),
    # in: list membership and substring
    ({"in": ["cough", SYMPTOMS]}, {"symptoms": ["fever", "cough"]}, True),
    ({"in": ["cough", SYMPTOMS]}, {}, False),
    ({"in": [{"var": "area_code"}, ["310101", "310104"]]}, {"area_code": "310104"}, True),
    ({"in": [{"var": "area_code"}, ["310101", "310104"]]}, {}, False),
    ({"in": ["3101", {"var": "area_code"}]}, {"area_code": "310104"}, True),
    ({"in": [{"var": "area_code"}, "310104-310105"]}, {"area_code": "310105"}, True),
    ({"in": [DOSE, [1, 2]]}, {"dose": 2}, True),
    ({"in": [DOSE, [TEMP, 5]]}, {"dose": 36.5, "temperature_c": 36.5}, True),
    # some / all / none
    ({"some": [SYMPTOMS, {"in": [{"var": ""}, ["cough", "sore_throat"]]}]},
     {"symptoms": ["fatigue", "sore_throat"]}, True),
    ({"some": [SYMPTOMS, {"in": [{"var": ""}, ["cough", "sore_throat"]]}]},
     {"symptoms": ["fatigue"]}, False),
    ({"some": [SYMPTOMS, {"==": [{"var": ""}, "fatigue"]}]}, {"symptoms": ["fatigue"]}, True),
    ({"some": [SYMPTOMS, {"==": [{"var": ""}, "fatigue"]}]}, {}, False),
    ({"some": [SYMPTOMS, {"in": [{"var": ""}, ["cough"]]}]}, {"symptoms": [["cough"], "cough"]},
     True),
    ({"all": [SYMPTOMS, {"in": [{"var": ""}, ["cough", "fever"]]}]},
     {"symptoms": ["fever", "cough"]}, True),
    ({"all": [SYMPTOMS, {"in": [{"var": ""}, ["cough", "fever"]]}]},
     {"symptoms": ["fever", "fatigue"]}, False),
    ({"all": [SYMPTOMS, {"in": [{"var": ""}, ["cough"]]}]}, {"symptoms": []}, False),
    ({"none": [SYMPTOMS, {"in": [{"var": ""}, ["cough"]]}]}, {"symptoms": ["fever"]}, True),
    ({"none": [SYMPTOMS, {"in": [{"var": ""}, ["cough"]]}]}, {"symptoms": ["cough"]}, False),
    ({"none": [SYMPTOMS, {"in": [{"var": ""}, ["cough"]]}]}, {}, True),
    ({"some": [[1, 5, 9], {">": [{"var": ""}, 8]}]}, {}, True),
    # arithmetic; anything that is not a number gives None
    ({"+": [DOSE, 1, 2.5]}, {"dose": 1}, 4.5),
    ({"+": [DOSE, 1]}, {}, None),
    ({"-": [TEMP, 37]}, {"temperature_c": 39}, 2),
    ({"-": [DOSE]}, {"dose": 2}, -2),
    ({"*": [DOSE, 3]}, {"dose": 2}, 6),
    ({"/": [DOSE, 4]}, {"dose": 2}, 0.5),
    ({"/": [DOSE, 0]}, {"dose": 2}, None),
    ({"/": [DOSE, 1]}, {"dose": 10**400}, None),
    ({"min": [DOSE, 3, 1]}, {"dose": 2}, 1),
    ({"max": [DOSE, 3, 1]}, {"dose": 5}, 5),
    ({"max": [DOSE, 3]}, {"dose": "5"}, None),
    ({">": [{"-": [TEMP, 36.5]}, 1]}, {"temperature_c": 38}, True),
    ({">": [{"-": [TEMP, 36.5]}, 1]}, {}, False),
])
def test_operator(expr, data, expected):
    assert run(expr, **data) == expected


def test_kind_and_source_come_from_the_fact():
    expr = {"and": [{"==": [{"var": "kind"}, "travel"]}, {"==": [{"var": "source"}, "feed"]}]}
    assert run(expr, kind="travel", source="feed") is True
    assert run(expr, kind="travel", source="other") is False
    assert run(expr, kind="questionnaire", source="feed") is False


def test_compile_refuses_what_the_checker_refuses():
    with pytest.raises(ValueError, match="unknown operator"):
        compile_logic({"merge": [[1], [2]]})
    assert check_logic({"==": [{"var": "dose"}, 1]}) == []


@pytest.mark.parametrize(("when", "kinds", "rest"), [
    ({"==": [{"var": "kind"}, "travel"]}, {"travel"}, True),
    ({"===": ["travel", {"var": "kind"}]}, {"travel"}, True),
    ({"in": [{"var": "kind"}, ["travel", "close_contact"]]}, {"travel", "close_contact"}, True),
    ({"and": [{"==": [{"var": "kind"}, "travel"]}, {"==": [{"var": "area_risk"}, "high"]}]},
     {"travel"}, {"==": [{"var": "area_risk"}, "high"]}),
    ({"and": [{"==": [{"var": "kind"}, "travel"]}, {"==": [{"var": "kind"}, "vaccination"]}]},
     set(), True),
    ({"or": [{"==": [{"var": "kind"}, "travel"]}, {"==": [{"var": "source"}, "x"]}]}, None, ...),
    ({"!=": [{"var": "kind"}, "travel"]}, None, ...),
])
def test_rules_are_indexed_by_the_kinds_they_require(when, kinds, rest):
    found, remaining = split_kinds(when)
    assert found == (None if kinds is None else frozenset(kinds))
    assert remaining == (when if rest is ... else rest)
