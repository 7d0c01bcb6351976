"""What scripts/attack.py needs to talk to a service and to play the other parties.

The service is spoken to over HTTP with urllib, at a loopback address only
(``loopback_base_url``). The other parties of the attacks run inside the script,
on 127.0.0.1: a "trusted issuer" serving key sets (``KeySetServer``), raw TCP
listeners that answer like SSH, like Redis or one byte a second (``RawServer``),
and an issuer's signing key (``IssuerKey``). ``World`` makes what an attack needs
on the service: verified people with new ID numbers, checkpoints and their
devices, trusted issuers that it removes again.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import secrets
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.identity import with_check_digit  # noqa: E402
from checkpoints.bundle import OfflineVerifier  # noqa: E402

# The order of the P-256 group: (r, N - s) verifies wherever (r, s) does.
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
OPERATORS = ("admin", "official", "data_provider", "credit_authority")  # and "registrar"


class Unexpected(Exception):
    """The service answered a set-up step in a way that leaves the attack unreplayable."""


# --------------------------------------------------------------------------- HTTP


def is_loopback_host(host: str | None) -> bool:
    """127.0.0.0/8, ::1 (also IPv4-mapped) or the name ``localhost``; nothing else."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def loopback_base_url(url: str) -> str:
    """The base URL without a trailing slash; ValueError unless it names loopback."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not is_loopback_host(parts.hostname):
        raise ValueError(f"refusing {url!r}: attacks go to a loopback address only "
                         "(127.0.0.0/8, localhost, [::1])")
    return url.rstrip("/")


@dataclass
class Answer:
    status: int
    body: Any
    headers: Message

    @property
    def code(self) -> str | None:
        """The error code of a JSON error answer."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"].get("code")
        return None

    @property
    def fields(self) -> list[str]:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return sorted(self.body["error"].get("fields") or {})
        return []

    def brief(self) -> str:
        """``403 unverified``, ``422 (reason)``, ``201``: the status and what it names."""
        text = str(self.status)
        if self.code:
            text += f" {self.code}"
        if self.fields:
            text += f" ({', '.join(self.fields)})"
        return text


class Service:
    """The service under test, spoken to over HTTP with urllib."""

    def __init__(self, base_url: str, log: Callable[[str], None]) -> None:
        self.base = loopback_base_url(base_url)
        self.log = log

    def call(self, method: str, path: str, body: Any = None, secret: str | None = None,
             query: dict | None = None) -> Answer:
        url = self.base + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        for _ in range(4):
            request = urllib.request.Request(url, data=data, method=method)
            if data is not None:
                request.add_header("Content-Type", "application/json")
            if secret:
                request.add_header("Authorization", f"Bearer {secret}")
            try:
                with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
                    answer = Answer(response.status, response.read(), response.headers)
            except urllib.error.HTTPError as err:
                answer = Answer(err.code, err.read(), err.headers)
            if answer.headers.get_content_type() == "application/json" and answer.body:
                answer.body = json.loads(answer.body)
            wait = answer.headers.get("Retry-After", "")
            if answer.status == 429 and wait.isdigit() and int(wait) <= 120:
                # Registrations are limited per address: a rerun may meet the limit.
                self.log(f"(rate limited on {method} {path}: waiting {wait} s)")
                time.sleep(int(wait) + 1)
                continue
            return answer
        return answer

    def expect(self, status: int, method: str, path: str, body: Any = None,
               secret: str | None = None, query: dict | None = None) -> Any:
        """A set-up step: its answer's body, or Unexpected."""
        answer = self.call(method, path, body, secret, query)
        if answer.status != status:
            shown = answer.body if isinstance(answer.body, dict) else answer.status
            raise Unexpected(f"{method} {path} answered {answer.status}, not {status}: "
                             f"{json.dumps(shown, ensure_ascii=False)[:300]}")
        return answer.body


# --------------------------------------------------------------------------- servers


