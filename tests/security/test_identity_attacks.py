"""An attacker's view of identity verification (issue 15, finding 1).

The attacker knows another person's ID number, maybe their phone number too; or is a
registrar of another region; or a data provider. Each test replays one attack. The
ones marked HOLE failed on the tree that introduced verification (8414827) and pass
with the fix beside them; the others show attacks that already held, so they stay held.
Two holes are left for a larger change and are ``xfail(strict=True)``: they pass the
day the hole is closed, and the marker must then go.
"""

from __future__ import annotations

import logging
import secrets
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import conftest
import pytest
from conftest import bearer, register_unverified, register_verified, unique_id_number
from flask_migrate import upgrade
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from backend import create_app
from backend.api import verification as verification_api
from backend.auth import hash_secret, issue_credential, new_secret
from backend.config import TestConfig
from backend.extensions import db
from backend.models import Role
from backend.notifier import read_outbox
from checkpoints.bundle import OfflineVerifier

CONFIRM = "/api/v1/me/verification/confirm"


def new_phone() -> str:
    return "139" + f"{secrets.randbelow(10**8):08d}"


def messages_to(app, phone: str) -> list[dict]:
    return [m for m in read_outbox(app.config["NOTIFY_OUTBOX_PATH"]) if m["to"] == phone]


def codes_to(app, phone: str) -> list[str]:
    return [word.rstrip(".") for m in messages_to(app, phone) for word in m["body"].split()
            if word.rstrip(".").isdigit() and len(word.rstrip(".")) == 6]


