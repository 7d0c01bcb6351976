"""The whole foundation flow: register, report, records arrive, the code and its reasons."""

from datetime import datetime, timedelta

from conftest import now, table_count


def _code(client, headers):
    response = client.get("/api/v1/me/code", headers=headers)
    assert response.status_code == 200
    return response.json


def _record(id_number, kind="close_contact", ref="CC-1", at=None, **extra):
    return {
        "kind": kind,
        "id_number": id_number,
        "occurred_at": (at or now() - timedelta(days=1)).isoformat(),
        "source": "cdc",
        "ref": ref,
        **extra,
    }


def test_healthy_questionnaire_is_green(client, citizen):
    headers, _, _ = citizen()
    response = client.post(
        "/api/v1/me/questionnaires",
        headers=headers,
        json={"temperature_c": 36.6, "symptoms": [], "travel": []},
    )
    assert response.status_code == 201
    assert response.json["questionnaire_id"] > 0
    code = response.json["code"]
    assert code["color"] == "green"
    assert code["reasons"] == []
    assert code["turns_green_at"] is None
    assert code["ruleset_version"] == 1


def test_fever_is_yellow_with_the_questionnaire_as_its_fact(client, citizen):
    headers, _, _ = citizen()
    response = client.post(
        "/api/v1/me/questionnaires", headers=headers, json={"temperature_c": 38.2, "symptoms": []}
    )
    code = response.json["code"]
    assert code["color"] == "yellow"
    [reason] = code["reasons"]
    assert reason["rule_id"] == "fever"
    assert reason["facts"][0]["kind"] == "questionnaire"
    assert reason["facts"][0]["ref"] == f"questionnaire:{response.json['questionnaire_id']}"
    # Symptoms clear only with a later questionnaire without them.
    assert reason["pending"] == ["clean_questionnaire"]
    assert code["turns_green_at"] is None


def test_close_contact_record_turns_code_red_for_14_days(client, citizen, provider):
    headers, id_number, _ = citizen()
    occurred = datetime.fromisoformat("2026-01-01T08:00:00+08:00")
    occurred = now().replace(microsecond=0) - timedelta(days=2)
    response = client.post(
        "/api/v1/gov/records", headers=provider,
        json={"records": [_record(id_number, at=occurred, ref="CC-42")]},
    )
    assert response.status_code == 200
    assert response.json["accepted"] == 1 and response.json["duplicates"] == 0
    assert response.json["rejected"] == []
    code = _code(client, headers)
    assert code["color"] == "red"
    [reason] = code["reasons"]
    assert reason["rule_id"] == "close_contact"
    assert reason["facts"] == [
        {"kind": "close_contact", "source": "cdc", "ref": "CC-42", "at": occurred.isoformat()}
    ]
    assert datetime.fromisoformat(code["turns_green_at"]) == occurred + timedelta(days=14)


def test_import_is_idempotent_by_source_and_ref(client, citizen, provider, app):
    headers, id_number, _ = citizen()
    batch = {"records": [_record(id_number, ref="A"), _record(id_number, ref="B")]}
    first = client.post("/api/v1/gov/records", headers=provider, json=batch).json
    version_after_first = _code(client, headers)["version"]
    second = client.post("/api/v1/gov/records", headers=provider, json=batch).json
    assert (first["accepted"], first["duplicates"]) == (2, 0)
    assert (second["accepted"], second["duplicates"]) == (0, 2)
    assert table_count(app, "gov_records") == 2
    assert _code(client, headers)["version"] == version_after_first


def test_same_ref_with_other_content_is_rejected_not_overwritten(client, citizen, provider, app):
    _, id_number, _ = citizen()
    client.post("/api/v1/gov/records", headers=provider, json={"records": [_record(id_number)]})
    other = _record(id_number, kind="secondary_contact")
    response = client.post("/api/v1/gov/records", headers=provider, json={"records": [other]})
    assert response.json["accepted"] == 0
    assert response.json["rejected"][0]["index"] == 0
    assert "ref" in response.json["rejected"][0]["fields"]
    assert table_count(app, "gov_records") == 1


def test_records_received_before_registration_apply_on_registration(client, citizen, provider):
    from conftest import unique_id_number

    id_number = unique_id_number()
    client.post("/api/v1/gov/records", headers=provider,
                json={"records": [_record(id_number, kind="confirmed_case")]})
    headers, _, _ = citizen(id_number=id_number)
    assert _code(client, headers)["color"] == "red"


def test_import_bumps_code_version_in_redis(client, citizen, provider, app):
    headers, id_number, body = citizen()
    before = _code(client, headers)["version"]
    client.post("/api/v1/gov/records", headers=provider, json={"records": [_record(id_number)]})
    after = _code(client, headers)
    assert after["version"] == before + 1
    stored = app.extensions["redis"].hgetall(f"hc:code:{body['subject']}")
    assert int(stored["v"]) == after["version"]
    assert stored["color"] == "red"