class KeySetServer:
    """What the tester ran as a 'trusted issuer': canned answers by path on 127.0.0.1."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                owner.requests.append(self.path)
                status, headers, body = owner.routes.get(self.path, (404, {}, b"{}"))
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def answer(self, path: str, body: Any, status: int = 200,
               headers: dict[str, str] | None = None) -> str:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.routes[path] = (status, {"Content-Type": "application/json", **(headers or {})}, raw)
        return self.url(path)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class RawServer:
    """A TCP listener on 127.0.0.1 that treats its first connection with ``behave``."""

    def __init__(self, behave: Callable[[socket.socket], None]) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(4)
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self._behave = behave
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        self.connections += 1
        with conn, contextlib.suppress(OSError):
            self._behave(conn)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks.json"

    def close(self) -> None:
        self._listener.close()


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk


def ssh_banner(conn: socket.socket) -> None:
    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
    _read_request(conn)


def redis_like(conn: socket.socket) -> None:
    _read_request(conn)
    conn.sendall(b"-ERR unknown command 'GET'\r\n")


def trickle(conn: socket.socket) -> None:
    """A valid key set, one byte a second: each byte is in time, the whole never is."""
    _read_request(conn)
    reply = b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"keys": []}'
    for i in range(len(reply)):
        conn.sendall(reply[i:i + 1])
        time.sleep(1)


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- tokens


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims_of(token: str) -> dict:
    return json.loads(b64decode(token.split(".")[1]))


def high_s_twin(token: str) -> str:
    """The same token with the other, equally valid, spelling of its ECDSA signature."""
    head, body, signature = token.split(".")
    raw = b64decode(signature)
    s = int.from_bytes(raw[32:], "big")
    return f"{head}.{body}.{b64(raw[:32] + (N - s).to_bytes(32, 'big'))}"


class IssuerKey:
    """A P-256 key of a made-up trusted issuer, signing whatever claims it is given."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.kid = f"atk-{secrets.token_hex(6)}"
        numbers = self.private.public_key().public_numbers()
        self.jwk = {"kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig", "alg": "ES256",
                    "x": b64(numbers.x.to_bytes(32, "big")),
                    "y": b64(numbers.y.to_bytes(32, "big"))}

    def sign(self, claims: dict) -> str:
        head = b64(json.dumps({"alg": "ES256", "kid": self.kid}).encode())
        body = b64(json.dumps(claims, separators=(",", ":")).encode())
        r, s = decode_dss_signature(self.private.sign(f"{head}.{body}".encode(),
                                                      ec.ECDSA(hashes.SHA256())))
        s = min(s, N - s)  # canonical, as a careful issuer writes it
        return f"{head}.{body}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def token(self, issuer: str, *, iat: float | None = None, lifetime: float = 300,
              exp: Any = None, scope: str | None = None) -> str:
        iat = time.time() if iat is None else iat
        claims = {"iss": issuer, "sub": f"p-{secrets.token_hex(4)}", "iat": round(iat, 3),
                  "exp": int(iat + lifetime) if exp is None else exp,
                  "jti": secrets.token_urlsafe(6), "hc": "green", "nm": "李*"}
        if scope:
            claims["scp"] = scope
        return self.sign(claims)


# --------------------------------------------------------------------------- the world


@dataclass
class Person:
    secret: str
    id_number: str
    phone: str
    registration: dict
    subject: str | None = None


@dataclass
class Gate:
    checkpoint_id: int
    secret: str
    category: str


@dataclass
class Partner:
    issuer_id: str
    key: IssuerKey


def new_id_number() -> str:
    """A valid ID number nobody has used: random area, birth date and sequence."""
    born = date(1950, 1, 1) + timedelta(days=secrets.randbelow(55 * 365))
    return with_check_digit(f"{secrets.randbelow(550000) + 110000}{born:%Y%m%d}"
                            f"{secrets.randbelow(1000):03d}")


