"""Every route, called by every kind of caller, answers as documented.

``MATRIX`` maps each route of the app, ``(method, rule)`` as Flask knows it, to the
status every caller must get. ``REQUESTS`` says how each route is called: with a
valid body and the ids of a small world built for the test, so that an allowed
caller gets its success status and a refused one is refused for who it is, not for
what it sent. A route the app serves that is missing from the table fails
``test_every_route_is_in_the_table``: a new route cannot ship unlisted.

Callers:

* ``anonymous``: no ``Authorization`` header;
* ``revoked``: a secret of a role the route admits, revoked (``revoked_at`` set);
* ``unverified``: a registration made with the first citizen's ID number after they
  verified (someone who knows it): it reaches the verification routes only, and 403
  ``unverified`` everywhere else;
* one caller per role, officials of region ``r1`` (where the world's data lives);
* ``official_r2``: an official of another region, for every route;
* ``other_citizen``: a second citizen using the first one's ids (tokens, records),
  and reading their own views, on the routes where that makes sense.

A 200 to ``official_r2`` or ``other_citizen`` must carry nothing of region r1 or of
the first citizen (``LEAK_CHECKS``; each check must find that data in the answer to
the r1 official or the first citizen, so it cannot pass by looking at nothing).
Public routes (pages, health, metrics, the JWKS, registration) answer the same
whoever calls, even with a revoked secret.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import (
    bearer,
    register_unverified,
    register_verified,
    settle_scans,
    unique_id_number,
)
from flask import Flask
from flask.testing import FlaskClient

from backend.auth import issue_credential
from backend.extensions import db
from backend.models import Role

ROLES = ("citizen", "official", "data_provider", "checkpoint_device", "credit_authority", "admin",
         "registrar")
# Refused callers first, allowed ones last: a call that changes state (publish, delete,
# decide) then cannot change the answer another caller gets.
CALLERS = ("anonymous", "revoked", "unverified", "other_citizen", "official_r2", *ROLES)
SKIPPED_RULES = ("/static/", "/api/v1/openapi.json")
QR = "/api/v1/me/tokens/<string:jti>/qr.<any(png, svg):fmt>"

CITIZEN, OFFICIAL, PROVIDER, DEVICE, AUTHORITY, ADMIN, REGISTRAR = ROLES


def public(status: int) -> dict[str, int]:
    """Anyone, with or without a (even revoked) secret, gets ``status``."""
    return dict.fromkeys((c for c in CALLERS if c != "other_citizen"), status)


def only(*allowed: str, ok: int = 200, **cases: int) -> dict[str, int]:
    """``allowed`` roles get ``ok``; other roles 403; no or a revoked secret 401.

    ``official_r2`` gets what officials get unless ``cases`` says otherwise;
    ``cases`` also adds ``other_citizen`` where the route takes a citizen's ids.
    """
    row = {"anonymous": 401, "revoked": 401, "unverified": 403}
    row.update({role: ok if role in allowed else 403 for role in ROLES})
    row["official_r2"] = row[OFFICIAL]
    row.update(cases)
    return row


# fmt: off
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    # Pages, liveness, readiness, metrics and public documents.
    ("GET", "/"): public(200),
    ("GET", "/scan"): public(200),
    ("GET", "/console"): public(200),
    ("GET", "/healthz"): public(200),
    ("GET", "/readyz"): public(200),
    ("GET", "/metrics"): public(200),
    ("GET", "/.well-known/jwks.json"): public(200),
    # Citizens: only themselves, never someone else's token, record or restriction.
    ("POST", "/api/v1/citizens"): public(201),
    # Identity verification: the only routes an unverified registration reaches.
    ("POST", "/api/v1/me/verification"): only(CITIZEN, ok=202, unverified=202),
    ("POST", "/api/v1/me/verification/confirm"): only(CITIZEN, unverified=422),
    ("POST", "/api/v1/registrar/verifications"): only(REGISTRAR, ok=201),
    ("POST", "/api/v1/me/questionnaires"): only(CITIZEN, ok=201),
    ("GET", "/api/v1/me/code"): only(CITIZEN, other_citizen=200),
    ("POST", "/api/v1/me/tokens"): only(CITIZEN, ok=201),
    ("GET", QR): only(CITIZEN, other_citizen=404),
    ("GET", "/api/v1/me/restrictions"): only(CITIZEN, other_citizen=200),
    ("GET", "/api/v1/me/notices"): only(CITIZEN, other_citizen=200),
    ("POST", "/api/v1/me/appeals"): only(CITIZEN, ok=201, other_citizen=422),
    ("GET", "/api/v1/me/appeals"): only(CITIZEN, other_citizen=200),
    ("POST", "/api/v1/me/daily-reports"): only(CITIZEN, ok=201),
    ("GET", "/api/v1/me/data"): only(CITIZEN, other_citizen=200),
    ("GET", "/api/v1/me/access-log"): only(CITIZEN),
    # Appeals are decided by officials of the holder's region (codes) and by credit
    # authorities (restrictions).
    ("GET", "/api/v1/appeals"): only(OFFICIAL, AUTHORITY),
    ("POST", "/api/v1/appeals/<id:appeal_id>/decision"): only(OFFICIAL, AUTHORITY,
                                                                 official_r2=403),
    # Government data feeds.
    ("POST", "/api/v1/gov/records"): only(PROVIDER),
    ("PUT", "/api/v1/gov/areas/<string:area_code>"): only(PROVIDER),
    # Officials, scoped to their region: another region's official sees its own region
    # (an empty one) and is refused the r1 ruleset, checkpoint and appeal ids.
    ("GET", "/api/v1/rulesets/active"): only(OFFICIAL),
    ("GET", "/api/v1/rulesets"): only(OFFICIAL),
    ("POST", "/api/v1/rulesets"): only(OFFICIAL, ok=201),
    ("GET", "/api/v1/rulesets/<id:ruleset_id>"): only(OFFICIAL, official_r2=403),
    ("POST", "/api/v1/rulesets/<id:ruleset_id>/simulate"): only(OFFICIAL, official_r2=403),
    ("POST", "/api/v1/rulesets/<id:ruleset_id>/publish"): only(OFFICIAL, official_r2=403),
    ("POST", "/api/v1/rulesets/rollback"): only(OFFICIAL),
    ("GET", "/api/v1/audit"): only(OFFICIAL, ADMIN),
    ("GET", "/api/v1/stats/colors"): only(OFFICIAL),
    ("POST", "/api/v1/tracing/leads"): only(OFFICIAL),
    ("POST", "/api/v1/tracing/import"): only(OFFICIAL),
    # Checkpoints: registered by officials of their region, used by their devices.
    ("POST", "/api/v1/checkpoints"): only(OFFICIAL, ok=201, official_r2=403),
    ("GET", "/api/v1/checkpoints"): only(OFFICIAL),
    ("POST", "/api/v1/checkpoints/<id:checkpoint_id>/devices"): only(OFFICIAL, ok=201,
                                                                      official_r2=403),
    ("POST", "/api/v1/scans"): only(DEVICE),
    ("POST", "/api/v1/scans/batch"): only(DEVICE),
    ("GET", "/api/v1/checkpoints/bundle"): only(DEVICE),
    # Credit records.
    ("POST", "/api/v1/credit/restrictions"): only(AUTHORITY, ok=201),
    ("POST", "/api/v1/credit/restrictions/<id:restriction_id>/lift"): only(AUTHORITY),
    ("GET", "/api/v1/credit/audit"): only(AUTHORITY),
    # Trust list.
    ("GET", "/api/v1/trust/issuers"): only(ADMIN),
    ("PUT", "/api/v1/trust/issuers/<string:issuer_id>"): only(ADMIN),
    ("DELETE", "/api/v1/trust/issuers/<string:issuer_id>"): only(ADMIN, ok=204),
    ("POST", "/api/v1/trust/issuers/<string:issuer_id>/refresh"): only(ADMIN),
}
# fmt: on


# --- the world every route test starts from ---------------------------------------


@dataclass
class World:
    """Data of region r1 made through the API, and one set of headers per caller."""

    callers: dict[str, dict[str, str]] = field(default_factory=dict)
    revoked: dict[str, dict[str, str]] = field(default_factory=dict)
    holder_id_number: str = ""
    pending_registration: int = 0  # a registration waiting at a counter
    pending_id_number: str = ""
    holder_subject: str = ""
    lead_subject: str = ""
    holder_record: str = ""  # "source/ref" of the close-contact record behind the red code
    jti: str = ""
    token: str = ""
    checkpoint_id: int = 0
    draft_id: int = 0
    restriction_id: int = 0
    code_appeal_id: int = 0
    restriction_appeal_id: int = 0
    issuer_id: str = "other-deployment"
    rules: list = field(default_factory=list)


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


def _credential(app: Flask, role: Role, *, revoked: bool = False, region: str = "r1",
                **ids: Any) -> dict[str, str]:
    with app.app_context():
        cred, secret = issue_credential(role, region=region, name=f"matrix {role.value}", **ids)
        if revoked:
            cred.revoked_at = datetime.now(UTC)
        db.session.commit()
    return bearer(secret)




def _restriction_body(id_number: str) -> dict:
    now = datetime.now(UTC)
    return {
        "id_number": id_number,
        "categories": ["air", "rail"],
        "legal_basis": {"kind": "court_judgment", "ref": "(2026) Hu 01 Zhi 123",
                        "authority": "Shanghai No. 1 Intermediate People's Court",
                        "authority_level": "city"},
        "notified_at": (now - timedelta(days=10)).isoformat(),
        "effective_from": (now - timedelta(days=1)).isoformat(),
        "remedy": "Pay the judgment debt or agree a repayment plan.",
    }


def build_world(app: Flask, client: FlaskClient) -> World:
    """Two citizens seen at one r1 checkpoint; the first is then a close contact (red),
    restricted for air and rail, and appeals both; a draft ruleset; a trusted issuer."""
    w = World()
    official = _credential(app, Role.OFFICIAL)
    w.callers = {
        OFFICIAL: official,
        "official_r2": _credential(app, Role.OFFICIAL, region="r2"),
        PROVIDER: _credential(app, Role.DATA_PROVIDER),
        AUTHORITY: _credential(app, Role.CREDIT_AUTHORITY),
        ADMIN: _credential(app, Role.ADMIN),
    }
    holder, w.holder_id_number, holder_body = register_verified(app, client)
    other, _, other_body = register_verified(app, client)
    w.callers[REGISTRAR] = _credential(app, Role.REGISTRAR)
    w.callers["unverified"] = register_unverified(
        client, id_number=w.holder_id_number, name="Squatter", phone="13999999999")[0]
    _, w.pending_id_number, pending = register_unverified(client)
    w.pending_registration = pending["citizen_id"]
    w.holder_subject, w.lead_subject = holder_body["subject"], other_body["subject"]
    w.callers[CITIZEN], w.callers["other_citizen"] = holder, other

    w.checkpoint_id = _ok(client.post("/api/v1/checkpoints", headers=official, json={
        "name": "Noodle bar", "category": "venue", "region": "r1", "admits": ["green"]}),
        201)["checkpoint_id"]
    device = _ok(client.post(f"/api/v1/checkpoints/{w.checkpoint_id}/devices",
                             headers=official, json={"name": "door"}), 201)
    w.callers[DEVICE] = bearer(device["token"])
    for person in (holder, other):  # both checked in: the second is the first one's lead
        token = _ok(client.post("/api/v1/me/tokens", headers=person, json={}), 201)["token"]
        scanned = _ok(client.post("/api/v1/scans", headers=w.callers[DEVICE],
                                  json={"token": token}))
        assert scanned["decision"] == "admit", scanned
    settle_scans(app)

    w.holder_record = "cdc/CC-MATRIX"
    # A positive test as well: a founded case, whose leads an official may import.
    imported = _ok(client.post("/api/v1/gov/records", headers=w.callers[PROVIDER], json={
        "records": [{"kind": "close_contact", "id_number": w.holder_id_number,
                     "occurred_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
                     "source": "cdc", "ref": "CC-MATRIX"},
                    {"kind": "test_result", "id_number": w.holder_id_number,
                     "occurred_at": (datetime.now(UTC) - timedelta(hours=20)).isoformat(),
                     "source": "lab", "ref": "PCR-MATRIX", "detail": {"result": "positive"}}]}))
    assert imported["accepted"] == 2, imported
    w.restriction_id = _ok(client.post("/api/v1/credit/restrictions",
                                       headers=w.callers[AUTHORITY],
                                       json=_restriction_body(w.holder_id_number)),
                           201)["restriction_id"]
    w.code_appeal_id = _ok(client.post("/api/v1/me/appeals", headers=holder, json={
        "target": "code", "target_id": w.holder_record,
        "reason": "I was abroad that week."}), 201)["id"]
    w.restriction_appeal_id = _ok(client.post("/api/v1/me/appeals", headers=holder, json={
        "target": "restriction", "target_id": str(w.restriction_id),
        "reason": "The debt was paid."}), 201)["id"]
    issued = _ok(client.post("/api/v1/me/tokens", headers=holder, json={}), 201)
    w.jti, w.token = issued["jti"], issued["token"]

    w.rules = _ok(client.get("/api/v1/rulesets/active", headers=official))["rules"]
    w.draft_id = _ok(client.post("/api/v1/rulesets", headers=official, json={
        "rules": w.rules, "note": "same rules, new draft"}), 201)["id"]
    _ok(client.put(f"/api/v1/trust/issuers/{w.issuer_id}", headers=w.callers[ADMIN], json={
        "name": "Other deployment", "jwks_url": "http://127.0.0.1:9/.well-known/jwks.json"}))

    # A revoked secret of every role, made like the live ones.
    for role in Role:
        ids: dict[str, int] = {}
        if role is Role.CHECKPOINT_DEVICE:
            ids["checkpoint_id"] = w.checkpoint_id
        if role is Role.CITIZEN:
            ids["citizen_id"] = holder_body["citizen_id"]
        w.revoked[role.value] = _credential(app, role, revoked=True, **ids)
    return w


# --- how each route is called ------------------------------------------------------


@dataclass
class Call:
    path: str
    json: Any = None


Builder = Callable[[World, str], Call | list[Call]]  # every call of a list: the same answer


def _now(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def _fixed(path: str, body: Any = None) -> Builder:
    return lambda w, caller: Call(path, body)


def _appeal(w: World, caller: str) -> Call:
    # The other citizen names the holder's record: it is not theirs to appeal. The
    # holder's own appeal of it is open already (one per target), so theirs is of the code.
    if caller == CITIZEN:
        return Call("/api/v1/me/appeals", {"target": "code", "reason": "My code is wrong."})
    return Call("/api/v1/me/appeals", {"target": "code", "target_id": w.holder_record,
                                       "reason": "This record is wrong."})


def _decision(w: World, caller: str) -> Call:
    appeal_id = w.restriction_appeal_id if caller == AUTHORITY else w.code_appeal_id
    return Call(f"/api/v1/appeals/{appeal_id}/decision",
                {"outcome": "upheld", "note": "checked the records"})


def _records(w: World, caller: str) -> Call:
    return Call("/api/v1/gov/records", {"records": [{
        "kind": "test_result", "id_number": w.holder_id_number, "occurred_at": _now(hours=-2),
        "source": "lab", "ref": f"T-{uuid.uuid4().hex}", "detail": {"result": "negative"}}]})


def _register_call(w: World, caller: str) -> Call:
    return Call("/api/v1/citizens", {"name": "李四", "id_number": unique_id_number(),
                                     "phone": "13900139000", "region": "r1"})


def _tracing(route: str) -> Builder:
    return lambda w, caller: Call(route, {"case": {"subject": w.holder_subject},
                                          "reason": "outbreak tracing"})


def _scan_batch(w: World, caller: str) -> Call:
    return Call("/api/v1/scans/batch", {"scans": [{
        "scan_id": f"offline-{uuid.uuid4().hex}", "token": w.token,
        "scanned_at": _now(minutes=-1), "decision": "refuse"}]})


# fmt: off
REQUESTS: dict[tuple[str, str], Builder] = {
    ("GET", "/"): _fixed("/"),
    ("GET", "/scan"): _fixed("/scan"),
    ("GET", "/console"): _fixed("/console"),
    ("GET", "/healthz"): _fixed("/healthz"),
    ("GET", "/readyz"): _fixed("/readyz"),
    ("GET", "/metrics"): _fixed("/metrics"),
    ("GET", "/.well-known/jwks.json"): _fixed("/.well-known/jwks.json"),
    ("POST", "/api/v1/citizens"): _register_call,
    ("POST", "/api/v1/me/verification"): _fixed("/api/v1/me/verification", {"method": "sms"}),
    ("POST", "/api/v1/me/verification/confirm"):
        _fixed("/api/v1/me/verification/confirm", {"code": "000000"}),
    ("POST", "/api/v1/registrar/verifications"):
        lambda w, c: Call("/api/v1/registrar/verifications", {
            "citizen_id": w.pending_registration, "id_number": w.pending_id_number}),
    ("POST", "/api/v1/me/questionnaires"): _fixed("/api/v1/me/questionnaires", {
        "temperature_c": 36.6, "symptoms": [], "travel": []}),
    ("GET", "/api/v1/me/code"): _fixed("/api/v1/me/code"),
    ("POST", "/api/v1/me/tokens"): _fixed("/api/v1/me/tokens", {}),
    ("GET", QR): lambda w, c: [Call(f"/api/v1/me/tokens/{w.jti}/qr.{fmt}")
                               for fmt in ("png", "svg")],
    ("GET", "/api/v1/me/restrictions"): _fixed("/api/v1/me/restrictions"),
    ("GET", "/api/v1/me/notices"): _fixed("/api/v1/me/notices"),
    ("POST", "/api/v1/me/appeals"): _appeal,
    ("GET", "/api/v1/me/appeals"): _fixed("/api/v1/me/appeals"),
    ("POST", "/api/v1/me/daily-reports"): _fixed("/api/v1/me/daily-reports", {
        "temperature_c": 36.6, "symptoms": []}),
    ("GET", "/api/v1/me/data"): _fixed("/api/v1/me/data"),
    ("GET", "/api/v1/me/access-log"): _fixed("/api/v1/me/access-log"),
    ("GET", "/api/v1/appeals"): _fixed("/api/v1/appeals"),
    ("POST", "/api/v1/appeals/<id:appeal_id>/decision"): _decision,
    ("POST", "/api/v1/gov/records"): _records,
    ("PUT", "/api/v1/gov/areas/<string:area_code>"): _fixed("/api/v1/gov/areas/r1-market", {
        "risk_level": "medium", "since": _now(days=-1), "region": "r1"}),
    ("GET", "/api/v1/rulesets/active"): _fixed("/api/v1/rulesets/active"),
    ("GET", "/api/v1/rulesets"): _fixed("/api/v1/rulesets"),
    ("POST", "/api/v1/rulesets"):
        lambda w, c: Call("/api/v1/rulesets", {"rules": w.rules, "note": "a draft"}),
    ("GET", "/api/v1/rulesets/<id:ruleset_id>"):
        lambda w, c: Call(f"/api/v1/rulesets/{w.draft_id}"),
    ("POST", "/api/v1/rulesets/<id:ruleset_id>/simulate"):
        lambda w, c: Call(f"/api/v1/rulesets/{w.draft_id}/simulate"),
    ("POST", "/api/v1/rulesets/<id:ruleset_id>/publish"):
        lambda w, c: Call(f"/api/v1/rulesets/{w.draft_id}/publish"),
    ("POST", "/api/v1/rulesets/rollback"): _fixed("/api/v1/rulesets/rollback", {
        "to_version": 1, "reason": "back to the default"}),
    ("GET", "/api/v1/audit"): _fixed("/api/v1/audit"),
    ("GET", "/api/v1/stats/colors"): _fixed("/api/v1/stats/colors"),
    ("POST", "/api/v1/tracing/leads"): _tracing("/api/v1/tracing/leads"),
    ("POST", "/api/v1/tracing/import"): _tracing("/api/v1/tracing/import"),
    ("POST", "/api/v1/checkpoints"): _fixed("/api/v1/checkpoints", {
        "name": "School gate", "category": "school", "region": "r1", "admits": ["green"]}),
    ("GET", "/api/v1/checkpoints"): _fixed("/api/v1/checkpoints"),
    ("POST", "/api/v1/checkpoints/<id:checkpoint_id>/devices"):
        lambda w, c: Call(f"/api/v1/checkpoints/{w.checkpoint_id}/devices", {"name": "back"}),
    ("POST", "/api/v1/scans"): lambda w, c: Call("/api/v1/scans", {"token": w.token}),
    ("POST", "/api/v1/scans/batch"): _scan_batch,
    ("GET", "/api/v1/checkpoints/bundle"): _fixed("/api/v1/checkpoints/bundle"),
    ("POST", "/api/v1/credit/restrictions"):
        lambda w, c: Call("/api/v1/credit/restrictions", _restriction_body(unique_id_number())),
    ("POST", "/api/v1/credit/restrictions/<id:restriction_id>/lift"):
        lambda w, c: Call(f"/api/v1/credit/restrictions/{w.restriction_id}/lift",
                          {"reason": "paid in full"}),
    ("GET", "/api/v1/credit/audit"): _fixed("/api/v1/credit/audit"),
    ("GET", "/api/v1/trust/issuers"): _fixed("/api/v1/trust/issuers"),
    ("PUT", "/api/v1/trust/issuers/<string:issuer_id>"):
        lambda w, c: Call(f"/api/v1/trust/issuers/{w.issuer_id}", {
            "name": "Other deployment", "jwks_url": "http://127.0.0.1:9/jwks.json"}),
    ("DELETE", "/api/v1/trust/issuers/<string:issuer_id>"):
        lambda w, c: Call(f"/api/v1/trust/issuers/{w.issuer_id}"),
    ("POST", "/api/v1/trust/issuers/<string:issuer_id>/refresh"):
        lambda w, c: Call(f"/api/v1/trust/issuers/{w.issuer_id}/refresh"),
}
# fmt: on


# --- what another region's official must not see ----------------------------------


def _r1_free(body: Any, w: World) -> list[str]:
    """Problems if a 200 to the r2 official carries r1 data (ids, subjects, region)."""
    text = str(body)
    leaks = [s for s in (w.holder_subject, w.lead_subject) if s in text]
    if "'r1'" in text:
        leaks.append("region r1")
    return leaks


def _no_leads(body: Any, w: World) -> list[str]:
    found = body.get("leads") or body.get("accepted")
    return [f"leads of the r1 case: {found}"] if found else []


def _no_r1_rows(key: str) -> Callable[[Any, World], list[str]]:
    def check(body: Any, w: World) -> list[str]:
        rows = [r for r in body.get(key, []) if r.get("region", "r2") != "r2"
                or r.get("checkpoint_id") == w.checkpoint_id or r.get("id") in (
                    w.code_appeal_id, w.draft_id)]
        return [f"{key} of another region: {rows}"] if rows else []
    return check


OTHER_REGION_SEES_NOTHING: dict[tuple[str, str], Callable[[Any, World], list[str]]] = {
    ("GET", "/api/v1/appeals"): _no_r1_rows("appeals"),
    ("GET", "/api/v1/rulesets"): _no_r1_rows("rulesets"),
    ("GET", "/api/v1/rulesets/active"): _r1_free,
    ("GET", "/api/v1/checkpoints"): _no_r1_rows("checkpoints"),
    ("GET", "/api/v1/audit"): _no_r1_rows("entries"),
    ("GET", "/api/v1/stats/colors"): _r1_free,
    ("POST", "/api/v1/tracing/leads"): _no_leads,
    ("POST", "/api/v1/tracing/import"): _no_leads,
}


def _no_holder_data(body: Any, w: World) -> list[str]:
    """Problems if a 200 to the other citizen carries anything of the holder's."""
    text = str(body)
    return [m for m in (w.holder_subject, "CC-MATRIX", "(2026) Hu 01 Zhi 123", "abroad")
            if m in text]


