"""Every field an audit entry shows is covered by its hash: editing any one of them in
the database, behind the code's back, is found by ``flask verify-audit``.

Both chains: the health log (``audit_log``: here a checkpoint's registration) and the
credit store's (``credit_audit_log``: a restriction placed). Reason edits and deleted
entries are also tested with real acts in test_rulesets.py and test_credit_audit.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from backend.credit.models import CreditAuditEntry
from backend.extensions import db
from backend.models import AuditEntry, Role

# A plausible forgery of each field: what someone covering their tracks would write.
FORGED = {
    "at": lambda value: value - timedelta(days=1),
    "actor_id": lambda value: (value or 0) + 1000,
    "actor_name": lambda value: "Someone Else",
    "role": lambda value: "admin",
    "region": lambda value: "r2",
    "action": lambda value: value + ".cancelled",
    "target": lambda value: value + "0",
    "reason": lambda value: "nothing to see",
    "detail": lambda value: {**(value or {}), "admits": ["green", "yellow", "red"]},
    "id_hash": lambda value: "0" * 64,
}
HEALTH_FIELDS = ("at", "actor_id", "actor_name", "role", "region", "action", "target",
                 "reason", "detail")
CREDIT_FIELDS = (*HEALTH_FIELDS, "id_hash")


def _health_act(client, operator) -> str:
    official = operator(Role.OFFICIAL, region="r1", name="Official Wang")
    created = client.post("/api/v1/checkpoints", headers=official, json={
        "name": "Corner shop", "category": "venue", "region": "r1", "admits": ["green"]})
    assert created.status_code == 201, created.json
    return "checkpoint.create"


def _credit_act(client, operator, citizen) -> str:
    authority = operator(Role.CREDIT_AUTHORITY, region="r1", name="Intermediate Court")
    _, id_number, _ = citizen()
    at = datetime.now(UTC)
    placed = client.post("/api/v1/credit/restrictions", headers=authority, json={
        "id_number": id_number, "categories": ["air", "rail"],
        "legal_basis": {"kind": "court_judgment", "ref": "(2026) Hu 01 Zhi 1",
                        "authority": "Shanghai No. 1 Intermediate People's Court",
                        "authority_level": "city"},
        "notified_at": (at - timedelta(days=10)).isoformat(),
        "effective_from": (at - timedelta(days=1)).isoformat(),
        "remedy": "Pay the judgment debt."})
    assert placed.status_code == 201, placed.json
    return "restriction.place"


def _forge(app, model, action: str, field: str) -> int:
    """Change ``field`` of the entry for ``action`` with a plain UPDATE (the ORM refuses
    to); returns the entry's id."""
    table = model.__table__
    with app.app_context(), db.engines[getattr(model, "__bind_key__", None)].begin() as conn:
        entry_id, value = conn.execute(
            select(table.c.id, table.c[field]).where(table.c.action == action)).one()
        forged = FORGED[field](value)
        assert forged != value
        conn.execute(update(table).where(table.c.id == entry_id).values({field: forged}))
    return entry_id


def _verify(runner) -> tuple[int, str]:
    result = runner.invoke(args=["verify-audit"])
    return result.exit_code, result.output


@pytest.mark.parametrize("field", HEALTH_FIELDS)
def test_editing_any_field_of_a_health_audit_entry_breaks_the_chain(
        app, client, operator, runner, field):
    action = _health_act(client, operator)
    assert _verify(runner) == (0, "audit log intact: 1 entries\n"
                                  "credit audit log intact: 0 entries\n")
    entry_id = _forge(app, AuditEntry, action, field)
    code, output = _verify(runner)
    assert code == 1
    assert f"audit log BROKEN at entry {entry_id}: its content was changed" in output


@pytest.mark.parametrize("field", CREDIT_FIELDS)
def test_editing_any_field_of_a_credit_audit_entry_breaks_the_chain(
        app, client, operator, citizen, runner, field):
    action = _credit_act(client, operator, citizen)
    code, output = _verify(runner)
    assert (code, output.splitlines()[-1]) == (0, "credit audit log intact: 1 entries")
    entry_id = _forge(app, CreditAuditEntry, action, field)
    code, output = _verify(runner)
    assert code == 1
    assert f"credit audit log BROKEN at entry {entry_id}: its content was changed" in output
