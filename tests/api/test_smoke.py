from conftest import table_count


def test_registration_gives_a_working_secret(client, citizen, app):
    headers, _, body = citizen()
    assert body["citizen_id"] > 0
    response = client.get("/api/v1/me/code", headers=headers)
    assert response.status_code == 200
    assert response.json["color"] == "green"
    assert table_count(app, "citizens") == 1