def new_phone() -> str:
    return "139" + f"{secrets.randbelow(10 ** 8):08d}"


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


@dataclass
class World:
    """The service, the operators' secrets and what attacks make there."""

    service: Service
    creds: dict[str, str]
    region: str
    loopback_allowed: bool = False
    instance: Path | None = None
    run: str = field(default_factory=lambda: secrets.token_hex(3))

    def __getattr__(self, role: str) -> str:  # world.official -> that operator's secret
        if role in (*OPERATORS, "registrar"):
            return self.creds[role]
        raise AttributeError(role)

    # people

    def register(self, id_number: str | None = None, phone: str | None = None,
                 name: str = "Probe Person") -> Person:
        id_number, phone = id_number or new_id_number(), phone or new_phone()
        body = self.service.expect(201, "POST", "/api/v1/citizens", {
            "name": name, "id_number": id_number, "phone": phone, "region": self.region})
        return Person(body["token"], id_number, phone, body)

    def verify(self, person: Person) -> Person:
        """What a service counter does: check the ID card, hand over a one-time code.

        A service that shows an unverified account its code needs no counter (that is
        finding 1's hole, which its own attack reports): the account is used as it is.
        """
        if self.service.call("GET", "/api/v1/me/code", secret=person.secret).status == 200:
            return person
        if not self.creds.get("registrar"):
            raise Unexpected("no registrar secret to verify a new account with")
        issued = self.service.expect(201, "POST", "/api/v1/registrar/verifications", {
            "citizen_id": person.registration["citizen_id"], "id_number": person.id_number},
            self.registrar)
        bound = self.service.expect(200, "POST", "/api/v1/me/verification/confirm",
                                    {"code": issued["code"]}, person.secret)
        person.subject = bound.get("subject")
        return person

    def person(self, **fields: Any) -> Person:
        return self.verify(self.register(**fields))

    def color(self, person: Person) -> str:
        return self.service.expect(200, "GET", "/api/v1/me/code", secret=person.secret)["color"]

    def report(self, person: Person, temperature: float, symptoms: list[str]) -> str:
        return self.service.expect(201, "POST", "/api/v1/me/questionnaires", {
            "temperature_c": temperature, "symptoms": symptoms, "travel": []},
            person.secret)["code"]["color"]

    def token(self, person: Person, scope: str | None = None) -> str:
        return self.service.expect(201, "POST", "/api/v1/me/tokens",
                                   {"scope": scope} if scope else {}, person.secret)["token"]

    def records(self, *rows: dict) -> dict:
        return self.service.expect(200, "POST", "/api/v1/gov/records", {"records": list(rows)},
                                   self.data_provider)

    @staticmethod
    def record(kind: str, id_number: str, source: str = "atk-cdc", **detail: Any) -> dict:
        return {"kind": kind, "id_number": id_number, "source": source,
                "ref": f"ATK-{secrets.token_hex(5)}", "occurred_at": ago(hours=2),
                **({"detail": detail} if detail else {})}

    # gates

    def gate(self, category: str = "venue", admits: tuple[str, ...] = ("green",)) -> Gate:
        made = self.service.expect(201, "POST", "/api/v1/checkpoints", {
            "name": f"attack {category} gate {self.run}", "category": category,
            "region": self.region, "admits": list(admits)}, self.official)
        checkpoint_id = made["checkpoint_id"]
        device = self.service.expect(201, "POST", f"/api/v1/checkpoints/{checkpoint_id}/devices",
                                     {}, self.official)
        return Gate(checkpoint_id, device["token"], category)

    def scan(self, gate: Gate, token: str) -> str:
        """``admit ok``, ``refuse pass_required``: the gate's decision and reason (or the
        status of an answer that is not a decision, e.g. ``500 internal_error``)."""
        answer = self.service.call("POST", "/api/v1/scans", {"token": token}, gate.secret)
        if answer.status != 200:
            return answer.brief()
        return f"{answer.body['decision']} {answer.body['reason']}"

    def bundle(self, gate: Gate) -> dict:
        return self.service.expect(200, "GET", "/api/v1/checkpoints/bundle", secret=gate.secret)

    def offline(self, gate: Gate, token: str) -> str:
        """The decision a gate makes offline with the bundle the service gives it."""
        bundle = self.service.call("GET", "/api/v1/checkpoints/bundle", secret=gate.secret)
        if bundle.status != 200:
            return f"bundle {bundle.brief()}"
        try:
            decided = OfflineVerifier.from_bundle(bundle.body).verify(token, datetime.now(UTC))
        except Exception as exc:  # a bundle the gate's own verifier cannot read
            return f"bundle unreadable ({type(exc).__name__})"
        return f"{decided.decision} {decided.reason}"

    def upload(self, gate: Gate, *scans: tuple[str, datetime, str]) -> dict:
        return self.service.expect(200, "POST", "/api/v1/scans/batch", {"scans": [
            {"scan_id": f"atk-{secrets.token_hex(8)}", "token": token,
             "scanned_at": at.isoformat(), "decision": decision}
            for token, at, decision in scans]}, gate.secret)

    # officials' side

    def audit(self, action: str, reader: str | None = None, per_page: int = 50) -> dict:
        return self.service.expect(200, "GET", "/api/v1/audit", secret=reader or self.official,
                                   query={"action": action, "per_page": per_page})

    def draft(self, extra_rules: list[dict]) -> int:
        active = self.service.expect(200, "GET", "/api/v1/rulesets/active", secret=self.official)
        made = self.service.expect(201, "POST", "/api/v1/rulesets", {
            "rules": active["rules"] + extra_rules, "note": f"attack probe {self.run}"},
            self.official)
        return made["id"]

    def leads(self, id_number: str, reason: str) -> Answer:
        return self.service.call("POST", "/api/v1/tracing/leads", {
            "case": {"id_number": id_number}, "reason": reason}, self.official)

    # the trust list

    def put_issuer(self, issuer_id: str, jwks_url: str, pinned: list | None = None) -> Answer:
        body: dict[str, Any] = {"name": "attack partner", "jwks_url": jwks_url}
        if pinned is not None:
            body["pinned_keys"] = pinned
        return self.service.call("PUT", f"/api/v1/trust/issuers/{issuer_id}", body, self.admin)

    def drop_issuer(self, issuer_id: str) -> None:
        self.service.call("DELETE", f"/api/v1/trust/issuers/{issuer_id}", secret=self.admin)

    @contextlib.contextmanager
    def issuer(self, jwks: Any, pinned: list | None = None) -> Iterator[tuple[str, Answer,
                                                                              KeySetServer]]:
        """A trusted issuer whose key set the script serves on 127.0.0.1; removed after."""
        server, issuer_id = KeySetServer(), f"atk-{secrets.token_hex(4)}"
        try:
            answer = self.put_issuer(issuer_id, server.answer("/jwks.json", jwks), pinned)
            yield issuer_id, answer, server
        finally:
            self.drop_issuer(issuer_id)
            server.close()

    @contextlib.contextmanager
    def partner(self) -> Iterator[Partner]:
        """A trusted issuer with a pinned key (so nothing need be fetched) that the
        script signs for; its control token must be admitted at a venue."""
        key = IssuerKey()
        with self.issuer({"keys": [key.jwk]}, pinned=[key.jwk]) as (issuer_id, answer, server):
            if answer.status == 422 and answer.fields == ["pinned_keys"]:
                # A service without pinned keys: it must fetch them from the script.
                answer = self.put_issuer(issuer_id, server.url("/jwks.json"))
            if answer.status != 200:
                raise Unexpected(f"trusting a partner answered {answer.brief()}")
            yield Partner(issuer_id, key)
