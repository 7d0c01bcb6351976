"""The embedded default's files under ``instance/`` are the owner's alone.

Issue 15, finding 12: the SQLite files (health records, and the credit store) were
created 0644 under the usual umask, readable by every local user. Every file the
service writes there (databases, the pseudonym key, signing keys and their manifest,
the demo's secrets) must be 0600 and the folders 0700, whatever the umask.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask_migrate import upgrade

from backend import create_app
from backend.config import TestConfig
from backend.extensions import db
from backend.services import context

EMBEDDED_ONLY = ("DATABASE_URL", "CREDIT_DATABASE_URL", "REDIS_URL", "INSTANCE_PATH",
                 "SIGNING_KEY_DIR", "SECRET_KEY_PATH", "PSEUDONYM_KEY")


@pytest.fixture
def embedded(monkeypatch) -> None:
    """The embedded default whatever the suite runs on: SQLite files, no servers."""
    for name in EMBEDDED_ONLY:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


def _close(app) -> None:
    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


def test_a_new_instance_folder_and_everything_in_it_are_the_owners_alone(
        tmp_path, embedded, permissive_umask):
    instance = tmp_path / "instance"
    app = create_app(TestConfig(instance))
    try:
        with app.app_context():
            upgrade()  # `flask db upgrade`: creates both SQLite files
            context.identity_keys()  # the pseudonym key, secret.key
            context.keyring().active()  # the first signing key and the manifest
        result = app.test_cli_runner().invoke(args=["rotate-keys"])  # rewrites the manifest
        assert result.exit_code == 0, result.output
        result = app.test_cli_runner().invoke(args=["seed-demo"])
        assert result.exit_code == 0, result.output
    finally:
        _close(app)
    modes = _modes(instance)
    # What the finding is about is there to be judged.
    assert {"health.sqlite3", "credit.sqlite3", "secret.key", "keys", "keys/manifest.json",
            "demo-credentials.json"} <= set(modes)
    assert sum(name.endswith(".pem") for name in modes) == 2
    open_to_others = {name: oct(mode) for name, mode in modes.items()
                      if mode != (0o700 if (instance / name).is_dir() else 0o600)}
    assert open_to_others == {}


def test_an_older_install_open_to_others_is_narrowed(tmp_path, embedded, permissive_umask):
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    sqlite3.connect(instance / "health.sqlite3").close()  # made 0644, as SQLite does
    assert _modes(instance) == {".": 0o755, "health.sqlite3": 0o644}
    app = create_app(TestConfig(instance))
    try:
        with app.app_context():
            upgrade()
    finally:
        _close(app)
    modes = _modes(instance)
    assert (modes["."], modes["health.sqlite3"], modes["credit.sqlite3"]) == (
        0o700, 0o600, 0o600)
