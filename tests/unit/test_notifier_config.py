"""Which transport each channel goes to, from the settings; messages that cannot exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.config import Config, ConfigError, TestConfig
from backend.notifier import (
    Message,
    OutboxTransport,
    SmtpTransport,
    WebhookTransport,
    build_notifier,
)

SMTP = {"NOTIFY_SMTP_HOST": "127.0.0.1", "NOTIFY_SMTP_FROM": "hc@example.test"}
WEBHOOK = {"NOTIFY_SMS_WEBHOOK_URL": "https://127.0.0.1:8443/sms"}
GATEWAY = {"NOTIFY_SMS_EMAIL_DOMAIN": "sms.example.test"}


def routes(tmp_path, **settings) -> dict[str, type]:
    config = TestConfig(tmp_path).as_mapping()
    config.update(settings)
    return {ch: type(t) for ch, t in build_notifier(config).routes.items()}


@pytest.mark.parametrize(("settings", "email", "sms"), [
    ({}, OutboxTransport, OutboxTransport),
    (SMTP, SmtpTransport, OutboxTransport),
    (WEBHOOK, OutboxTransport, WebhookTransport),
    ({**SMTP, **GATEWAY}, SmtpTransport, SmtpTransport),
    ({**SMTP, **WEBHOOK}, SmtpTransport, WebhookTransport),
])
def test_each_channel_goes_to_its_transport_else_the_outbox(tmp_path, settings, email, sms):
    assert routes(tmp_path, **settings) == {"email": email, "sms": sms}


@pytest.mark.parametrize("settings", [
    {**SMTP, **GATEWAY, **WEBHOOK},  # two ways for SMS: which one is meant?
    GATEWAY,  # an e-mail gateway without an SMTP server
    {"NOTIFY_SMTP_HOST": "127.0.0.1"},  # no sender address
    {"NOTIFY_SMS_WEBHOOK_URL": "ftp://127.0.0.1/sms"},
])
def test_settings_that_cannot_work_refuse_to_start(tmp_path, settings):
    with pytest.raises(ConfigError):
        routes(tmp_path, **settings)


@pytest.mark.parametrize("settings", [{}, SMTP, WEBHOOK])
def test_production_refuses_any_channel_left_to_the_outbox(tmp_path, settings):
    with pytest.raises(ConfigError, match="outbox"):
        routes(tmp_path, APP_ENV="production", **settings)


@pytest.mark.parametrize("settings", [{**SMTP, **WEBHOOK}, {**SMTP, **GATEWAY}])
def test_production_starts_when_every_channel_has_a_transport(tmp_path, settings):
    assert OutboxTransport not in routes(tmp_path, APP_ENV="production", **settings).values()


def test_settings_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFY_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("NOTIFY_SMTP_PORT", "2525")
    monkeypatch.setenv("NOTIFY_SMTP_STARTTLS", "0")
    monkeypatch.setenv("NOTIFY_SMS_WEBHOOK_URL", "https://127.0.0.1/sms")
    config = Config(tmp_path)
    assert (config.NOTIFY_SMTP_HOST, config.NOTIFY_SMTP_PORT, config.NOTIFY_SMTP_STARTTLS) == (
        "127.0.0.1", 2525, False)
    assert Path(config.NOTIFY_OUTBOX_PATH) == tmp_path.resolve() / "outbox.jsonl"
    # Tests never send anywhere, whatever the environment says.
    test_config = TestConfig(tmp_path)
    assert (test_config.NOTIFY_SMTP_HOST, test_config.NOTIFY_SMS_WEBHOOK_URL) == ("", "")
    # ... and each test's app reads only its own outbox.
    assert Path(test_config.NOTIFY_OUTBOX_PATH).parent == tmp_path.resolve()
    assert test_config.NOTIFY_OUTBOX_PATH != TestConfig(tmp_path).NOTIFY_OUTBOX_PATH


def test_starttls_is_on_unless_turned_off(tmp_path, monkeypatch):
    monkeypatch.delenv("NOTIFY_SMTP_STARTTLS", raising=False)
    assert Config(tmp_path).NOTIFY_SMTP_STARTTLS is True


@pytest.mark.parametrize(("to", "channel"), [
    ("+8613800138000", "fax"), ("", "sms"), ("a@example.test\r\nBcc: b@example.test", "email"),
])
def test_messages_that_cannot_be_sent_are_refused_when_made(to, channel):
    with pytest.raises(ValueError):
        Message(to=to, channel=channel, body="x")


def test_a_message_does_not_show_its_code_or_address():
    shown = repr(Message(to="+8613800138000", channel="sms", body="code 493017"))
    assert "493017" not in shown and "13800138000" not in shown
