"""SMS through an HTTP gateway: POST ``{to, body}`` as JSON; any 2xx is accepted.

Redirects are not followed (a 3xx is a failure): the message and the bearer token go
to the configured address only.
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

from ..deadline import Deadline
from .message import DeliveryFailed, Message


class _Watched:
    """An HTTP(S) connection whose socket is under the request's deadline."""

    deadline: Deadline

    def connect(self) -> None:
        # HTTPSConnection.connect calls this before wrapping the socket in TLS, so the
        # handshake is under the deadline too.
        self.timeout = self.deadline.remaining()
        super().connect()  # type: ignore[misc]
        self.deadline.watch(self.sock)


class _HTTP(_Watched, http.client.HTTPConnection):
    pass


class _HTTPS(http.client.HTTPSConnection, _HTTP):
    pass


def post_json(url: str, payload: object, headers: dict[str, str], seconds: float) -> int:
    """POST ``payload`` as JSON to ``url``; the status, all within ``seconds`` in total."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryFailed("the webhook URL is not http(s)")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    body = json.dumps(payload, ensure_ascii=False).encode()
    cls = _HTTPS if parts.scheme == "https" else _HTTP
    with Deadline(seconds) as deadline:
        conn = cls(parts.hostname, parts.port, timeout=seconds)
        conn.deadline = deadline
        try:
            conn.request("POST", path, body=body, headers={
                **headers, "Content-Type": "application/json", "Content-Length": str(len(body))})
            return conn.getresponse().status
        except (OSError, http.client.HTTPException):
            if deadline.expired:
                raise DeliveryFailed(f"no answer within {seconds} s") from None
            raise
        finally:
            conn.close()


class WebhookTransport:
    name = "sms_webhook"
    remote = True  # talks to another server: posted from the sender thread

    def __init__(self, url: str, *, token: str = "", timeout: float) -> None:
        self.url, self.token, self.timeout = url, token, timeout

    def deliver(self, message: Message) -> None:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        status = post_json(self.url, {"to": message.to, "body": message.body}, headers,
                           self.timeout)
        if not 200 <= status < 300:
            raise DeliveryFailed(f"the gateway answered {status}")
