"""Fuzzing against the contract: schemathesis drives every operation of the OpenAPI document.

Every operation of ``/api/v1/openapi.json`` runs with generated path parameters,
bodies, headers and query strings, valid and invalid (schemathesis' positive and
negative modes), once as each role that ``@requires`` admits (the caller's bearer
secret replaces whatever ``Authorization`` was generated) and once unauthenticated
(the generated, nonsense ``Authorization`` or none). Some examples use the ids of
a small world made through the API (a draft ruleset, a checkpoint, appeals, a
restriction, a live token, a trusted issuer), so the answers are not all 404s.

Each response must be

* no server error (no 5xx, no exception out of the app),
* a status the operation documents (``default`` included),
* of the documented content type,
* a body that validates against the documented schema,
* a refusal when the request violates the documented schema.

Failures are collected (not raised at the first one), so a test lists every
distinct failure of its operation with one request that shows it.

The run is bounded and reproducible: ``FUZZ_EXAMPLES`` (default 20) examples per
operation and role, 5 unauthenticated, derandomized, no deadline. The counts of
requests and operations go to ``artifacts/fuzz-summary.json`` (or ``FUZZ_SUMMARY``) and
to the terminal.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from conftest import _clean_tables, bearer, register_verified, unique_id_number
from flask import Flask, got_request_exception
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import Failure, FailureGroup

from backend import create_app
from backend.auth import issue_credential
from backend.config import TestConfig
from backend.extensions import db
from backend.models import Role

SPEC_PATH = "/api/v1/openapi.json"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
UNAUTHENTICATED_EXAMPLES = 5
SUMMARY_PATH = Path(os.environ.get("FUZZ_SUMMARY") or
                    Path(__file__).resolve().parents[2] / "artifacts" / "fuzz-summary.json")
UNAUTHENTICATED = "unauthenticated"
# Values the document allows where it sets no bound, which generated data seldom holds:
# integers past a 32-bit (PostgreSQL integer) or 64-bit (SQLite) column, and strings with a
# NUL (PostgreSQL text refuses it) or, in a JSON body only (a URL cannot carry one), a lone
# surrogate (the JSON escape \ud800 is valid JSON but not encodable as UTF-8).
# The answer must be a 4xx or a success, never a 500.
BIG_INTEGERS = (2**31, 2**63, 10**30)
ODD_STRINGS = {"path": ("ab\x00cd",), "query": ("ab\x00cd",), "body": ("ab\x00cd", "ab\ud800cd")}


# --- the operations, read once from an app on a throw-away instance folder ---------


def _flask_path(rule: str) -> str:
    """``/a/<int:id>/b`` -> ``/a/{id}/b``, the OpenAPI spelling."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _load_document() -> tuple[schemathesis.BaseSchema, dict[tuple[str, str], list[str]]]:
    with tempfile.TemporaryDirectory() as instance:
        spec_app = create_app(TestConfig(instance))
        schema = schemathesis.openapi.from_wsgi(SPEC_PATH, spec_app)
        roles: dict[tuple[str, str], list[str]] = {}
        for rule in spec_app.url_map.iter_rules():
            required = getattr(spec_app.view_functions[rule.endpoint], "_required_roles", None)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                roles[(method, _flask_path(rule.rule))] = sorted(r.value for r in required or ())
    return schema, roles


