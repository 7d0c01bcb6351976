"""What the notifier sends, and what a transport must do with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

CHANNELS = ("sms", "email")


@dataclass(frozen=True)
class Message:
    """One message: ``to`` is a phone number for "sms", an e-mail address for "email".

    ``body`` often holds a one-time code: it is never logged, nor is ``to``.
    """

    to: str
    channel: str
    body: str
    subject: str | None = None

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}")
        if not self.to or any(c in self.to for c in "\r\n\0"):
            raise ValueError("to must be a non-empty single line")

    def __repr__(self) -> str:  # a Message in a traceback must not show the code or address
        return f"Message(channel={self.channel!r}, to=<hidden>, body=<hidden>)"


class DeliveryFailed(Exception):
    """A transport could not hand the message over (the reason names no address or body)."""


class Transport(Protocol):
    name: str
    # True for a transport that talks to another server: ``Notifier.post`` then hands
    # it to the sender thread rather than making a request wait.
    remote: bool

    def deliver(self, message: Message) -> None:
        """Hand ``message`` over or raise (``DeliveryFailed``, ``OSError``, ...)."""
