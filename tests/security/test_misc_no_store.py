"""No answer about a person, and no secret, is kept by a browser or a proxy cache.

Issue 15, finding 12: ``GET /me/data`` and the other personal answers were sent without
``Cache-Control``, so a shared computer's browser cache or a caching proxy could keep
someone's records, code, appeals or a freshly issued secret. Every route that needs a
credential (walked from the app's URL map, so a route added later is covered too), and
registration, whose answer carries the new secret, must answer ``no-store``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from conftest import unique_id_number
from flask import Flask
from flask.testing import FlaskClient

from backend.models import Role


def _no_store(response) -> bool:
    return "no-store" in response.headers.get("Cache-Control", "")


def _example_path(rule: str) -> str:
    """A concrete address for a rule: ids 1, ``any(...)`` its first choice, else "x"."""
    path = re.sub(r"<id:[^>]+>", "1", rule)
    path = re.sub(r"<any\(([^,)]+)[^>]*>", lambda m: m.group(1).strip(), path)
    return re.sub(r"<[^>]+>", "x", path)


def _credentialed_routes(app: Flask) -> list[tuple[str, str, frozenset[Role]]]:
    routes = []
    for rule in app.url_map.iter_rules():
        roles = getattr(app.view_functions[rule.endpoint], "_required_roles", None)
        if roles:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                routes.append((method, rule.rule, roles))
    return sorted(routes)


@pytest.fixture
def callers(client: FlaskClient, citizen, operator) -> dict[Role, dict[str, str]]:
    """Headers of one caller per role; the device belongs to a real checkpoint."""
    official = operator(Role.OFFICIAL, region="r1", name="Officer Li")
    made = client.post("/api/v1/checkpoints", headers=official, json={
        "name": "Library", "category": "venue", "region": "r1", "admits": ["green"]})
    device = client.post(f"/api/v1/checkpoints/{made.json['checkpoint_id']}/devices",
                         headers=official, json={})
    return {
        Role.CITIZEN: citizen()[0],
        Role.OFFICIAL: official,
        Role.DATA_PROVIDER: operator(Role.DATA_PROVIDER),
        Role.CHECKPOINT_DEVICE: {"Authorization": f"Bearer {device.json['token']}"},
        Role.CREDIT_AUTHORITY: operator(Role.CREDIT_AUTHORITY, region="r1"),
        Role.ADMIN: operator(Role.ADMIN, region=None),
        Role.REGISTRAR: operator(Role.REGISTRAR, region="r1"),
    }


def test_every_route_behind_a_credential_answers_no_store(app, client, callers):
    routes = _credentialed_routes(app)
    walked = {(method, rule) for method, rule, _ in routes}
    # The walk cannot pass by finding nothing: the routes the finding names are in it.
    assert {("GET", "/api/v1/me/data"), ("GET", "/api/v1/appeals"), ("GET", "/api/v1/audit"),
            ("POST", "/api/v1/tracing/leads"), ("POST", "/api/v1/scans"),
            ("POST", "/api/v1/checkpoints/<id:checkpoint_id>/devices"),
            ("GET", "/api/v1/me/restrictions")} <= walked
    cacheable = []
    for method, rule, roles in routes:
        role = next((r for r in (Role.CITIZEN, Role.OFFICIAL) if r in roles), min(roles))
        body = {} if method in ("POST", "PUT", "PATCH") else None
        response = client.open(_example_path(rule), method=method, headers=callers[role],
                               json=body)
        if not _no_store(response):
            cacheable.append((method, rule, role.value, response.status_code,
                              response.headers.get("Cache-Control")))
    assert cacheable == []


def test_answers_holding_personal_data_or_a_secret_are_not_stored(client, citizen, callers,
                                                                  provider):
    registered = client.post("/api/v1/citizens", json={
        "name": "李四", "id_number": unique_id_number(), "phone": "13800138001",
        "region": "r1"})
    assert registered.status_code == 201 and "token" in registered.json
    assert _no_store(registered), registered.headers

    holder, id_number, _ = citizen()
    occurred = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    client.post("/api/v1/gov/records", headers=provider, json={"records": [{
        "kind": "close_contact", "id_number": id_number, "source": "cdc", "ref": "N-1",
        "occurred_at": occurred}]})
    token = client.post("/api/v1/me/tokens", headers=holder, json={})
    official, authority = callers[Role.OFFICIAL], callers[Role.CREDIT_AUTHORITY]
    now = datetime.now(UTC)
    answers = {
        "my data": client.get("/api/v1/me/data", headers=holder),
        "my code": client.get("/api/v1/me/code", headers=holder),
        "a token": token,
        "its QR": client.get(token.json["qr_png"], headers=holder),
        "an appeal": client.post("/api/v1/me/appeals", headers=holder, json={
            "target": "code", "target_id": "cdc/N-1", "reason": "It was not me."}),
        "my appeals": client.get("/api/v1/me/appeals", headers=holder),
        "my access log": client.get("/api/v1/me/access-log", headers=holder),
        "the appeal queue": client.get("/api/v1/appeals", headers=official),
        "the audit log": client.get("/api/v1/audit", headers=official),
        "a device secret": client.post("/api/v1/checkpoints/1/devices", headers=official,
                                       json={}),
        "tracing leads": client.post("/api/v1/tracing/leads", headers=official, json={
            "case": {"id_number": id_number}, "reason": "case 9 tracing"}),
        "a restriction": client.post("/api/v1/credit/restrictions", headers=authority, json={
            "id_number": id_number, "categories": ["air"],
            "legal_basis": {"kind": "court_judgment", "ref": "J-9", "authority": "City court",
                            "authority_level": "city"},
            "notified_at": (now - timedelta(days=3)).isoformat(),
            "effective_from": (now - timedelta(days=1)).isoformat(),
            "remedy": "settle the judgment"}),
    }
    assert {name: r.status_code for name, r in answers.items() if r.status_code >= 300} == {}
    assert [name for name, r in answers.items() if not _no_store(r)] == []


def test_public_documents_keep_their_own_caching(client):
    assert client.get("/.well-known/jwks.json").headers["Cache-Control"] == "public, max-age=60"
    assert client.get("/console").headers["Cache-Control"] == "no-cache"  # a page, revalidated


def test_the_other_security_headers_stay_on_pages_and_answers(client, callers):
    scan = client.post("/api/v1/scans", headers=callers[Role.CHECKPOINT_DEVICE],
                       json={"token": "not-a-token"})
    for response in (client.get("/console"), client.get("/.well-known/jwks.json"), scan):
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert "geolocation=()" in response.headers["Permissions-Policy"]
        assert len(response.headers.getlist("Content-Security-Policy")) == 1
    assert scan.status_code == 200 and scan.headers.getlist("Cache-Control") == ["no-store"]
