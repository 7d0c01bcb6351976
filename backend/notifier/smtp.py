"""SMTP: e-mail, and SMS through an e-mail-to-SMS gateway (``<digits>@domain``)."""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage

from ..deadline import Deadline
from .message import DeliveryFailed, Message


class _WatchedSMTP(smtplib.SMTP):
    """smtplib with its socket under a whole-send deadline (it has no hook but this one)."""

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline
        super().__init__(timeout=deadline.remaining())

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self._deadline.watch(super()._get_socket(host, port, self._deadline.remaining()))


class SmtpTransport:
    name = "smtp"
    remote = True  # talks to another server: posted from the sender thread

    def __init__(self, host: str, port: int, sender: str, *, timeout: float,
                 starttls: bool = True, user: str = "", password: str = "",
                 sms_domain: str = "") -> None:
        self.host, self.port, self.sender = host, port, sender
        self.timeout, self.starttls = timeout, starttls
        self.user, self.password = user, password
        self.sms_domain = sms_domain

    def recipient(self, message: Message) -> str:
        if message.channel == "email":
            return message.to
        digits = "".join(c for c in message.to if c in "0123456789")
        if not digits or not self.sms_domain:
            raise DeliveryFailed("no gateway address for this phone number")
        return f"{digits}@{self.sms_domain}"

    def deliver(self, message: Message) -> None:
        rcpt = self.recipient(message)
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = rcpt  # refuses line breaks: no header injection
        if message.subject:
            email["Subject"] = message.subject
        email.set_content(message.body)
        with Deadline(self.timeout) as deadline:
            smtp = _WatchedSMTP(deadline)
            try:
                smtp.connect(self.host, self.port)
                if self.starttls:
                    # Refuses a server that does not offer it: no silent fall-back to plain text.
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(email, from_addr=self.sender, to_addrs=[rcpt])
            finally:
                _close(smtp)


def _close(smtp: smtplib.SMTP) -> None:
    # The message is handed over once DATA is accepted; a failed QUIT changes nothing.
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
