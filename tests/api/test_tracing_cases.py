"""Tracing imports need a founded case and a real reason; answers reveal no registration.

Finding 11 of issue 15: a tracing import accepted a case with no records and a reason
of three zero-width spaces, turning another region's resident yellow. Finding 1 (its
no-enumeration part): the import answer said whether the person was registered
(``recomputed`` 0/1), and tracing answered 404 for an ID number nobody registered.
"""

from datetime import UTC, datetime, timedelta

import pytest
from conftest import settle_scans, unique_id_number
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.models import Role


@pytest.fixture
def official(operator):
    return operator(Role.OFFICIAL, region="r1", name="Tracer Wu")


@pytest.fixture
def venue(client, official):
    created = client.post("/api/v1/checkpoints", headers=official, json={
        "name": "Tea house", "category": "venue", "region": "r1", "admits": ["green"]})
    device = client.post(f"/api/v1/checkpoints/{created.json['checkpoint_id']}/devices",
                         headers=official, json={})
    return {"Authorization": f"Bearer {device.json['token']}"}


def _visit(client, venue, holder):
    token = client.post("/api/v1/me/tokens", headers=holder, json={}).json["token"]
    assert client.post("/api/v1/scans", headers=venue, json={"token": token}
                       ).json["decision"] == "admit"


