"""Officials steer the rules: draft, simulate, publish, roll back, all audited."""

import copy

import pytest
from conftest import table_count
from sqlalchemy import text

from backend.extensions import db
from backend.models import Role


@pytest.fixture
def official(operator):
    return operator(Role.OFFICIAL, region="r1", name="Official Wang")


def _active_rules(client, official):
    response = client.get("/api/v1/rulesets/active", headers=official)
    assert response.status_code == 200
    return response.json


def _lower_fever_threshold(rules, threshold=37.0):
    rules = copy.deepcopy(rules)
    fever = next(r for r in rules if r["id"] == "fever")
    fever["when"]["and"][1]["or"][0][">="][1] = threshold
    fever["summary"] = f"Temperature of {threshold} C or more reported"
    return rules


def _report(client, headers, temperature):
    response = client.post("/api/v1/me/questionnaires", headers=headers,
                           json={"temperature_c": temperature, "symptoms": []})
    assert response.status_code == 201
    return response.json["code"]["color"]


def _color(client, headers):
    return client.get("/api/v1/me/code", headers=headers).json


@pytest.fixture
def population(client, citizen):
    """Three people at 37.1 C (green now, yellow at 37.0), two healthy, one feverish."""
    people = {"borderline": [], "healthy": [], "feverish": []}
    for group, temperature, count in (("borderline", 37.1, 3), ("healthy", 36.5, 2),
                                      ("feverish", 37.6, 1)):
        for _ in range(count):
            headers, _, _ = citizen()
            _report(client, headers, temperature)
            people[group].append(headers)
    other_region, _, _ = citizen(region="r2")
    _report(client, other_region, 37.1)
    people["other_region"] = [other_region]
    return people


def test_lifecycle_simulate_publish_rollback_audit(client, official, population, runner, app):
    active = _active_rules(client, official)
    assert active["version"] == 1
    draft = client.post("/api/v1/rulesets", headers=official, json={
        "rules": _lower_fever_threshold(active["rules"]), "note": "fever from 37.0 C"})
    assert draft.status_code == 201, draft.json
    assert draft.json["status"] == "draft"
    draft_id = draft.json["id"]

    simulation = client.post(f"/api/v1/rulesets/{draft_id}/simulate", headers=official).json
    assert simulation["subjects"] == 6
    assert simulation["changes"] == {"green->yellow": 3}
    # Samples are groups, never a person: what would fire, and for how many.
    [sample] = simulation["samples"]
    assert (sample["transition"], sample["count"]) == ("green->yellow", 3)
    assert [r["rule_id"] for r in sample["reasons"]] == ["fever"]
    assert set(sample) == {"count", "transition", "reasons"}
    # Simulation writes nothing.
    assert all(_color(client, h)["color"] == "green" for h in population["borderline"])

    published = client.post(f"/api/v1/rulesets/{draft_id}/publish", headers=official)
    assert published.status_code == 200, published.json
    assert published.json["version"] == 2
    assert published.json["changed"] == 3
    for headers in population["borderline"]:
        code = _color(client, headers)
        assert code["color"] == "yellow"
        assert code["ruleset_version"] == 2
        assert code["reasons"][0]["summary"] == "Temperature of 37.0 C or more reported"
    assert _color(client, population["other_region"][0])["color"] == "green"
    assert _color(client, population["feverish"][0])["color"] == "yellow"

    rolled = client.post("/api/v1/rulesets/rollback", headers=official,
                         json={"to_version": 1, "reason": "too many false alarms"})
    assert rolled.status_code == 200, rolled.json
    assert rolled.json["version"] == 3
    assert all(_color(client, h)["color"] == "green" for h in population["borderline"])
    assert _active_rules(client, official)["rules"] == active["rules"]

    log = client.get("/api/v1/audit", headers=official).json
    ruleset_acts = [e for e in log["entries"] if e["action"].startswith("ruleset.")]
    assert [e["action"] for e in ruleset_acts] == [
        "ruleset.rollback", "ruleset.publish", "ruleset.simulate", "ruleset.draft"]
    assert ruleset_acts[0]["reason"] == "too many false alarms"
    assert ruleset_acts[0]["actor_name"] == "Official Wang"
    assert all(e["region"] == "r1" for e in log["entries"])

    assert runner.invoke(args=["verify-audit"]).exit_code == 0
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET reason = 'nothing to see' "
                          "WHERE action = 'ruleset.publish'"))
    result = runner.invoke(args=["verify-audit"])
    assert result.exit_code == 1
    assert "BROKEN" in result.output


