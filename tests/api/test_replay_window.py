"""The replay window: a token shown at one checkpoint is refused (``replayed``) at any
other for ``REPLAY_WINDOW_SECONDS`` after its first admitted scan; the same checkpoint
may scan it again. After the window the token is admitted at another checkpoint again,
as long as the token itself is still valid.

The window is a time-to-live on a Redis mark, kept by Redis's own clock (the real
server's, or the in-process stand-in's), so no clock can be injected: these tests wait
about a second of real time, never the whole default window. How long the mark lasts is
read from Redis itself.
"""

from __future__ import annotations

import time

import pytest
from conftest import app_on_migrated

from backend.config import TestConfig
from backend.models import Role
from backend.services.scans import SEEN_KEY

REPLAY_MARKS = SEEN_KEY.format(issuer="*", subject="*", jti="*")


@pytest.fixture
def app(migrated, request):
    """The app, with ``REPLAY_WINDOW_SECONDS`` set to the test's parameter if it has one."""
    config = TestConfig(migrated)
    if hasattr(request, "param"):
        config.REPLAY_WINDOW_SECONDS = request.param
    yield from app_on_migrated(config)


@pytest.fixture
def gates(client, operator):
    """Two venues of one region, A and B: each a device's headers."""
    official = operator(Role.OFFICIAL, region="r1")
    devices = []
    for name in ("A", "B"):
        created = client.post("/api/v1/checkpoints", headers=official, json={
            "name": name, "category": "venue", "region": "r1", "admits": ["green"]})
        assert created.status_code == 201, created.json
        device = client.post(f"/api/v1/checkpoints/{created.json['checkpoint_id']}/devices",
                             headers=official, json={"name": "door"})
        assert device.status_code == 201, device.json
        devices.append({"Authorization": f"Bearer {device.json['token']}"})
    return devices


def _token(client, holder) -> str:
    issued = client.post("/api/v1/me/tokens", headers=holder, json={})
    assert issued.status_code == 201, issued.json
    return issued.json["token"]


def _reason(client, device, token) -> str:
    answer = client.post("/api/v1/scans", headers=device, json={"token": token})
    assert answer.status_code == 200, answer.json
    return answer.json["reason"]


def _replay_marks(app) -> list[str]:
    return list(app.extensions["redis"].scan_iter(REPLAY_MARKS))


def test_the_replay_mark_lasts_the_configured_window(app, client, citizen, gates):
    """The first admitted scan marks the token for REPLAY_WINDOW_SECONDS (600 by default)."""
    window = app.config["REPLAY_WINDOW_SECONDS"]
    assert window == 600  # the documented default (README)
    holder, _, _ = citizen()
    door_a, _ = gates
    assert _reason(client, door_a, _token(client, holder)) == "ok"
    [mark] = _replay_marks(app)
    # Time to live in whole seconds: the window, less the moment since the scan.
    assert window - 30 < app.extensions["redis"].ttl(mark) <= window


def test_another_checkpoint_more_than_a_second_into_the_window_is_refused(
        app, client, citizen, gates):
    holder, _, _ = citizen()
    door_a, door_b = gates
    token = _token(client, holder)
    assert _reason(client, door_a, token) == "ok"
    time.sleep(1.2)  # well inside the 600 s window; past a window shortened to 1 s
    assert _reason(client, door_b, token) == "replayed"
    assert _reason(client, door_a, token) == "ok"  # the first checkpoint may scan it again
    assert _reason(client, door_b, token) == "replayed"


@pytest.mark.parametrize("app", [1], indirect=True)
def test_after_the_window_another_checkpoint_admits_the_still_valid_token(
        app, client, citizen, gates):
    """With a one-second window: once the mark is gone, B admits the token (it is valid
    for TOKEN_LIFETIME_SECONDS), and from then on the token belongs to B, so A refuses it."""
    assert app.config["REPLAY_WINDOW_SECONDS"] == 1
    holder, _, _ = citizen()
    door_a, door_b = gates
    token = _token(client, holder)
    assert _reason(client, door_a, token) == "ok"
    [mark] = _replay_marks(app)
    assert app.extensions["redis"].pttl(mark) <= 1000
    deadline = time.monotonic() + 10
    while app.extensions["redis"].exists(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not app.extensions["redis"].exists(mark)
    assert _reason(client, door_b, token) == "ok"
    assert _reason(client, door_a, token) == "replayed"
