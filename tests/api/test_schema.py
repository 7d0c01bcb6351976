"""The database schema comes from the migrations, and the API describes itself."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backend.extensions import db


def test_migrations_match_the_models(app):
    with app.app_context(), db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    # Server-side type nuances aside, no table, column or index may be missing.
    structural = [d for d in diff if d[0] in ("add_table", "remove_table", "add_column",
                                                "remove_column", "add_index", "remove_index")]
    assert structural == []


def test_openapi_document_lists_the_contract_routes(client):
    spec = client.get("/api/v1/openapi.json").json
    paths = spec["paths"]
    for path in ("/api/v1/citizens", "/api/v1/me/questionnaires", "/api/v1/me/code",
                 "/api/v1/me/tokens", "/api/v1/gov/records", "/api/v1/gov/areas/{area_code}",
                 "/.well-known/jwks.json"):
        assert path in paths, path
    assert "QuestionnaireSchema" in str(spec["components"]["schemas"]) or "Questionnaire" in str(
        spec["components"]["schemas"])


def test_unknown_route_is_a_json_404(client):
    response = client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