def identity_record(id_number: str, phone: str, days_ago: int = 30) -> dict:
    return {"kind": "identity", "id_number": id_number, "source": "police",
            "ref": f"ID-{secrets.token_hex(6)}", "detail": {"phone": phone},
            "occurred_at": (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()}


def import_records(client, provider, records: list[dict]) -> dict:
    answer = client.post("/api/v1/gov/records", headers=provider, json={"records": records})
    assert answer.status_code == 200, answer.json
    return answer.json


def ask_sms(client, headers) -> None:
    asked = client.post("/api/v1/me/verification", headers=headers, json={"method": "sms"})
    assert asked.status_code == 202, asked.json


def counter_code(client, registrar, registration: dict, id_number: str):
    return client.post("/api/v1/registrar/verifications", headers=registrar,
                       json={"citizen_id": registration["citizen_id"], "id_number": id_number})


def credential(app, role: Role, region: str = "r1", **kwargs) -> dict[str, str]:
    with app.app_context():
        _, secret = issue_credential(role, region=region, name=role.value, **kwargs)
        db.session.commit()
    return bearer(secret)


@pytest.fixture
def registrar(operator):
    return operator(Role.REGISTRAR, region="r1", name="Counter r1")


@pytest.fixture
def official(operator):
    return operator(Role.OFFICIAL, region="r1")


@pytest.fixture
def limited_app(migrated):
    """Rate limits on, as in production, with a registration limit a test can live with."""
    config = TestConfig(migrated)
    config.RATELIMIT_ENABLED = True
    config.RATELIMIT_STORAGE_URI = "memory://"
    config.RATE_LIMIT_REGISTRATION = "100/minute"
    config.RATE_LIMIT_TEXTS_PER_PERSON = "3/hour"
    yield from conftest.app_on_migrated(config)


# --- Verification answers must not tell whether a phone is the one on record ---------


def test_hole_a_wrong_code_answers_alike_whether_or_not_a_code_was_sent(app, client, registry):
    """HOLE: with an ID number and a guessed phone, register, ask for a code and try
    000000: 'wrong code' meant the guess was the phone the government holds (a code
    was sent), 'no live code' meant it was not. A phone book became a lookup of who
    holds which ID number, one registration a guess."""
    id_number, phone = unique_id_number(), new_phone()
    import_records(client, registry, [identity_record(id_number, phone)])
    answers = {}
    for label, guess in (("right phone", phone), ("wrong phone", new_phone())):
        headers, _, _ = register_unverified(client, id_number=id_number, phone=guess)
        ask_sms(client, headers)
        answer = client.post(CONFIRM, headers=headers, json={"code": "000000"})
        answers[label] = (answer.status_code, answer.json["error"])
    no_record, _, _ = register_unverified(client, phone=new_phone())
    ask_sms(client, no_record)
    answer = client.post(CONFIRM, headers=no_record, json={"code": "000000"})
    answers["no identity record"] = (answer.status_code, answer.json["error"])
    assert len(codes_to(app, phone)) == 1
    assert answers["right phone"] == answers["wrong phone"] == answers["no identity record"]
    assert answers["right phone"][0] == 422


def test_a_decoy_code_never_verifies(app, client, provider):
    """Held with the fix above: where no code was sent, nothing typed verifies, even
    within the tries a real code would have."""
    headers, _, _ = register_unverified(client, phone=new_phone())
    ask_sms(client, headers)
    for guess in ("000000", "123456", "999999", "000001", "654321"):
        assert client.post(CONFIRM, headers=headers, json={"code": guess}).status_code == 422
    assert client.get("/api/v1/me/code", headers=headers).json["error"]["code"] == "unverified"


# --- Guessing codes ---------------------------------------------------------------------


def test_hole_codes_for_one_id_number_are_capped_across_registrations(limited_app):
    """HOLE: the limits on asking for and trying codes were per credential, and a
    credential costs one registration: N registrations with the victim's ID number and
    phone got N times the codes (and N * 5 guesses), and the victim N texts. Codes for
    one ID number are now capped whatever the registration (RATE_LIMIT_TEXTS_PER_PERSON);
    past it the answers stay the same and nothing is sent."""
    app, client = limited_app, limited_app.test_client()
    id_number, phone = unique_id_number(), new_phone()
    import_records(client, credential(app, Role.DATA_PROVIDER, record_kinds=["identity"]),
                   [identity_record(id_number, phone)])
    answers = []
    for _ in range(6):
        headers, _, _ = register_unverified(client, id_number=id_number, phone=phone)
        ask_sms(client, headers)
        wrong = client.post(CONFIRM, headers=headers, json={"code": "000000"})
        answers.append((wrong.status_code, wrong.json["error"]["code"]))
    assert len(codes_to(app, phone)) == 3
    assert len(set(answers)) == 1, answers  # the capped ones cannot be told apart


def test_hole_registration_notices_to_the_owner_are_capped(limited_app):
    """HOLE: every registration with a verified person's ID number texted them; 500
    registrations a day from one address were 500 texts. Capped per person."""
    app, client = limited_app, limited_app.test_client()
    owner_phone = new_phone()
    _, id_number, _ = register_verified(app, client, phone=owner_phone)
    for _ in range(6):
        answer = client.post("/api/v1/citizens", json={
            "name": "Nuisance", "id_number": id_number, "phone": new_phone(), "region": "r1"})
        assert answer.status_code == 201
    assert len(messages_to(app, owner_phone)) == 3


def test_asking_and_trying_are_limited_per_credential(limited_app):
    """Held: one credential asks for 3 codes in 10 minutes and tries 10."""
    client = limited_app.test_client()
    headers, _, _ = register_unverified(client, phone=new_phone())
    asked = [client.post("/api/v1/me/verification", headers=headers,
                         json={"method": "sms"}).status_code for _ in range(4)]
    assert asked == [202, 202, 202, 429]
    tried = [client.post(CONFIRM, headers=headers, json={"code": "000000"}).status_code
             for _ in range(11)]
    assert tried == [422] * 10 + [429]


def test_a_code_is_bound_to_its_registration_and_a_new_one_voids_the_old(
        app, client, registry, registrar):
    """Held: a code handed to one registration does nothing for another registration of
    the same ID number; asking again voids the code before; a used code is used up."""
    id_number, phone = unique_id_number(), new_phone()
    import_records(client, registry, [identity_record(id_number, phone)])
    mine, _, mine_body = register_unverified(client, id_number=id_number, phone=phone)
    theirs, _, _ = register_unverified(client, id_number=id_number, phone=new_phone())
    ask_sms(client, mine)
    first = codes_to(app, phone)[-1]
    assert client.post(CONFIRM, headers=theirs, json={"code": first}).status_code == 422
    ask_sms(client, mine)
    second = codes_to(app, phone)[-1]
    if second != first:
        assert client.post(CONFIRM, headers=mine, json={"code": first}).status_code == 422
    handed = counter_code(client, registrar, mine_body, id_number).json["code"]
    assert client.post(CONFIRM, headers=theirs, json={"code": handed}).status_code == 422
    assert client.post(CONFIRM, headers=mine, json={"code": second}).status_code == 422
    assert client.post(CONFIRM, headers=mine, json={"code": handed}).status_code == 200
    # The other registration is frozen now, and its code requests stop there.
    refused = client.post("/api/v1/me/verification", headers=theirs, json={"method": "sms"})
    assert (refused.status_code, refused.json["error"]["code"]) == (403, "frozen")


# --- No citizen route for an unverified, frozen or replaced credential -----------------


def test_unverified_frozen_and_replaced_credentials_reach_no_citizen_route(
        app, client, registrar):
    """Held: every citizen route but the two that verify refuses a registration that is
    unverified or frozen (403) and a credential replaced by a recovery (401), whatever
    its path parameters."""
    holder, id_number, body = register_verified(app, client)
    token = client.post("/api/v1/me/tokens", headers=holder, json={}).json
    frozen, _, _ = register_unverified(client, id_number=id_number, phone=new_phone())
    new, _, new_body = register_unverified(client, id_number=id_number, name="New phone")
    handed = counter_code(client, registrar, new_body, id_number).json["code"]
    assert client.post(CONFIRM, headers=new, json={"code": handed}).json["recovered"] is True
    replaced = holder  # the first phone's secret
    routes = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if Role.CITIZEN not in getattr(view, "_required_roles", ()):
            continue
        path = rule.rule.replace("<string:jti>", token["jti"]).replace(
            "<any(png, svg):fmt>", "png")
        path = path.replace("<id:appeal_id>", "1")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, path))
    assert len(routes) >= 12
    for method, path in routes:
        verifying = path.startswith("/api/v1/me/verification")
        body_json = {"code": "000000"} if path == CONFIRM else {"method": "sms"}
        answer = client.open(path, method=method, headers=frozen,
                             json=body_json if method == "POST" else None)
        assert answer.status_code == 403, (path, answer.status_code)
        if not verifying:
            assert answer.json["error"]["code"] == "unverified"
        answer = client.open(path, method=method, headers=replaced,
                             json=body_json if method == "POST" else None)
        assert answer.status_code == 401, (path, answer.status_code)
        assert "color" not in answer.get_data(as_text=True)


