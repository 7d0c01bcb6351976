"""The notifier's transports against real servers on 127.0.0.1, started by the tests.

SMTP: an aiosmtpd server; the SMS webhook: ``http.server`` in a thread; plain sockets
for servers that refuse, stay silent or send one byte at a time. Nothing here leaves
the loopback interface.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from backend.config import TestConfig
from backend.notifier import Message, Notifier, build_notifier, read_outbox

CODE = "493017"  # what a one-time code looks like: it must never reach a log
PHONE = "+86 138-0013-8000"
ADDRESS = "zhang.san@example.test"
DEADLINE = 1  # seconds, for the servers that hold the sender
HOLD = 30  # how long a misbehaving server would hold a sender that had no deadline


def notifier_with(tmp_path: Path, **settings) -> Notifier:
    """The notifier ``create_app`` would build from these settings."""
    config = TestConfig(tmp_path).as_mapping()
    config.update(NOTIFY_OUTBOX_PATH=str(tmp_path / "outbox.jsonl"), **settings)
    return build_notifier(config)


def our_log(caplog) -> str:
    """What the service logged (the test servers log what they received)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("backend"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- SMTP -----------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.envelopes = []
        self.authenticated = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.authenticated.append(bool(session.authenticated))
        return "250 OK"


class RefusingInbox(Inbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 mailbox unavailable"


def only(user: bytes, password: bytes):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            user, password)
        return AuthResult(success=ok)

    return authenticate


def smtp_server(handler: Inbox, **kwargs) -> Iterator[Controller]:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    for controller in smtp_server(handler):
        yield handler, controller.port


def smtp_settings(port: int, **more) -> dict:
    return {"NOTIFY_SMTP_HOST": "127.0.0.1", "NOTIFY_SMTP_PORT": port,
            "NOTIFY_SMTP_FROM": "health-code@example.test", "NOTIFY_SMTP_STARTTLS": False,
            "NOTIFY_TIMEOUT_SECONDS": DEADLINE, **more}


def test_email_arrives_with_its_recipient_subject_and_body(tmp_path, inbox):
    handler, port = inbox
    notifier = notifier_with(tmp_path, **smtp_settings(port))
    sent = notifier.send(Message(to=ADDRESS, channel="email", body=f"Your code is {CODE}",
                                 subject="Verification code"))
    assert sent is True
    [envelope] = handler.envelopes
    assert envelope.rcpt_tos == [ADDRESS]
    assert envelope.mail_from == "health-code@example.test"
    text = envelope.content.decode()
    assert f"Your code is {CODE}" in text and "Subject: Verification code" in text
    assert read_outbox(tmp_path / "outbox.jsonl") == []


def test_sms_goes_to_the_email_to_sms_gateway(tmp_path, inbox):
    handler, port = inbox
    notifier = notifier_with(tmp_path, **smtp_settings(
        port, NOTIFY_SMS_EMAIL_DOMAIN="sms.example.test"))
    assert notifier.send(Message(to=PHONE, channel="sms", body=CODE)) is True
    [envelope] = handler.envelopes
    assert envelope.rcpt_tos == ["8613800138000@sms.example.test"]
    assert CODE in envelope.content.decode()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_login_with_the_configured_user(tmp_path):
    handler = Inbox()
    for controller in smtp_server(handler, authenticator=only(b"hc", b"s3cret"),
                                  auth_required=True, auth_require_tls=False):
        good = notifier_with(tmp_path, **smtp_settings(
            controller.port, NOTIFY_SMTP_USER="hc", NOTIFY_SMTP_PASSWORD="s3cret"))
        wrong = notifier_with(tmp_path, **smtp_settings(
            controller.port, NOTIFY_SMTP_USER="hc", NOTIFY_SMTP_PASSWORD="guess"))
        assert good.send(Message(to=ADDRESS, channel="email", body=CODE)) is True
        assert wrong.send(Message(to=ADDRESS, channel="email", body="second")) is False
    assert handler.authenticated == [True]


def test_starttls_required_but_not_offered_sends_nothing(tmp_path, inbox):
    handler, port = inbox
    notifier = notifier_with(tmp_path, **smtp_settings(port, NOTIFY_SMTP_STARTTLS=True))
    assert notifier.send(Message(to=ADDRESS, channel="email", body=CODE)) is False
    assert handler.envelopes == []  # no fall-back to plain text


def test_refused_recipient_is_false_and_logged_without_address_or_body(tmp_path, caplog):
    handler = RefusingInbox()
    for controller in smtp_server(handler):
        notifier = notifier_with(tmp_path, **smtp_settings(controller.port))
        with caplog.at_level(logging.INFO):
            sent = notifier.send(Message(to=ADDRESS, channel="email", body=CODE))
    assert sent is False
    assert handler.envelopes == []
    assert "email via smtp failed" in our_log(caplog)
    assert ADDRESS not in our_log(caplog) and CODE not in our_log(caplog)


def test_nothing_listening_is_false(tmp_path):
    notifier = notifier_with(tmp_path, **smtp_settings(free_port()))
    assert notifier.send(Message(to=ADDRESS, channel="email", body=CODE)) is False


class Trickler:
    """Accepts one connection, reads ``expect`` bytes, then sends ``data`` one byte every
    ``interval`` seconds (or, with ``data=None``, says nothing) for up to HOLD seconds.
    ``client_left`` is set when the sender hung up before that."""

    def __init__(self, data: bytes | None, interval: float = 0.2, expect: int = 0) -> None:
        self.data, self.interval, self.expect = data, interval, expect
        self.sent = 0
        self.client_left = threading.Event()
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._sock.accept()
        with conn:
            conn.settimeout(HOLD)
            try:
                if self.expect:
                    conn.recv(self.expect)
                if self.data is None:
                    while conn.recv(4096):
                        pass  # whatever the sender says, until it hangs up
                    self.client_left.set()
                    return
                for byte in self.data:
                    conn.sendall(bytes([byte]))
                    self.sent += 1
                    if self._stop.wait(self.interval):
                        return
            except OSError:
                self.client_left.set()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(HOLD)


@pytest.fixture
def trickler() -> Iterator[type[Trickler]]:
    made: list[Trickler] = []

    def make(*args, **kwargs) -> Trickler:
        made.append(Trickler(*args, **kwargs))
        return made[-1]

    yield make
    for t in made:
        t.close()


def test_silent_smtp_server_gives_false_and_the_sender_hangs_up(tmp_path, trickler):
    server = trickler(None)
    notifier = notifier_with(tmp_path, **smtp_settings(server.port))
    assert notifier.send(Message(to=ADDRESS, channel="email", body=CODE)) is False
    assert server.client_left.wait(HOLD)


def test_smtp_greeting_one_byte_at_a_time_is_cut_at_the_whole_send_deadline(tmp_path, trickler):
    # Each byte comes well within a per-read timeout of DEADLINE: only a deadline on the
    # whole send ends this before the server has said everything.
    greeting = b"220-" + b"x" * 150 + b"\r\n220 ready\r\n"
    server = trickler(greeting, interval=DEADLINE / 5)
    notifier = notifier_with(tmp_path, **smtp_settings(server.port))
    assert notifier.send(Message(to=ADDRESS, channel="email", body=CODE)) is False
    assert server.client_left.wait(HOLD)
    assert server.sent < len(greeting)


# --- SMS webhook ----------------------------------------------------------------------


class Gateway(BaseHTTPRequestHandler):
    """Records each POST; answers with the server's ``status``."""

    def do_POST(self):  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length", 0))
        self.server.received.append({"path": self.path, "headers": dict(self.headers),
                                     "body": json.loads(self.rfile.read(length))})
        self.send_response(self.server.status)
        if self.server.status in (301, 302, 307, 308):
            self.send_header("Location", self.server.location)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass  # quiet tests


@pytest.fixture
def gateway() -> Iterator[ThreadingHTTPServer]:
    servers = []

    def make(status: int = 200, location: str = "") -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
        server.received, server.status, server.location = [], status, location
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


def webhook_url(server: ThreadingHTTPServer, path: str = "/sms") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_webhook_receives_json_and_the_bearer_token(tmp_path, gateway):
    server = gateway()
    notifier = notifier_with(tmp_path, NOTIFY_SMS_WEBHOOK_URL=webhook_url(server, "/sms?k=1"),
                             NOTIFY_SMS_WEBHOOK_TOKEN="gw-token")
    assert notifier.send(Message(to=PHONE, channel="sms", body=f"验证码 {CODE}")) is True
    [request] = server.received
    assert request["path"] == "/sms?k=1"
    assert request["body"] == {"to": PHONE, "body": f"验证码 {CODE}"}
    assert request["headers"]["Authorization"] == "Bearer gw-token"
    assert request["headers"]["Content-Type"] == "application/json"
    assert read_outbox(tmp_path / "outbox.jsonl") == []


def test_webhook_without_a_token_sends_no_authorization(tmp_path, gateway):
    server = gateway(status=202)
    notifier = notifier_with(tmp_path, NOTIFY_SMS_WEBHOOK_URL=webhook_url(server))
    assert notifier.send(Message(to=PHONE, channel="sms", body=CODE)) is True
    assert "Authorization" not in server.received[0]["headers"]


def test_webhook_500_is_false_and_logged_without_number_or_body(tmp_path, gateway, caplog):
    server = gateway(status=500)
    notifier = notifier_with(tmp_path, NOTIFY_SMS_WEBHOOK_URL=webhook_url(server))
    with caplog.at_level(logging.INFO):
        assert notifier.send(Message(to=PHONE, channel="sms", body=CODE)) is False
    assert len(server.received) == 1
    assert "sms via sms_webhook failed: the gateway answered 500" in our_log(caplog)
    assert PHONE not in our_log(caplog) and CODE not in our_log(caplog)


def test_webhook_redirect_is_not_followed(tmp_path, gateway):
    elsewhere = gateway()
    server = gateway(status=307, location=webhook_url(elsewhere))
    notifier = notifier_with(tmp_path, NOTIFY_SMS_WEBHOOK_URL=webhook_url(server),
                             NOTIFY_SMS_WEBHOOK_TOKEN="gw-token")
    assert notifier.send(Message(to=PHONE, channel="sms", body=CODE)) is False
    assert elsewhere.received == []  # neither the code nor the token went on


def test_webhook_answer_one_byte_at_a_time_is_cut_at_the_whole_request_deadline(
        tmp_path, trickler):
    answer = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"x" * 150 + b"\r\nContent-Length: 0\r\n\r\n"
    server = trickler(answer, interval=DEADLINE / 5, expect=1)
    notifier = notifier_with(tmp_path, NOTIFY_SMS_WEBHOOK_URL=f"http://127.0.0.1:{server.port}/",
                             NOTIFY_TIMEOUT_SECONDS=DEADLINE)
    assert notifier.send(Message(to=PHONE, channel="sms", body=CODE)) is False
    assert server.client_left.wait(HOLD)
    assert server.sent < len(answer)


def test_webhook_that_never_answers_gives_false(tmp_path, trickler):
    server = trickler(None, expect=1)
    notifier = notifier_with(tmp_path, NOTIFY_SMS_WEBHOOK_URL=f"http://127.0.0.1:{server.port}/",
                             NOTIFY_TIMEOUT_SECONDS=DEADLINE)
    assert notifier.send(Message(to=PHONE, channel="sms", body=CODE)) is False
    assert server.client_left.wait(HOLD)


# --- outbox ---------------------------------------------------------------------------


def test_outbox_holds_each_message_as_one_line_in_a_private_file(tmp_path, caplog):
    notifier = notifier_with(tmp_path)
    with caplog.at_level(logging.DEBUG):
        assert notifier.send(Message(to=PHONE, channel="sms", body=f"验证码 {CODE}\nline 2"))
        assert notifier.send(Message(to=ADDRESS, channel="email", body="notice",
                                     subject="Exposure notice"))
    path = tmp_path / "outbox.jsonl"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first, second = read_outbox(path)
    assert {k: first[k] for k in ("to", "channel", "body")} == {
        "to": PHONE, "channel": "sms", "body": f"验证码 {CODE}\nline 2"}
    assert first["created_at"].endswith("+00:00")
    assert set(second) == {"to", "channel", "body", "created_at"}
    assert second["to"] == ADDRESS
    assert CODE not in caplog.text and PHONE not in caplog.text


def test_outbox_survives_concurrent_senders_with_whole_lines(tmp_path):
    notifier = notifier_with(tmp_path)
    long_tail = "x" * 3000  # several KiB a line: larger than a pipe's atomic write
    barrier = threading.Barrier(8)

    def sender(n: int) -> None:
        barrier.wait()
        for i in range(40):
            assert notifier.send(Message(to=f"+86{n:02d}{i:04d}", channel="sms",
                                         body=f"{n}:{i}:{long_tail}"))

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    bodies = [json.loads(line)["body"] for line in lines]  # every line parses
    assert sorted(bodies) == sorted(f"{n}:{i}:{long_tail}" for n in range(8) for i in range(40))


def test_read_outbox_of_nothing_is_empty(tmp_path):
    assert read_outbox(tmp_path / "missing.jsonl") == []
