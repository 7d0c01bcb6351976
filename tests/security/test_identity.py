"""Finding 1: an ID number alone opens nothing (identity before data).

On main before this change, registering with someone else's ID number answered 201
and the new account read their records, red code and restrictions; the real owner
then got 409. Each test below fails there.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from conftest import bearer, register_unverified, unique_id_number
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from backend.extensions import db
from backend.identity import normalize_phone
from backend.models import Role
from backend.notifier import read_outbox

DATA_ROUTES = ("/api/v1/me/code", "/api/v1/me/data", "/api/v1/me/restrictions",
               "/api/v1/me/notices", "/api/v1/me/appeals", "/api/v1/me/access-log")


def new_phone() -> str:
    return "139" + f"{secrets.randbelow(10**8):08d}"


def messages_to(app, phone: str) -> list[dict]:
    return [m for m in read_outbox(app.config["NOTIFY_OUTBOX_PATH"]) if m["to"] == phone]


def one_time_code(message: dict) -> str:
    return next(word.rstrip(".") for word in message["body"].split()
                if word.rstrip(".").isdigit() and len(word.rstrip(".")) == 6)


@pytest.fixture
def registrar(operator):
    return operator(Role.REGISTRAR, region="r1")


def _import(client, provider, records: list[dict]) -> dict:
    answer = client.post("/api/v1/gov/records", headers=provider, json={"records": records})
    assert answer.status_code == 200, answer.json
    return answer.json


def _identity_record(id_number: str, phone: str, ref: str | None = None) -> dict:
    return {"kind": "identity", "id_number": id_number, "source": "police",
            "ref": ref or f"ID-{secrets.token_hex(4)}",
            "occurred_at": (datetime.now(UTC) - timedelta(days=30)).isoformat(),
            "detail": {"phone": phone}}


def _positive_test(id_number: str) -> dict:
    return {"kind": "test_result", "id_number": id_number, "source": "lab",
            "ref": f"T-{secrets.token_hex(4)}", "detail": {"result": "positive"},
            "occurred_at": (datetime.now(UTC) - timedelta(days=1)).isoformat()}


def _sms_verify(app, client, headers: dict, phone: str) -> dict:
    sent_before = len(messages_to(app, phone))
    asked = client.post("/api/v1/me/verification", headers=headers, json={"method": "sms"})
    assert asked.status_code == 202, asked.json
    sent = messages_to(app, phone)
    assert len(sent) == sent_before + 1, "no code reached the phone on record"
    confirmed = client.post("/api/v1/me/verification/confirm", headers=headers,
                            json={"code": one_time_code(sent[-1])})
    assert confirmed.status_code == 200, confirmed.json
    return confirmed.json


def test_knowing_an_id_number_opens_nothing_and_the_owner_is_not_locked_out(
        app, client, provider, registry, registrar):
    victim_id, victim_phone = unique_id_number(), new_phone()
    _import(client, provider, [_positive_test(victim_id)])
    _import(client, registry, [_identity_record(victim_id, victim_phone)])

    squatter, _, squat = register_unverified(client, id_number=victim_id, name="Squatter",
                                             phone=new_phone())
    for path in DATA_ROUTES:
        answer = client.get(path, headers=squatter)
        assert answer.status_code == 403, (path, answer.json)
        assert answer.json["error"]["code"] == "unverified"
        assert "positive" not in answer.get_data(as_text=True)
    for path, body in (("/api/v1/me/tokens", {}), ("/api/v1/me/tokens", {"scope": "rail"}),
                       ("/api/v1/me/questionnaires", {"temperature_c": 36.6, "symptoms": []})):
        assert client.post(path, headers=squatter, json=body).status_code == 403
    # The squatter's phone is not the one on record: asking for a code sends nothing.
    assert client.post("/api/v1/me/verification", headers=squatter,
                       json={"method": "sms"}).status_code == 202
    assert messages_to(app, victim_phone) == []

    owner, _, registered = register_unverified(client, id_number=victim_id, name="Owner",
                                               phone=victim_phone)
    assert set(registered) == set(squat) and registered["verified"] is False
    _sms_verify(app, client, owner, victim_phone)
    code = client.get("/api/v1/me/code", headers=owner).json
    assert code["color"] == "red"
    assert client.get("/api/v1/me/data", headers=owner).json["profile"]["name"] == "Owner"

    # The squatter's registration is frozen: it can no longer even try.
    frozen = client.post("/api/v1/me/verification", headers=squatter, json={"method": "sms"})
    assert frozen.status_code == 403 and frozen.json["error"]["code"] == "frozen"
    assert client.get("/api/v1/me/code", headers=squatter).status_code == 403


def test_registration_answers_alike_whether_or_not_the_id_number_is_registered(
        app, client, citizen):
    owner_phone = new_phone()
    _, taken_id, _ = citizen(phone=owner_phone)
    first = client.post("/api/v1/citizens", json={
        "name": "Someone", "id_number": taken_id, "phone": new_phone(), "region": "r1"})
    second = client.post("/api/v1/citizens", json={
        "name": "Someone", "id_number": unique_id_number(), "phone": new_phone(),
        "region": "r1"})
    assert first.status_code == second.status_code == 201
    assert set(first.json) == set(second.json) == {"citizen_id", "token", "verified"}
    assert first.json["verified"] is second.json["verified"] is False
    # The verified owner hears of it; nobody else learns anything.
    [notice] = messages_to(app, owner_phone)
    assert "registered with your ID number" in notice["body"]
    assert taken_id not in notice["body"]


def test_a_code_goes_only_to_the_phone_the_government_holds(app, client, registry):
    id_number, phone = unique_id_number(), new_phone()
    assert _import(client, registry, [_identity_record(id_number, "+86" + phone)])["accepted"] == 1
    with app.app_context():
        stored = db.session.execute(text(
            "SELECT detail FROM gov_records WHERE kind = 'identity'")).all()
    assert phone not in str(stored)  # kept only as a keyed hash

    other_phone = new_phone()
    stranger, _, _ = register_unverified(client, id_number=id_number, phone=other_phone)
    assert client.post("/api/v1/me/verification", headers=stranger,
                       json={"method": "sms"}).status_code == 202
    assert messages_to(app, other_phone) == [] and messages_to(app, phone) == []

    holder, _, _ = register_unverified(client, id_number=id_number, phone=phone)
    verified = _sms_verify(app, client, holder, phone)
    assert verified["verified"] is True and verified["recovered"] is False
    assert client.get("/api/v1/me/code", headers=holder).json["color"] == "green"


def test_no_identity_record_no_code_and_the_same_answer(app, client):
    phone = new_phone()
    holder, _, _ = register_unverified(client, phone=phone)
    asked = client.post("/api/v1/me/verification", headers=holder, json={"method": "sms"})
    assert asked.status_code == 202
    assert messages_to(app, phone) == []


def test_wrong_codes_are_limited_and_void_the_code(app, client, registry):
    id_number, phone = unique_id_number(), new_phone()
    _import(client, registry, [_identity_record(id_number, phone)])
    holder, _, _ = register_unverified(client, id_number=id_number, phone=phone)
    client.post("/api/v1/me/verification", headers=holder, json={"method": "sms"})
    right = one_time_code(messages_to(app, phone)[-1])
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _ in range(5):
        answer = client.post("/api/v1/me/verification/confirm", headers=holder,
                             json={"code": wrong})
        assert answer.status_code == 422 and "code" in answer.json["error"]["fields"]
    late = client.post("/api/v1/me/verification/confirm", headers=holder, json={"code": right})
    assert late.status_code == 422, "the right code must not work after five wrong ones"
    assert client.get("/api/v1/me/code", headers=holder).status_code == 403
    malformed = client.post("/api/v1/me/verification/confirm", headers=holder,
                            json={"code": "12ab"})
    assert malformed.status_code == 422 and "code" in malformed.json["error"]["fields"]


def test_recovery_moves_the_code_to_the_new_account_and_the_old_secret_stops(
        app, client, registry):
    id_number, phone = unique_id_number(), new_phone()
    _import(client, registry, [_identity_record(id_number, phone)])
    old, _, _ = register_unverified(client, id_number=id_number, phone=phone)
    first = _sms_verify(app, client, old, phone)
    reported = client.post("/api/v1/me/questionnaires", headers=old,
                           json={"temperature_c": 38.9, "symptoms": ["fever"]})
    assert reported.status_code == 201 and reported.json["code"]["color"] == "yellow"

    new, _, _ = register_unverified(client, id_number=id_number, phone=phone, name="New Phone")
    second = _sms_verify(app, client, new, phone)
    assert second["recovered"] is True
    assert (second["citizen_id"], second["subject"]) == (first["citizen_id"], first["subject"])
    assert client.get("/api/v1/me/code", headers=old).status_code == 401
    assert client.get("/api/v1/me/code", headers=new).json["color"] == "yellow"
    mine = client.get("/api/v1/me/data", headers=new).json
    assert [q["temperature_c"] for q in mine["questionnaires"]] == [38.9]
    assert mine["profile"]["name"] == "New Phone"


def test_registrar_checks_the_id_number_in_their_region_and_is_audited(
        app, client, registrar, operator):
    holder, id_number, registration = register_unverified(client)
    other_region = operator(Role.REGISTRAR, region="r2")
    elsewhere = client.post("/api/v1/registrar/verifications", headers=other_region,
                            json={"citizen_id": registration["citizen_id"],
                                  "id_number": id_number})
    assert elsewhere.status_code == 404
    mismatch = client.post("/api/v1/registrar/verifications", headers=registrar,
                           json={"citizen_id": registration["citizen_id"],
                                 "id_number": unique_id_number()})
    assert mismatch.status_code == 422 and "id_number" in mismatch.json["error"]["fields"]
    issued = client.post("/api/v1/registrar/verifications", headers=registrar,
                         json={"citizen_id": registration["citizen_id"], "id_number": id_number})
    assert issued.status_code == 201
    confirmed = client.post("/api/v1/me/verification/confirm", headers=holder,
                            json={"code": issued.json["code"]})
    assert confirmed.status_code == 200 and confirmed.json["verified"] is True
    with app.app_context():
        rows = db.session.execute(text(
            "SELECT action, target, detail FROM audit_log "
            "WHERE action = 'identity.verify_in_person'")).all()
    assert len(rows) == 1 and id_number not in str(rows)
    # A code is spent once.
    again = client.post("/api/v1/me/verification/confirm", headers=holder,
                        json={"code": issued.json["code"]})
    assert again.status_code == 200  # already verified: nothing changes
    assert again.json["citizen_id"] == confirmed.json["citizen_id"]


def test_an_expired_code_is_refused(app, client, registrar):
    holder, id_number, registration = register_unverified(client)
    issued = client.post("/api/v1/registrar/verifications", headers=registrar,
                         json={"citizen_id": registration["citizen_id"], "id_number": id_number})
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("UPDATE verification_codes SET expires_at = :t"),
                     {"t": datetime.now(UTC) - timedelta(seconds=1)})
    late = client.post("/api/v1/me/verification/confirm", headers=holder,
                       json={"code": issued.json["code"]})
    assert late.status_code == 422
    assert client.get("/api/v1/me/code", headers=holder).status_code == 403


def test_registrars_are_made_on_the_command_line_with_a_region(runner):
    refused = runner.invoke(args=["create-user", "--role", "registrar"])
    assert refused.exit_code != 0
    made = runner.invoke(args=["create-user", "--role", "registrar", "--region", "r1"])
    assert made.exit_code == 0 and made.output.strip().startswith("hc_")


@given(st.text(alphabet="0123456789", min_size=11, max_size=11),
       st.sampled_from(["{p}", "+86{p}", "+86 {p}", "86-{p}", "{a} {b} {c}", "{a}-{b}-{c}"]))
def test_a_phone_matches_however_it_is_written(digits, layout):
    written = layout.format(p=digits, a=digits[:3], b=digits[3:7], c=digits[7:])
    assert normalize_phone(written) == digits


def test_the_owner_is_never_told_apart_by_status(client, citizen):
    """Every registration answer is 201 with the same keys, even for a verified ID number."""
    _, taken_id, _ = citizen()
    for id_number in (taken_id, unique_id_number()):
        answer = client.post("/api/v1/citizens", json={
            "name": "Probe", "id_number": id_number, "phone": new_phone(), "region": "r1"})
        assert answer.status_code == 201
        assert sorted(answer.json) == ["citizen_id", "token", "verified"]
        assert client.get("/api/v1/me/code",
                          headers=bearer(answer.json["token"])).status_code == 403


def test_only_the_population_registry_sends_identity_records(client, provider, registry, runner):
    """A lab's feed cannot say which phone someone's codes go to."""
    row = _identity_record(unique_id_number(), new_phone())
    refused = _import(client, provider, [row])
    assert refused["accepted"] == 0
    assert refused["rejected"][0]["fields"] == {
        "kind": ["this credential may not import identity records"]}
    assert _import(client, registry, [row])["accepted"] == 1
    # The registry's feed sends nothing else unless named for it.
    assert _import(client, registry, [_positive_test(unique_id_number())])["accepted"] == 0
    made = runner.invoke(args=["create-user", "--role", "data_provider",
                               "--record-kinds", "identity"])
    assert made.exit_code == 0, made.output
    wrong = runner.invoke(args=["create-user", "--role", "official", "--region", "r1",
                                "--record-kinds", "identity"])
    assert wrong.exit_code != 0
    unknown = runner.invoke(args=["create-user", "--role", "data_provider",
                                  "--record-kinds", "passport"])
    assert unknown.exit_code != 0


def test_registrations_nobody_verified_are_purged_with_their_secrets(
        app, client, citizen, runner):
    """A squatter's registration (name, phone) is not kept for ever; the owner's is."""
    owner, id_number, _ = citizen()
    squatter, _, _ = register_unverified(client, id_number=id_number, name="Squatter",
                                         phone=new_phone())
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("UPDATE enrolments SET created_at = :t"),
                     {"t": datetime.now(UTC) - timedelta(days=29)})
    purged = runner.invoke(args=["purge-expired"])
    assert purged.exit_code == 0, purged.output
    assert "registrations=1" in purged.output and "registration_credentials=1" in purged.output
    assert client.get("/api/v1/me/code", headers=squatter).status_code == 401
    assert client.get("/api/v1/me/code", headers=owner).status_code == 200
    with app.app_context():
        names = db.session.execute(text("SELECT name FROM enrolments")).scalars().all()
    assert names == ["张三"]