SCHEMA, ROLES_BY_ROUTE = _load_document()
OPERATIONS = {(op.method.upper(), op.path): op
              for op in (result.ok() for result in SCHEMA.get_all_operations())}


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = SCHEMA.raw_schema["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return schema


def _scalar_fields(operation) -> dict[tuple[str, str], dict]:
    """``{(location, name): schema}``: path and query parameters and top-level body fields."""
    shared = SCHEMA.raw_schema["paths"][operation.path].get("parameters", [])
    found = {}
    for parameter in [*shared, *operation.definition.raw.get("parameters", [])]:
        if parameter.get("in") in ("path", "query"):
            found[(parameter["in"], parameter["name"])] = parameter.get("schema", {})
    body = operation.definition.raw.get("requestBody", {}).get("content", {})
    body_schema = _resolve(body.get("application/json", {}).get("schema", {}))
    for name, schema in body_schema.get("properties", {}).items():
        found[("body", name)] = _resolve(schema)
    return found


def _odd_values(location: str, schema: dict) -> list[Any]:
    """The values of ``BIG_INTEGERS`` and ``ODD_STRINGS`` that ``schema`` admits."""
    if schema.get("type") == "integer":
        return [n for n in BIG_INTEGERS if n <= schema.get("maximum", n)]
    if schema.get("type") == "string" and not ({"pattern", "format", "enum"} & set(schema)):
        return [v for v in ODD_STRINGS[location]
                if schema.get("minLength", 0) <= len(v) <= schema.get("maxLength", len(v))]
    return []


def documented_body(ctx, response, case) -> None:
    """A response with a body must have its content documented (status or ``default``)."""
    responses = case.operation.definition.raw.get("responses", {})
    declared = responses.get(str(response.status_code), responses.get("default"))
    if declared is None or not response.content:
        return  # an undeclared status is status_code_conformance's to report
    if "$ref" in declared:
        declared = SCHEMA.raw_schema["components"]["responses"][declared["$ref"].split("/")[-1]]
    if not declared.get("content"):
        raise AssertionError(
            f"{response.status_code} answers with a {_content_type(response)} body but the "
            f"document declares no content for it")


def _content_type(response) -> str | None:
    for name, value in response.headers.items():
        if name.lower() == "content-type":
            return ", ".join(value) if isinstance(value, list) else value
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    documented_body,
]


def _runs() -> Iterator[Any]:
    for key in sorted(OPERATIONS):
        roles = ROLES_BY_ROUTE.get(key, [])
        for caller in roles or ["public"]:
            yield pytest.param(key, caller, id=f"{key[0]} {key[1]} as {caller}")
        if roles:
            yield pytest.param(key, UNAUTHENTICATED, id=f"{key[0]} {key[1]} {UNAUTHENTICATED}")


# --- the world the fuzzed requests run in --------------------------------------------


@dataclass
class Stats:
    requests: int = 0
    by_operation: Counter = field(default_factory=Counter)
    by_caller: Counter = field(default_factory=Counter)
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    failures: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    started: float = field(default_factory=time.perf_counter)


@dataclass
class World:
    app: Flask
    secrets: dict[str, dict[str, str]]
    # Path parameters and body fields a generated example may take from here instead.
    known: dict[str, dict[str, Any]]
    stats: Stats = field(default_factory=Stats)
    # Exceptions out of views (a 500 in production); the WSGI transport re-raises them.
    crashes: list[BaseException] = field(default_factory=list)


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


def _build_world(app: Flask) -> World:
    client = app.test_client()
    secrets = {}
    with app.app_context():
        for role in (Role.OFFICIAL, Role.DATA_PROVIDER, Role.CREDIT_AUTHORITY, Role.ADMIN,
                     Role.REGISTRAR):
            _, secret = issue_credential(role, region="r1", name=f"fuzz {role.value}")
            secrets[role.value] = bearer(secret)
        db.session.commit()
    official = secrets["official"]
    secrets["citizen"], id_number, citizen = register_verified(app, client, name="王小明")
    checkpoint_id = _ok(client.post("/api/v1/checkpoints", headers=official, json={
        "name": "Station", "category": "rail", "region": "r1", "admits": ["green"]}),
        201)["checkpoint_id"]
    device = _ok(client.post(f"/api/v1/checkpoints/{checkpoint_id}/devices", headers=official,
                             json={}), 201)
    secrets["checkpoint_device"] = bearer(device["token"])

    now = datetime.now(UTC)
    _ok(client.post("/api/v1/gov/records", headers=secrets["data_provider"], json={"records": [{
        "kind": "close_contact", "id_number": id_number, "source": "cdc", "ref": "CC-FUZZ",
        "occurred_at": (now - timedelta(days=1)).isoformat()}]}))
    restriction_id = _ok(client.post(
        "/api/v1/credit/restrictions", headers=secrets["credit_authority"], json={
            "id_number": id_number, "categories": ["rail"],
            "legal_basis": {"kind": "court_judgment", "ref": "(2026) Fuzz 1",
                            "authority": "Intermediate People's Court", "authority_level": "city"},
            "notified_at": (now - timedelta(days=3)).isoformat(),
            "effective_from": (now - timedelta(days=1)).isoformat(),
            "remedy": "Pay the judgment debt."}), 201)["restriction_id"]
    code_appeal = _ok(client.post("/api/v1/me/appeals", headers=secrets["citizen"], json={
        "target": "code", "target_id": "cdc/CC-FUZZ", "reason": "I was not there."}), 201)
    restriction_appeal = _ok(client.post("/api/v1/me/appeals", headers=secrets["citizen"], json={
        "target": "restriction", "target_id": str(restriction_id), "reason": "Paid already."}),
        201)
    token = _ok(client.post("/api/v1/me/tokens", headers=secrets["citizen"], json={}), 201)
    rules = _ok(client.get("/api/v1/rulesets/active", headers=official))["rules"]
    draft = _ok(client.post("/api/v1/rulesets", headers=official,
                            json={"rules": rules, "note": "fuzz draft"}), 201)
    _ok(client.put("/api/v1/trust/issuers/other-deployment", headers=secrets["admin"], json={
        "name": "Other deployment", "jwks_url": "http://127.0.0.1:9/.well-known/jwks.json"}))

    shared = {"jti": token["jti"], "token": token["token"], "ruleset_id": draft["id"],
              "checkpoint_id": checkpoint_id, "restriction_id": restriction_id,
              "issuer_id": "other-deployment", "area_code": "r1-market", "region": "r1",
              "id_number": id_number, "to_version": 1, "rules": rules,
              "case": {"subject": citizen["subject"]}}
    known = {caller: dict(shared) for caller in (*secrets, "public", UNAUTHENTICATED)}
    known["public"]["id_number"] = unique_id_number  # a registration needs a new one
    known["official"]["appeal_id"] = code_appeal["id"]
    known["credit_authority"]["appeal_id"] = restriction_appeal["id"]
    return World(app=app, secrets=secrets, known=known)


