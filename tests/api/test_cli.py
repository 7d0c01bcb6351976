"""Operator commands, run as an operator would."""

from backend.models import Role


def test_create_user_prints_one_working_secret(runner, client, citizen):
    result = runner.invoke(args=["create-user", "--role", "data_provider", "--name", "CDC feed"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hc_")
    _, id_number, _ = citizen()
    response = client.post(
        "/api/v1/gov/records",
        headers={"Authorization": f"Bearer {lines[0]}"},
        json={"records": [{"kind": "close_contact", "id_number": id_number,
                           "occurred_at": "2026-11-25T08:00:00+08:00",
                           "source": "cdc", "ref": "R1"}]},
    )
    assert response.status_code == 200


def test_official_needs_a_region(runner):
    result = runner.invoke(args=["create-user", "--role", "official"])
    assert result.exit_code != 0
    assert "--region" in result.output


def test_unknown_role_is_refused(runner):
    result = runner.invoke(args=["create-user", "--role", "citizen"])
    assert result.exit_code != 0


def test_secret_of_one_role_does_not_open_another_roles_routes(client, operator, citizen):
    official = operator(Role.OFFICIAL)
    _, id_number, _ = citizen()
    response = client.post("/api/v1/gov/records", headers=official, json={"records": [{
        "kind": "close_contact", "id_number": id_number,
        "occurred_at": "2026-11-25T08:00:00+08:00", "source": "cdc", "ref": "R1"}]})
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"


def test_unknown_secret_is_401(client):
    response = client.get("/api/v1/me/code", headers={"Authorization": "Bearer hc_nope"})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_seed_demo_loads_once(runner):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "data_provider" in first.output
    second = runner.invoke(args=["seed-demo"])
    assert "already loaded" in second.output
