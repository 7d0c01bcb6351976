"""Two evaluations of one person at once: the stored code must include both sides' records."""

from __future__ import annotations

import threading
import time

import conftest
import pytest
from sqlalchemy import text

from backend.config import TestConfig
from backend.extensions import db
from backend.services import codes


@pytest.mark.postgresql("SQLite runs one writer at a time: no interleaving to show")
def test_an_import_racing_the_holders_questionnaire_ends_in_the_stored_code(
        app, client, citizen, provider, monkeypatch):
    """The holder reports a normal temperature while a close-contact import for them
    arrives. Whichever commits last must not store a code computed without the other's
    record: the stored (and served) code is the close contact's red."""
    holder, id_number, _ = citizen()
    read_facts, import_sent = threading.Event(), threading.Event()
    real_load_facts = codes.load_facts

    def load_facts_then_pause(ids, now, next_change=None):
        facts = real_load_facts(ids, now, next_change)
        if threading.current_thread().name == "questionnaire":
            read_facts.set()  # the questionnaire has read its facts: let the import run
            import_sent.wait(5)
            time.sleep(0.5)  # long enough for the import to commit, were it not held
        return facts

    monkeypatch.setattr(codes, "load_facts", load_facts_then_pause)
    answers = {}

    def questionnaire():
        answers["questionnaire"] = app.test_client().post(
            "/api/v1/me/questionnaires", headers=holder,
            json={"temperature_c": 36.5, "symptoms": []})

    def import_contact():
        answers["import"] = app.test_client().post("/api/v1/gov/records", headers=provider, json={
            "records": [{"kind": "close_contact", "id_number": id_number, "source": "cdc",
                         "ref": "RACE-1", "occurred_at": "2026-11-26T08:00:00+00:00"}]})

    first = threading.Thread(target=questionnaire, name="questionnaire")
    first.start()
    assert read_facts.wait(10)
    second = threading.Thread(target=import_contact, name="import")
    second.start()
    import_sent.set()
    first.join(30)
    second.join(30)
    assert answers["questionnaire"].status_code == 201, answers["questionnaire"].json
    assert answers["import"].status_code == 200, answers["import"].json
    code = client.get("/api/v1/me/code", headers=holder).json
    assert code["color"] == "red", code
    assert [r["rule_id"] for r in code["reasons"]] == ["close_contact"], code["reasons"]


@pytest.fixture
def quick_lock_app(migrated):
    config = TestConfig(migrated)
    config.DB_LOCK_TIMEOUT_MS = 300
    yield from conftest.app_on_migrated(config)


@pytest.mark.postgresql("SQLite has no row locks")
def test_an_evaluation_gives_up_on_a_held_code_with_a_503(quick_lock_app):
    """A publish holds its region's codes until it commits. Someone evaluated meanwhile
    waits DB_LOCK_TIMEOUT_MS at most, then gets a 503 to retry, with nothing stored,
    rather than holding a worker for the rest of the publish."""
    app = quick_lock_app
    client = app.test_client()
    holder, _, registered = conftest.register_verified(app, client)
    with app.app_context():
        engine = db.engines[None]
    publish_like = engine.connect()
    held = publish_like.begin()
    publish_like.execute(text("SELECT 1 FROM code_states WHERE citizen_id = :c FOR UPDATE"),
                         {"c": registered["citizen_id"]})
    # Without the bound the request would wait for good: let the "publish" end in 5 s.
    ends = threading.Timer(5, held.rollback)
    ends.start()
    try:
        started = time.monotonic()
        answer = client.post("/api/v1/me/questionnaires", headers=holder,
                             json={"temperature_c": 36.5, "symptoms": []})
        waited = time.monotonic() - started
    finally:
        ends.cancel()
        if held.is_active:
            held.rollback()
        publish_like.close()
    assert answer.status_code == 503, answer.json
    assert answer.json["error"]["code"] == "busy" and answer.headers["Retry-After"] == "2"
    assert waited < 3
    assert conftest.table_count(app, "questionnaires") == 0  # rolled back, nothing half-done
    again = client.post("/api/v1/me/questionnaires", headers=holder,
                        json={"temperature_c": 36.5, "symptoms": []})
    assert again.status_code == 201, again.json