def _summary(world: World) -> dict:
    stats = world.stats
    operations = sorted(stats.by_operation)
    undocumented = {}
    for operation in operations:
        method, path = operation.split(" ", 1)
        declared = set(OPERATIONS[(method, path)].definition.raw.get("responses", {}))
        seen = set(stats.statuses[operation])
        only_default = sorted(s for s in seen if s not in declared)
        if only_default:
            undocumented[operation] = only_default
    return {
        "schemathesis": schemathesis.__version__,
        "examples_per_operation_and_role": EXAMPLES,
        "unauthenticated_examples": UNAUTHENTICATED_EXAMPLES,
        "operations_in_document": len(OPERATIONS),
        "operations_exercised": len(operations),
        "requests": stats.requests,
        "seconds": round(time.perf_counter() - stats.started, 1),
        "requests_by_caller": dict(sorted(stats.by_caller.items())),
        "requests_by_operation": {op: stats.by_operation[op] for op in operations},
        "statuses_by_operation": {op: dict(sorted(stats.statuses[op].items()))
                                  for op in operations},
        "statuses_covered_only_by_default": undocumented,
        "failures": {k: v for k, v in sorted(stats.failures.items())},
    }


@pytest.fixture(scope="module")
def world(migrated: Path, request) -> Iterator[World]:
    """One app for the whole module: credentials, citizen, checkpoint and device made once."""
    app = create_app(TestConfig(migrated))
    app.config["JWKS_FETCH_TIMEOUT_SECONDS"] = 1  # generated trust-list URLs must not stall
    built = _build_world(app)

    def remember(sender, exception, **_):
        built.crashes.append(exception)

    got_request_exception.connect(remember, app)
    yield built
    got_request_exception.disconnect(remember, app)
    summary = _summary(built)
    SUMMARY_PATH.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY_PATH.write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=repr) + "\n",
                            encoding="utf-8", errors="backslashreplace")
    failing = sum(1 for v in summary["failures"].values() if v)
    line = (f"fuzz: {summary['requests']} requests over {summary['operations_exercised']}"
            f"/{summary['operations_in_document']} operations in {summary['seconds']} s; "
            f"{failing} runs with failures; summary in {SUMMARY_PATH}")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\n" + line)
    with app.app_context():
        db.session.remove()
    _clean_tables(app)
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


# --- one fuzzing run per operation and caller -------------------------------------


def _has_negative_space(operation) -> bool:
    raw = operation.definition.raw
    secured = raw.get("security", SCHEMA.raw_schema.get("security")) not in (None, [])
    return bool(list(operation.iter_parameters()) or operation.body or secured)


