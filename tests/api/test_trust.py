"""The trust list under a hostile admin or issuer (issue 15, findings 2, 3, 8 and 9).

- A trusted issuer's bad key set costs that issuer its bad keys and nothing else:
  local-token scans, the gate bundle and the issuer list keep working.
- Its JWKS is fetched only from public addresses (after DNS), over https outside
  the embedded default, within one deadline, without following redirects; errors
  say a category and never tell a closed port from an open one.
- Every refresh is audited; an issuer id may not differ only in case from ours or
  another trusted issuer's.

Every server here listens on 127.0.0.1; any other connection is refused before a
packet leaves (``ConnectionLog``) and names resolve only through ``FakeDNS``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import app_on_migrated, bearer
from cryptography.hazmat.primitives.asymmetric import ec
from trust_support import (
    ConnectionLog,
    FakeDNS,
    JWKSServer,
    RawServer,
    Trickle,
    closed_port,
    read_request,
)

from backend.auth import issue_credential
from backend.config import Config, ConfigError, TestConfig
from backend.extensions import db
from backend.keys import SigningKey, key_id, public_jwk
from backend.models import Role, TrustedIssuer
from backend.services import context
from backend.tokens import sign_code_token
from checkpoints.bundle import OfflineVerifier

PARTNER = "partner"
ALLOW_LOOPBACK = "127.0.0.1/32"


def _key() -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    return SigningKey(key_id(private.public_key()), private, datetime.now(UTC), None)


PARTNER_KEY = _key()
PARTNER_JWK = public_jwk(PARTNER_KEY.private_key.public_key(), PARTNER_KEY.kid)
EVIL_JWK = {**public_jwk(_key().private_key.public_key(), "x"), "kid": ["evil1"]}


@pytest.fixture
def admin(operator):
    return operator(Role.ADMIN, region=None)


@pytest.fixture
def server():
    running = JWKSServer()
    yield running
    running.close()


@pytest.fixture
def connections(monkeypatch) -> ConnectionLog:
    return ConnectionLog(monkeypatch)


@pytest.fixture
def dns(monkeypatch) -> FakeDNS:
    return FakeDNS(monkeypatch)


@pytest.fixture
def raw_server():
    started: list[RawServer] = []

    def start(behave) -> RawServer:
        started.append(RawServer(behave))
        return started[-1]

    yield start
    for running in started:
        running.close()


@pytest.fixture
def gate(client, operator):
    official = operator(Role.OFFICIAL, region="r1")
    created = client.post("/api/v1/checkpoints", headers=official, json={
        "name": "Station hall", "category": "venue", "region": "r1", "admits": ["green"]})
    assert created.status_code == 201, created.json
    device = client.post(f"/api/v1/checkpoints/{created.json['checkpoint_id']}/devices",
                         headers=official, json={"name": "gate 1"})
    return bearer(device.json["token"])


def _trust(client, admin, url, issuer_id=PARTNER):
    return client.put(f"/api/v1/trust/issuers/{issuer_id}", headers=admin,
                      json={"name": "Partner region", "jwks_url": url})


def _listed(client, admin, issuer_id=PARTNER):
    answer = client.get("/api/v1/trust/issuers", headers=admin)
    assert answer.status_code == 200, answer.json
    return next(i for i in answer.json["issuers"] if i["issuer_id"] == issuer_id)


def _local_token(client, citizen):
    holder, _, _ = citizen()
    return client.post("/api/v1/me/tokens", headers=holder, json={}).json["token"]


def _partner_token():
    return sign_code_token(key=PARTNER_KEY, issuer=PARTNER, subject="partner-subject",
                           color="green", display_name="李*", now=datetime.now(UTC),
                           lifetime_seconds=300).token


def _scan(client, gate, token):
    answer = client.post("/api/v1/scans", headers=gate, json={"token": token})
    assert answer.status_code == 200, answer.json
    return answer.json["reason"]


def _gates_still_work(client, gate, local_token):
    """What issue 15 #2 saw fail with 500: scans of our tokens and the bundle."""
    assert _scan(client, gate, local_token) == "ok"
    bundle = client.get("/api/v1/checkpoints/bundle", headers=gate)
    assert bundle.status_code == 200, bundle.json
    assert OfflineVerifier.from_bundle(bundle.json).verify(
        local_token, datetime.now(UTC)).reason == "ok"
    return bundle.json


# --------------------------------------------------------------------------- finding 2


