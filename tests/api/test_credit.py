"""Lawful travel restrictions: due process, passes, travel gates, and the wall between stores."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import table_count
from sqlalchemy import event, inspect

from backend.extensions import db
from backend.models import Role


@pytest.fixture
def authority(operator):
    return operator(Role.CREDIT_AUTHORITY, region="r1", name="Intermediate People's Court")


@pytest.fixture
def official(operator):
    return operator(Role.OFFICIAL, region="r1")


def restriction(person, **changes):
    now = datetime.now(UTC)
    body = {
        "id_number": person,
        "categories": ["air", "rail"],
        "legal_basis": {"kind": "court_judgment", "ref": "(2026) Hu 01 Zhi 123",
                        "authority": "Shanghai No. 1 Intermediate People's Court",
                        "authority_level": "city"},
        "notified_at": (now - timedelta(days=10)).isoformat(),
        "effective_from": (now - timedelta(days=1)).isoformat(),
        "expires_at": None,
        "remedy": "Pay the judgment debt of 52,000 CNY or agree a repayment plan.",
    }
    for key, value in changes.items():
        if value is ...:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def _place(client, authority, body):
    return client.post("/api/v1/credit/restrictions", headers=authority, json=body)


def _gate(client, official, category):
    created = client.post("/api/v1/checkpoints", headers=official, json={
        "name": f"{category} gate", "category": category, "region": "r1", "admits": ["green"]})
    device = client.post(f"/api/v1/checkpoints/{created.json['checkpoint_id']}/devices",
                         headers=official, json={})
    return {"Authorization": f"Bearer {device.json['token']}"}


def _scan(client, device, token):
    return client.post("/api/v1/scans", headers=device, json={"token": token}).json


def _token(client, holder, scope=None):
    return client.post("/api/v1/me/tokens", headers=holder,
                       json={"scope": scope} if scope else {})


def test_restricted_holder_gets_no_rail_pass_but_a_venue_token(client, citizen, authority):
    holder, id_number, _ = citizen()
    placed = _place(client, authority, restriction(id_number))
    assert placed.status_code == 201, placed.json
    refused = _token(client, holder, "rail")
    assert refused.status_code == 403
    error = refused.json["error"]
    assert error["code"] == "restricted"
    [mine] = error["restrictions"]
    assert mine["legal_basis"]["ref"] == "(2026) Hu 01 Zhi 123"
    assert mine["remedy"].startswith("Pay the judgment debt")
    assert _token(client, holder).status_code == 201
    assert _token(client, holder, "hotel").status_code == 201  # not restricted for hotels


def test_restricted_pass_is_refused_at_rail_gate_and_plain_code_admitted_at_a_shop(
        client, citizen, authority, official):
    holder, id_number, _ = citizen()
    other, _, _ = citizen()
    rail_pass = _token(client, holder, "rail").json["token"]  # issued before the restriction
    _place(client, authority, restriction(id_number))
    rail, shop = _gate(client, official, "rail"), _gate(client, official, "venue")
    answer = _scan(client, rail, rail_pass)
    assert answer == {"decision": "refuse", "reason": "restricted", "color": "green",
                      "holder": "张*"}
    # A plain code is no pass: refused at the rail gate whoever shows it.
    assert _scan(client, rail, _token(client, holder).json["token"])["reason"] == "pass_required"
    assert _scan(client, shop, _token(client, holder).json["token"])["reason"] == "ok"
    assert _scan(client, rail, _token(client, other, "rail").json["token"])["reason"] == "ok"


def test_lifting_admits_at_the_next_scan_and_keeps_the_record(client, citizen, authority,
                                                                official, app):
    holder, id_number, _ = citizen()
    rail_pass = _token(client, holder, "rail").json["token"]
    restriction_id = _place(client, authority, restriction(id_number)).json["restriction_id"]
    rail = _gate(client, official, "rail")
    assert _scan(client, rail, rail_pass)["reason"] == "restricted"
    assert _token(client, holder, "rail").status_code == 403
    lifted = client.post(f"/api/v1/credit/restrictions/{restriction_id}/lift",
                         headers=authority, json={"reason": "debt paid in full"})
    assert lifted.status_code == 200
    assert _scan(client, rail, rail_pass)["reason"] == "ok"
    assert _scan(client, rail, _token(client, holder, "rail").json["token"])["reason"] == "ok"
    mine = client.get("/api/v1/me/restrictions", headers=holder).json["restrictions"]
    assert mine[0]["lifted_at"] and mine[0]["lift_reason"] == "debt paid in full"
    assert mine[0]["active"] is False
    assert table_count(app, "restriction_events") == 2
    # Audited in the credit store's own log, which health officials never read.
    log = client.get("/api/v1/credit/audit", headers=authority).json["entries"]
    assert [e["action"] for e in log] == ["restriction.lift", "restriction.place"]
    actions = [e["action"] for e in client.get("/api/v1/audit", headers=official).json["entries"]]
    assert not {"restriction.place", "restriction.lift"} & set(actions)


def test_expired_restriction_no_longer_applies(client, citizen, authority, official):
    holder, id_number, _ = citizen()
    now = datetime.now(UTC)
    _place(client, authority, restriction(
        id_number, notified_at=(now - timedelta(days=40)).isoformat(),
        effective_from=(now - timedelta(days=30)).isoformat(),
        expires_at=(now - timedelta(days=1)).isoformat(), remedy=...))
    rail_pass = _token(client, holder, "rail")
    assert rail_pass.status_code == 201
    rail = _gate(client, official, "rail")
    assert _scan(client, rail, rail_pass.json["token"])["reason"] == "ok"


def test_pass_issued_before_a_restriction_is_refused_online(client, citizen, authority, official):
    holder, id_number, _ = citizen()
    issued = _token(client, holder, "rail")
    assert issued.status_code == 201
    _place(client, authority, restriction(id_number))
    rail = _gate(client, official, "rail")
    assert _scan(client, rail, issued.json["token"])["reason"] == "restricted"


def test_yellow_code_gets_no_travel_pass(client, citizen):
    holder, _, _ = citizen()
    client.post("/api/v1/me/questionnaires", headers=holder,
                json={"temperature_c": 38.0, "symptoms": []})
    refused = _token(client, holder, "air")
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "color_not_admitted"


def test_offline_rail_gate_refuses_the_restricted_and_learns_nothing_else(
        client, citizen, authority, official):
    from checkpoints.bundle import OfflineVerifier

    restricted, id_number, _ = citizen(name="Restricted Person")
    free, _, _ = citizen()
    # Passes go only to holders not restricted; one issued before the restriction is
    # barred at offline gates by the bundle.
    held = _token(client, restricted, "rail").json["token"]
    _place(client, authority, restriction(id_number))
    assert _token(client, restricted, "rail").status_code == 403
    rail = _gate(client, official, "rail")
    bundle = client.get("/api/v1/checkpoints/bundle", headers=rail).json
    verifier = OfflineVerifier.from_bundle(bundle)
    now = datetime.now(UTC)
    assert verifier.verify(held, now).reason == "restricted"
    assert verifier.verify(_token(client, free, "rail").json["token"], now).reason == "ok"
    text = json.dumps(bundle, ensure_ascii=False)
    for secret in (id_number, id_number[-6:], "Restricted", "Hu 01 Zhi", "court", "debt"):
        assert secret not in text
    venue_bundle = client.get("/api/v1/checkpoints/bundle", headers=_gate(client, official,
                                                                           "venue")).json
    assert venue_bundle["status"]["restricted"] is None


def test_holder_sees_the_notice(client, citizen, authority):
    holder, id_number, _ = citizen()
    _place(client, authority, restriction(id_number))
    [notice] = client.get("/api/v1/me/notices", headers=holder).json["notices"]
    assert "Shanghai No. 1 Intermediate People's Court" in notice["text"]
    assert "Pay the judgment debt" in notice["text"]


DUE_PROCESS = [
    ("no-legal-basis", {"legal_basis": ...}, "legal_basis"),
    ("basis-kind", {"legal_basis": {"kind": "rumour", "ref": "x", "authority": "A court",
                                    "authority_level": "city"}}, "legal_basis"),
    ("no-ref", {"legal_basis": {"kind": "court_judgment", "authority": "A court",
                                "authority_level": "city"}}, "legal_basis"),
    ("no-authority", {"legal_basis": {"kind": "court_judgment", "ref": "r",
                                      "authority_level": "city"}}, "legal_basis"),
    ("township", {"legal_basis": {"kind": "administrative_decision", "ref": "r",
                                  "authority": "Township office",
                                  "authority_level": "township"}}, "legal_basis"),
    ("no-notification", {"notified_at": ...}, "notified_at"),
    ("notified-after-effect", {"notified_at": "2026-11-20T00:00:00+00:00",
                               "effective_from": "2026-11-19T00:00:00+00:00"}, "notified_at"),
    ("notified-in-future", {"notified_at": "2099-01-01T00:00:00+00:00",
                            "effective_from": "2099-02-01T00:00:00+00:00"}, "notified_at"),
    ("neither-expiry-nor-remedy", {"remedy": ...}, "remedy"),
    ("expiry-before-effect", {"expires_at": "2020-01-01T00:00:00+00:00"}, "expires_at"),
    ("venue", {"categories": ["venue"]}, "categories"),
    ("transit", {"categories": ["rail", "transit"]}, "categories"),
    ("unknown-category", {"categories": ["moon"]}, "categories"),
    ("no-categories", {"categories": []}, "categories"),
    ("bad-id", {"id_number": "12345"}, "id_number"),
]


@pytest.mark.parametrize(("name", "changes", "field"), DUE_PROCESS, ids=[d[0] for d in DUE_PROCESS])
def test_missing_due_process_is_refused_and_nothing_stored(client, citizen, authority, app,
                                                           name, changes, field):
    _, id_number, _ = citizen()
    response = _place(client, authority, restriction(id_number, **changes))
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"]
    assert table_count(app, "restrictions") == 0


def test_only_credit_authorities_place_restrictions(client, citizen, official):
    _, id_number, _ = citizen()
    assert _place(client, official, restriction(id_number)).status_code == 403


# --- the wall between the stores ------------------------------------------------


def test_credit_tables_live_in_their_own_database(app):
    with app.app_context():
        health = set(inspect(db.engines[None]).get_table_names())
        credit = set(inspect(db.engines["credit"]).get_table_names())
    assert {"restrictions", "restriction_events"} <= credit
    assert not ({"restrictions", "restriction_events"} & health)
    assert not ({"citizens", "gov_records", "code_states", "check_ins"} & credit)


def test_changing_codes_writes_nothing_to_the_credit_database(client, citizen, authority,
                                                               provider, app):
    holder, id_number, _ = citizen()
    _place(client, authority, restriction(id_number))
    writes = []
    with app.app_context():
        engine = db.engines["credit"]

    def watch(conn, cursor, statement, *args):
        if statement.lstrip().split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            writes.append(statement)

    event.listen(engine, "before_cursor_execute", watch)
    try:
        before = (table_count(app, "restrictions"), table_count(app, "restriction_events"))
        client.post("/api/v1/me/questionnaires", headers=holder,
                    json={"temperature_c": 38.4, "symptoms": ["cough"]})
        client.post("/api/v1/gov/records", headers=provider, json={"records": [{
            "kind": "confirmed_case", "id_number": id_number,
            "occurred_at": datetime.now(UTC).isoformat(), "source": "cdc", "ref": "C-77"}]})
        assert client.get("/api/v1/me/code", headers=holder).json["color"] == "red"
        after = (table_count(app, "restrictions"), table_count(app, "restriction_events"))
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    assert writes == []
    assert before == after
    [mine] = client.get("/api/v1/me/restrictions", headers=holder).json["restrictions"]
    assert mine["categories"] == ["air", "rail"]  # a red code changed no credit record


def test_the_credit_store_and_the_health_side_name_the_same_travel_categories():
    """The credit store keeps its own list (it imports nothing from the health side);
    a restriction it accepts must be one a gate and a travel pass know, and back."""
    from backend.credit.models import RESTRICTABLE as CREDIT_RESTRICTABLE
    from backend.models.checkpoints import CATEGORIES, EVERYDAY
    from checkpoints.verifier import RESTRICTABLE

    assert set(CREDIT_RESTRICTABLE) == set(RESTRICTABLE)
    assert set(CATEGORIES) == set(EVERYDAY) | set(RESTRICTABLE)
    assert not set(EVERYDAY) & set(RESTRICTABLE)