# --- Recovery: what the old phone can still do ------------------------------------------


def test_hole_the_old_phones_live_token_is_refused_once_the_owner_recovers(
        app, client, registrar, official):
    """HOLE: recovery revoked the old secret, but a QR the old phone (stolen, say) had
    just made was still admitted at every gate for the rest of its lifetime (5 minutes
    by default), online and offline. Recovery now counts as a change of the code."""
    created = client.post("/api/v1/checkpoints", headers=official, json={
        "name": "Pharmacy", "category": "venue", "region": "r1",
        "admits": ["green", "yellow", "red"]})
    device = client.post(f"/api/v1/checkpoints/{created.json['checkpoint_id']}/devices",
                         headers=official, json={}).json
    gate = bearer(device["token"])
    old, id_number, _ = register_verified(app, client)
    stolen = client.post("/api/v1/me/tokens", headers=old, json={}).json["token"]
    new, _, new_body = register_unverified(client, id_number=id_number, name="Owner again")
    handed = counter_code(client, registrar, new_body, id_number).json["code"]
    assert client.post(CONFIRM, headers=new, json={"code": handed}).json["recovered"] is True
    scanned = client.post("/api/v1/scans", headers=gate, json={"token": stolen}).json
    assert (scanned["decision"], scanned["reason"]) == ("refuse", "code_changed")
    # Offline too: the gate's bundle lists the stolen token as void, and an upload of it
    # scanned after the recovery is flagged.
    bundle = client.get("/api/v1/checkpoints/bundle", headers=gate).json
    offline = OfflineVerifier.from_bundle(bundle).verify(stolen, datetime.now(UTC))
    assert offline.reason == "code_changed"
    uploaded = client.post("/api/v1/scans/batch", headers=gate, json={"scans": [{
        "scan_id": f"offline-{secrets.token_hex(6)}", "token": stolen, "decision": "admit",
        "scanned_at": datetime.now(UTC).isoformat()}]}).json
    assert uploaded["disagreements"] == 1, uploaded
    fresh = client.post("/api/v1/me/tokens", headers=new, json={}).json["token"]
    assert client.post("/api/v1/scans", headers=gate,
                       json={"token": fresh}).json["decision"] == "admit"


