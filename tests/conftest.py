"""Fixtures: a fresh app per test on a schema built once by the real migrations.

By default the suite runs on SQLite files and the in-process Redis stand-in. With
DATABASE_URL, CREDIT_DATABASE_URL and REDIS_URL set (as ``.ci/run`` does) the same
tests run against real PostgreSQL and Redis. Tests marked ``postgresql`` skip
themselves on SQLite; ``.ci/check_pg_ran.py`` makes sure they all ran on PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import MetaData, inspect, text

from backend import create_app
from backend.auth import issue_credential
from backend.config import TestConfig
from backend.extensions import db
from backend.identity import with_check_digit
from backend.models import Role

_serial = count(1)
ON_POSTGRESQL = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``@pytest.mark.postgresql(reason)``: the test shows what only PostgreSQL does."""
    for item in items:
        marker = item.get_closest_marker("postgresql")
        if marker is not None and not ON_POSTGRESQL:
            why = marker.args[0] if marker.args else "set DATABASE_URL"
            item.add_marker(pytest.mark.skip(reason=f"PostgreSQL only: {why}"))


def unique_id_number() -> str:
    """A valid, never-repeated ID number (birth date 1990-01-01)."""
    n = next(_serial)
    return with_check_digit(f"{110000 + n // 1000:06d}19900101{n % 1000:03d}")


def _reset_databases(app: Flask) -> None:
    """Drop every table of both binds so the migrations build them from nothing."""
    with app.app_context():
        for bind_key in (None, "credit"):
            engine = db.engines[bind_key]
            meta = MetaData()
            meta.reflect(bind=engine)
            meta.drop_all(bind=engine)


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("instance")


@pytest.fixture(scope="session")
def migrated(instance_dir: Path) -> Path:
    app = create_app(TestConfig(instance_dir))
    _reset_databases(app)
    with app.app_context():
        upgrade()
        for engine in db.engines.values():
            engine.dispose()
    return instance_dir


def _clean_tables(app: Flask) -> None:
    with app.app_context():
        for bind_key in (None, "credit"):
            engine = db.engines[bind_key]
            names = sorted(set(inspect(engine).get_table_names()) - {"alembic_version"})
            if not names:
                continue
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    quoted = ", ".join(f'"{n}"' for n in names)
                    conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
                else:  # SQLite does not enforce foreign keys here: any order will do
                    for name in names:
                        conn.execute(text(f'DELETE FROM "{name}"'))  # noqa: S608
        if app.config["REDIS_URL"]:
            app.extensions["redis"].flushdb()


def app_on_migrated(config: TestConfig) -> Iterator[Flask]:
    """An app on the migrated test databases for one test; its tables are emptied and
    its pools closed afterwards. For fixtures that need a config of their own."""
    app = create_app(config)
    yield app
    with app.app_context():
        db.session.remove()
    _clean_tables(app)
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()  # each test's app has its own pool; close it


@pytest.fixture
def app(migrated: Path) -> Iterator[Flask]:
    yield from app_on_migrated(TestConfig(migrated))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def operator(app: Flask):
    """``operator(Role.OFFICIAL, region="r1")`` -> auth headers for a new credential."""

    def make(role: Role, region: str | None = "r1", name: str | None = None) -> dict[str, str]:
        with app.app_context():
            _, secret = issue_credential(role, region=region, name=name or role.value)
            db.session.commit()
        return bearer(secret)

    return make


@pytest.fixture
def provider(operator) -> dict[str, str]:
    return operator(Role.DATA_PROVIDER)


@pytest.fixture
def registry(app: Flask) -> dict[str, str]:
    """The population registry's feed: the one data provider that may send identity records."""
    with app.app_context():
        _, secret = issue_credential(Role.DATA_PROVIDER, region="r1", name="registry",
                                     record_kinds=["identity"])
        db.session.commit()
    return bearer(secret)


def register_unverified(client: FlaskClient, **fields) -> tuple[dict[str, str], str, dict]:
    """Register someone without verifying: (headers, id_number, registration answer)."""
    body = {
        "name": "张三",
        "id_number": unique_id_number(),
        "phone": "13800138000",
        "region": "r1",
        **fields,
    }
    response = client.post("/api/v1/citizens", json=body)
    assert response.status_code == 201, response.json
    return bearer(response.json["token"]), body["id_number"], response.json


def verify_at_counter(app: Flask, client: FlaskClient, registration: dict, id_number: str,
                      region: str = "r1") -> dict:
    """What a service counter of ``region`` does: check the ID card, hand over a code,
    which the person confirms on their phone. Returns the confirmation's answer."""
    with app.app_context():
        _, secret = issue_credential(Role.REGISTRAR, region=region, name="counter")
        db.session.commit()
    issued = client.post("/api/v1/registrar/verifications", headers=bearer(secret),
                         json={"citizen_id": registration["citizen_id"], "id_number": id_number})
    assert issued.status_code == 201, issued.json
    confirmed = client.post("/api/v1/me/verification/confirm",
                            headers=bearer(registration["token"]),
                            json={"code": issued.json["code"]})
    assert confirmed.status_code == 200, confirmed.json
    return confirmed.json


def register_verified(app: Flask, client: FlaskClient,
                      **fields) -> tuple[dict[str, str], str, dict]:
    """Register someone and verify them at a counter of their region: (headers, id_number,
    body), the body holding the registration's ``token`` and the verified person's
    ``citizen_id`` and ``subject``."""
    headers, id_number, body = register_unverified(client, **fields)
    confirmed = verify_at_counter(app, client, body, id_number, fields.get("region", "r1"))
    return headers, id_number, {**body, **confirmed}


@pytest.fixture
def register(client: FlaskClient):
    """``register(**fields)`` registers someone without verifying: (headers, id_number, body)."""
    return lambda **fields: register_unverified(client, **fields)


@pytest.fixture
def citizen(app: Flask, client: FlaskClient):
    """``citizen(**fields)`` registers and verifies someone; see ``register_verified``."""
    return lambda **fields: register_verified(app, client, **fields)


def now() -> datetime:
    return datetime.now(UTC)


CREDIT_TABLES = {"restrictions", "restriction_events"}


def table_count(app: Flask, table: str) -> int:
    """Rows in ``table``, in whichever database (health or credit) holds it."""
    with app.app_context():
        engine = db.engines["credit" if table in CREDIT_TABLES else None]
        with engine.connect() as conn:
            return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608


def settle_scans(app: Flask) -> None:
    """With the stream sink (real Redis), run the worker once so check-ins are in the table."""
    if app.config["CHECKIN_SINK"] == "stream":
        from backend.services.checkins import drain_all

        with app.app_context():
            drain_all(app.extensions["redis"], consumer="test-worker")
