"""The fetch guard (backend.outbound) on its own: which addresses it refuses, before
any connection, and how it connects to the address it checked.

Servers listen on 127.0.0.1 only; ``ConnectionLog`` refuses (and records) any
other connection before a packet leaves, and ``FakeDNS`` answers every name.
"""

from __future__ import annotations

import ipaddress
import ssl
import time

import pytest
from trust_support import ConnectionLog, FakeDNS, JWKSServer, RawServer, read_request, tls_pair

from backend import outbound
from backend.outbound import OutboundError, OutboundPolicy, address_refused, parse_networks

OPEN = OutboundPolicy(timeout=5, allow_http=True)
LOOPBACK_ALLOWED = OutboundPolicy(timeout=5, allow_http=True,
                                  allow_networks=parse_networks("127.0.0.1/32"))


@pytest.fixture
def connections(monkeypatch) -> ConnectionLog:
    return ConnectionLog(monkeypatch)


@pytest.fixture
def dns(monkeypatch) -> FakeDNS:
    return FakeDNS(monkeypatch)


@pytest.fixture
def server():
    running = JWKSServer()
    running.answer("/jwks.json", {"keys": []})
    yield running
    running.close()


def _kind(url: str, policy: OutboundPolicy = OPEN) -> str:
    with pytest.raises(OutboundError) as caught:
        outbound.get(url, policy)
    return caught.value.kind


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.255.0.9", "10.0.0.1", "172.31.255.1", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "100.127.255.254", "0.0.0.0", "0.1.2.3", "224.0.0.251", "239.1.1.1",
    "240.0.0.1", "255.255.255.255", "192.0.0.8", "198.18.0.1", "192.0.2.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1", "2001:db8::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
    "2002:7f00:1::", "2002:a9fe:a9fe::1", "64:ff9b::7f00:1", "64:ff9b::a00:1",
    "64:ff9b:1::a00:1", "2001::1", "100::1",
])
def test_inside_and_special_addresses_are_refused(address):
    assert address_refused(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", [
    "8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.255.255", "100.128.0.1",
    "2001:4860:4860::8888", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1",
    "64:ff9b::808:808",
])
def test_public_addresses_are_not_refused(address):
    assert not address_refused(ipaddress.ip_address(address))


@pytest.mark.parametrize("host", [
    "127.0.0.1", "localhost", "0x7f000001", "2130706433", "127.1", "0177.0.0.1", "017700000001",
    "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]",
])
def test_loopback_in_any_spelling_is_refused_before_a_request(server, connections, dns, host):
    assert _kind(server.url("/jwks.json", host)) == outbound.REFUSED_ADDRESS
    assert server.requests == [] and connections.refused == []


@pytest.mark.parametrize("url", [
    "http://10.0.0.1/", "https://192.168.1.1/", "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:10.0.0.1]/", "http://[::ffff:a9fe:a9fe]/", "https://[fd00::1]:8443/",
    "http://inside.test/", "http://metadata.test/", "https://half.test/", "http://v6.test/",
])
def test_inside_addresses_and_names_are_refused_before_any_connection(connections, dns, url):
    dns.names.update({"inside.test": ["10.1.1.1"], "metadata.test": ["169.254.169.254"],
                      "half.test": ["8.8.8.8", "127.0.0.1"], "v6.test": ["fe80::2"]})

    assert _kind(url) == outbound.REFUSED_ADDRESS
    assert connections.refused == []


@pytest.mark.parametrize(("url", "kind"), [
    ("http://8.8.8.8/jwks.json", outbound.NOT_HTTPS),
    ("ftp://8.8.8.8/jwks.json", outbound.NOT_HTTPS),
    ("file:///etc/passwd", outbound.NOT_HTTPS),
    ("gopher://127.0.0.1:6379/_INFO", outbound.NOT_HTTPS),
    ("https://user:pw@jwks.partner.test/", outbound.BAD_URL),
    ("https://jwks.partner.test:99999/", outbound.BAD_URL),
    ("https:///jwks.json", outbound.BAD_URL),
])
def test_what_is_not_https_or_not_a_plain_url_is_refused_before_a_lookup(connections, dns, url,
                                                                          kind):
    assert _kind(url, OutboundPolicy(timeout=5)) == kind
    assert connections.refused == [] and dns.lookups == []


def test_a_name_nobody_knows_is_unreachable(connections, dns):
    assert _kind("https://nowhere.test/jwks.json") == outbound.UNREACHABLE


def test_the_allow_list_lets_a_test_server_through_and_the_checked_address_is_used(
        server, connections, dns):
    answers = iter([["127.0.0.1"]])
    dns.names["rebind.test"] = lambda: next(answers, ["10.0.0.9"])

    answer = outbound.get(server.url("/jwks.json", "rebind.test"), LOOPBACK_ALLOWED)

    assert answer.status == 200 and answer.body == b'{"keys": []}'
    assert dns.lookups == ["rebind.test"] and connections.refused == []
    assert server.requests == ["/jwks.json"]


@pytest.fixture
def https_server(tmp_path, monkeypatch):
    """HTTPS on 127.0.0.1 for jwks.partner.test, whose CA our fetches are made to trust."""
    ca_file, server_tls = tls_pair(tmp_path, "jwks.partner.test")
    real = ssl.create_default_context
    monkeypatch.setattr(ssl, "create_default_context",
                        lambda *args, **kwargs: real(cafile=ca_file))
    running = JWKSServer(tls=server_tls)
    running.answer("/jwks.json", {"keys": []})
    yield running
    running.close()


def test_https_checks_the_certificate_against_the_name_while_connecting_to_the_checked_address(
        https_server, connections, dns):
    dns.names.update({"jwks.partner.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})

    answer = outbound.get(https_server.url("/jwks.json", "jwks.partner.test"), LOOPBACK_ALLOWED)
    wrong_name = _kind(https_server.url("/jwks.json", "other.test"), LOOPBACK_ALLOWED)

    assert answer.status == 200 and answer.body == b'{"keys": []}'
    assert wrong_name == outbound.UNREACHABLE
    assert https_server.requests == ["/jwks.json"] and connections.refused == []


def test_a_slow_lookup_counts_against_the_deadline(connections, dns):
    dns.names["slow.test"] = lambda: time.sleep(3) or ["8.8.8.8"]

    assert _kind("https://slow.test/", OutboundPolicy(timeout=0.5)) == outbound.TIMED_OUT
    assert connections.refused == []


def test_a_body_without_length_is_cut_at_the_bound():
    def endless(conn):
        read_request(conn)
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
        for _ in range(100):
            conn.sendall(b"x" * 4096)

    running = RawServer(endless)
    try:
        policy = OutboundPolicy(timeout=5, allow_http=True, max_bytes=64 * 1024,
                                allow_networks=parse_networks("127.0.0.1"))
        assert _kind(running.url(), policy) == outbound.TOO_LARGE
    finally:
        running.close()


def test_bad_allow_list_entries_are_named():
    with pytest.raises(ValueError, match="nonsense"):
        parse_networks("127.0.0.1/32, nonsense")
