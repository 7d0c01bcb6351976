"""Bad input on registration, questionnaires, tokens and the government feeds.

A rejected request gets a 400/422 JSON error naming the offending field (nested
fields nested: ``fields["travel"]["0"]["to"]``) and stores nothing. Government
record rows are the exception: an invalid row is listed in ``rejected`` of a 200.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, timedelta, timezone

import pytest
from conftest import now, table_count, unique_id_number
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from backend.identity import with_check_digit
from backend.models import Role

TABLES = ("citizens", "enrolments", "questionnaires", "questionnaire_travel", "gov_records",
          "area_risk_levels")
MISSING = object()  # a change that removes the key
WRONG = {"string": "x", "number": 7, "bool": True, "null": None, "list": ["x"], "object": {"x": 1}}
_refs = iter(range(1, 10**9))


def at(naive: bool = False, **delta) -> str:
    """ISO time ``delta`` from now (negative values: in the past)."""
    moment = now() + timedelta(**delta)
    return (moment.replace(tzinfo=None) if naive else moment).isoformat()


def counts(app) -> dict[str, int]:
    return {table: table_count(app, table) for table in TABLES}


def patched(body, changes: dict):
    """A copy of ``body`` with dotted paths (``travel.0.to``) set, or removed by MISSING."""
    body = copy.deepcopy(body)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = body
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        key = int(last) if isinstance(node, list) else last
        if value is MISSING:
            del node[key]
        else:
            node[key] = value() if callable(value) else value
    return body


def named(fields: dict, path: str) -> None:
    """The error ``fields`` hold a non-empty entry at the dotted ``path`` ("" = any)."""
    node = fields
    for key in path.split(".") if path else ():
        assert isinstance(node, dict) and key in node, f"{path!r} not named in {fields}"
        node = node[key]
    assert node, f"{path!r} has no message in {fields}"


def assert_rejected(response, path: str, before: dict, app, statuses=(400, 422)) -> None:
    assert response.status_code in statuses, (response.status_code, response.get_data(True))
    error = response.json["error"]
    assert error["code"] and error["message"]
    named(error["fields"], path)
    assert counts(app) == before, "something was stored"


def case(ident: str, changes: dict, err: str | None = None):
    return pytest.param(changes, next(iter(changes), "") if err is None else err, id=ident)


def missing(*paths: str) -> list:
    return [case(f"{path}-missing", {path: MISSING}) for path in paths]


def bad_types(path: str, ok: tuple = (), **also) -> list:
    """One case per JSON type that ``path`` must refuse (``ok``: types it accepts)."""
    return [case(f"{path}-{kind}", {**also, path: value}, path)
            for kind, value in WRONG.items() if kind not in ok]


# ------------------------------------------------------------------ ID numbers

VALID_ID = with_check_digit("11010119900307123")
BAD_CHECK = VALID_ID[:17] + next(c for c in "0123456789X" if c != VALID_ID[17])
X_ID = next(i for n in range(100) if (i := with_check_digit(f"110101199003071{n:02d}"))[-1] == "X")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
BAD_ID_NUMBERS = [case(f"id_number-{ident}", {"id_number": value}) for ident, value in {
    "empty": "", "17-chars": VALID_ID[:17], "19-chars": VALID_ID + "1",
    "letters": "11010119900307ABCD", "x-inside": "1101011990X307123" + VALID_ID[-1],
    "space-inside": "110101 19900307123", "bad-check-digit": BAD_CHECK,
    "month-13": with_check_digit("11010119901301123"),
    "month-00": with_check_digit("11010119900007123"),
    "feb-30": with_check_digit("11010119900230123"),
    "full-width-digits": VALID_ID.translate(FULL_WIDTH),
    "full-width-digits-x-check": X_ID.translate(FULL_WIDTH),
}.items()]

# ------------------------------------------------------------------ routes and valid bodies


def registration() -> dict:
    return {"name": "李四", "id_number": unique_id_number(), "phone": "13800138000",
            "region": "r1"}


def questionnaire() -> dict:
    return {"temperature_c": 36.6, "symptoms": ["cough"], "reported_at": at(minutes=-5),
            "travel": [{"area_code": "a1", "from": at(days=-3), "to": at(days=-2)}]}


def record(**fields) -> dict:
    return {"kind": "confirmed_case", "id_number": unique_id_number(),
            "occurred_at": at(days=-1), "source": "cdc", "ref": f"R-{next(_refs)}", **fields}


def area() -> dict:
    return {"risk_level": "high", "since": at(hours=-1), "region": "r1"}


# name: (method, url, role, valid body, status when accepted, table that grows)
ROUTES = {
    "register": ("post", "/api/v1/citizens", None, registration, 201, "enrolments"),
    "questionnaire": ("post", "/api/v1/me/questionnaires", Role.CITIZEN, questionnaire, 201,
                      "questionnaires"),
    "token": ("post", "/api/v1/me/tokens", Role.CITIZEN, lambda: {"scope": "air"}, 201, None),
    "records": ("post", "/api/v1/gov/records", Role.DATA_PROVIDER,
                lambda: {"records": [record()]}, 200, "gov_records"),
    "area": ("put", "/api/v1/gov/areas/a1", Role.DATA_PROVIDER, area, 200, "area_risk_levels"),
}


@pytest.fixture
def as_role(citizen, operator):
    def headers(role):
        return {} if role is None else citizen()[0] if role is Role.CITIZEN else operator(role)

    return headers


def send(client, route, headers, **kwargs):
    method, url, *_ = ROUTES[route]
    return getattr(client, method)(url, headers=headers, **kwargs)


def per_route(tables: dict[str, list]) -> list:
    return [pytest.param(route, *p.values, id=f"{route}-{p.id}")
            for route, cases in tables.items() for p in cases]


# ------------------------------------------------------------------ bad fields: 400/422

STAMP = at(days=-2)
REJECTED = {
    "register": [
        *missing("name", "id_number", "phone", "region"),
        *bad_types("name", ok=("string",)), *bad_types("id_number"), *bad_types("phone"),
        *bad_types("region", ok=("string",)), *BAD_ID_NUMBERS,
        case("name-blank", {"name": "   "}), case("name-control-char", {"name": "李\x00四"}),
        case("name-61-chars", {"name": "x" * 61}), case("phone-too-short", {"phone": "12345"}),
        case("phone-dashes", {"phone": "138-0013-8000"}),
        case("phone-trailing-newline", {"phone": "13800138000\n"}),
        case("region-empty", {"region": ""}), case("region-space", {"region": "r 1"}),
        case("region-33-chars", {"region": "r" * 33}),
        case("region-trailing-newline", {"region": "r1\n"}),
        case("unknown-field", {"nickname": "小李"}),
    ],
    "questionnaire": [
        *missing("temperature_c", "symptoms", "travel.0.area_code", "travel.0.from",
                 "travel.0.to"),
        *bad_types("temperature_c"), *bad_types("symptoms"), *bad_types("travel"),
        *bad_types("travel.0"), *bad_types("travel.0.area_code", ok=("string",)),
        *bad_types("travel.0.from"), *bad_types("travel.0.to"),
        *bad_types("reported_at", ok=("null",)),
        case("temperature-29.9", {"temperature_c": 29.9}),
        case("temperature-45.1", {"temperature_c": 45.1}),
        case("temperature-string-number", {"temperature_c": "37"}),
        case("temperature-nan", {"temperature_c": float("nan")}),
        case("temperature-infinity", {"temperature_c": float("inf")}),
        case("temperature-huge-int", {"temperature_c": 10**400}),
        case("symptom-unknown", {"symptoms": ["fever", "headache"]}, "symptoms.1"),
        case("symptom-none-word", {"symptoms": ["none"]}, "symptoms.0"),
        case("symptom-null", {"symptoms": [None]}, "symptoms.0"),
        case("symptom-repeated", {"symptoms": ["cough", "cough"]}, "symptoms"),
        case("symptom-repeated-and-unknown", {"symptoms": ["cough", "cough", "x"]}, "symptoms"),
        case("travel-21-stays", {"travel": lambda: questionnaire()["travel"] * 21}),
        case("travel-21-stays-one-bad", {"travel": lambda: [{}] + questionnaire()["travel"] * 20},
             "travel"),
        case("travel-area-invalid", {"travel.0.area_code": "a 1!"}),
        case("travel-from-naive", {"travel.0.from": lambda: at(naive=True, days=-3)}),
        case("travel-to-naive", {"travel.0.to": lambda: at(naive=True, days=-2)}),
        case("travel-from-after-to", {"travel.0.from": lambda: at(days=-1)}, "travel.0.to"),
        case("travel-to-in-future", {"travel.0.to": lambda: at(hours=1)}, "travel.0.to"),
        case("travel-unknown-field", {"travel.0.note": "x"}),
        case("reported_at-10min-ahead", {"reported_at": lambda: at(minutes=10)}),
        case("reported_at-naive", {"reported_at": lambda: at(naive=True, minutes=-5)}),
        case("reported_at-15-days-old", {"reported_at": lambda: at(days=-15)}),
        case("unknown-field", {"mood": "fine"}),
    ],
    "token": [*bad_types("scope", ok=("null",)), case("scope-unknown", {"scope": "train"}),
              case("unknown-field", {"ttl": 3600})],
    "records": [  # the batch itself of the wrong shape: 422
        *missing("records"), *bad_types("records", ok=("list",)),
        case("records-empty", {"records": []}), case("records-5001", {"records": [{}] * 5001}),
        case("unknown-field", {"batch": "b1"}),
    ],
    "area": [
        *missing("risk_level", "since", "region"),
        *bad_types("risk_level"), *bad_types("since"), *bad_types("region", ok=("string",)),
        case("risk_level-unknown", {"risk_level": "extreme"}),
        case("risk_level-upper", {"risk_level": "HIGH"}),
        case("since-naive", {"since": lambda: at(naive=True, hours=-1)}),
        case("region-empty", {"region": ""}), case("region-space", {"region": "r 1"}),
        case("region-trailing-newline", {"region": "r1\n"}),
        case("unknown-field", {"note": "x"}),
    ],
}
ACCEPTED = {
    "register": [case("valid", {}), case("id-with-lowercase-x", {"id_number": X_ID.lower()}),
                 case("id-fixed", {"id_number": VALID_ID})],
    "questionnaire": [
        case("valid", {}), case("temperature-30", {"temperature_c": 30}),
        case("temperature-45", {"temperature_c": 45}),
        case("temperature-int", {"temperature_c": 37}),
        case("reported_at-1min-ahead", {"reported_at": lambda: at(minutes=1)}),
        case("reported_at-absent", {"reported_at": MISSING}),
        case("reported_at-null", {"reported_at": None}),
        case("travel-absent", {"travel": MISSING}), case("symptoms-empty", {"symptoms": []}),
        case("travel-from-equals-to", {"travel.0.from": STAMP, "travel.0.to": STAMP}),
    ],
    "token": [case("valid", {}), case("no-scope", {"scope": MISSING}),
              case("scope-null", {"scope": None})],
    "records": [case("valid", {})],
    "area": [case("valid", {})],
}


@pytest.mark.parametrize(("route", "changes", "err"), per_route(REJECTED))
def test_bad_field_is_rejected_and_nothing_stored(client, app, as_role, route, changes, err):
    headers = as_role(ROUTES[route][2])
    before = counts(app)
    response = send(client, route, headers, json=patched(ROUTES[route][3](), changes))
    assert_rejected(response, err, before, app)
    if route == "records":
        assert response.status_code == 422


@pytest.mark.parametrize(("route", "changes", "_"), per_route(ACCEPTED))
def test_good_variant_is_accepted(client, app, as_role, route, changes, _):
    _, _, role, body, status, table = ROUTES[route]
    headers = as_role(role)
    before = counts(app)
    response = send(client, route, headers, json=patched(body(), changes))
    assert response.status_code == status, response.json
    if table:
        assert counts(app)[table] == before[table] + 1


@pytest.mark.parametrize("code", ["a%201", "a!", "x" * 33, "a1%0A"], ids=str)
def test_malformed_area_code_in_the_path_is_rejected(client, app, provider, code):
    before = counts(app)
    response = client.put(f"/api/v1/gov/areas/{code}", headers=provider, json=area())
    assert_rejected(response, "area_code", before, app)


# ------------------------------------------------------------------ government record rows

ROW_CASES = [
    *missing("kind", "id_number", "occurred_at", "source", "ref"),
    *bad_types("kind"), *bad_types("id_number"), *bad_types("occurred_at"), *BAD_ID_NUMBERS,
    *bad_types("source", ok=("string",)), *bad_types("ref", ok=("string",)),
    *bad_types("detail", kind="test_result"),
    case("kind-unknown", {"kind": "outbreak"}),
    case("occurred_at-naive", {"occurred_at": lambda: at(naive=True, days=-1)}),
    case("occurred_at-10min-ahead", {"occurred_at": lambda: at(minutes=10)}),
    case("source-empty", {"source": ""}), case("source-space", {"source": "c dc"}),
    case("source-65-chars", {"source": "s" * 65}),
    case("source-trailing-newline", {"source": "cdc\n"}),
    case("ref-empty", {"ref": ""}), case("ref-space", {"ref": "R 1"}),
    case("ref-129-chars", {"ref": "r" * 129}), case("ref-trailing-newline", {"ref": "R-1\n"}),
    case("test_result-no-detail", {"kind": "test_result"}, "detail.result"),
    case("test_result-maybe", {"kind": "test_result", "detail": {"result": "maybe"}},
         "detail.result"),
    case("test_result-extra", {"kind": "test_result", "detail": {"result": "negative", "x": 1}},
         "detail.x"),
    case("quarantine-no-detail", {"kind": "quarantine_order"}, "detail.until"),
    case("quarantine-until-before", {"kind": "quarantine_order",
                                     "detail": lambda: {"until": at(days=-2)}}, "detail.until"),
    case("quarantine-until-naive", {"kind": "quarantine_order",
                                    "detail": lambda: {"until": at(naive=True, days=9)}},
         "detail.until"),
    case("close_contact-detail", {"kind": "close_contact", "detail": {"result": "positive"}},
         "detail"),
    case("confirmed_case-detail", {"detail": {"note": "x"}}, "detail"),
    case("vaccination-dose-string", {"kind": "vaccination", "detail": {"dose": "1"}},
         "detail.dose"),
    case("vaccination-dose-0", {"kind": "vaccination", "detail": {"dose": 0}}, "detail.dose"),
    case("unknown-field", {"note": "x"}),
]


def post_rows(client, provider, *rows):
    response = client.post("/api/v1/gov/records", headers=provider, json={"records": list(rows)})
    assert response.status_code == 200, response.json
    return response.json


@pytest.mark.parametrize(("changes", "err"), ROW_CASES)
def test_bad_record_row_is_listed_and_not_stored(client, app, provider, changes, err):
    before = counts(app)
    answer = post_rows(client, provider, patched(record(), changes))
    assert [r["index"] for r in answer["rejected"]] == [0], answer
    assert answer["rejected"][0]["error"]
    named(answer["rejected"][0]["fields"], err)
    assert answer["accepted"] == 0
    assert counts(app) == before


def test_record_batch_stores_exactly_its_valid_rows(client, app, provider):
    answer = post_rows(
        client, provider,
        record(),
        record(kind="outbreak"),
        record(kind="test_result", detail={"result": "negative"}),
        record(id_number=BAD_CHECK),
        record(occurred_at=at(minutes=10)),
        record(kind="quarantine_order", detail={"until": at(days=10)}),
        record(kind="close_contact", detail={"result": "positive"}),
        record(kind="vaccination", detail={"dose": 2}, occurred_at=at(minutes=1)),
        "not a row",
        record(kind="close_contact", detail=None),
    )
    rejected = {r["index"]: r["fields"] for r in answer["rejected"]}
    assert sorted(rejected) == [1, 3, 4, 6, 8]
    for index, field in [(1, "kind"), (3, "id_number"), (4, "occurred_at"), (6, "detail")]:
        named(rejected[index], field)
    assert rejected[8]
    assert answer["accepted"] == 5
    assert table_count(app, "gov_records") == 5


# ------------------------------------------------------------------ every route

NOT_JSON = {
    "text-plain": ("text/plain", "temperature_c=37"),
    "form": ("application/x-www-form-urlencoded", "scope=air&name=x"),
    "broken-json": ("application/json", "{not json"),
    "empty-json": ("application/json", ""),
    "json-array": ("application/json", "[]"),
    "json-string": ("application/json", '"text"'),
    "json-null": ("application/json", "null"),
    "5000-digit-number": ("application/json", '{"x": 1' + "0" * 5000 + "}"),
}


@pytest.mark.parametrize(("route", "content_type", "data"), [
    pytest.param(route, *value, id=f"{route}-{ident}")
    for route in ROUTES for ident, value in NOT_JSON.items()
    if (route, ident) != ("token", "empty-json")  # no body at all: {scope?} is optional
])
def test_body_that_is_not_a_json_object_is_rejected(client, app, as_role, route, content_type,
                                                    data):
    headers = as_role(ROUTES[route][2])
    before = counts(app)
    response = send(client, route, headers, data=data, content_type=content_type)
    # A body that is not JSON at all is refused as an unsupported media type.
    statuses = (415,) if content_type != "application/json" else (400, 422)
    assert_rejected(response, "", before, app, statuses)


YEAR_1 = "0001-01-01T00:00:00+08:00"  # its UTC time is before datetime.min
YEAR_9999 = "9999-12-31T23:00:00-08:00"  # its UTC time is after datetime.max


@pytest.mark.parametrize(("route", "path", "value"), [
    pytest.param("questionnaire", "travel.0.from", YEAR_1, id="travel-from-year-1"),
    pytest.param("records", "records.0.occurred_at", YEAR_1, id="occurred_at-year-1"),
    pytest.param("area", "since", YEAR_1, id="since-year-1"),
    pytest.param("area", "since", YEAR_9999, id="since-year-9999"),
])
def test_times_at_the_edge_of_the_calendar_get_no_5xx(client, app, as_role, route, path, value):
    headers = as_role(ROUTES[route][2])
    before = counts(app)
    response = send(client, route, headers, json=patched(ROUTES[route][3](), {path: value}))
    assert response.status_code < 500, response.get_data(True)
    if response.status_code >= 400:
        assert_rejected(response, path, before, app)


AUTH_ROUTES = [route for route, spec in ROUTES.items() if spec[2]]
WRONG_ROLES = {Role.CITIZEN: (Role.DATA_PROVIDER, Role.OFFICIAL, Role.ADMIN),
               Role.DATA_PROVIDER: (Role.CITIZEN, Role.OFFICIAL, Role.CREDIT_AUTHORITY)}
NOT_SIGNED_IN = {"no-header": {}, "unknown-secret": {"Authorization": "Bearer hc_unknown"},
                 "basic-auth": {"Authorization": "Basic dXNlcjpwdw=="}}
DENIED = [
    *[pytest.param(route, who, 401, id=f"{route}-{label}")
      for route in AUTH_ROUTES for label, who in NOT_SIGNED_IN.items()],
    *[pytest.param(route, role, 403, id=f"{route}-as-{role.value}")
      for route in AUTH_ROUTES for role in WRONG_ROLES[ROUTES[route][2]]],
]


@pytest.mark.parametrize(("route", "who", "status"), DENIED)
def test_anonymous_is_401_and_wrong_role_is_403(client, app, as_role, route, who, status):
    headers = as_role(who) if isinstance(who, Role) else who
    before = counts(app)
    response = send(client, route, headers, json=ROUTES[route][3]())
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == {401: "unauthorized", 403: "forbidden"}[status]
    assert counts(app) == before


# ------------------------------------------------------------------ arbitrary JSON

OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-14))])
TIMES = st.datetimes(timezones=st.none() | OFFSETS).map(lambda moment: moment.isoformat())
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
           | st.sampled_from(["fever", "cough", "a1", "from", "to"]) | TIMES)
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=9), inner, max_size=4), max_leaves=12)
STAY = st.fixed_dictionaries({}, optional={
    "area_code": JSON_VALUES, "from": TIMES | JSON_VALUES, "to": TIMES | JSON_VALUES})
BODIES = JSON_VALUES | st.fixed_dictionaries({}, optional={
    "temperature_c": st.floats(25, 50) | JSON_VALUES,
    "symptoms": st.lists(st.sampled_from(["fever", "cough", "none"]), max_size=3) | JSON_VALUES,
    "travel": st.lists(STAY, max_size=3) | JSON_VALUES,
    "reported_at": TIMES | JSON_VALUES,
})


@pytest.fixture
def me(citizen):
    return citizen()[0]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES)
@example(body={"temperature_c": 37, "symptoms": ["fever", "fever", "none"]})
def test_questionnaire_never_fails_with_a_5xx(client, app, me, body):
    before = table_count(app, "questionnaires")
    response = client.post("/api/v1/me/questionnaires", headers=me,
                           data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201 or 400 <= response.status_code < 500, response.status_code
    if response.status_code != 201:
        assert response.json["error"]["code"]
        assert table_count(app, "questionnaires") == before
