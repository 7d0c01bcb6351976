"""Checkpoints scan codes online and offline; admitted scans become check-ins."""

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import settle_scans, table_count
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from backend.models import Role


@pytest.fixture
def official(operator):
    return operator(Role.OFFICIAL, region="r1")


@pytest.fixture
def checkpoint(client, official):
    """``checkpoint(admits=[...], category=...)`` -> (checkpoint_id, device headers)."""

    def make(admits=("green",), category="venue", name="Corner shop"):
        created = client.post("/api/v1/checkpoints", headers=official, json={
            "name": name, "category": category, "region": "r1", "admits": list(admits)})
        assert created.status_code == 201, created.json
        checkpoint_id = created.json["checkpoint_id"]
        device = client.post(f"/api/v1/checkpoints/{checkpoint_id}/devices", headers=official,
                             json={"name": "front door"})
        assert device.status_code == 201, device.json
        return checkpoint_id, {"Authorization": f"Bearer {device.json['token']}"}

    return make


def _token(client, headers):
    response = client.post("/api/v1/me/tokens", headers=headers, json={})
    assert response.status_code == 201
    return response.json["token"]


def _scan(client, device, token, **extra):
    response = client.post("/api/v1/scans", headers=device, json={"token": token, **extra})
    assert response.status_code == 200, response.json
    return response.json


def _fever(client, headers):
    client.post("/api/v1/me/questionnaires", headers=headers,
                json={"temperature_c": 38.5, "symptoms": []})


def test_green_holder_is_admitted_and_checked_in(client, citizen, checkpoint, app):
    holder, _, _ = citizen(name="王小明")
    _, device = checkpoint()
    answer = _scan(client, device, _token(client, holder))
    assert answer == {"decision": "admit", "reason": "ok", "color": "green", "holder": "王*"}
    settle_scans(app)
    assert table_count(app, "check_ins") == 1


def test_yellow_holder_is_refused_and_only_counted(client, citizen, checkpoint, app):
    holder, _, _ = citizen()
    _fever(client, holder)
    _, device = checkpoint()
    answer = _scan(client, device, _token(client, holder))
    assert (answer["decision"], answer["reason"], answer["color"]) == (
        "refuse", "color_not_admitted", "yellow")
    settle_scans(app)
    assert table_count(app, "check_ins") == 0
    assert table_count(app, "refusal_counts") == 1


def test_token_issued_before_a_close_contact_import_is_refused(client, citizen, checkpoint,
                                                                 provider):
    holder, id_number, _ = citizen()
    _, device = checkpoint()
    token = _token(client, holder)
    client.post("/api/v1/gov/records", headers=provider, json={"records": [{
        "kind": "close_contact", "id_number": id_number,
        "occurred_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
        "source": "cdc", "ref": "CC-9"}]})
    answer = _scan(client, device, token)
    assert (answer["decision"], answer["reason"]) == ("refuse", "code_changed")
    fresh = _scan(client, device, _token(client, holder))
    assert (fresh["reason"], fresh["color"]) == ("color_not_admitted", "red")


def test_same_token_at_another_checkpoint_is_a_replay(client, citizen, checkpoint):
    holder, _, _ = citizen()
    _, door_a = checkpoint(name="A")
    _, door_b = checkpoint(name="B")
    token = _token(client, holder)
    assert _scan(client, door_a, token)["reason"] == "ok"
    assert _scan(client, door_a, token)["reason"] == "ok"  # the same gate may re-scan
    assert _scan(client, door_b, token)["reason"] == "replayed"
    assert _scan(client, door_b, _token(client, holder))["reason"] == "ok"


def test_garbage_is_refused_as_malformed_not_an_error(client, checkpoint):
    _, device = checkpoint()
    for token in ("", "x", "a.b.c", "é" * 5000, "." * 10):
        assert _scan(client, device, token)["reason"] in ("malformed", "bad_signature")