def test_verify_audit_detects_a_deleted_entry(client, official, population, runner, app):
    rules = _active_rules(client, official)["rules"]
    before = table_count(app, "audit_log")
    for note in ("one", "two", "three"):
        client.post("/api/v1/rulesets", headers=official, json={"rules": rules, "note": note})
    assert f"{before + 3} entries" in runner.invoke(args=["verify-audit"]).output
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE reason = 'two'"))
    assert runner.invoke(args=["verify-audit"]).exit_code == 1


def test_audit_entries_cannot_be_changed_through_the_code(client, official, app):
    from backend.models import AuditEntry
    from backend.models.audit import AuditLogIsAppendOnly

    rules = _active_rules(client, official)["rules"]
    client.post("/api/v1/rulesets", headers=official, json={"rules": rules, "note": "n"})
    with app.app_context():
        entry = db.session.execute(db.select(AuditEntry)).scalar_one()
        entry.reason = "rewritten"
        with pytest.raises(AuditLogIsAppendOnly):
            db.session.flush()
        db.session.rollback()
        entry = db.session.execute(db.select(AuditEntry)).scalar_one()
        db.session.delete(entry)
        with pytest.raises(AuditLogIsAppendOnly):
            db.session.flush()
        db.session.rollback()


def test_failed_publish_leaves_old_version_and_codes(client, official, population, monkeypatch):
    import backend.services.codes as codes

    rules = _lower_fever_threshold(_active_rules(client, official)["rules"])
    draft_id = client.post("/api/v1/rulesets", headers=official,
                           json={"rules": rules, "note": "x"}).json["id"]
    real, calls = codes.evaluate, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > 4:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(codes, "evaluate", failing)
    with pytest.raises(RuntimeError):
        client.post(f"/api/v1/rulesets/{draft_id}/publish", headers=official)
    monkeypatch.setattr(codes, "evaluate", real)
    assert _active_rules(client, official)["version"] == 1
    versions = [_color(client, h) for h in population["borderline"]]
    assert {(c["color"], c["ruleset_version"], c["version"]) for c in versions} == {
        ("green", 1, 1)}
    actions = [e["action"] for e in client.get("/api/v1/audit", headers=official).json["entries"]]
    assert "ruleset.publish" not in actions


BAD_RULES = [
    ("unknown_fact", {"when": {">=": [{"var": "body_heat"}, 37]}}, "when"),
    ("wrong_operand_type", {"when": {">=": [{"var": "temperature_c"}, "37.3"]}}, "when"),
    ("unknown_color", {"color": "purple"}, "color"),
    ("quarantine_zero", {"quarantine_days": 0}, "quarantine_days"),
    ("quarantine_too_long", {"quarantine_days": 29}, "quarantine_days"),
    ("not_jsonlogic", {"when": {"eval": ["import os"]}}, "when"),
    ("missing_summary", {"summary": None}, "summary"),
]


@pytest.mark.parametrize(("name", "change", "field"), BAD_RULES, ids=[b[0] for b in BAD_RULES])
def test_invalid_drafts_are_refused_naming_rule_and_field(client, official, app, name, change,
                                                           field):
    rule = {"id": "r-" + name, "summary": "s", "when": {"==": [{"var": "kind"}, "close_contact"]},
            "color": "red", "quarantine_days": 14, **change}
    rule = {k: v for k, v in rule.items() if v is not None}
    response = client.post("/api/v1/rulesets", headers=official,
                           json={"rules": [rule], "note": "bad"})
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "invalid_ruleset"
    assert field in error["fields"]["rules"]["0"]
    assert any(p["field"] == field and p["index"] == 0 for p in error["problems"])
    with app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM rulesets WHERE status='draft'")
                                  ).scalar_one() == 0


