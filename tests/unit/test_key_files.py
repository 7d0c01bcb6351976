"""Workers starting together on a new instance folder agree on one key, whole."""

import multiprocessing
from pathlib import Path

import pytest

from backend.keys import KeyRing, create_file_once

WORKERS = 8


def _first_kid(directory: str, start, out) -> None:
    start.wait()
    out.put(KeyRing(directory, 300).active().kid)


def _secret(path: str, start, out) -> None:
    start.wait()
    target = Path(path)
    create_file_once(target, b"x" * 64 if not target.exists() else b"")
    out.put(target.read_bytes())


@pytest.mark.parametrize("attempt", range(3))
def test_workers_racing_on_a_new_key_directory_all_sign_with_the_same_key(tmp_path, attempt):
    kids = _race(_first_kid, str(tmp_path / "keys"))
    assert len(set(kids)) == 1
    # Only the winner's key file is left beside the manifest.
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == sorted(
        ["manifest.json", f"{kids[0]}.pem"])


@pytest.mark.parametrize("attempt", range(3))
def test_workers_racing_on_a_new_secret_file_never_read_it_half_written(tmp_path, attempt):
    assert _race(_secret, str(tmp_path / "secret")) == [b"x" * 64] * WORKERS


def test_create_file_once_keeps_the_first_file(tmp_path):
    path = tmp_path / "sub" / "f"
    assert create_file_once(path, b"first") is True
    assert create_file_once(path, b"second") is False
    assert path.read_bytes() == b"first"
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["f"]  # no temporary left behind


def _race(target, path: str) -> list:
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=target, args=(path, start, out)) for _ in range(WORKERS)]
    for w in workers:
        w.start()
    start.set()
    results = [out.get(timeout=30) for _ in workers]
    for w in workers:
        w.join(timeout=30)
        assert w.exitcode == 0
    return results
