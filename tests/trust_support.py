"""Helpers for the trust-list tests: local servers on 127.0.0.1 and a guard on sockets.

Traffic in these tests goes to loopback only. ``ConnectionLog`` replaces
``socket.socket.connect`` and ``socket.create_connection``: a connection to a
loopback address goes through, any other is recorded and refused before a packet
is sent. ``FakeDNS`` answers the names a test gives it and parses numeric hosts
locally (``AI_NUMERICHOST``), so no name is ever looked up outside.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _is_loopback(host: Any) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


class ConnectionLog:
    """Every attempted connection to a non-loopback address (none of them is made)."""

    def __init__(self, monkeypatch) -> None:
        self.refused: list[Any] = []
        real_connect, real_create = socket.socket.connect, socket.create_connection

        def connect(sock, address):
            host = address[0] if isinstance(address, tuple) else address
            if not _is_loopback(host):
                self.refused.append(address)
                raise ConnectionRefusedError("test: no traffic outside loopback")
            return real_connect(sock, address)

        def create_connection(address, *args, **kwargs):
            if not _is_loopback(address[0]):
                self.refused.append(address)
                raise ConnectionRefusedError("test: no traffic outside loopback")
            return real_create(address, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket, "create_connection", create_connection)


class FakeDNS:
    """``names["jwks.partner.test"] = ["10.0.0.7"]``; other names do not exist."""

    def __init__(self, monkeypatch) -> None:
        self.names: dict[str, list[str] | Callable[[], list[str]]] = {}
        self.lookups: list[str] = []
        real = socket.getaddrinfo

        def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002
            self.lookups.append(host)
            if host in self.names:
                found = self.names[host]
                addresses = found() if callable(found) else found
                return [_answer(a, port) for a in addresses]
            if host == "localhost":
                return real("127.0.0.1", port, family, type, proto, flags)
            return real(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _answer(address: str, port: int):
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))


def tls_pair(tmp_path, name: str) -> tuple[str, ssl.SSLContext]:
    """A throw-away CA (its PEM file) and a server context with a certificate for ``name``."""
    now = datetime.now(UTC)

    def cert(subject: str, key, issuer: str, signer, ca: bool) -> x509.Certificate:
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5))
                   .not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]),
                                            critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    ca = cert("test CA", ca_key, "test CA", ca_key, ca=True)
    leaf = cert(name, leaf_key, "test CA", ca_key, ca=False)
    ca_file, cert_file, key_file = (tmp_path / "ca.pem", tmp_path / "leaf.pem",
                                    tmp_path / "leaf.key")
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM,
                                                serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    return str(ca_file), server


class JWKSServer:
    """HTTP (or HTTPS with ``tls``) on 127.0.0.1 with canned answers by path; records every
    path requested."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests.append(self.path)
                status, headers, body = server.routes.get(self.path, (404, {}, b"{}"))
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def answer(self, path: str, body: Any, status: int = 200,
               headers: dict[str, str] | None = None) -> str:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.routes[path] = (status, {"Content-Type": "application/json", **(headers or {})},
                             raw)
        return self.url(path)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)


class RawServer:
    """TCP on 127.0.0.1: ``behave(conn)`` runs for each connection (not HTTP, or slow HTTP)."""

    def __init__(self, behave: Callable[[socket.socket], None]) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self.finished = threading.Event()
        self._behave = behave
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        self.connections += 1
        with conn, contextlib.suppress(OSError):  # the client may hang up first
            self._behave(conn)
        self.finished.set()

    def url(self, path: str = "/jwks.json") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._listener.close()
        self._thread.join(timeout=30)


def read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk


class Trickle:
    """Answers a valid JWKS, one byte every ``gap`` seconds; notes whether it was cut off."""

    def __init__(self, body: bytes, gap: float) -> None:
        self.response = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + body
        self.gap, self.sent, self.cut = gap, 0, False

    def __call__(self, conn: socket.socket) -> None:
        read_request(conn)
        try:
            for i in range(len(self.response)):
                conn.sendall(self.response[i:i + 1])
                self.sent += 1
                time.sleep(self.gap)
        except OSError:
            self.cut = True


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