def test_empty_and_duplicate_rulesets_are_refused(client, official):
    empty = client.post("/api/v1/rulesets", headers=official, json={"rules": [], "note": ""})
    assert empty.status_code == 422 and "rules" in empty.json["error"]["fields"]
    rule = {"id": "same", "summary": "s", "when": {"==": [{"var": "kind"}, "close_contact"]},
            "color": "red", "quarantine_days": 14}
    dup = client.post("/api/v1/rulesets", headers=official, json={"rules": [rule, rule]})
    assert dup.status_code == 422
    assert "id" in dup.json["error"]["fields"]["rules"]["1"]


def test_other_regions_rules_and_audit_are_out_of_reach(client, official, operator):
    rules = _active_rules(client, official)["rules"]
    draft_id = client.post("/api/v1/rulesets", headers=official,
                           json={"rules": rules, "note": "r1 draft"}).json["id"]
    stranger = operator(Role.OFFICIAL, region="r2")
    for path in (f"/api/v1/rulesets/{draft_id}", ):
        assert client.get(path, headers=stranger).status_code == 403
    for path in (f"/api/v1/rulesets/{draft_id}/simulate", f"/api/v1/rulesets/{draft_id}/publish"):
        assert client.post(path, headers=stranger).status_code == 403
    assert client.get("/api/v1/audit", headers=stranger).json["entries"] == []
    assert client.get("/api/v1/audit", headers=official).json["total"] == 1


def test_audit_filters_and_pages(client, official, operator):
    rules = _active_rules(client, official)["rules"]
    for i in range(5):
        client.post("/api/v1/rulesets", headers=official, json={"rules": rules, "note": str(i)})
    page = client.get("/api/v1/audit?per_page=2&page=2", headers=official).json
    assert page["total"] == 5 and [e["reason"] for e in page["entries"]] == ["2", "1"]
    none = client.get("/api/v1/audit?action=ruleset.publish", headers=official).json
    assert none["total"] == 0
    future = client.get("/api/v1/audit?since=2999-01-01T00:00:00%2B00:00", headers=official).json
    assert future["total"] == 0
    bad = client.get("/api/v1/audit?per_page=1000", headers=official)
    assert bad.status_code == 422 and "per_page" in bad.json["error"]["fields"]


def test_rollback_to_unknown_version_is_422(client, official):
    response = client.post("/api/v1/rulesets/rollback", headers=official, json={"to_version": 9})
    assert response.status_code == 422
    assert "to_version" in response.json["error"]["fields"]


def test_citizens_cannot_touch_rulesets(client, citizen):
    headers, _, _ = citizen()
    assert client.get("/api/v1/rulesets/active", headers=headers).status_code == 403
    assert client.get("/api/v1/audit", headers=headers).status_code == 403


def test_simulation_and_publish_from_the_command_line_report_progress(client, official,
                                                                      population, runner):
    rules = _lower_fever_threshold(_active_rules(client, official)["rules"])
    draft_id = client.post("/api/v1/rulesets", headers=official,
                           json={"rules": rules, "note": "cli"}).json["id"]
    simulated = runner.invoke(args=["simulate-ruleset", str(draft_id), "--region", "r1"])
    assert simulated.exit_code == 0, simulated.output
    assert "evaluated 6 people" in simulated.output
    assert '"green->yellow": 3' in simulated.output
    published = runner.invoke(args=["publish-ruleset", str(draft_id), "--region", "r1"])
    assert "published version 2: 3 of 6 codes changed" in published.output
    assert all(_color(client, h)["color"] == "yellow" for h in population["borderline"])
