"""The embedded default transport: one JSON object a line in a file under instance/.

Several processes (gunicorn workers, CLI commands) may append at once: each message
is one ``os.write`` of a whole line on an ``O_APPEND`` descriptor, which the kernel
appends in one piece, so lines never interleave.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from .message import DeliveryFailed, Message

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)


class OutboxTransport:
    name = "outbox"
    remote = False  # a local file: written at once, so its reader sees it straight away

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def deliver(self, message: Message) -> None:
        record = {"to": message.to, "channel": message.channel, "body": message.body,
                  "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # 0600: the lines hold one-time codes and phone numbers.
        fd = os.open(self.path, _FLAGS, 0o600)
        try:
            written = os.write(fd, line)
        finally:
            os.close(fd)
        if written != len(line):
            raise DeliveryFailed("short write to the outbox")


def read_outbox(path: str | os.PathLike[str]) -> list[dict]:
    """The outbox's messages, oldest first: ``{to, channel, body, created_at}``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    messages = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # not ours (an edited file); the others are still worth reading
        if isinstance(record, dict):
            messages.append(record)
    return messages