OTHER_CITIZEN_SEES_NOTHING: dict[tuple[str, str], Callable[[Any, World], list[str]]] = {
    ("GET", "/api/v1/me/code"): _no_holder_data,
    ("GET", "/api/v1/me/restrictions"): _no_holder_data,
    ("GET", "/api/v1/me/notices"): _no_holder_data,
    ("GET", "/api/v1/me/appeals"): _no_holder_data,
    ("GET", "/api/v1/me/data"): _no_holder_data,
}
# (caller who must not see the data, caller who must, the checks)
LEAK_CHECKS = (
    ("official_r2", OFFICIAL, OTHER_REGION_SEES_NOTHING),
    ("other_citizen", CITIZEN, OTHER_CITIZEN_SEES_NOTHING),
    ("unverified", CITIZEN, OTHER_CITIZEN_SEES_NOTHING),
)


# --- the tests -----------------------------------------------------------------------


def _served_routes(app: Flask) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if not rule.rule.startswith(SKIPPED_RULES)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_every_route_is_in_the_table(app):
    served = _served_routes(app)
    assert sorted(served - MATRIX.keys()) == [], "routes served but not in MATRIX"
    assert sorted(MATRIX.keys() - served) == [], "routes in MATRIX the app does not serve"
    assert REQUESTS.keys() == MATRIX.keys()
    for route, row in MATRIX.items():
        assert set(row) <= set(CALLERS), route
        assert set(CALLERS) - {"other_citizen"} <= set(row), route


