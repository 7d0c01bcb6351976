"""A gate cannot link one person's visits: every token has its own ``sub``, and a device's
offline bundle names only void tokens its checkpoint may meet, never people."""

import json
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from conftest import settle_scans
from sqlalchemy import select

from backend.extensions import db
from backend.models import CheckIn, Citizen, Role
from checkpoints.bundle import OfflineVerifier

ISSUER = "hc-local"


@pytest.fixture
def official(operator):
    return operator(Role.OFFICIAL, region="r1")


@pytest.fixture
def authority(operator):
    return operator(Role.CREDIT_AUTHORITY, region="r1", name="Intermediate People's Court")


@pytest.fixture
def gate(client, official):
    """``gate(category, official=...)`` -> device headers of a new checkpoint."""

    def make(category="venue", by=None, region="r1", admits=("green",)):
        created = client.post("/api/v1/checkpoints", headers=by or official, json={
            "name": f"{category} gate", "category": category, "region": region,
            "admits": list(admits)})
        assert created.status_code == 201, created.json
        device = client.post(f"/api/v1/checkpoints/{created.json['checkpoint_id']}/devices",
                             headers=by or official, json={})
        return {"Authorization": f"Bearer {device.json['token']}"}

    return make


def _issue(client, holder, scope=None):
    response = client.post("/api/v1/me/tokens", headers=holder,
                           json={"scope": scope} if scope else {})
    assert response.status_code == 201, response.json
    return response.json["token"]


def _sub(token):
    return jwt.decode(token, options={"verify_signature": False})["sub"]


def _bundle(client, device):
    response = client.get("/api/v1/checkpoints/bundle", headers=device)
    assert response.status_code == 200, response.json
    return response.json


def _stored_subject(app, body):
    with app.app_context():
        return db.session.get(Citizen, body["citizen_id"]).subject


def _close_contact(client, provider, id_number):
    time.sleep(0.002)  # the change is stamped after the tokens' iat, to the millisecond
    answer = client.post("/api/v1/gov/records", headers=provider, json={"records": [{
        "kind": "close_contact", "id_number": id_number,
        "occurred_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
        "source": "cdc", "ref": "CC-7"}]})
    assert answer.status_code in (200, 201), answer.json


def _restrict(client, authority, id_number, categories, effective_from=None):
    now = datetime.now(UTC)
    answer = client.post("/api/v1/credit/restrictions", headers=authority, json={
        "id_number": id_number, "categories": categories,
        "legal_basis": {"kind": "court_judgment", "ref": "(2026) Hu 01 Zhi 77",
                        "authority": "Shanghai No. 1 Intermediate People's Court",
                        "authority_level": "city"},
        "notified_at": (now - timedelta(days=10)).isoformat(),
        "effective_from": (effective_from or now - timedelta(days=1)).isoformat(),
        "expires_at": None, "remedy": "Pay the judgment debt or agree a repayment plan."})
    assert answer.status_code == 201, answer.json


def test_every_token_of_a_holder_has_its_own_sub_and_the_server_still_knows_whose(
        app, client, citizen, gate):
    holder, id_number, body = citizen(name="Wang Xiaoming")
    tokens = [_issue(client, holder), _issue(client, holder), _issue(client, holder, "rail")]
    subs = [_sub(t) for t in tokens]
    stored = _stored_subject(app, body)
    assert len(set(subs)) == 3
    for sub in subs:
        assert sub != stored and stored not in sub
        assert id_number[-4:] not in sub and body["citizen_id"] != sub
    # Nothing a venue sees repeats across the tokens, apart from issuer, color and name.
    claims = [jwt.decode(t, options={"verify_signature": False}) for t in tokens]
    assert len({c["jti"] for c in claims}) == 3
    # The service reads each back: the visits are the holder's, for tracing and my data.
    venue = gate()
    for token in tokens:
        answer = client.post("/api/v1/scans", headers=venue, json={"token": token}).json
        assert answer["reason"] == "ok", answer
    settle_scans(app)
    with app.app_context():
        rows = db.session.execute(select(CheckIn.subject)).scalars().all()
    assert rows == [stored] * 3