def _record(client, provider, id_number, kind, ref, **detail):
    response = client.post("/api/v1/gov/records", headers=provider, json={"records": [{
        "kind": kind, "id_number": id_number, "source": "cdc", "ref": ref,
        "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        **({"detail": detail} if detail else {})}]})
    assert response.json["accepted"] == 1, response.json
    return response.json


def _color(client, holder):
    return client.get("/api/v1/me/code", headers=holder).json["color"]


@pytest.fixture
def case_and_visitor(app, client, citizen, venue):
    """A case of region r1 and a resident of r2, checked in together at an r1 venue."""
    case, case_id, case_body = citizen()
    visitor, _, _ = citizen(region="r2")
    _visit(client, venue, case)
    _visit(client, venue, visitor)
    settle_scans(app)
    return case_id, {**case_body, "headers": case}, visitor


def _import(client, official, case, reason="case 12 contact tracing"):
    return client.post("/api/v1/tracing/import", headers=official,
                       json={"case": case, "reason": reason})


def test_an_unfounded_case_turns_no_one_yellow(client, official, provider, case_and_visitor):
    case_id, case_body, visitor = case_and_visitor
    _record(client, provider, case_id, "test_result", "NEG-1", result="negative")
    for case in ({"subject": case_body["subject"]}, {"id_number": case_id}):
        refused = _import(client, official, case)
        assert refused.status_code == 422, refused.json
        assert "case" in refused.json["error"]["fields"]
    assert _color(client, visitor) == "green"
    log = client.get("/api/v1/audit?action=tracing.import", headers=official).json
    assert log["total"] == 0


@pytest.mark.parametrize(("kind", "detail"), [
    ("test_result", {"result": "positive"}),
    ("confirmed_case", {}),
    ("quarantine_order", {"until": "2099-01-01T00:00:00+00:00"}),
])
def test_a_founded_case_imports_its_contacts(client, official, provider, case_and_visitor,
                                            kind, detail):
    case_id, _, visitor = case_and_visitor
    _record(client, provider, case_id, kind, "FOUND-1", **detail)
    imported = _import(client, official, {"id_number": case_id})
    assert imported.status_code == 200, imported.json
    assert imported.json["accepted"] == 1
    assert _color(client, visitor) == "yellow"


def test_a_withdrawn_positive_record_founds_nothing(client, official, provider,
                                                    case_and_visitor):
    case_id, case_body, visitor = case_and_visitor
    _record(client, provider, case_id, "test_result", "POS-9", result="positive")
    filed = client.post("/api/v1/me/appeals", headers=case_body["headers"], json={
        "target": "code", "target_id": "cdc/POS-9", "reason": "that sample was not mine"}).json
    corrected = client.post(f"/api/v1/appeals/{filed['id']}/decision", headers=official,
                            json={"outcome": "corrected", "note": "lab mixed up samples"})
    assert corrected.status_code == 200
    refused = _import(client, official, {"id_number": case_id})
    assert refused.status_code == 422 and "case" in refused.json["error"]["fields"]
    assert _color(client, visitor) == "green"


INVISIBLE = st.characters(categories=["Cf", "Zs", "Zl", "Zp", "Cc", "Mn", "Me"]) | \
    st.sampled_from(["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u3164", "\u2800",
                     "\u115f", "\u00a0", "\u3000", "\u202e"])


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reason=st.text(alphabet=INVISIBLE, min_size=3, max_size=30)
       | st.builds(lambda a, b, c: a + b + c, st.text(INVISIBLE, max_size=5),
                   st.sampled_from(["a", "流", "x1"]), st.text(INVISIBLE, min_size=3,
                                                               max_size=5)))
def test_a_reason_needs_visible_text(client, official, provider, case_and_visitor, reason):
    case_id, _, visitor = case_and_visitor
    for route in ("leads", "import"):
        refused = client.post(f"/api/v1/tracing/{route}", headers=official, json={
            "case": {"id_number": case_id}, "reason": reason})
        assert refused.status_code == 422, (route, refused.json)
        assert "reason" in refused.json["error"]["fields"]
    for action in ("checkins.read", "tracing.import"):
        assert client.get(f"/api/v1/audit?action={action}", headers=official
                          ).json["total"] == 0
    assert _color(client, visitor) == "green"


def test_a_reason_with_invisible_padding_but_visible_words_is_accepted(
        client, official, provider, case_and_visitor):
    case_id, _, visitor = case_and_visitor
    _record(client, provider, case_id, "confirmed_case", "C-12")
    imported = _import(client, official, {"id_number": case_id},
                       reason="\u200b\u200b密接排查 case 12\u200b")
    assert imported.status_code == 200, imported.json
    assert _color(client, visitor) == "yellow"


def test_an_unknown_id_number_answers_as_a_registered_person_without_visits(
        client, citizen, official, provider):
    _, registered, _ = citizen()
    unknown = unique_id_number()
    answers = {}
    for who, id_number in (("registered", registered), ("unknown", unknown)):
        leads = client.post("/api/v1/tracing/leads", headers=official, json={
            "case": {"id_number": id_number}, "reason": "exposure check"})
        unfounded = _import(client, official, {"id_number": id_number})
        answers[who] = (leads.status_code, leads.json, unfounded.status_code,
                        unfounded.json)
    assert answers["registered"] == answers["unknown"]
    assert answers["unknown"][:2] == (200, {"case_visits": 0, "leads": []})
    assert answers["unknown"][2] == 422

    # With a positive test on record (records may come before registration), the same.
    for id_number, ref in ((registered, "P-1"), (unknown, "P-2")):
        _record(client, provider, id_number, "test_result", ref, result="positive")
    founded = [_import(client, official, {"id_number": n}) for n in (registered, unknown)]
    assert [(f.status_code, f.json) for f in founded] == [
        (200, {"leads": [], "accepted": 0, "duplicates": 0, "recomputed": 0})] * 2

    # The audit log names both alike: an opaque reference of the same form.
    log = client.get("/api/v1/audit?action=checkins.read", headers=official).json["entries"]
    assert {len(e["target"]) for e in log} == {len("person:") + 20}
    assert {tuple(sorted(e["detail"].items())) for e in log} == {
        (("days", 14), ("leads", 0), ("visits", 0), ("window_minutes", 60.0))}


def test_the_import_answer_does_not_say_who_is_registered(client, citizen, provider):
    _, registered, _ = citizen()
    unknown = unique_id_number()
    answers = [_record(client, provider, id_number, "close_contact", f"CC-{n}")
               for n, id_number in enumerate((registered, unknown))]
    assert answers[0] == answers[1] == {"accepted": 1, "duplicates": 0, "rejected": []}
