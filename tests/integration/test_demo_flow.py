"""The README's walk-through, over real HTTP against a served app."""

import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from backend.models import Role

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import demo_flow  # noqa: E402


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_demo_flow_over_http(live_server, operator):
    secret = operator(Role.DATA_PROVIDER)["Authorization"].split()[1]
    registrar = operator(Role.REGISTRAR, region="demo-city")["Authorization"].split()[1]
    steps: list[str] = []
    outcome = demo_flow.run(live_server, secret, registrar, log=steps.append)
    assert outcome["claims"]["hc"] == "red"
    assert len(steps) == 5