def test_a_code_change_voids_exactly_the_holders_live_tokens_online_and_offline(
        client, citizen, gate, provider):
    holder, id_number, _ = citizen()
    other, _, _ = citizen()
    venue = gate(admits=("green", "yellow", "red"))
    first, second, unrelated = _issue(client, holder), _issue(client, holder), _issue(client,
                                                                                      other)
    _close_contact(client, provider, id_number)
    fresh = _issue(client, holder)
    online = client.post("/api/v1/scans", headers=venue, json={"token": first}).json
    assert online["reason"] == "code_changed"
    bundle = _bundle(client, venue)
    assert {(c["iss"], c["sub"]) for c in bundle["status"]["changes"]} == {
        (ISSUER, _sub(first)), (ISSUER, _sub(second))}
    offline = OfflineVerifier.from_bundle(bundle)
    now = datetime.now(UTC)
    assert offline.verify(second, now).reason == "code_changed"
    assert offline.verify(unrelated, now).reason == "ok"
    assert (offline.verify(fresh, now).reason, offline.verify(fresh, now).color) == ("ok", "red")


def test_a_bundle_of_another_region_holds_nothing_about_this_regions_holders(
        app, client, citizen, gate, operator, provider):
    holder, id_number, body = citizen(region="r1")
    token = _issue(client, holder)
    _close_contact(client, provider, id_number)
    here = _bundle(client, gate(region="r1"))
    assert [c["sub"] for c in here["status"]["changes"]] == [_sub(token)]
    elsewhere = _bundle(client, gate(by=operator(Role.OFFICIAL, region="r2"), region="r2"))
    assert elsewhere["status"]["changes"] == []
    text = json.dumps(elsewhere["status"])
    for trace in (_sub(token), _stored_subject(app, body), id_number[-4:]):
        assert trace not in text


def test_only_a_travel_gate_of_the_category_hears_of_barred_passes_and_only_of_them(
        client, citizen, gate, authority):
    holder, id_number, _ = citizen()
    plain, rail, air = _issue(client, holder), _issue(client, holder, "rail"), _issue(
        client, holder, "air")
    _restrict(client, authority, id_number, ["rail"])
    venue = _bundle(client, gate("venue"))
    assert venue["status"]["restricted"] is None
    text = json.dumps(venue)
    assert not any(_sub(t) in text for t in (plain, rail, air))
    rail_gate = _bundle(client, gate("rail"))
    assert rail_gate["status"]["restricted"] == {
        "category": "rail", "tokens": [{"iss": ISSUER, "sub": _sub(rail)}]}
    assert rail_gate["status"]["changes"] == []
    now = datetime.now(UTC)
    assert OfflineVerifier.from_bundle(rail_gate).verify(rail, now).reason == "restricted"
    air_gate = _bundle(client, gate("air"))
    assert air_gate["status"]["restricted"] == {"category": "air", "tokens": []}
    assert OfflineVerifier.from_bundle(air_gate).verify(air, now).reason == "ok"


def test_a_travel_gate_bundle_cannot_test_an_earlier_sub_for_restriction(
        client, citizen, gate, authority):
    holder, id_number, _ = citizen()
    seen_before = _issue(client, holder)  # e.g. scanned at this gate yesterday
    rail = gate("rail")
    client.post("/api/v1/scans", headers=rail, json={"token": seen_before})
    _restrict(client, authority, id_number, ["air", "rail"])
    seen_after = _issue(client, holder)
    status = OfflineVerifier.from_bundle(_bundle(client, rail)).status
    for token in (seen_before, seen_after):
        assert not status.restricted(ISSUER, _sub(token), "rail")
    # Online, the server still knows: it reads the holder back and asks the credit store.
    answer = client.post("/api/v1/scans", headers=rail, json={"token": seen_after}).json
    assert answer["decision"] == "refuse"


def test_no_pass_outlives_the_start_of_a_restriction(client, citizen, authority):
    holder, id_number, _ = citizen()
    _restrict(client, authority, id_number, ["rail"],
              effective_from=datetime.now(UTC) + timedelta(seconds=60))
    refused = client.post("/api/v1/me/tokens", headers=holder, json={"scope": "rail"})
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "restricted"
    assert _issue(client, holder)  # a plain token still


def test_after_redis_lost_its_data_offline_gates_distrust_our_older_tokens(
        app, client, citizen, gate, provider):
    holder, id_number, _ = citizen()
    bystander, _, _ = citizen()
    venue = gate()
    before = _issue(client, holder)
    app.extensions["redis"].flushdb()  # a restart: the live-token registry is gone
    time.sleep(0.002)
    after = _issue(client, bystander)
    _close_contact(client, provider, id_number)
    offline = OfflineVerifier.from_bundle(_bundle(client, venue))
    now = datetime.now(UTC)
    assert offline.verify(before, now).reason == "code_changed"
    assert offline.verify(after, now).reason == "ok"