def test_fetched_bad_keys_are_dropped_with_reasons_and_stop_no_gate(
        app, client, admin, citizen, gate, server):
    app.config["TRUST_FETCH_ALLOW"] = ALLOW_LOOPBACK
    # The reproducers of the report: a kid that is a list (beside a good key), and junk.
    evil = _trust(client, admin, server.answer("/evil.json", {"keys": [EVIL_JWK, PARTNER_JWK]}))
    junk = _trust(client, admin, server.answer("/junk.json", {"keys": ["a", 1, None]}),
                  issuer_id="junk")

    assert evil.status_code == 200, evil.json
    assert evil.json["keys"] == [PARTNER_KEY.kid] and evil.json["last_error"] is None
    assert evil.json["dropped_keys"] == [{"index": 0, "reason": "kid is not a string"}]
    assert junk.status_code == 200 and junk.json["keys"] == []
    assert [d["reason"] for d in _listed(client, admin, "junk")["dropped_keys"]] == [
        "not a JSON object"] * 3
    bundle = _gates_still_work(client, gate, _local_token(client, citizen))
    # The partner's good key still verifies its codes, online and offline.
    assert _scan(client, gate, _partner_token()) == "ok"
    assert bundle["keys"][PARTNER] == {"keys": [PARTNER_JWK]}
    assert bundle["keys"]["junk"] == {"keys": []}
    assert OfflineVerifier.from_bundle(bundle).verify(
        _partner_token(), datetime.now(UTC)).reason == "ok"


@pytest.mark.parametrize("stored", [
    pytest.param({"keys": [EVIL_JWK]}, id="kid-a-list"),
    pytest.param({"keys": ["a", 1, None]}, id="keys-not-objects"),
    pytest.param({"keys": "abc"}, id="keys-a-string"),
    pytest.param(["not", "a", "jwks"], id="a-list"),
])
def test_bad_keys_stored_before_they_were_checked_stop_no_gate(
        app, client, admin, citizen, gate, stored):
    with app.app_context():
        db.session.add(TrustedIssuer(issuer_id="old", name="Stored earlier",
                                     jwks_url="https://jwks.old.test/jwks.json", jwks=stored,
                                     pinned_keys=[PARTNER_JWK, {"kid": ["evil2"]}],
                                     updated_at=datetime.now(UTC)))
        db.session.commit()
        context.trusted_keys().invalidate()

    bundle = _gates_still_work(client, gate, _local_token(client, citizen))

    assert _listed(client, admin, "old")["keys"] == [PARTNER_KEY.kid]  # the usable pinned key
    assert bundle["keys"]["old"] == {"keys": [PARTNER_JWK]}


def test_unusable_pinned_keys_are_refused_naming_the_field(client, admin, connections):
    answer = client.put(f"/api/v1/trust/issuers/{PARTNER}", headers=admin, json={
        "name": "Partner", "jwks_url": "https://jwks.partner.test/jwks.json",
        "pinned_keys": [PARTNER_JWK, {**PARTNER_JWK, "d": "secret", "kid": "k2"}]})

    assert answer.status_code == 422
    assert answer.json["error"]["fields"] == {"pinned_keys": ["key 1: holds a private key"]}
    assert connections.refused == []


# --------------------------------------------------------------------------- finding 3

# The URL field already refuses "127.1", "0177.0.0.1" and "[::ffff:127.0.0.1]" (422);
# tests/unit/test_outbound.py shows the fetch refusing them too.
LOOPBACK_SPELLINGS = ["127.0.0.1", "localhost", "0x7f000001", "2130706433", "[::1]"]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_loopback_in_any_spelling_is_refused_before_a_request(
        client, admin, server, connections, dns, host):
    url = server.answer("/jwks.json", {"keys": [PARTNER_JWK]}).replace("127.0.0.1", host)

    answer = _trust(client, admin, url)

    assert answer.status_code == 200, answer.json
    assert answer.json["last_error"] == "refused address" and answer.json["keys"] == []
    assert server.requests == [] and connections.refused == []


@pytest.mark.parametrize("url", [
    "http://10.0.0.1/jwks.json", "http://192.168.1.1/jwks.json", "http://172.16.5.4/jwks.json",
    "http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/jwks.json",
    "http://0.0.0.0:5432/", "http://224.0.0.1/", "http://240.0.0.1/",
    "http://[fe80::1]/jwks.json", "http://[fc00::1]/jwks.json",
    "http://[2002:a00:1::]/jwks.json", "http://[64:ff9b::a9fe:a9fe]/jwks.json",
    # Names whose DNS answers (from FakeDNS) are inside, or partly inside.
    "http://jwks.partner.test/jwks.json", "http://metadata.test/computeMetadata/v1/",
    "http://mixed.test/jwks.json", "http://ipv6.test/jwks.json",
])
def test_private_and_reserved_addresses_are_refused_before_any_connection(
        client, admin, connections, dns, url):
    dns.names.update({"jwks.partner.test": ["10.0.0.7"], "metadata.test": ["169.254.169.254"],
                      "mixed.test": ["8.8.8.8", "192.168.0.10"], "ipv6.test": ["fd00::5"]})

    answer = _trust(client, admin, url)

    assert answer.status_code == 200, answer.json
    assert answer.json["last_error"] == "refused address"
    assert connections.refused == []