# --- Races (PostgreSQL makes them real; SQLite runs them one after the other) ----------


def test_hole_a_registration_frozen_while_its_confirmation_is_in_flight_does_not_win(
        app, client, registrar, monkeypatch):
    """HOLE: two registrations of one new ID number each hold a counter code. The
    second's confirmation read its registration (not frozen) just before the first
    verified and froze it, then went on: it 'recovered' the person and revoked the
    account verified a moment before. A frozen registration can do nothing."""
    id_number = unique_id_number()
    first, _, first_body = register_unverified(client, id_number=id_number, phone=new_phone())
    late, _, late_body = register_unverified(client, id_number=id_number, phone=new_phone())
    first_code = counter_code(client, registrar, first_body, id_number).json["code"]
    late_code = counter_code(client, registrar, late_body, id_number).json["code"]
    paused, go = threading.Event(), threading.Event()
    real_confirm = verification_api.confirm_code

    def confirm_after_a_pause(*args, **kwargs):
        if threading.current_thread().name == "late":
            paused.set()
            go.wait(10)
        return real_confirm(*args, **kwargs)

    monkeypatch.setattr(verification_api, "confirm_code", confirm_after_a_pause)
    answers = {}

    def confirm_late():
        answers["late"] = app.test_client().post(CONFIRM, headers=late,
                                                 json={"code": late_code})

    thread = threading.Thread(target=confirm_late, name="late")
    thread.start()
    assert paused.wait(10)
    answers["first"] = client.post(CONFIRM, headers=first, json={"code": first_code})
    go.set()
    thread.join(30)
    assert answers["first"].status_code == 200
    assert answers["late"].status_code == 403, answers["late"].json
    assert answers["late"].json["error"]["code"] == "frozen"
    assert client.get("/api/v1/me/code", headers=first).status_code == 200
    assert client.get("/api/v1/me/code", headers=late).status_code == 403


