"""The app's notifier: built by the factory, read by `flask outbox`, refused in production."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from backend import create_app
from backend.config import Config, ConfigError
from backend.notifier import Message, OutboxTransport
from backend.services import context


def send(app, *messages: Message) -> list[bool]:
    with app.app_context():
        return [context.notifier().send(m) for m in messages]


def test_outbox_command_prints_what_the_notifier_sent(app, runner):
    assert send(app,
                Message(to="+8613800138000", channel="sms", body="验证码 493017"),
                Message(to="li.si@example.test", channel="email", body="notice", subject="N"),
                Message(to="+8613800138000", channel="sms", body="验证码 777111")) == [True] * 3
    result = runner.invoke(args=["outbox"])
    assert result.exit_code == 0, result.output
    printed = [json.loads(line) for line in result.output.splitlines()]
    assert [m["body"] for m in printed] == ["验证码 493017", "notice", "验证码 777111"]
    assert set(printed[0]) == {"to", "channel", "body", "created_at"}
    outbox = Path(app.config["NOTIFY_OUTBOX_PATH"])
    assert outbox.parent == Path(app.instance_path)
    assert stat.S_IMODE(os.stat(outbox).st_mode) == 0o600

    last_sms = runner.invoke(args=["outbox", "--to", "+8613800138000", "--last", "1"])
    assert [json.loads(line)["body"] for line in last_sms.output.splitlines()] == [
        "验证码 777111"]


def test_outbox_command_with_nothing_sent_prints_nothing(runner):
    result = runner.invoke(args=["outbox"])
    assert result.exit_code == 0 and result.output == ""


def test_sends_are_counted_on_metrics(app, client):
    send(app, Message(to="+8613800138000", channel="sms", body="493017"))
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'hc_notifications_total{channel="sms",outcome="sent",transport="outbox"}' in metrics
    assert "493017" not in metrics


@pytest.fixture
def production(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("NOTIFY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("APP_ENV", "production")
    return tmp_path


def test_production_app_refuses_to_start_with_codes_going_to_the_outbox(production):
    with pytest.raises(ConfigError, match="outbox"):
        create_app(Config(production))


def test_production_app_starts_with_real_transports(production, monkeypatch):
    monkeypatch.setenv("NOTIFY_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("NOTIFY_SMTP_FROM", "health-code@example.test")
    monkeypatch.setenv("NOTIFY_SMS_WEBHOOK_URL", "https://127.0.0.1:8443/sms")
    app = create_app(Config(production))  # builds only: nothing is connected to
    with app.app_context():
        transports = context.notifier().routes.values()
    assert not any(isinstance(t, OutboxTransport) for t in transports)