def test_a_name_is_looked_up_once_and_the_checked_address_is_the_one_connected(
        app, client, admin, server, connections, dns):
    app.config["TRUST_FETCH_ALLOW"] = ALLOW_LOOPBACK
    answers = iter([["127.0.0.1"]])  # a second lookup (rebinding) would answer 10.0.0.9
    dns.names["rebind.test"] = lambda: next(answers, ["10.0.0.9"])
    url = server.answer("/jwks.json", {"keys": [PARTNER_JWK]}).replace("127.0.0.1",
                                                                        "rebind.test")

    answer = _trust(client, admin, url)

    assert answer.json["keys"] == [PARTNER_KEY.kid], answer.json
    assert dns.lookups.count("rebind.test") == 1 and connections.refused == []


def test_redirects_are_not_followed(app, client, admin, server):
    app.config["TRUST_FETCH_ALLOW"] = ALLOW_LOOPBACK
    server.answer("/jwks.json", {"keys": [PARTNER_JWK]})
    moved = server.answer("/moved", b"", status=302,
                          headers={"Location": server.url("/jwks.json")})

    answer = _trust(client, admin, moved)

    assert answer.json["last_error"] == "redirect not followed"
    assert server.requests == ["/moved"]


def test_a_trickling_server_is_cut_at_the_deadline(app, client, admin, raw_server):
    app.config.update(TRUST_FETCH_ALLOW=ALLOW_LOOPBACK, JWKS_FETCH_TIMEOUT_SECONDS=1)
    # Each byte comes well within the timeout; all of them would take 15 s.
    trickle = Trickle(b'{"keys": []}', gap=0.25)
    slow = raw_server(trickle)

    answer = _trust(client, admin, slow.url())

    assert answer.json["last_error"] == "timed out"
    assert slow.finished.wait(30) and trickle.cut
    assert trickle.sent < len(trickle.response)


def _ssh_banner(conn):
    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
    read_request(conn)


def _redis_like(conn):
    read_request(conn)
    conn.sendall(b"-ERR unknown command 'GET'\r\n")


def _hang_up(conn):
    pass


@pytest.mark.parametrize("behave", [_ssh_banner, _redis_like, _hang_up],
                         ids=["ssh-banner", "redis-error", "hang-up"])
def test_a_closed_port_and_an_open_non_http_port_look_the_same(
        app, client, admin, raw_server, behave):
    app.config["TRUST_FETCH_ALLOW"] = ALLOW_LOOPBACK
    open_port = raw_server(behave)

    closed = _trust(client, admin, f"http://127.0.0.1:{closed_port()}/jwks.json", "closed")
    opened = _trust(client, admin, open_port.url(), "opened")

    assert open_port.finished.wait(30) and open_port.connections == 1
    assert closed.json["last_error"] == opened.json["last_error"] == (
        "could not fetch the key set")


@pytest.mark.parametrize(("body", "status", "error"), [
    pytest.param(b'{"keys": []}' + b" " * 300_000, 200, "invalid key set (larger than 256 KiB)",
                 id="too-large"),
    pytest.param(b"<html>hello</html>", 200, "invalid key set (not JSON)", id="not-json"),
    pytest.param(b'{"keys": 5}', 200, "invalid key set (no 'keys' list)", id="no-keys-list"),
    pytest.param(b'{"keys": []}', 500, "could not fetch the key set", id="http-500"),
])
def test_errors_are_categories_and_the_last_good_copy_is_kept(
        app, client, admin, server, body, status, error):
    app.config["TRUST_FETCH_ALLOW"] = ALLOW_LOOPBACK
    _trust(client, admin, server.answer("/jwks.json", {"keys": [PARTNER_JWK]}))
    server.answer("/jwks.json", body, status=status)

    outcome = client.post(f"/api/v1/trust/issuers/{PARTNER}/refresh", headers=admin).json

    assert outcome == {"outcome": {PARTNER: f"kept last good copy ({error})"}}
    listed = _listed(client, admin)
    assert listed["last_error"] == error and listed["keys"] == [PARTNER_KEY.kid]