def test_most_severe_color_wins_and_every_rule_is_listed(client, citizen, provider):
    headers, id_number, _ = citizen()
    client.post("/api/v1/me/questionnaires", headers=headers,
                json={"temperature_c": 38.0, "symptoms": ["cough"]})
    client.post("/api/v1/gov/records", headers=provider,
                json={"records": [_record(id_number, kind="test_result", ref="T1",
                                          detail={"result": "positive"})]})
    code = _code(client, headers)
    assert code["color"] == "red"
    assert {r["rule_id"] for r in code["reasons"]} == {
        "positive_test", "fever", "respiratory_symptoms"
    }
    assert code["reasons"][0]["color"] == "red"


def test_negative_test_changes_nothing(client, citizen, provider):
    headers, id_number, _ = citizen()
    client.post("/api/v1/gov/records", headers=provider,
                json={"records": [_record(id_number, kind="test_result", ref="T2",
                                          detail={"result": "negative"})]})
    assert _code(client, headers)["color"] == "green"


def test_quarantine_order_holds_until_its_end(client, citizen, provider):
    headers, id_number, _ = citizen()
    until = (now() + timedelta(days=20)).replace(microsecond=0)
    client.post("/api/v1/gov/records", headers=provider,
                json={"records": [_record(id_number, kind="quarantine_order", ref="Q1",
                                          detail={"until": until.isoformat()})]})
    code = _code(client, headers)
    assert code["color"] == "red"
    assert datetime.fromisoformat(code["turns_green_at"]) == until


def test_travel_through_an_area_that_becomes_medium_risk(client, citizen, provider):
    headers, _, _ = citizen()
    stay = {"area_code": "harbour", "from": (now() - timedelta(days=3)).isoformat(),
            "to": (now() - timedelta(days=2)).isoformat()}
    first = client.post("/api/v1/me/questionnaires", headers=headers,
                        json={"temperature_c": 36.5, "symptoms": [], "travel": [stay]})
    assert first.json["code"]["color"] == "green"
    response = client.put("/api/v1/gov/areas/harbour", headers=provider,
                          json={"risk_level": "medium", "since": now().isoformat(), "region": "r1"})
    assert response.status_code == 200
    assert response.json["recomputed"] == 1
    code = _code(client, headers)
    assert code["color"] == "yellow"
    assert code["reasons"][0]["rule_id"] == "travel_medium_risk"
    assert code["reasons"][0]["facts"][0]["kind"] == "travel"


def test_high_risk_travel_is_red(client, citizen, provider):
    headers, _, _ = citizen()
    client.put("/api/v1/gov/areas/old-town", headers=provider,
               json={"risk_level": "high", "since": (now() - timedelta(days=30)).isoformat(),
                     "region": "r1"})
    stay = {"area_code": "old-town", "from": (now() - timedelta(days=5)).isoformat(),
            "to": (now() - timedelta(days=4)).isoformat()}
    response = client.post("/api/v1/me/questionnaires", headers=headers,
                           json={"temperature_c": 36.5, "symptoms": [], "travel": [stay]})
    assert response.json["code"]["color"] == "red"


def test_a_citizen_sees_only_their_own_code(client, citizen, provider):
    first, id_first, _ = citizen()
    second, _, _ = citizen()
    client.post("/api/v1/gov/records", headers=provider, json={"records": [_record(id_first)]})
    assert _code(client, first)["color"] == "red"
    assert _code(client, second)["color"] == "green"


def test_explanations_in_chinese(client, citizen, provider):
    headers, id_number, _ = citizen()
    client.post("/api/v1/gov/records", headers=provider, json={"records": [_record(id_number)]})
    response = client.get("/api/v1/me/code", headers={**headers, "Accept-Language": "zh-CN"})
    english = _code(client, headers)["reasons"][0]["summary"]
    assert response.json["reasons"][0]["summary"] != english
    assert any("\u4e00" <= ch <= "\u9fff" for ch in response.json["reasons"][0]["summary"])


def test_id_number_is_never_stored_or_shown(client, citizen, app):
    headers, id_number, body = citizen()
    assert id_number not in str(body)
    from sqlalchemy import text

    from backend.extensions import db

    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM citizens")).all()
    assert id_number not in str(rows)
    assert id_number[-4:] in str(rows)  # the tail lets the holder recognise it


def test_a_second_registration_of_the_same_id_number_sees_nothing(client, citizen, app):
    """201 like any registration (no enumeration), but unverified: no code, no person."""
    _, id_number, _ = citizen()
    response = client.post("/api/v1/citizens", json={
        "name": "Other", "id_number": id_number.lower(), "phone": "13900000000", "region": "r1"})
    assert response.status_code == 201
    second = {"Authorization": f"Bearer {response.json['token']}"}
    refused = client.get("/api/v1/me/code", headers=second)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "unverified"
    assert table_count(app, "citizens") == 1