def _prepare(case, data, world: World, caller: str, mode: GenerationMode) -> None:
    """Authenticate ``case`` as ``caller``; sometimes use the world's ids and values, or
    values from ``BIG_INTEGERS`` and ``ODD_STRINGS``."""
    if caller in world.secrets:
        case.headers = {**(case.headers or {}), **world.secrets[caller]}
    if mode is not GenerationMode.POSITIVE:
        return
    known = world.known[caller]

    def value(name: str) -> Any:
        found = known[name]
        return found() if callable(found) else copy.deepcopy(found)

    for name in list(case.path_parameters or {}):
        if name in known and data.draw(st.booleans(), label=f"known {name}"):
            case.path_parameters[name] = value(name)
    if isinstance(case.body, dict):
        for name in [n for n in case.body if n in known]:
            if data.draw(st.booleans(), label=f"known {name}"):
                case.body[name] = value(name)
    for (location, name), schema in _scalar_fields(case.operation).items():
        odd = _odd_values(location, schema)
        if not odd or data.draw(st.integers(0, 3), label=f"odd {name}?") != 0:
            continue
        chosen = data.draw(st.sampled_from(odd), label=f"odd {name}")
        if location == "path":
            case.path_parameters[name] = chosen
        elif location == "query":
            case.query = {**(case.query or {}), name: chosen}
        elif isinstance(case.body, dict):
            case.body[name] = chosen


def _record(stats: Stats, run: str, case, response, failures: list[Failure],
            crash: BaseException | None) -> None:
    seen = {f["key"] for f in stats.failures[run]}
    for failure in failures:
        status = 500 if crash is not None else response.status_code
        first_line = failure.message.strip().split("\n", 1)[0]
        key = f"{type(failure).__name__} {status} {failure.title}: {first_line}"
        if crash is not None:
            key += f" ({type(crash).__name__})"
        if key in seen:
            continue
        seen.add(key)
        stats.failures[run].append({
            "key": key,
            "check": type(failure).__name__,
            "title": failure.title,
            "status": status,
            "message": failure.message[:1500],
            "request": {"method": case.method, "path": case.formatted_path,
                        "query": case.query or None,
                        "body": None if not _is_set(case.body) else case.body},
            "response": (None if response is None
                         else response.content[:500].decode("utf-8", "replace")),
            "exception": None if crash is None else f"{type(crash).__name__}: {crash}"[:800],
        })


def _is_set(value: Any) -> bool:
    return type(value).__name__ != "NotSet"


@pytest.mark.parametrize(("route", "caller"), list(_runs()))
def test_operation_keeps_its_contract(route: tuple[str, str], caller: str, world: World):
    operation = OPERATIONS[route]
    label = f"{route[0]} {route[1]}"
    run = f"{label} as {caller}"
    stats = world.stats
    stats.failures[run] = []
    modes = [GenerationMode.POSITIVE]
    if _has_negative_space(operation):
        modes.append(GenerationMode.NEGATIVE)
    strategies = {mode: operation.as_strategy(mode) for mode in modes}
    examples = UNAUTHENTICATED_EXAMPLES if caller == UNAUTHENTICATED else EXAMPLES

    # Failures are collected, never raised, so there is nothing to shrink: generate only.
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck),
              print_blob=False)
    @given(data=st.data())
    def fuzz(data):
        mode = data.draw(st.sampled_from(modes), label="mode")
        case = data.draw(strategies[mode], label="case")
        _prepare(case, data, world, caller, mode)
        stats.requests += 1
        stats.by_operation[label] += 1
        stats.by_caller[caller] += 1
        world.crashes.clear()
        try:
            response = case.call(app=world.app)
        except Exception as exc:
            if exc not in world.crashes:
                raise  # not the app's: a problem of this test
            stats.statuses[label]["500"] += 1
            _record(stats, run, case, None, [Failure(
                operation=label, title="Server error: unhandled exception",
                message=f"{type(exc).__name__}: {exc}"[:1000])], exc)
            return
        stats.statuses[label][str(response.status_code)] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            _record(stats, run, case, response, list(group.exceptions), None)
        except Failure as failure:
            _record(stats, run, case, response, [failure], None)

    fuzz()
    found = stats.failures[run]
    report = "\n\n".join(
        f"[{f['check']}] {f['title']} (status {f['status']})\n{f['message']}\n"
        f"request: {json.dumps(f['request'], ensure_ascii=False, default=str)[:600]}\n"
        f"response: {f['response']}"
        + (f"\nexception: {f['exception']}" if f["exception"] else "") for f in found)
    assert not found, f"{len(found)} distinct failure(s) of {run}:\n\n{report}"
