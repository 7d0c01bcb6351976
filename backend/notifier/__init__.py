"""One notifier for everything the service sends people: one-time codes, notices.

    Notifier.send(Message) -> bool
        routes each channel ("sms", "email") to its transport:
        ├── SmtpTransport      e-mail; SMS too through an e-mail-to-SMS gateway
        ├── WebhookTransport   SMS through an HTTP gateway
        └── OutboxTransport    a 0600 file under instance/ (the embedded default)

A failed delivery is logged (channel and transport, never the body or the address),
counted, and answered ``False``: a caller never sees an exception for it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..config import ConfigError
from ..metrics import count_notification
from .message import CHANNELS, DeliveryFailed, Message, Transport
from .outbox import OutboxTransport, read_outbox
from .smtp import SmtpTransport
from .webhook import WebhookTransport

__all__ = ["Message", "Notifier", "DeliveryFailed", "Transport", "read_outbox",
           "build_notifier", "OutboxTransport", "SmtpTransport", "WebhookTransport"]

log = logging.getLogger(__name__)


class Notifier:
    """Sends a ``Message`` through the transport configured for its channel."""

    def __init__(self, routes: Mapping[str, Transport]) -> None:
        missing = set(CHANNELS) - set(routes)
        if missing:
            raise ValueError(f"no transport for {sorted(missing)}")
        self.routes = dict(routes)

    def send(self, message: Message) -> bool:
        """True when handed to a transport; False (logged, counted) when delivery failed."""
        transport = self.routes[message.channel]
        try:
            transport.deliver(message)
        except Exception as exc:  # a send must never break the caller's request
            # The exception's text may quote the address (SMTP refusals do): name its type only.
            log.warning("notifier: %s via %s failed: %s", message.channel, transport.name,
                        _reason(exc))
            count_notification(message.channel, transport.name, "failed")
            return False
        count_notification(message.channel, transport.name, "sent")
        return True


def _reason(exc: Exception) -> str:
    if isinstance(exc, DeliveryFailed):
        return str(exc)  # written by our transports, without addresses or bodies
    return type(exc).__name__


def build_notifier(config: Mapping[str, Any]) -> Notifier:
    """The app's notifier from its config; refuses an outbox in production."""
    timeout = float(config["NOTIFY_TIMEOUT_SECONDS"])
    outbox = OutboxTransport(config["NOTIFY_OUTBOX_PATH"])
    smtp = None
    if config["NOTIFY_SMTP_HOST"]:
        if not config["NOTIFY_SMTP_FROM"]:
            raise ConfigError("NOTIFY_SMTP_FROM is required with NOTIFY_SMTP_HOST")
        smtp = SmtpTransport(
            config["NOTIFY_SMTP_HOST"], int(config["NOTIFY_SMTP_PORT"]),
            config["NOTIFY_SMTP_FROM"], timeout=timeout,
            starttls=bool(config["NOTIFY_SMTP_STARTTLS"]),
            user=config["NOTIFY_SMTP_USER"], password=config["NOTIFY_SMTP_PASSWORD"],
            sms_domain=config["NOTIFY_SMS_EMAIL_DOMAIN"])
    sms: Transport = outbox
    if config["NOTIFY_SMS_WEBHOOK_URL"] and config["NOTIFY_SMS_EMAIL_DOMAIN"]:
        raise ConfigError("set NOTIFY_SMS_WEBHOOK_URL or NOTIFY_SMS_EMAIL_DOMAIN, not both")
    if config["NOTIFY_SMS_WEBHOOK_URL"]:
        url = config["NOTIFY_SMS_WEBHOOK_URL"]
        if not url.startswith(("http://", "https://")):
            raise ConfigError("NOTIFY_SMS_WEBHOOK_URL must be an http(s) URL")
        sms = WebhookTransport(url, token=config["NOTIFY_SMS_WEBHOOK_TOKEN"], timeout=timeout)
    elif config["NOTIFY_SMS_EMAIL_DOMAIN"]:
        if smtp is None:
            raise ConfigError("NOTIFY_SMS_EMAIL_DOMAIN needs NOTIFY_SMTP_HOST")
        sms = smtp
    routes: dict[str, Transport] = {"email": smtp or outbox, "sms": sms}
    if config["APP_ENV"] == "production":
        to_outbox = sorted(ch for ch, t in routes.items() if t is outbox)
        if to_outbox:
            # Nobody reads a file on a production server: a code sent there never arrives.
            raise ConfigError(
                f"APP_ENV=production: {', '.join(to_outbox)} would go to the outbox; set "
                "NOTIFY_SMTP_HOST (e-mail) and NOTIFY_SMS_WEBHOOK_URL or "
                "NOTIFY_SMS_EMAIL_DOMAIN (SMS)")
    return Notifier(routes)
