"""GET a URL an admin typed, without letting it reach inside our network (SSRF).

The host is resolved once; if any of its addresses is loopback, private,
link-local, shared, reserved, multicast or unspecified (also inside an
IPv4-mapped, 6to4 or NAT64 IPv6 address) nothing is sent. Otherwise the
connection goes to that checked address itself, so a second DNS answer cannot
swap it (rebinding). Redirects are not followed. One deadline covers the whole
request, DNS to last byte: a ``Deadline`` shuts the socket when it passes, however
slowly the server trickles. Bodies are bounded.

Every failure is an ``OutboundError`` whose ``kind`` is one of a few words:
callers show the kind, never the operating system's message, which would tell
a closed port from an open one.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlsplit

from .deadline import Deadline

NOT_HTTPS = "not_https"
BAD_URL = "bad_url"
REFUSED_ADDRESS = "refused_address"
TIMED_OUT = "timed_out"
UNREACHABLE = "unreachable"  # no connection, a broken answer, TLS failure, no such name
REDIRECTED = "redirected"
TOO_LARGE = "too_large"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Beyond what ``ipaddress`` calls private or reserved (its lists vary by Python version):
_ALSO_REFUSED = (ipaddress.ip_network("100.64.0.0/10"),  # shared, carrier-grade NAT (RFC 6598)
                 ipaddress.ip_network("192.0.0.0/24"))  # IETF protocol assignments (RFC 6890)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known NAT64 prefix (RFC 6052)


class OutboundError(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True)
class OutboundPolicy:
    timeout: float
    allow_http: bool = False
    # Networks exempt from the address refusals (tests: a local server on 127.0.0.1).
    allow_networks: tuple[IPNetwork, ...] = ()
    max_bytes: int = 256 * 1024


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message
    body: bytes


def parse_networks(value: str | Iterable[str]) -> tuple[IPNetwork, ...]:
    """``"127.0.0.1/32, ::1"`` -> networks (a ValueError names a bad one)."""
    items = value.split(",") if isinstance(value, str) else value
    return tuple(ipaddress.ip_network(item.strip()) for item in items if item.strip())


def address_refused(address: IPAddress) -> bool:
    """True for every address a fetch on an admin's behalf must never reach."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
        if embedded is not None:
            return address_refused(embedded)
        if address.is_site_local:
            return True
    return (address.is_loopback or address.is_private or address.is_link_local
            or address.is_reserved or address.is_multicast or address.is_unspecified
            or any(address in net for net in _ALSO_REFUSED if net.version == address.version)
            or not address.is_global)


def check_url(url: str, policy: OutboundPolicy) -> tuple[str, str, int, str]:
    """``(scheme, host, port, path)`` of a URL this policy may fetch (before any lookup)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise OutboundError(BAD_URL) from None
    if parts.scheme != "https" and not (parts.scheme == "http" and policy.allow_http):
        raise OutboundError(NOT_HTTPS)
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise OutboundError(BAD_URL)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def get(url: str, policy: OutboundPolicy, headers: Mapping[str, str] | None = None) -> Response:
    """GET ``url`` under ``policy``; any status but a redirect is returned to the caller."""
    scheme, host, port, path = check_url(url, policy)
    with Deadline(policy.timeout) as deadline:
        try:
            family, sockaddr = _resolve(host, port, policy, deadline)
            cls = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
            conn = cls(host, port, family, sockaddr, deadline)
            try:
                conn.request("GET", path, headers={"Connection": "close", **(headers or {})})
                answer = conn.getresponse()
                if 300 <= answer.status < 400 and answer.status != 304:
                    raise OutboundError(REDIRECTED)
                length = answer.getheader("Content-Length")
                if length and length.strip().isdigit() and int(length) > policy.max_bytes:
                    raise OutboundError(TOO_LARGE)
                body = answer.read(policy.max_bytes + 1)
            finally:
                conn.close()
        except OutboundError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # ssl.SSLError and socket timeouts are OSErrors too.
            raise OutboundError(TIMED_OUT if deadline.expired else UNREACHABLE) from exc
    if deadline.expired:  # the deadline's shutdown looks like an end of body
        raise OutboundError(TIMED_OUT)
    if len(body) > policy.max_bytes:
        raise OutboundError(TOO_LARGE)
    return Response(answer.status, answer.headers, body)


def _resolve(host: str, port: int, policy: OutboundPolicy,
             deadline: Deadline) -> tuple[int, tuple]:
    """One lookup (within the deadline); refused when any answer is refused."""
    found: list = []

    def lookup() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                            proto=socket.IPPROTO_TCP))
        except (OSError, UnicodeError) as exc:
            found.append(exc)

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(deadline.remaining())
    if not found:
        raise OutboundError(TIMED_OUT)  # the lookup thread ends on its own later
    if isinstance(found[0], Exception) or not found[0]:
        raise OutboundError(UNREACHABLE)
    answers = [(family, sockaddr) for family, _, _, _, sockaddr in found[0]
               if family in (socket.AF_INET, socket.AF_INET6)]
    if not answers:
        raise OutboundError(UNREACHABLE)
    for _, sockaddr in answers:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        allowed = any(address in net for net in policy.allow_networks
                      if net.version == address.version)
        if not allowed and address_refused(address):
            raise OutboundError(REFUSED_ADDRESS)
    return answers[0]


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the address that was checked, never to a fresh lookup of ``host``."""

    def __init__(self, host: str, port: int, family: int, sockaddr: tuple,
                 deadline: Deadline) -> None:
        super().__init__(host, port, timeout=max(deadline.remaining(), 0.001))
        self._family, self._sockaddr, self._deadline = family, sockaddr, deadline

    def connect(self) -> None:
        sock = socket.socket(self._family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            self._deadline.watch(sock)
            sock.settimeout(max(self._deadline.remaining(), 0.001))
            sock.connect(self._sockaddr)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class _PinnedHTTPS(_PinnedHTTP):
    default_port = 443  # so the Host header carries no ":443"

    def connect(self) -> None:
        super().connect()
        # Certificate and name checked against the host of the URL, not the address.
        tls = ssl.create_default_context()
        self.sock = tls.wrap_socket(self.sock, server_hostname=self.host)
