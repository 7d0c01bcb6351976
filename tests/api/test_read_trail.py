"""Every official read of a person's data leaves a trail the person can see.

Finding 6 of issue 15: simulation samples showed people's pseudonymous subjects with
their facts, unaudited; the tracing audit target was the holder's token ``sub``, so
an official could map any ID number to the QR pseudonym; the appeal queue was read
without a trace.
"""

import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from conftest import settle_scans

from backend.models import Role


@pytest.fixture
def official(operator):
    return operator(Role.OFFICIAL, region="r1", name="Officer Gao")


@pytest.fixture
def authority(operator):
    return operator(Role.CREDIT_AUTHORITY, region="r1", name="District Court")


def _token_subjects(client, *holders) -> set[str]:
    """The ``sub`` of a fresh token of each holder: what a QR shows a venue."""
    subs = set()
    for holder in holders:
        token = client.post("/api/v1/me/tokens", headers=holder, json={}).json["token"]
        subs.add(jwt.decode(token, options={"verify_signature": False})["sub"])
    return subs


def _venue(client, official):
    created = client.post("/api/v1/checkpoints", headers=official, json={
        "name": "Bakery", "category": "venue", "region": "r1", "admits": ["green"]})
    device = client.post(f"/api/v1/checkpoints/{created.json['checkpoint_id']}/devices",
                         headers=official, json={})
    return {"Authorization": f"Bearer {device.json['token']}"}


def test_tracing_audit_names_no_pseudonym_of_the_case(client, citizen, official, app):
    case, case_id, case_body = citizen()
    contact, _, contact_body = citizen()
    venue = _venue(client, official)
    for holder in (case, contact):
        token = client.post("/api/v1/me/tokens", headers=holder, json={}).json["token"]
        assert client.post("/api/v1/scans", headers=venue, json={"token": token}
                           ).json["decision"] == "admit"
    settle_scans(app)
    pseudonyms = _token_subjects(client, case) | {case_body["subject"]}
    by_id = client.post("/api/v1/tracing/leads", headers=official, json={
        "case": {"id_number": case_id}, "reason": "case 31 exposure check"})
    assert by_id.status_code == 200 and by_id.json["case_visits"] == 1
    by_subject = client.post("/api/v1/tracing/leads", headers=official, json={
        "case": {"subject": case_body["subject"]}, "reason": "case 31 exposure check"})
    assert by_subject.status_code == 200

    log = client.get("/api/v1/audit?action=checkins.read", headers=official).json["entries"]
    assert len(log) == 2
    blob = json.dumps(log)
    for pseudonym in pseudonyms:
        assert pseudonym not in blob  # the log maps no ID number to a QR subject
    assert case_id not in blob
    # One opaque reference names the case however the official named them.
    assert log[0]["target"] == log[1]["target"]
    assert log[0]["target"].startswith("person:")

    # Both people read see each read in their own access log, and in "my data".
    for holder in (case, contact):
        entries = client.get("/api/v1/me/access-log", headers=holder).json["entries"]
        assert [(e["who"], e["action"]) for e in entries] == [
            ("Officer Gao", "checkins.read")] * 2
        assert client.get("/api/v1/me/data", headers=holder).json["access_log"] == entries


def test_reading_the_appeal_queue_is_audited_and_shown_to_each_holder(client, citizen,
                                                                      official, provider):
    holder, id_number, _ = citizen()
    bystander, _, _ = citizen()
    client.post("/api/v1/gov/records", headers=provider, json={"records": [{
        "kind": "close_contact", "id_number": id_number, "source": "cdc", "ref": "CC-9",
        "occurred_at": (datetime.now(UTC) - timedelta(days=1)).isoformat()}]})
    filed = client.post("/api/v1/me/appeals", headers=holder, json={
        "target": "code", "target_id": "cdc/CC-9", "reason": "I was abroad that week"})
    assert filed.status_code == 201

    queue = client.get("/api/v1/appeals", headers=official).json["appeals"]
    assert [a["reason"] for a in queue] == ["I was abroad that week"]

    log = client.get("/api/v1/audit?action=appeals.read", headers=official).json
    assert log["total"] == 1
    assert log["entries"][0]["actor_name"] == "Officer Gao"
    assert log["entries"][0]["detail"] == {"appeals": 1}
    entries = client.get("/api/v1/me/access-log", headers=holder).json["entries"]
    assert [(e["who"], e["action"], e["what"]) for e in entries] == [
        ("Officer Gao", "appeals.read", "appeals")]
    assert client.get("/api/v1/me/access-log", headers=bystander).json["entries"] == []