def test_only_devices_scan_and_only_officials_register(client, citizen, checkpoint, official):
    holder, _, _ = citizen()
    assert client.post("/api/v1/scans", headers=holder, json={"token": "x"}).status_code == 403
    assert client.post("/api/v1/scans", json={"token": "x"}).status_code == 401
    response = client.post("/api/v1/checkpoints", headers=holder, json={
        "name": "n", "category": "venue", "region": "r1", "admits": ["green"]})
    assert response.status_code == 403
    other = client.post("/api/v1/checkpoints", headers=official, json={
        "name": "n", "category": "venue", "region": "r2", "admits": ["green"]})
    assert other.status_code == 403 and "region" in other.json["error"]["fields"]


def test_offline_batch_uploaded_twice_stores_each_scan_once(client, citizen, checkpoint, app):
    good, _, _ = citizen()
    yellow, _, _ = citizen()
    _fever(client, yellow)
    _, device = checkpoint()
    at = datetime.now(UTC).isoformat()
    scans = [
        {"scan_id": "gate1-000001", "token": _token(client, good), "scanned_at": at,
         "decision": "admit"},
        {"scan_id": "gate1-000002", "token": _token(client, yellow), "scanned_at": at,
         "decision": "refuse"},
        {"scan_id": "gate1-000003", "token": "forged.token.here", "scanned_at": at,
         "decision": "admit"},
    ]
    first = client.post("/api/v1/scans/batch", headers=device, json={"scans": scans}).json
    second = client.post("/api/v1/scans/batch", headers=device, json={"scans": scans}).json
    assert (first["accepted"], first["duplicates"], first["checkins"]) == (3, 0, 1)
    assert (second["accepted"], second["duplicates"], second["checkins"]) == (0, 3, 0)
    assert table_count(app, "check_ins") == 1
    assert table_count(app, "scan_receipts") == 3


def test_offline_batch_lists_bad_rows_by_index(client, checkpoint):
    _, device = checkpoint()
    scans = [{"scan_id": "short", "token": "t", "scanned_at": "yesterday", "decision": "maybe"}]
    answer = client.post("/api/v1/scans/batch", headers=device, json={"scans": scans}).json
    assert answer["accepted"] == 0
    assert set(answer["rejected"][0]["fields"]) == {"scan_id", "scanned_at", "decision"}


def test_bundle_verifies_offline_with_no_server(client, citizen, checkpoint, tmp_path, provider):
    green, _, _ = citizen()
    changed, id_number, _ = citizen()
    _, device = checkpoint()
    good_token, stale_token = _token(client, green), _token(client, changed)
    time.sleep(0.01)
    client.post("/api/v1/gov/records", headers=provider, json={"records": [{
        "kind": "secondary_contact", "id_number": id_number,
        "occurred_at": datetime.now(UTC).isoformat(), "source": "cdc", "ref": "S-1"}]})
    bundle = client.get("/api/v1/checkpoints/bundle", headers=device).json
    assert bundle["policy"]["admits"] == ["green"]
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    root = Path(__file__).resolve().parents[2]
    for token, code, reason in ((good_token, 0, "ok"), (stale_token, 1, "code_changed")):
        run = subprocess.run([sys.executable, "-m", "checkpoints.verify", "--bundle", str(path),
                              token], cwd=root, capture_output=True, text=True, timeout=60)
        assert run.returncode == code, run.stderr
        assert json.loads(run.stdout)["reason"] == reason
    later = client.get(f"/api/v1/checkpoints/bundle?cursor={bundle['status_cursor']}",
                       headers=device).json
    assert int(later["status_cursor"]) >= int(bundle["status_cursor"])


def test_stream_mode_keeps_scans_until_the_worker_stores_them(app, client, citizen, checkpoint):
    from backend.services.checkins import drain_all

    app.config["CHECKIN_SINK"] = "stream"
    app.extensions.pop("scan_context", None)
    holder, _, _ = citizen()
    _, device = checkpoint()
    for _ in range(3):
        _scan(client, device, _token(client, holder))
    _scan(client, device, "not-a-token")
    assert table_count(app, "check_ins") == 0  # nothing written on the scan path
    with app.app_context():
        moved = drain_all(app.extensions["redis"], consumer="test-worker")
    assert moved == 4
    assert table_count(app, "check_ins") == 3
    assert table_count(app, "refusal_counts") == 1


