"""Credit acts are audited in the credit store, where health officials never read them.

Finding 5 of issue 15: a health official's ``GET /audit`` showed the legal basis of
restrictions, lift reasons and a restriction-appeal note.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from backend.extensions import db
from backend.models import Role

LEGAL_REF = "(2026) Hu 01 Zhi 9917"
LIFT_REASON = "judgment debt repaid on 3 March"
APPEAL_NOTE = "debt of 50000 CNY still unpaid"


@pytest.fixture
def authority(operator):
    return operator(Role.CREDIT_AUTHORITY, region="r1", name="Intermediate People's Court")


@pytest.fixture
def official(operator):
    return operator(Role.OFFICIAL, region="r1", name="Health Officer Zhou")


def _restriction(id_number: str) -> dict:
    now = datetime.now(UTC)
    return {
        "id_number": id_number, "categories": ["air", "rail"],
        "legal_basis": {"kind": "court_judgment", "ref": LEGAL_REF,
                        "authority": "Shanghai No. 1 Intermediate People's Court",
                        "authority_level": "city"},
        "notified_at": (now - timedelta(days=10)).isoformat(),
        "effective_from": (now - timedelta(days=1)).isoformat(),
        "remedy": "Pay the judgment debt or agree a repayment plan.",
    }


def _credit_acts(client, authority, holder, id_number):
    """Place two restrictions, lift one, and decide the holder's appeal of the other."""
    first = client.post("/api/v1/credit/restrictions", headers=authority,
                        json=_restriction(id_number)).json["restriction_id"]
    second = client.post("/api/v1/credit/restrictions", headers=authority,
                         json=_restriction(id_number)).json["restriction_id"]
    lifted = client.post(f"/api/v1/credit/restrictions/{first}/lift", headers=authority,
                         json={"reason": LIFT_REASON})
    assert lifted.status_code == 200, lifted.json
    filed = client.post("/api/v1/me/appeals", headers=holder, json={
        "target": "restriction", "target_id": str(second),
        "reason": "I paid the debt last month"}).json
    decided = client.post(f"/api/v1/appeals/{filed['id']}/decision", headers=authority,
                          json={"outcome": "upheld", "note": APPEAL_NOTE})
    assert decided.status_code == 200, decided.json
    return first, second


def _credit_log_rows(app) -> list[dict]:
    with app.app_context(), db.engines["credit"].connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(
            "SELECT role, action, target, reason FROM credit_audit_log ORDER BY id"))]


def test_health_officials_never_see_credit_acts(client, citizen, authority, official,
                                                operator):
    holder, id_number, _ = citizen()
    _credit_acts(client, authority, holder, id_number)
    admin = operator(Role.ADMIN, region=None)
    for reader in (official, admin):
        log = client.get("/api/v1/audit?per_page=200", headers=reader)
        assert log.status_code == 200
        assert all(e["role"] != "credit_authority" for e in log.json["entries"])
        blob = json.dumps(log.json, ensure_ascii=False)
        for secret in (LEGAL_REF, LIFT_REASON, APPEAL_NOTE, "restriction"):
            assert secret not in blob
        for action in ("restriction.place", "restriction.lift", "appeal.decide"):
            filtered = client.get(f"/api/v1/audit?action={action}", headers=reader).json
            assert filtered["total"] == 0
    # Nor may they open the credit store's log.
    for reader in (official, admin, holder):
        assert client.get("/api/v1/credit/audit", headers=reader).status_code == 403


def test_credit_authorities_read_the_credit_audit(client, citizen, authority, runner, app):
    holder, id_number, _ = citizen()
    first, second = _credit_acts(client, authority, holder, id_number)
    answer = client.get("/api/v1/credit/audit", headers=authority)
    assert answer.status_code == 200, answer.json
    page = answer.json
    assert (page["page"], page["per_page"], page["total"]) == (1, 50, 4)
    newest_first = [(e["action"], e["target"]) for e in page["entries"]]
    assert newest_first[0][0] == "appeal.decide"
    assert ("restriction.lift", f"restriction:{first}") in newest_first
    assert ("restriction.place", f"restriction:{second}") in newest_first
    by_action = {e["action"]: e for e in page["entries"]}
    assert by_action["restriction.lift"]["reason"] == LIFT_REASON
    assert by_action["appeal.decide"]["reason"] == APPEAL_NOTE
    assert by_action["restriction.place"]["detail"]["legal_basis"] == LEGAL_REF
    assert all(e["actor_name"] == "Intermediate People's Court" for e in page["entries"])
    assert set(page["entries"][0]) >= {"id", "at", "actor_id", "actor_name", "role", "action",
                                       "target", "reason", "detail", "hash", "prev_hash"}
    assert "id_hash" not in page["entries"][0]
    only_lifts = client.get("/api/v1/credit/audit?action=restriction.lift",
                            headers=authority).json
    assert only_lifts["total"] == 1

    result = runner.invoke(args=["verify-audit"])
    assert result.exit_code == 0, result.output
    assert "credit audit log intact: 4 entries" in result.output
    with app.app_context(), db.engines["credit"].begin() as conn:
        conn.execute(text("UPDATE credit_audit_log SET reason = 'nothing to see' "
                          "WHERE action = 'restriction.lift'"))
    result = runner.invoke(args=["verify-audit"])
    assert result.exit_code == 1
    assert "credit audit log BROKEN" in result.output


def test_the_holder_sees_the_credit_acts_about_them_and_no_one_else_does(client, citizen,
                                                                        authority):
    holder, id_number, _ = citizen()
    other, _, _ = citizen()
    _credit_acts(client, authority, holder, id_number)
    mine = client.get("/api/v1/me/data", headers=holder).json["credit_acts"]
    assert [a["action"] for a in mine] == [
        "restriction.place", "restriction.place", "restriction.lift", "appeal.decide"]
    assert {a["why"] for a in mine} >= {LIFT_REASON, APPEAL_NOTE}
    assert client.get("/api/v1/me/data", headers=other).json["credit_acts"] == []


def test_the_credit_audit_holds_credit_acts_only(client, citizen, authority, official,
                                                 provider, app):
    holder, id_number, body = citizen()
    _credit_acts(client, authority, holder, id_number)
    before = _credit_log_rows(app)
    # Health acts of every kind: an import, an area change, a questionnaire, a tracing read.
    client.post("/api/v1/gov/records", headers=provider, json={"records": [{
        "kind": "confirmed_case", "id_number": id_number, "source": "cdc", "ref": "C-5",
        "occurred_at": datetime.now(UTC).isoformat()}]})
    client.put("/api/v1/gov/areas/harbour", headers=provider, json={
        "risk_level": "high", "since": datetime.now(UTC).isoformat(), "region": "r1"})
    client.post("/api/v1/me/questionnaires", headers=holder,
                json={"temperature_c": 38.9, "symptoms": ["cough"]})
    client.post("/api/v1/tracing/leads", headers=official, json={
        "case": {"id_number": id_number}, "reason": "case C-5 tracing"})
    client.get("/api/v1/appeals", headers=official)
    after = _credit_log_rows(app)
    assert after == before
    assert {r["role"] for r in after} == {"credit_authority"}
    blob = json.dumps(after, ensure_ascii=False)
    for health in ("C-5", "cough", "harbour", "tracing", body["subject"], "I paid the debt"):
        assert health not in blob
