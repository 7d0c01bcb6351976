"""One notifier for everything the service sends people: one-time codes, notices.

    Notifier.post(Message) -> None   what request handlers call: never waits for a server
    Notifier.send(Message) -> bool
        routes each channel ("sms", "email") to its transport:
        ├── SmtpTransport      e-mail; SMS too through an e-mail-to-SMS gateway
        ├── WebhookTransport   SMS through an HTTP gateway
        └── OutboxTransport    a 0600 file under instance/ (the embedded default)

A failed delivery is logged (channel and transport, never the body or the address),
counted, and answered ``False``: a caller never sees an exception for it.

``post`` hands a message for a transport that talks to another server (SMTP, the SMS
gateway) to one sender thread per process and returns at once, so an answer never
waits on a gateway: how long registration or a code request takes must not tell
whether a text was due (a registered ID number, the phone on record). The outbox
file is written at once. A message still queued when the process ends is lost, as
a text the gateway dropped would be: the person asks for another code.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
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

    def __init__(self, routes: Mapping[str, Transport], queue_size: int = 10_000) -> None:
        missing = set(CHANNELS) - set(routes)
        if missing:
            raise ValueError(f"no transport for {sorted(missing)}")
        self.routes = dict(routes)
        self._queue_size = queue_size
        self._pending: queue.Queue[Message] | None = None
        self._owner_pid = 0
        self._lock = threading.Lock()

    def post(self, message: Message) -> None:
        """Send without waiting: remote transports from the sender thread (see above)."""
        if not getattr(self.routes[message.channel], "remote", False):
            self.send(message)
            return
        try:
            self._sender().put_nowait(message)
        except queue.Full:
            log.warning("notifier: %s dropped, the sender is %d messages behind",
                        message.channel, self._queue_size)
            count_notification(message.channel, self.routes[message.channel].name, "dropped")

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every posted message was handed over (tests, shutdown)."""
        pending = self._pending
        if pending is None or self._owner_pid != os.getpid():
            return True
        done = threading.Event()
        threading.Thread(target=lambda: (pending.join(), done.set()), daemon=True).start()
        return done.wait(timeout)

    def _sender(self) -> queue.Queue[Message]:
        # One thread per process, started on first use: a forked worker starts its own.
        with self._lock:
            if self._pending is None or self._owner_pid != os.getpid():
                self._pending = queue.Queue(self._queue_size)
                self._owner_pid = os.getpid()
                threading.Thread(target=self._run, args=(self._pending,), daemon=True,
                                 name="notifier-sender").start()
                atexit.register(self.flush, 5.0)
            return self._pending

    def _run(self, pending: queue.Queue[Message]) -> None:
        while True:
            message = pending.get()
            try:
                self.send(message)
            finally:
                pending.task_done()

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
