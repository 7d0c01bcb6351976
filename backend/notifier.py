"""Placeholder until the notifier branch lands: the outbox transport only."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Message:
    to: str
    channel: str
    body: str
    subject: str | None = None


class Notifier:
    def __init__(self, outbox: str | os.PathLike[str]) -> None:
        self.outbox = Path(outbox)

    def send(self, message: Message) -> bool:
        line = json.dumps({"to": message.to, "channel": message.channel, "body": message.body,
                           "created_at": datetime.now(UTC).isoformat()}, ensure_ascii=False)
        fd = os.open(self.outbox, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
        return True


def read_outbox(path: str | os.PathLike[str]) -> list[dict]:
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