def test_a_restriction_appeal_read_and_decided_is_in_the_holders_access_log(
        client, citizen, authority, official):
    holder, id_number, _ = citizen()
    now = datetime.now(UTC)
    placed = client.post("/api/v1/credit/restrictions", headers=authority, json={
        "id_number": id_number, "categories": ["air"],
        "legal_basis": {"kind": "court_judgment", "ref": "J-77", "authority": "City court",
                        "authority_level": "city"},
        "notified_at": (now - timedelta(days=3)).isoformat(),
        "effective_from": (now - timedelta(days=1)).isoformat(),
        "remedy": "settle the judgment"}).json
    filed = client.post("/api/v1/me/appeals", headers=holder, json={
        "target": "restriction", "target_id": str(placed["restriction_id"]),
        "reason": "the debt was settled"}).json
    assert len(client.get("/api/v1/appeals", headers=authority).json["appeals"]) == 1
    client.post(f"/api/v1/appeals/{filed['id']}/decision", headers=authority,
                json={"outcome": "upheld", "note": "no receipt was shown"})
    entries = client.get("/api/v1/me/access-log", headers=holder).json["entries"]
    assert [(e["who"], e["action"]) for e in entries] == [
        ("District Court", "appeal.decide"), ("District Court", "appeals.read")]
    # Both are credit acts: on the credit store's log, not the health officials'.
    credit = client.get("/api/v1/credit/audit", headers=authority).json["entries"]
    assert [e["action"] for e in credit] == ["appeal.decide", "appeals.read",
                                             "restriction.place"]
    health = client.get("/api/v1/audit", headers=official).json["entries"]
    assert [e["action"] for e in health] == ["identity.verify_in_person"]  # the counter visit


def test_simulation_samples_name_no_one_and_the_simulation_is_audited(client, citizen,
                                                                       official):
    holders = []
    for temperature in (37.1, 37.1, 37.2):
        headers, _, _ = citizen()
        client.post("/api/v1/me/questionnaires", headers=headers,
                    json={"temperature_c": temperature, "symptoms": []})
        holders.append(headers)
    active = client.get("/api/v1/rulesets/active", headers=official).json
    rules = active["rules"]
    fever = next(r for r in rules if r["id"] == "fever")
    fever["when"]["and"][1]["or"][0][">="][1] = 37.0
    draft = client.post("/api/v1/rulesets", headers=official,
                        json={"rules": rules, "note": "fever from 37.0"}).json
    answer = client.post(f"/api/v1/rulesets/{draft['id']}/simulate", headers=official).json
    assert answer["changes"] == {"green->yellow": 3}
    assert answer["samples"] == [{
        "transition": "green->yellow", "count": 3,
        "reasons": [{"rule_id": "fever", "summary": fever["summary"], "color": "yellow"}]}]
    blob = json.dumps(answer, ensure_ascii=False)
    for sub in _token_subjects(client, *holders):
        assert sub not in blob
    assert '"facts"' not in blob and "questionnaire:" not in blob  # no fact, no reference

    log = client.get("/api/v1/audit?action=ruleset.simulate", headers=official).json
    assert log["total"] == 1
    entry = log["entries"][0]
    assert (entry["target"], entry["actor_name"]) == (f"ruleset:{draft['id']}", "Officer Gao")
    assert entry["detail"] == {"subjects": 3, "changes": {"green->yellow": 3}, "unchanged": 0}