def test_the_table_agrees_with_the_role_checks_in_the_code(app):
    """The roles each view's ``@requires`` admits are exactly the ones the table allows."""
    mismatches = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(SKIPPED_RULES):
            continue
        view = app.view_functions[rule.endpoint]
        in_code = {r.value for r in getattr(view, "_required_roles", Role)}
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            row = MATRIX[(method, rule.rule)]
            in_table = {role for role in ROLES if row[role] < 400}
            if in_code != in_table:
                mismatches.append(((method, rule.rule), sorted(in_code), sorted(in_table)))
    assert mismatches == []


def _leaks(route: tuple[str, str], caller: str, body: Any, world: World) -> list[str]:
    problems = []
    for outsider, insider, checks in LEAK_CHECKS:
        if route not in checks or caller not in (outsider, insider):
            continue
        found = checks[route](body, world)
        if caller == outsider and found:
            problems.append(f"{caller} sees data that is not theirs: {found}")
        if caller == insider and not found:  # the check must see the data where it belongs
            problems.append(f"{caller}: the leak check finds nothing in {body}")
    return problems


def _check_call(client: FlaskClient, method: str, call: Call, headers: dict[str, str],
                route: tuple[str, str], caller: str, expected: int, world: World) -> list[str]:
    response = client.open(call.path, method=method, headers=headers, json=call.json)
    got = response.status_code
    body = response.get_json(silent=True)
    wrong = []
    if got != expected:
        error = body.get("error") if isinstance(body, dict) else None
        wrong.append(f"{caller} {call.path}: expected {expected}, got {got} {error or ''}")
    elif got == 200:
        wrong.extend(_leaks(route, caller, body, world))
    if got >= 400 and not (isinstance(body, dict) and isinstance(body.get("error"), dict)
                           and set(body["error"]) >= {"code", "message", "fields"}):
        wrong.append(f"{caller}: {got} without the JSON error shape: {response.data[:200]}")
    return wrong


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_answers_every_caller_as_documented(route, app, client):
    world = build_world(app, client)
    method, _ = route
    expected = MATRIX[route]
    allowed = [role for role in ROLES if expected[role] < 400] or [CITIZEN]
    calls: list[tuple[str, dict[str, str]]] = [("anonymous", {})]
    calls += [("revoked", world.revoked[role]) for role in allowed]  # each admitted role's
    calls += [(c, world.callers[c]) for c in CALLERS[2:] if c in expected]
    wrong = []
    for caller, headers in calls:
        built = REQUESTS[route](world, caller)
        for call in built if isinstance(built, list) else [built]:
            wrong.extend(_check_call(client, method, call, headers, route, caller,
                                     expected[caller], world))
    assert wrong == [], f"{method} {route[1]}"
