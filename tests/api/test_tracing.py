"""Contact tracing from check-ins: leads, their import as contacts, and the audit of the read."""

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from conftest import settle_scans

from backend.models import Role
from backend.services import prebuilt


@pytest.fixture
def official(operator):
    return operator(Role.OFFICIAL, region="r1", name="Tracer Li")


@pytest.fixture
def venue_device(client, official):
    created = client.post("/api/v1/checkpoints", headers=official, json={
        "name": "Noodle bar", "category": "venue", "region": "r1", "admits": ["green"]})
    device = client.post(f"/api/v1/checkpoints/{created.json['checkpoint_id']}/devices",
                         headers=official, json={})
    return {"Authorization": f"Bearer {device.json['token']}"}


def _visit(client, device, holder, at):
    token = client.post("/api/v1/me/tokens", headers=holder, json={}).json["token"]
    answer = client.post("/api/v1/scans", headers=device,
                         json={"token": token, "scanned_at": at.isoformat()}).json
    assert answer["decision"] == "admit", answer


def _color(client, holder):
    return client.get("/api/v1/me/code", headers=holder).json["color"]


@pytest.mark.parametrize("chunk", [None, 1], ids=["one-statement", "one-lead-a-statement"])
def test_two_visitors_within_the_window_become_yellow(client, citizen, official, venue_device,
                                                      provider, app, monkeypatch, chunk):
    if chunk:  # the leads' people read a chunk at a time: the same outcome
        monkeypatch.setattr(prebuilt, "chunks", partial(prebuilt.chunks, size=chunk))
    now = datetime.now(UTC)
    case, case_id, case_body = citizen()
    near_before, _, _ = citizen()
    near_after, _, _ = citizen()
    far, _, _ = citizen()
    _visit(client, venue_device, case, now)
    _visit(client, venue_device, near_before, now - timedelta(seconds=60))
    _visit(client, venue_device, near_after, now + timedelta(seconds=90))
    _visit(client, venue_device, far, now - timedelta(seconds=280))
    settle_scans(app)
    client.post("/api/v1/gov/records", headers=provider, json={"records": [{
        "kind": "confirmed_case", "id_number": case_id, "occurred_at": now.isoformat(),
        "source": "cdc", "ref": "CASE-1"}]})
    request = {"case": {"subject": case_body["subject"]}, "reason": "case CASE-1 tracing",
               "window_minutes": 2}

    leads = client.post("/api/v1/tracing/leads", headers=official, json=request)
    assert leads.status_code == 200, leads.json
    assert leads.json["case_visits"] == 1
    assert len(leads.json["leads"]) == 2
    assert all(lead["gap_minutes"] <= 2 for lead in leads.json["leads"])
    assert all(set(lead) >= {"subject", "checkpoint_name", "visit_at"}
               for lead in leads.json["leads"])

    imported = client.post("/api/v1/tracing/import", headers=official, json=request)
    assert imported.status_code == 200, imported.json
    assert (imported.json["accepted"], imported.json["recomputed"]) == (2, 2)
    assert _color(client, near_before) == "yellow"
    assert _color(client, near_after) == "yellow"
    assert _color(client, far) == "green"
    code = client.get("/api/v1/me/code", headers=near_before).json
    assert code["reasons"][0]["facts"][0]["source"] == "tracing"

    again = client.post("/api/v1/tracing/import", headers=official, json=request).json
    assert (again["accepted"], again["duplicates"]) == (0, 2)

    log = client.get("/api/v1/audit?action=checkins.read", headers=official).json
    assert log["total"] == 3  # leads, import, import again: every read is on the log
    assert log["entries"][-1]["reason"] == "case CASE-1 tracing"
    # The case is named by an opaque reference, never by the pseudonym in their tokens.
    assert log["entries"][-1]["target"].startswith("person:")
    assert case_body["subject"] not in str(log)


def test_reading_checkins_needs_a_reason(client, citizen, official):
    _, _, body = citizen()
    response = client.post("/api/v1/tracing/leads", headers=official,
                           json={"case": {"subject": body["subject"]}})
    assert response.status_code == 422
    assert "reason" in response.json["error"]["fields"]
    log = client.get("/api/v1/audit?action=checkins.read", headers=official).json
    assert log["total"] == 0


def test_case_can_be_named_by_id_number_but_not_both_ways(client, citizen, official):
    _, id_number, body = citizen()
    by_id = client.post("/api/v1/tracing/leads", headers=official, json={
        "case": {"id_number": id_number}, "reason": "case by id"})
    assert by_id.status_code == 200 and by_id.json["case_visits"] == 0
    both = client.post("/api/v1/tracing/leads", headers=official, json={
        "case": {"id_number": id_number, "subject": body["subject"]}, "reason": "both"})
    assert both.status_code == 422 and "case" in both.json["error"]["fields"]


def test_officials_of_other_regions_see_no_checkins_here(client, citizen, venue_device,
                                                         operator, app):
    case, _, body = citizen()
    _visit(client, venue_device, case, datetime.now(UTC))
    settle_scans(app)
    stranger = operator(Role.OFFICIAL, region="r2")
    answer = client.post("/api/v1/tracing/leads", headers=stranger, json={
        "case": {"subject": body["subject"]}, "reason": "curious"}).json
    assert answer["case_visits"] == 0 and answer["leads"] == []