def test_two_registrations_of_a_new_person_confirming_at_once_make_one_person(
        app, client, registrar):
    """Held: both confirm at the same moment; one wins, the other is refused (frozen or
    busy), and there is one person, never two or a 500."""
    id_number = unique_id_number()
    regs = [register_unverified(client, id_number=id_number, phone=new_phone())
            for _ in range(2)]
    codes = [counter_code(client, registrar, body, id_number).json["code"]
             for _, _, body in regs]
    start, answers = threading.Barrier(2), {}

    def confirm(i):
        start.wait(10)
        answers[i] = app.test_client().post(CONFIRM, headers=regs[i][0],
                                            json={"code": codes[i]})

    threads = [threading.Thread(target=confirm, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    statuses = sorted(a.status_code for a in answers.values())
    assert statuses in ([200, 200], [200, 403], [200, 409]), statuses
    with app.app_context():
        people = db.session.execute(text("SELECT count(*) FROM citizens")).scalar()
    assert people == 1
    working = [client.get("/api/v1/me/code", headers=h).status_code for h, _, _ in regs]
    assert working.count(200) == 1


@pytest.mark.postgresql("SQLite runs one writer at a time: no interleaving to show")
def test_a_recovery_racing_the_old_phones_questionnaire_keeps_the_report(
        app, client, registrar, monkeypatch):
    """Held: the old phone reports a fever while the owner recovers on a new one. The
    stored code counts the report whichever commits last (both lock the stored code
    before reading the facts)."""
    from backend.services import codes

    old, id_number, _ = register_verified(app, client)
    new, _, new_body = register_unverified(client, id_number=id_number, name="New phone")
    handed = counter_code(client, registrar, new_body, id_number).json["code"]
    read_facts, go = threading.Event(), threading.Event()
    real_load_facts = codes.load_facts

    def load_facts_then_pause(ids, now, next_change=None):
        facts = real_load_facts(ids, now, next_change)
        if threading.current_thread().name == "questionnaire":
            read_facts.set()
            go.wait(5)
        return facts

    monkeypatch.setattr(codes, "load_facts", load_facts_then_pause)
    answers = {}

    def report():
        answers["report"] = app.test_client().post(
            "/api/v1/me/questionnaires", headers=old,
            json={"temperature_c": 39.1, "symptoms": ["fever"]})

    def recover():
        answers["recover"] = app.test_client().post(CONFIRM, headers=new,
                                                    json={"code": handed})

    first = threading.Thread(target=report, name="questionnaire")
    first.start()
    assert read_facts.wait(10)
    second = threading.Thread(target=recover, name="recovery")
    second.start()
    go.set()
    first.join(30)
    second.join(30)
    assert answers["report"].status_code == 201
    assert answers["recover"].status_code == 200 and answers["recover"].json["recovered"]
    assert client.get("/api/v1/me/code", headers=new).json["color"] == "yellow"
    assert client.get("/api/v1/me/code", headers=old).status_code == 401


# --- Registrars ----------------------------------------------------------------------------


def test_hole_a_registrar_cannot_recover_a_person_of_another_region(
        app, client, operator, registrar):
    """HOLE: a registration names its region itself. An accomplice registered the
    victim's ID number 'in r2', a registrar of r2 handed over a code, and the r1
    resident's account moved to the accomplice (and to region r2). A counter now
    recovers only people of its own region."""
    victim, id_number, _ = register_verified(app, client)
    accomplice, _, claim = register_unverified(client, id_number=id_number, region="r2",
                                               name="Accomplice", phone=new_phone())
    r2_counter = operator(Role.REGISTRAR, region="r2")
    refused = counter_code(client, r2_counter, claim, id_number)
    assert refused.status_code == 404, refused.json
    assert client.get("/api/v1/me/code", headers=victim).status_code == 200
    # The victim's own counter can still help them recover (a lost phone).
    own, _, own_claim = register_unverified(client, id_number=id_number, name="Me again")
    handed = counter_code(client, registrar, own_claim, id_number).json["code"]
    assert client.post(CONFIRM, headers=own, json={"code": handed}).status_code == 200


def test_a_registrar_learns_nothing_about_other_regions_or_frozen_registrations(
        app, client, operator, registrar):
    """Held: another region's registration, a frozen one and one that does not exist all
    answer the same 404; a wrong ID number is 422 and no code."""
    _, id_number, _ = register_verified(app, client)
    _, _, elsewhere = register_unverified(client, region="r2")
    frozen, _, frozen_claim = register_unverified(client, id_number=id_number,
                                                  phone=new_phone())
    new, _, new_claim = register_unverified(client, id_number=id_number)
    handed = counter_code(client, registrar, new_claim, id_number).json["code"]
    assert client.post(CONFIRM, headers=new, json={"code": handed}).status_code == 200
    answers = [counter_code(client, registrar, {"citizen_id": n}, id_number)
               for n in (elsewhere["citizen_id"], frozen_claim["citizen_id"], 10**9)]
    assert {a.status_code for a in answers} == {404}
    assert len({a.json["error"]["message"] for a in answers}) == 1
    _, _, pending = register_unverified(client)
    wrong = counter_code(client, registrar, pending, unique_id_number())
    assert wrong.status_code == 422 and "code" not in wrong.json


# --- Data providers -------------------------------------------------------------------------


def test_hole_an_import_answer_does_not_tell_who_is_registered(app, client, provider):
    """HOLE: `recomputed` in an import's answer was 1 for a verified person's ID number
    and 0 for anyone else's: a data provider could test who is registered."""
    _, registered_id, _ = register_verified(app, client)
    answers = []
    for id_number in (registered_id, unique_id_number()):
        answers.append(import_records(client, provider, [{
            "kind": "vaccination", "id_number": id_number, "source": "clinic",
            "ref": f"V-{secrets.token_hex(4)}",
            "occurred_at": (datetime.now(UTC) - timedelta(days=3)).isoformat()}]))
    assert answers[0] == answers[1], answers


def test_hole_a_data_provider_cannot_redirect_someone_elses_codes(app, client, provider):
    """HOLE (closed): a data provider (a lab's feed) imported an identity record giving the
    victim's ID number the provider's own phone, registered, and the code came to that
    phone: it then held the victim's account. Identity records now come only from a
    provider named for them (``create-user --record-kinds identity``)."""
    victim, id_number, _ = register_verified(app, client)
    attacker_phone = new_phone()
    refused = import_records(client, provider,
                             [identity_record(id_number, attacker_phone, days_ago=0)])
    assert refused["accepted"] == 0 and "kind" in refused["rejected"][0]["fields"]
    attacker, _, _ = register_unverified(client, id_number=id_number, phone=attacker_phone)
    ask_sms(client, attacker)
    assert codes_to(app, attacker_phone) == []
    assert client.get("/api/v1/me/code", headers=attacker).status_code == 403
    assert client.get("/api/v1/me/code", headers=victim).status_code == 200


BAD_PHONES = st.one_of(
    st.text(max_size=20).filter(lambda s: not (s.lstrip("+").isascii()
                                               and s.lstrip("+").isdigit()
                                               and 6 <= len(s.lstrip("+")) <= 15)),
    st.sampled_from(["", "+", "12345", "1" * 16, "+86 138 0013 8000", "13800138000\n",
                     "١٣٨٠٠١٣٨٠٠٠", "138-0013-8000", None, 13800138000, ["13800138000"]]),
)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(BAD_PHONES)
def test_an_identity_record_with_a_bad_phone_is_refused_and_stores_nothing(
        app, client, registry, bad):
    """Held: a bad phone is a rejected row naming the field, never a 500 or a stored
    record that some registration could match."""
    row = {**identity_record(unique_id_number(), "x"), "detail": {"phone": bad}}
    answer = client.post("/api/v1/gov/records", headers=registry, json={"records": [row]})
    if answer.status_code == 200:  # a row the batch lists as rejected
        assert answer.json["accepted"] == 0 and answer.json["rejected"][0]["index"] == 0
        assert "phone" in str(answer.json["rejected"][0]["fields"])
    else:  # text no database stores (a NUL, a lone surrogate): the whole body is refused
        assert answer.status_code == 422, answer.json
        assert "phone" in str(answer.json["error"]["fields"])
    with app.app_context():
        stored = db.session.execute(text(
            "SELECT count(*) FROM gov_records WHERE ref = :r"), {"r": row["ref"]}).scalar()
    assert stored == 0


# --- What the holder sees about their registrations ---------------------------------------


def test_hole_my_data_shows_every_registration_of_my_id_number(app, client, registrar):
    """HOLE: `GET /me/data` ('everything stored about you') said nothing about the
    registrations made with the holder's ID number: their own, how each was verified
    (and by which counter), and the claims of others, frozen or pending."""
    id_number = unique_id_number()
    squatter, _, _ = register_unverified(client, id_number=id_number, name="Squatter Wu",
                                         phone="13912345678")
    me, _, mine = register_unverified(client, id_number=id_number, name="Real Owner")
    handed = counter_code(client, registrar, mine, id_number).json["code"]
    assert client.post(CONFIRM, headers=me, json={"code": handed}).status_code == 200
    later, _, _ = register_unverified(client, id_number=id_number, name="Later Squatter",
                                      phone="13987654321")
    data = client.get("/api/v1/me/data", headers=me).json
    registrations = data["registrations"]
    with app.app_context():
        stored = db.session.execute(text(
            "SELECT count(*) FROM enrolments e JOIN citizens c ON c.id_hash = e.id_hash "
            "WHERE c.id = :c"), {"c": data["profile"]["citizen_id"]}).scalar()
    assert len(registrations) == stored == 3
    assert [r["state"] for r in registrations] == ["frozen", "verified", "pending"]
    own = registrations[1]
    assert own["registration_id"] == mine["citizen_id"] and own["yours"] is True
    assert [(v["method"], v["by"]) for v in own["verifications"]] == [
        ("in_person", "Counter r1")]
    blob = str(data)
    for theirs in ("Squatter Wu", "13912345678", "Later Squatter", "13987654321"):
        assert theirs not in blob
    assert id_number not in blob
    del squatter, later


# --- The notifier and logs never hold a code ------------------------------------------


def test_no_code_or_id_number_reaches_the_logs(app, client, registry, registrar, caplog):
    """Held: a failed SMS delivery is logged by channel and transport only; the code,
    the phone and the ID number are in no log line, nor in the audit entry."""
    id_number, phone = unique_id_number(), new_phone()
    import_records(client, registry, [identity_record(id_number, phone)])

    class Broken:
        name = "sms_broken"

        def deliver(self, message):
            raise OSError(f"gateway refused {message.to}: {message.body}")

    notifier = app.extensions["notifier"]
    working = notifier.routes["sms"]
    headers, _, body = register_unverified(client, id_number=id_number, phone=phone)
    # The app's own loggers at every level (a library's debug output is not ours).
    with caplog.at_level(logging.DEBUG, logger="backend"):
        notifier.routes["sms"] = Broken()
        ask_sms(client, headers)
        notifier.routes["sms"] = working
        ask_sms(client, headers)
        [code] = codes_to(app, phone)
        handed = counter_code(client, registrar, body, id_number).json["code"]
        assert client.post(CONFIRM, headers=headers, json={"code": handed}).status_code == 200
    logged = caplog.text + repr([r.args for r in caplog.records])
    assert "sms_broken" in logged  # the failure is logged...
    for secret in (code, handed, phone, id_number):  # ...without what it carried
        assert secret not in logged
    with app.app_context():
        audit = db.session.execute(text("SELECT detail, target FROM audit_log")).all()
    assert handed not in str(audit) and id_number not in str(audit)


# --- Answers must not wait for the SMS gateway ----------------------------------------------


class _HeldGateway(BaseHTTPRequestHandler):
    received: threading.Event
    release: threading.Event

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.set()
        type(self).release.wait(30)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway_app(migrated):
    """An app whose SMS go to a local gateway that holds each request until released."""
    handler = type("Gateway", (_HeldGateway,), {"received": threading.Event(),
                                                 "release": threading.Event()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    config = TestConfig(migrated)
    config.NOTIFY_SMS_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/sms"
    config.NOTIFY_TIMEOUT_SECONDS = 30
    made = conftest.app_on_migrated(config)
    try:
        yield next(made), handler
    finally:
        handler.release.set()  # let a held request finish before the tables are emptied
        for _ in made:
            pass
        server.shutdown()
        thread.join(5)


def test_hole_registration_does_not_wait_for_the_owners_text(gateway_app):
    """HOLE (closed): registering a verified person's ID number texted them inside the
    request, so that answer came back only after the SMS gateway's (hundreds of ms in
    practice): the registered ID numbers were the slow ones. Likewise asking for a code
    with the phone on record. Texts now go from the notifier's sender thread."""
    app, gateway = gateway_app
    client = app.test_client()
    headers, id_number, body = register_unverified(client)
    handed = counter_code(client, credential(app, Role.REGISTRAR), body, id_number).json["code"]
    assert client.post(CONFIRM, headers=headers, json={"code": handed}).status_code == 200
    answered = threading.Event()

    def register_again():
        app.test_client().post("/api/v1/citizens", json={
            "name": "Probe", "id_number": id_number, "phone": new_phone(), "region": "r1"})
        answered.set()

    threading.Thread(target=register_again, daemon=True).start()
    assert gateway.received.wait(10)
    # The gateway holds the text: an answer that does not wait for it is back by now.
    assert answered.wait(10), "the registration answer waited for the SMS gateway"


# --- Migration 0008 on a database that has citizens ------------------------------------------


@pytest.fixture
def database_at_0007(tmp_path):
    """Fresh databases migrated to 0007: SQLite files, or on PostgreSQL a schema of our
    own in each test database (dropped afterwards)."""
    config = TestConfig(tmp_path)
    schema, bases = None, []
    if config.SQLALCHEMY_DATABASE_URI.startswith("postgresql"):
        schema = f"mig0008_{secrets.token_hex(4)}"
        bases = [config.SQLALCHEMY_DATABASE_URI, config.SQLALCHEMY_BINDS["credit"]["url"]]
        for url in bases:
            _run_sql(url, f'CREATE SCHEMA "{schema}"')
        health, credit = (f"{url}?options=-csearch_path%3D{schema}" for url in bases)
        config.SQLALCHEMY_DATABASE_URI = health
        config.SQLALCHEMY_BINDS = {"credit": {"url": credit, "pool_pre_ping": True}}
        config.DB_LOCK_TIMEOUT_MS = 0  # its connect option would replace search_path
    else:
        config.SQLALCHEMY_DATABASE_URI = f"sqlite:///{Path(tmp_path) / 'old-health.sqlite3'}"
        config.SQLALCHEMY_BINDS = {"credit": f"sqlite:///{Path(tmp_path) / 'old-credit.sqlite3'}"}
    app = create_app(config)
    with app.app_context():
        upgrade(revision="0007")
    yield app
    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
    for url in bases:
        _run_sql(url, f'DROP SCHEMA "{schema}" CASCADE')


def _run_sql(url: str, statement: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


def test_migration_0008_makes_old_accounts_verify_back_to_the_same_person(database_at_0007):
    """An account made before 0008 (bound by the ID number alone) is unverified after
    the upgrade, verifies once at a counter (its registration number is its old
    credential's id) and is the same person again: subject, reports, code history.

    HOLE (the last assertions): that first verification was taken for a recovery,
    answered recovered: true and texted the person's own phone that their code 'was
    moved to a newly verified registration; the old one no longer works'. Nothing was
    moved: a false alarm that teaches people to ignore the real one."""
    app = database_at_0007
    client = app.test_client()
    id_number, secret = unique_id_number(), new_secret()
    long_ago = datetime.now(UTC) - timedelta(days=2)
    with app.app_context():
        from backend.services import context

        keys_hash = context.identity_keys().id_hash(id_number)
        with db.engine.begin() as conn:  # what the old registration wrote
            conn.execute(text(
                "INSERT INTO citizens (id, subject, id_hash, id_tail, name, phone, region, "
                "created_at) VALUES (41, 'old-subject-41', :h, :tail, 'Old Timer', "
                "'13811112222', 'r1', :at)"), {"h": keys_hash, "tail": id_number[-4:],
                                               "at": long_ago})
            conn.execute(text(
                "INSERT INTO credentials (id, role, region, secret_hash, citizen_id, "
                "created_at) VALUES (7, 'citizen', 'r1', :s, 41, :at)"),
                {"s": hash_secret(secret), "at": long_ago})
            conn.execute(text(
                "INSERT INTO questionnaires (citizen_id, reported_at, temperature_c, "
                "symptoms, created_at) VALUES (41, :at, 38.9, :sym, :at)"),
                {"at": long_ago, "sym": '["fever"]'})
            conn.execute(text(
                "INSERT INTO code_history (citizen_id, version, color, reasons, "
                "ruleset_version, changed_at) VALUES (41, 1, 'yellow', '[]', 1, :at)"),
                {"at": long_ago})
            conn.execute(text(
                "INSERT INTO code_states (citizen_id, color, reasons, ruleset_version, "
                "fingerprint, version, evaluated_at, changed_at) "
                "VALUES (41, 'yellow', '[]', 1, 'old', 1, :at, :at)"), {"at": long_ago})
        upgrade()
    old = bearer(secret)
    refused = client.get("/api/v1/me/code", headers=old)
    assert (refused.status_code, refused.json["error"]["code"]) == (403, "unverified")
    handed = counter_code(client, credential(app, Role.REGISTRAR), {"citizen_id": 7}, id_number)
    assert handed.status_code == 201, handed.json
    confirmed = client.post(CONFIRM, headers=old, json={"code": handed.json["code"]})
    assert confirmed.status_code == 200, confirmed.json
    assert (confirmed.json["citizen_id"], confirmed.json["subject"]) == (41, "old-subject-41")
    assert confirmed.json["recovered"] is False
    assert messages_to(app, "13811112222") == []
    assert client.get("/api/v1/me/code", headers=old).json["color"] == "yellow"
    mine = client.get("/api/v1/me/data", headers=old).json
    assert mine["profile"]["name"] == "Old Timer"
    assert [q["temperature_c"] for q in mine["questionnaires"]] == [38.9]
    assert mine["code_history"][0]["version"] == 1
    # A new registration after the upgrade gets a number of its own, not an old one.
    _, _, fresh = register_unverified(client)
    assert fresh["citizen_id"] > 7
    with app.app_context():
        people = db.session.execute(text("SELECT count(*) FROM citizens")).scalar()
    assert people == 1