@pytest.fixture
def production(migrated, monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("TRUST_ALLOW_HTTP", raising=False)
    config = TestConfig(migrated)
    # Production refuses codes left to the outbox: name transports (never used here).
    config.NOTIFY_SMTP_HOST, config.NOTIFY_SMTP_FROM = "127.0.0.1", "codes@health.test"
    config.NOTIFY_SMS_WEBHOOK_URL = "http://127.0.0.1:9/sms"
    yield from app_on_migrated(config)


@pytest.mark.parametrize("url", ["http://8.8.8.8/jwks.json", "http://127.0.0.1:9/jwks.json",
                                 "http://jwks.partner.test/jwks.json"])
def test_production_refuses_plain_http_naming_the_field(production, connections, dns, url):
    with production.app_context():
        _, secret = issue_credential(Role.ADMIN, region=None, name="admin")
        db.session.commit()

    answer = _trust(production.test_client(), bearer(secret), url)

    assert answer.status_code == 422
    assert answer.json["error"]["fields"] == {"jwks_url": ["must be https"]}
    assert connections.refused == [] and dns.lookups == []


@pytest.mark.parametrize(("env", "allowed"), [
    ({}, True),  # the embedded default: a demo of two deployments on one machine
    ({"DATABASE_URL": "postgresql://db.internal/hc"}, False),
    ({"APP_ENV": "production"}, False),
    ({"DATABASE_URL": "postgresql://db.internal/hc", "TRUST_ALLOW_HTTP": "1"}, True),
])
def test_plain_http_is_allowed_only_on_the_embedded_default(tmp_path, monkeypatch, env,
                                                             allowed):
    for name in ("DATABASE_URL", "APP_ENV", "TRUST_ALLOW_HTTP"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert Config(tmp_path).TRUST_ALLOW_HTTP is allowed


def test_production_will_not_start_with_plain_http_allowed(tmp_path, monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("TRUST_ALLOW_HTTP", "1")

    with pytest.raises(ConfigError, match="TRUST_ALLOW_HTTP"):
        Config(tmp_path)


# --------------------------------------------------------------------------- findings 8, 9


def test_every_refresh_is_audited(app, client, admin, server, runner):
    app.config["TRUST_FETCH_ALLOW"] = ALLOW_LOOPBACK
    _trust(client, admin, server.answer("/jwks.json", {"keys": [EVIL_JWK, PARTNER_JWK]}))
    client.post(f"/api/v1/trust/issuers/{PARTNER}/refresh", headers=admin)
    server.answer("/jwks.json", b"nope", status=404)
    assert runner.invoke(args=["refresh-trust", "--force"]).exit_code == 0

    entries = client.get("/api/v1/audit?action=trust.refresh", headers=admin).json["entries"]

    assert [(e["actor_name"], e["target"]) for e in entries] == [
        ("command line", f"issuer:{PARTNER}"), ("admin", f"issuer:{PARTNER}"),
        ("admin", f"issuer:{PARTNER}")]
    assert entries[0]["detail"] == {"fetched": False, "error": "could not fetch the key set",
                                    "new_copy": False, "keys": [PARTNER_KEY.kid], "dropped": 1}
    assert entries[2]["detail"] == {"fetched": True, "error": None, "new_copy": True,
                                    "keys": [PARTNER_KEY.kid], "dropped": 1}


@pytest.mark.parametrize("issuer_id", ["HC-LOCAL", "Hc-Local", "hc-local"])
def test_an_issuer_id_that_is_ours_in_any_case_is_refused(client, admin, connections, issuer_id):
    answer = _trust(client, admin, "https://jwks.partner.test/jwks.json", issuer_id)

    assert answer.status_code == 422
    assert list(answer.json["error"]["fields"]) == ["issuer_id"]
    assert [i["issuer_id"] for i in client.get("/api/v1/trust/issuers",
                                               headers=admin).json["issuers"]] == ["hc-local"]


def test_two_trusted_issuers_may_not_differ_only_in_case(client, admin, connections, dns):
    url = "http://10.0.0.1/jwks.json"  # refused before a connection: no fetch needed here
    assert _trust(client, admin, url, "Partner").status_code == 200

    clash = _trust(client, admin, url, "PARTNER")
    again = _trust(client, admin, url, "Partner")  # changing the same issuer is fine

    assert clash.status_code == 422
    assert clash.json["error"]["fields"] == {"issuer_id": ["differs only in case from Partner"]}
    assert again.status_code == 200
    assert [i["issuer_id"] for i in client.get("/api/v1/trust/issuers",
                                               headers=admin).json["issuers"]] == [
        "hc-local", "Partner"]