def test_the_worker_stores_each_scan_once_after_a_crash_and_a_repeated_entry(
        app, checkpoint, monkeypatch):
    """A worker that stored a batch and died before acknowledging it, and a scan that
    reached the stream twice (a retried script call): each scan is one row."""
    from backend.services import checkins

    checkpoint_id, _ = checkpoint()
    at = int(datetime.now(UTC).timestamp() * 1000)
    with app.app_context():
        redis = app.extensions["redis"]
        checkins.ensure_group(redis)
        for scan_id in ("scan-aaaaaaaa", "scan-bbbbbbbb", "scan-aaaaaaaa"):
            redis.xadd(checkins.STREAM, {"scan_id": scan_id, "checkpoint": checkpoint_id,
                                         "iss": "hc", "sub": f"sub-{scan_id}", "at": at})
        read = redis.xreadgroup(checkins.GROUP, "dead-worker", {checkins.STREAM: ">"})
        assert len(read[0][1]) == 3
        checkins.insert_checkins([checkins.checkin_row(
            "scan-bbbbbbbb", checkpoint_id, "hc", "sub-scan-bbbbbbbb",
            datetime.now(UTC), datetime.now(UTC))])
        checkins.db.session.commit()  # stored, then the worker died: nothing acknowledged
        monkeypatch.setattr(checkins, "CLAIM_IDLE_MS", 0)
        assert checkins.drain_all(redis, consumer="next-worker") == 3
        assert redis.xlen(checkins.STREAM) == 0
    assert table_count(app, "check_ins") == 2


def test_purge_expired_deletes_old_checkins_and_questionnaires(app, client, citizen, checkpoint,
                                                                runner):
    from sqlalchemy import text

    from backend.extensions import db

    holder, _, _ = citizen()
    client.post("/api/v1/me/questionnaires", headers=holder,
                json={"temperature_c": 36.5, "symptoms": [], "travel": [{
                    "area_code": "a1", "from": datetime.now(UTC).isoformat(),
                    "to": datetime.now(UTC).isoformat()}]})
    _, device = checkpoint()
    _scan(client, device, _token(client, holder))
    _scan(client, device, _token(client, holder))
    settle_scans(app)
    old = datetime.now(UTC) - timedelta(days=29)
    with app.app_context():
        db.session.execute(text("UPDATE check_ins SET scanned_at = :old WHERE id = "
                                "(SELECT min(id) FROM check_ins)"), {"old": old})
        db.session.execute(text("UPDATE questionnaires SET reported_at = :old"), {"old": old})
        db.session.commit()
    result = runner.invoke(args=["purge-expired"])
    assert result.exit_code == 0, result.output
    assert "check_ins=1" in result.output and "questionnaires=1" in result.output
    assert table_count(app, "check_ins") == 1
    assert table_count(app, "questionnaires") == 0
    assert table_count(app, "questionnaire_travel") == 0


@pytest.mark.parametrize(("body", "content_type", "status", "field"), [
    ("{", "application/json", 400, "json"),
    ("[1]", "application/json", 422, "_schema"),
    ("{}", "application/json", 422, "token"),
    ("", "application/json", 422, "token"),
    ("", None, 422, "token"),
    ("abc", "text/plain", 415, "_body"),
    ('{"token": 5}', "application/json", 422, "token"),
    ('{"token": "a\\u0000"}', "application/json", 422, "token"),
    ('{"token": "x", "extra": 1}', "application/json", 422, "extra"),
    ('{"token": "x", "scan_id": "bad id"}', "application/json", 422, "scan_id"),
    ('{"token": "x", "scanned_at": "nope"}', "application/json", 422, "scanned_at"),
    ("1e999999", "application/json", 422, "_schema"),
])
def test_scan_body_refusals_name_the_field(client, checkpoint, body, content_type, status,
                                           field):
    """The scan route loads its body itself (it is the hottest path); it refuses exactly
    what every other route refuses, with the same answer."""
    _, device = checkpoint()
    headers = {**device, **({"Content-Type": content_type} if content_type else {})}
    answer = client.post("/api/v1/scans", data=body, headers=headers)
    assert answer.status_code == status, answer.json
    assert field in answer.json["error"]["fields"]


