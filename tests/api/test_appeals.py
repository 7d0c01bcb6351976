"""Citizens see why, correct what is wrong, and see what is kept and who read it."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from conftest import settle_scans
from sqlalchemy import text

from backend.extensions import db
from backend.models import Role


@pytest.fixture
def official(operator):
    return operator(Role.OFFICIAL, region="r1", name="Officer Chen")


def _record(provider, client, id_number, ref="CC-1", kind="close_contact"):
    response = client.post("/api/v1/gov/records", headers=provider, json={"records": [{
        "kind": kind, "id_number": id_number, "source": "cdc", "ref": ref,
        "occurred_at": (datetime.now(UTC) - timedelta(days=1)).isoformat()}]})
    assert response.json["accepted"] == 1


def _code(client, holder, **headers):
    return client.get("/api/v1/me/code", headers={**holder, **headers}).json


def _device(client, official, admits):
    created = client.post("/api/v1/checkpoints", headers=official, json={
        "name": "Clinic", "category": "venue", "region": "r1", "admits": admits})
    device = client.post(f"/api/v1/checkpoints/{created.json['checkpoint_id']}/devices",
                         headers=official, json={})
    return {"Authorization": f"Bearer {device.json['token']}"}


def test_wrong_record_is_appealed_corrected_and_the_code_turns_green(client, citizen, provider,
                                                                     official):
    holder, id_number, _ = citizen()
    _record(provider, client, id_number)
    red = _code(client, holder)
    assert red["color"] == "red"
    appeal_action = next(a for a in red["reasons"][0]["actions"] if a["kind"] == "appeal")
    assert appeal_action["target_id"] == "cdc/CC-1"
    token_while_red = client.post("/api/v1/me/tokens", headers=holder, json={}).json["token"]

    filed = client.post("/api/v1/me/appeals", headers=holder, json={
        "target": "code", "target_id": "cdc/CC-1", "reason": "I was abroad that week.",
        "evidence": "passport stamps"})
    assert filed.status_code == 201, filed.json
    assert filed.json["state"] == "open" and filed.json["overdue"] is False

    queue = client.get("/api/v1/appeals", headers=official).json["appeals"]
    assert [a["id"] for a in queue] == [filed.json["id"]]
    decided = client.post(f"/api/v1/appeals/{filed.json['id']}/decision", headers=official,
                          json={"outcome": "corrected", "note": "contact list mixed up IDs"})
    assert decided.status_code == 200, decided.json
    assert decided.json["state"] == "corrected"
    assert decided.json["decided_by"] == "Officer Chen"

    assert _code(client, holder)["color"] == "green"
    mine = client.get("/api/v1/me/appeals", headers=holder).json["appeals"]
    assert mine[0]["decision_note"] == "contact list mixed up IDs"
    record = client.get("/api/v1/me/data", headers=holder).json["records"][0]
    assert record["withdrawn_at"] and record["withdrawn_reason"] == "contact list mixed up IDs"

    gate = _device(client, official, ["green", "yellow", "red"])
    answer = client.post("/api/v1/scans", headers=gate, json={"token": token_while_red}).json
    assert answer["reason"] == "code_changed"
    log = client.get("/api/v1/audit?action=appeal.decide", headers=official).json["entries"]
    assert log[0]["reason"] == "contact list mixed up IDs"
    assert log[0]["detail"]["outcome"] == "corrected"


def test_upheld_appeal_changes_nothing(client, citizen, provider, official):
    holder, id_number, _ = citizen()
    _record(provider, client, id_number)
    filed = client.post("/api/v1/me/appeals", headers=holder, json={
        "target": "code", "target_id": "cdc/CC-1", "reason": "It cannot be me."}).json
    client.post(f"/api/v1/appeals/{filed['id']}/decision", headers=official,
                json={"outcome": "upheld", "note": "confirmed by the venue's records"})
    assert _code(client, holder)["color"] == "red"
    again = client.post(f"/api/v1/appeals/{filed['id']}/decision", headers=official,
                        json={"outcome": "corrected", "note": "second thoughts"})
    assert again.status_code == 422


def test_appeal_past_its_deadline_is_listed_first_as_overdue(app, client, citizen, provider,
                                                             official):
    late, late_id, _ = citizen()
    fresh, fresh_id, _ = citizen()
    _record(provider, client, late_id, ref="L")
    _record(provider, client, fresh_id, ref="F")
    app.config["APPEAL_DEADLINE_DAYS"] = 0
    client.post("/api/v1/me/appeals", headers=late, json={
        "target": "code", "target_id": "cdc/L", "reason": "wrong person"})
    app.config["APPEAL_DEADLINE_DAYS"] = 3
    client.post("/api/v1/me/appeals", headers=fresh, json={
        "target": "code", "target_id": "cdc/F", "reason": "wrong person"})
    queue = client.get("/api/v1/appeals", headers=official).json["appeals"]
    assert [(a["target_id"], a["overdue"]) for a in queue] == [("cdc/L", True), ("cdc/F", False)]


def test_appeal_must_name_the_holders_own_record(client, citizen, provider):
    holder, _, _ = citizen()
    _, other_id, _ = citizen()
    _record(provider, client, other_id, ref="OTHER")
    response = client.post("/api/v1/me/appeals", headers=holder, json={
        "target": "code", "target_id": "cdc/OTHER", "reason": "not mine"})
    assert response.status_code == 422 and "target_id" in response.json["error"]["fields"]


def test_restriction_appeal_is_for_credit_authorities_only(client, citizen, official, operator):
    authority = operator(Role.CREDIT_AUTHORITY, region="r1", name="Court")
    holder, id_number, _ = citizen()
    now = datetime.now(UTC)
    placed = client.post("/api/v1/credit/restrictions", headers=authority, json={
        "id_number": id_number, "categories": ["air"],
        "legal_basis": {"kind": "court_judgment", "ref": "J-1", "authority": "City court",
                        "authority_level": "city"},
        "notified_at": (now - timedelta(days=3)).isoformat(),
        "effective_from": (now - timedelta(days=1)).isoformat(),
        "remedy": "settle the judgment"}).json
    filed = client.post("/api/v1/me/appeals", headers=holder, json={
        "target": "restriction", "target_id": str(placed["restriction_id"]),
        "reason": "the debt was settled last month"}).json
    path = f"/api/v1/appeals/{filed['id']}/decision"
    refused = client.post(path, headers=official,
                          json={"outcome": "corrected", "note": "looks fine"})
    assert refused.status_code == 403
    assert client.get("/api/v1/appeals", headers=official).json["appeals"] == []
    done = client.post(path, headers=authority, json={"outcome": "corrected",
                                                      "note": "payment receipt verified"})
    assert done.status_code == 200
    assert client.post("/api/v1/me/tokens", headers=holder, json={"scope": "air"}
                       ).status_code == 201


def test_daily_reports_count_down_the_clean_days(client, citizen):
    holder, _, _ = citizen()
    assert client.post("/api/v1/me/daily-reports", headers=holder, json={
        "temperature_c": 36.5, "symptoms": []}).status_code == 409  # green: not needed
    client.post("/api/v1/me/questionnaires", headers=holder,
                json={"temperature_c": 38.1, "symptoms": []})
    [reason] = _code(client, holder)["reasons"]
    assert reason["clean_days_left"] == 1
    assert reason["actions"][0]["kind"] == "daily_report"
    report = client.post("/api/v1/me/daily-reports", headers=holder,
                         json={"temperature_c": 36.6, "symptoms": []})
    assert report.status_code == 201
    code = report.json["code"]
    assert code["color"] == "yellow"  # the 7 days still run
    assert code["reasons"][0]["clean_days_left"] == 0 and code["reasons"][0]["pending"] == []
    assert code["turns_green_at"] is not None


def test_explanations_never_show_another_person(client, citizen, official, provider, app):
    case, case_id, case_body = citizen(name="Case Person")
    contact, contact_id, contact_body = citizen(name="Contact Person")
    gate = _device(client, official, ["green"])
    for holder in (case, contact):
        token = client.post("/api/v1/me/tokens", headers=holder, json={}).json["token"]
        assert client.post("/api/v1/scans", headers=gate, json={"token": token}
                           ).json["decision"] == "admit"
    settle_scans(app)
    _record(provider, client, case_id, ref="CASE-7", kind="confirmed_case")
    imported = client.post("/api/v1/tracing/import", headers=official, json={
        "case": {"subject": case_body["subject"]}, "reason": "case 7 tracing"}).json
    assert imported["accepted"] == 1
    answers = [_code(client, contact), _code(client, contact, **{"Accept-Language": "zh"}),
               client.get("/api/v1/me/data", headers=contact).json,
               client.get("/api/v1/me/appeals", headers=contact).json,
               client.get("/api/v1/me/access-log", headers=contact).json]
    assert answers[0]["color"] == "yellow"
    text_ = json.dumps(answers, ensure_ascii=False)
    for secret in (case_id, case_id[-6:], "Case Person", case_body["subject"]):
        assert secret not in text_
    assert contact_body["subject"] in text_  # their own pseudonym is theirs to see


def test_my_data_holds_every_row_about_me_and_nothing_else(app, client, citizen, provider,
                                                           official):
    me, my_id, my_body = citizen(name="Me Myself")
    other, other_id, other_body = citizen(name="Someone Else")
    for holder in (me, other):
        client.post("/api/v1/me/questionnaires", headers=holder, json={
            "temperature_c": 36.7, "symptoms": [], "travel": [{
                "area_code": "east", "from": (datetime.now(UTC) - timedelta(days=2)).isoformat(),
                "to": (datetime.now(UTC) - timedelta(days=1)).isoformat()}]})
    _record(provider, client, my_id, ref="MINE")
    _record(provider, client, other_id, ref="THEIRS")
    gate = _device(client, official, ["green", "yellow", "red"])
    for holder in (me, other, me):
        token = client.post("/api/v1/me/tokens", headers=holder, json={}).json["token"]
        client.post("/api/v1/scans", headers=gate, json={"token": token})
    settle_scans(app)
    client.post("/api/v1/tracing/leads", headers=official, json={
        "case": {"subject": my_body["subject"]}, "reason": "exposure check"})
    data = client.get("/api/v1/me/data", headers=me).json
    with app.app_context():
        cid = my_body["citizen_id"]
        direct = {
            "questionnaires": db.session.execute(text(
                "SELECT count(*) FROM questionnaires WHERE citizen_id = :c"), {"c": cid}).scalar(),
            "code_history": db.session.execute(text(
                "SELECT count(*) FROM code_history WHERE citizen_id = :c"), {"c": cid}).scalar(),
            "check_ins": db.session.execute(text(
                "SELECT count(*) FROM check_ins WHERE subject = :s"),
                {"s": my_body["subject"]}).scalar(),
        }
    assert {k: len(data[k]) for k in direct} == direct
    assert direct["check_ins"] == 2
    assert [r["ref"] for r in data["records"]] == ["MINE"]
    assert data["profile"]["name"] == "Me Myself"
    assert my_id not in json.dumps(data) and data["profile"]["id_number"].endswith(my_id[-4:])
    assert data["retention_days"] == {"questionnaires": 28, "check_ins": 28, "code_history": 28}
    blob = json.dumps(data, ensure_ascii=False)
    for secret in ("Someone Else", other_body["subject"], "THEIRS", other_id):
        assert secret not in blob
    log = client.get("/api/v1/me/access-log", headers=me).json["entries"]
    assert [(e["who"], e["what"], e["why"]) for e in log] == [
        ("Officer Chen", "check_ins", "exposure check")]
    assert client.get("/api/v1/me/access-log", headers=other).json["entries"] == [
        {"at": log[0]["at"], "who": "Officer Chen", "role": "official",
         "action": "checkins.read", "what": "check_ins", "why": "exposure check"}]


def test_purge_removes_old_code_history(app, client, citizen, provider, runner):
    holder, id_number, _ = citizen()
    _record(provider, client, id_number)
    with app.app_context():
        db.session.execute(text("UPDATE code_history SET changed_at = :old"),
                           {"old": datetime.now(UTC) - timedelta(days=40)})
        db.session.commit()
    result = runner.invoke(args=["purge-expired"])
    assert "code_history=2" in result.output
    assert _code(client, holder)["color"] == "red"  # the current code stays


# --- limits on open appeals, and the queue a page at a time (issue 15, finding 12) -------


def _records(provider, client, id_number, refs):
    occurred = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    response = client.post("/api/v1/gov/records", headers=provider, json={"records": [{
        "kind": "close_contact", "id_number": id_number, "source": "cdc", "ref": ref,
        "occurred_at": occurred} for ref in refs]})
    assert response.json["accepted"] == len(refs), response.json


def _file(client, holder, ref, reason="That was not me."):
    return client.post("/api/v1/me/appeals", headers=holder, json={
        "target": "code", "target_id": f"cdc/{ref}", "reason": reason})


def test_a_holder_has_at_most_appeal_max_open_open_appeals(app, client, citizen, provider,
                                                            official):
    holder, id_number, _ = citizen()  # APPEAL_MAX_OPEN is 3 unless set
    _records(provider, client, id_number, ["A", "B", "C", "D"])
    filed = [_file(client, holder, ref) for ref in "ABC"]
    assert [f.status_code for f in filed] == [201, 201, 201]
    fourth = _file(client, holder, "D")
    assert fourth.status_code == 409
    assert fourth.json["error"]["code"] == "too_many_open_appeals"
    assert fourth.json["error"]["limit"] == 3 and "3" in fourth.json["error"]["message"]
    assert len(client.get("/api/v1/me/appeals", headers=holder).json["appeals"]) == 3

    client.post(f"/api/v1/appeals/{filed[0].json['id']}/decision", headers=official,
                json={"outcome": "upheld", "note": "the record stands"})
    assert _file(client, holder, "D").status_code == 201  # a decision frees a place
    app.config["APPEAL_MAX_OPEN"] = 1
    other, other_id, _ = citizen()
    _records(provider, client, other_id, ["E", "F"])
    assert _file(client, other, "E").status_code == 201
    assert _file(client, other, "F").json["error"]["limit"] == 1


def test_a_record_has_one_open_appeal_at_a_time(client, citizen, provider, official):
    holder, id_number, _ = citizen()
    _records(provider, client, id_number, ["A"])
    first = _file(client, holder, "A")
    again = _file(client, holder, "A", reason="Still not me, and here is why.")
    assert again.status_code == 409
    assert again.json["error"]["code"] == "appeal_already_open"
    assert again.json["error"]["appeal_id"] == first.json["id"]
    assert "target_id" in again.json["error"]["fields"]
    general = {"target": "code", "reason": "My code is wrong."}
    assert client.post("/api/v1/me/appeals", headers=holder, json=general).status_code == 201
    assert client.post("/api/v1/me/appeals", headers=holder, json=general).status_code == 409

    client.post(f"/api/v1/appeals/{first.json['id']}/decision", headers=official,
                json={"outcome": "upheld", "note": "the record stands"})
    assert _file(client, holder, "A", reason="New evidence: a ticket.").status_code == 201


@pytest.mark.parametrize("same_record", [False, True], ids=["many records", "one record"])
def test_appeals_filed_at_the_same_moment_keep_the_limits(app, citizen, provider, same_record):
    client = app.test_client()
    holder, id_number, _ = citizen()
    refs = [f"R{n}" for n in range(8)]
    _records(provider, client, id_number, refs)
    start = threading.Barrier(len(refs))

    def file(ref):
        start.wait()
        return _file(app.test_client(), holder, "R0" if same_record else ref).status_code

    with ThreadPoolExecutor(len(refs)) as pool:
        statuses = sorted(pool.map(file, refs))
    allowed = 1 if same_record else 3  # APPEAL_MAX_OPEN's default
    assert statuses == [201] * allowed + [409] * (len(refs) - allowed)
    assert len(client.get("/api/v1/me/appeals", headers=holder).json["appeals"]) == allowed


def _queue_pages(client, official, limit):
    pages, cursor = [], None
    while True:
        query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        answer = client.get("/api/v1/appeals", headers=official, query_string=query)
        assert answer.status_code == 200, answer.json
        pages.append(answer.json["appeals"])
        cursor = answer.json["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20


def test_the_queue_comes_a_page_at_a_time_overdue_first(app, client, citizen, provider,
                                                        official):
    people = [citizen() for _ in range(3)]
    for n, (_, id_number, _) in enumerate(people):
        _records(provider, client, id_number, [f"P{n}-{k}" for k in range(3)])
    for days, k in ((3, 0), (0, 1), (5, 2)):  # deadline 0 days: overdue at once
        app.config["APPEAL_DEADLINE_DAYS"] = days
        for n, (holder, _, _) in enumerate(people):
            assert _file(client, holder, f"P{n}-{k}").status_code == 201
    decided = client.get("/api/v1/appeals", headers=official).json["appeals"][-1]
    client.post(f"/api/v1/appeals/{decided['id']}/decision", headers=official,
                json={"outcome": "upheld", "note": "the record stands"})

    everything = client.get("/api/v1/appeals", headers=official,
                            query_string={"limit": 200}).json
    assert everything["next_cursor"] is None
    listed = everything["appeals"]
    assert len(listed) == 9
    assert [a["overdue"] for a in listed[:3]] == [True] * 3
    assert [a["state"] for a in listed] == ["open"] * 8 + ["upheld"]
    for limit in (1, 2, 4, 8, 9):
        pages = _queue_pages(client, official, limit)
        assert [len(p) for p in pages[:-1]] == [limit] * (len(pages) - 1)
        assert [a["id"] for page in pages for a in page] == [a["id"] for a in listed]
    assert len(client.get("/api/v1/appeals", headers=official).json["appeals"]) == 9  # default


def test_the_queue_refuses_an_unbounded_page_or_a_made_up_cursor(client, official):
    for query, field in (({"limit": 201}, "limit"), ({"limit": 0}, "limit"),
                         ({"cursor": "not-a-cursor"}, "cursor"),
                         ({"cursor": "WzAsIjIwMjYtMDEtMDEiLDFd"}, "cursor")):  # naive time
        answer = client.get("/api/v1/appeals", headers=official, query_string=query)
        assert answer.status_code == 422, (query, answer.json)
        assert field in answer.json["error"]["fields"]


def test_the_next_page_starts_after_the_last_one_seen_even_as_appeals_change(
        app, client, citizen, provider, official):
    holder, id_number, _ = citizen()
    _records(provider, client, id_number, ["A", "B", "C"])
    first, second = (_file(client, holder, ref).json["id"] for ref in "AB")
    page = client.get("/api/v1/appeals", headers=official, query_string={"limit": 1}).json
    assert [a["id"] for a in page["appeals"]] == [first]
    client.post(f"/api/v1/appeals/{first}/decision", headers=official,
                json={"outcome": "upheld", "note": "the record stands"})
    third = _file(client, holder, "C").json["id"]
    rest = client.get("/api/v1/appeals", headers=official,
                      query_string={"cursor": page["next_cursor"]}).json
    # The one decided meanwhile comes again among the decided; the new one is not lost.
    assert [(a["id"], a["state"]) for a in rest["appeals"]] == [
        (second, "open"), (third, "open"), (first, "upheld")]