_token_text = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=30),
    st.text(max_size=10),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2),
)
_scan_ids = st.one_of(st.from_regex(r"[A-Za-z0-9_.:-]{8,64}", fullmatch=True),
                      st.text(max_size=70), st.none(), st.integers())
_scan_bodies = st.one_of(
    st.fixed_dictionaries({"token": _token_text}),  # the shapes the fast path reads
    st.fixed_dictionaries({"token": _token_text, "scan_id": _scan_ids}),
    st.fixed_dictionaries({"token": st.one_of(_token_text, st.integers(), st.none())},
                          optional={"scan_id": st.text(max_size=12), "extra": st.integers()}),
    st.recursive(st.none() | st.booleans() | st.integers() | _token_text,
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.sampled_from(["token", "scan_id", "x"]), inner,
                                   max_size=3)),
)


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_scan_bodies,
       encoding=st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "utf-8-sig"]),
       content_type=st.sampled_from(["application/json", "application/json",
                                     "application/json; charset=utf-8",
                                     "application/merge-patch+json", "text/plain"]),
       ascii_only=st.booleans())
@example(body={"token": "a.b\x00"}, encoding="utf-8", content_type="application/json",
         ascii_only=True)
@example(body={"token": "a.b\udc80"}, encoding="utf-8", content_type="application/json",
         ascii_only=True)
@example(body={"token": "a.b"}, encoding="utf-16", content_type="application/json",
         ascii_only=True)
@example(body={"token": "a.b", "scan_id": "abcdefgh\n"}, encoding="utf-8",
         content_type="application/json", ascii_only=True)
@example(body={"token": "a.b", "scan_id": "abcdefg"}, encoding="utf-8",
         content_type="application/json", ascii_only=True)
def test_scan_body_fast_path_loads_what_the_schema_loads(app, body, encoding, content_type,
                                                          ascii_only):
    """The scan route reads ``{"token": "..."}`` without marshmallow: whatever the body,
    it must load the same dict, or refuse with the same answer, as its full loader and as
    ``@blp.arguments(ScanSchema)`` (the parser every other route uses)."""
    from werkzeug.exceptions import HTTPException

    from backend.api.checkpoints import SCAN_BODY, blp, full_scan_body, scan_body
    from backend.errors import handle_domain_error, handle_http_exception
    from backend.exceptions import DomainError

    raw = json.dumps(body, ensure_ascii=ascii_only).encode(encoding, "surrogatepass")

    def outcome(load):
        with app.test_request_context("/api/v1/scans", method="POST", data=raw,
                                      content_type=content_type):
            try:
                return "loaded", load()
            except DomainError as err:
                answer = handle_domain_error(err)
            except HTTPException as err:
                answer = handle_http_exception(err)
            return "refused", answer.status_code, answer.get_json()

    def as_arguments_loads():
        return blp.ARGUMENTS_PARSER.parse(SCAN_BODY, location="json")

    assert outcome(scan_body) == outcome(full_scan_body) == outcome(as_arguments_loads)


def test_the_usual_scan_body_is_read_without_the_schema(app, monkeypatch):
    from backend.api import checkpoints as checkpoint_api

    def full_loader():
        raise AssertionError("the usual body should not need the full loader")

    monkeypatch.setattr(checkpoint_api, "full_scan_body", full_loader)
    with app.test_request_context("/api/v1/scans", method="POST", json={"token": "a.b.c"}):
        assert checkpoint_api.scan_body() == {"token": "a.b.c", "scan_id": None,
                                              "scanned_at": None}
    scanner_page = {"token": "a.b.c", "scan_id": "0b7e2f9c-1d2a-4c3b-9e8f-5a6b7c8d9e0f"}
    with app.test_request_context("/api/v1/scans", method="POST", json=scanner_page):
        assert checkpoint_api.scan_body() == {**scanner_page, "scanned_at": None}
