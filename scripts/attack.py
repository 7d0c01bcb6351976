"""Replay the attacks of issue 15 against a running service and print what each met.

    python scripts/attack.py [--base-url http://127.0.0.1:5000]
                             [--credentials instance/demo-credentials.json]
                             [--region demo-city] [--instance PATH]
                             [--loopback-allowed] [--only 1,4,12]

Each finding of the outside security test (1-12) is replayed over HTTP, as the
tester did, with the operator secrets that ``flask --app wsgi seed-demo`` wrote.
One line per attack::

    finding N  <what was tried>  ->  <what the service answered>  HELD|HOLE|SKIPPED

then ``N held, M holes`` (with skipped and errors when there are any); the exit
status is 1 when any attack found a hole or could not be replayed (ERROR), else 0.

Every attack makes what it needs (people with new ID numbers, checkpoints,
trusted issuers it removes again), so it can be run again and again against one
service. It sends traffic to loopback only: a base URL that is not loopback is
refused before anything is sent, the key-set servers it offers the service as a
"trusted issuer" listen on 127.0.0.1, and its SSRF probes name loopback only.

The service refuses loopback key-set addresses unless ``TRUST_FETCH_ALLOW``
allows them (that refusal is finding 3 holding), so the attacks that need the
service to fetch from the script's server are SKIPPED then. Start the service
with ``TRUST_FETCH_ALLOW=127.0.0.1/32`` and pass ``--loopback-allowed`` to replay
them too. ``--instance PATH`` (the service's instance folder, on this machine)
checks its file modes (finding 12).
"""

from __future__ import annotations

import argparse
import json
import secrets
import stat
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from attack_support import (
    OPERATORS,
    ROOT,
    Gate,
    IssuerKey,
    KeySetServer,
    Person,
    RawServer,
    Service,
    Unexpected,
    World,
    ago,
    claims_of,
    closed_port,
    high_s_twin,
    new_id_number,
    new_phone,
    redis_like,
    ssh_banner,
    trickle,
)

HELD, HOLE, SKIPPED, ERROR = "HELD", "HOLE", "SKIPPED", "ERROR"
REFUSED_ADDRESS = "refused address"


# --------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Outcome:
    finding: int
    tried: str
    answered: str
    verdict: str

    def line(self) -> str:
        return f"finding {self.finding:>2}  {self.tried}  ->  {self.answered}  {self.verdict}"


def judged(finding: int, tried: str, answered: str, held: bool) -> Outcome:
    return Outcome(finding, tried, answered, HELD if held else HOLE)


def skipped(finding: int, tried: str, why: str) -> Outcome:
    return Outcome(finding, tried, f"skipped ({why})", SKIPPED)


# --------------------------------------------------------------------------- the attacks

ATTACKS: dict[int, Callable[[World], Iterator[Outcome]]] = {}


def finding(number: int):
    def register(attack: Callable[[World], Iterator[Outcome]]):
        ATTACKS[number] = attack
        return attack
    return register


DATA_ROUTES = ("/api/v1/me/code", "/api/v1/me/data", "/api/v1/me/restrictions",
               "/api/v1/me/notices")


@finding(1)
def identity_before_data(w: World) -> Iterator[Outcome]:
    victim_id = new_id_number()
    w.records(w.record("test_result", victim_id, result="positive"))
    squatter = w.register(id_number=victim_id, name="Squatter")
    reads = {path: w.service.call("GET", path, secret=squatter.secret) for path in DATA_ROUTES}
    reads["POST /me/tokens"] = w.service.call("POST", "/api/v1/me/tokens", {}, squatter.secret)
    shown = sorted({a.brief() for a in reads.values()})
    leaked = [p for p, a in reads.items()
              if a.status < 400 or "positive" in json.dumps(a.body)]
    yield judged(1, "register with a stranger's ID number after a positive test was imported, "
                    "read /me/code, /me/data, /me/restrictions, /me/notices, get a token",
                 ", ".join(shown) + (f"; shown: {leaked}" if leaked else ""),
                 not leaked and {a.code for a in reads.values()} == {"unverified"})

    owner_phone = new_phone()
    again = w.service.call("POST", "/api/v1/citizens", {
        "name": "Owner", "id_number": victim_id, "phone": owner_phone, "region": w.region})
    tried = "the real owner registers after the squatter and is verified at a counter"
    if again.status == 201:
        owner = w.verify(Person(again.body["token"], victim_id, owner_phone, again.body))
        color = w.color(owner)
        frozen = w.service.call("POST", "/api/v1/me/verification", {"method": "sms"},
                                squatter.secret)
        yield judged(1, tried, f"201, owner sees {color}; squatter asking for a code: "
                               f"{frozen.brief()}", color == "red" and frozen.status == 403)
    else:
        yield judged(1, tried, again.brief(), False)

    taken = w.service.call("POST", "/api/v1/citizens", {
        "name": "Probe", "id_number": victim_id, "phone": new_phone(), "region": w.region})
    fresh = w.service.call("POST", "/api/v1/citizens", {
        "name": "Probe", "id_number": new_id_number(), "phone": new_phone(),
        "region": w.region})
    alike = (taken.status, sorted(taken.body)) == (fresh.status, sorted(fresh.body))
    yield judged(1, "register an ID number that is registered already and an unused one, "
                    "compare",
                 f"{taken.status} {sorted(taken.body)} / {fresh.status} {sorted(fresh.body)}",
                 alike and taken.status == 201)

    unknown = new_id_number()
    imports = [w.records(w.record("close_contact", n)) for n in (victim_id, unknown)]
    yield judged(1, "import a record for a registered and an unregistered ID number, compare",
                 f"{json.dumps(imports[0])} / {json.dumps(imports[1])}",
                 imports[0] == imports[1])

    bystander = w.person()
    probes = []
    for id_number in (bystander.id_number, new_id_number()):
        leads = w.leads(id_number, "exposure check (attack replay)")
        imported = w.service.call("POST", "/api/v1/tracing/import", {
            "case": {"id_number": id_number}, "reason": "exposure check (attack replay)"},
            w.official)
        probes.append((leads.status, leads.body, imported.status, imported.body))
    yield judged(1, "tracing leads and import for a registered person without visits and "
                    "for an unregistered ID number, compare",
                 f"{probes[0][0]}/{probes[0][2]} and {probes[1][0]}/{probes[1][2]}, "
                 + ("same bodies" if probes[0] == probes[1] else "different bodies"),
                 probes[0] == probes[1] and probes[0][0] != 404)


EVIL_KID = ["evil1"]


@finding(2)
def bad_keys_stop_no_gate(w: World) -> Iterator[Outcome]:
    holder, venue = w.person(), w.gate("venue")

    def gates_still_work() -> tuple[bool, str]:
        scan = w.scan(venue, w.token(holder))
        bundle = w.service.call("GET", "/api/v1/checkpoints/bundle", secret=venue.secret)
        listed = w.service.call("GET", "/api/v1/trust/issuers", secret=w.admin)
        ok = scan == "admit ok" and bundle.status == listed.status == 200
        return ok, f"local scan {scan}, bundle {bundle.status}, issuer list {listed.status}"

    good, evil = IssuerKey(), IssuerKey()
    evil_jwk = {**evil.jwk, "kid": EVIL_KID}
    for tried, jwks in (("a fetched key set with a key whose kid is a list, beside a good key",
                         {"keys": [evil_jwk, good.jwk]}),
                        ("a fetched key set {\"keys\": [\"a\", 1, null]}",
                         {"keys": ["a", 1, None]})):
        with w.issuer(jwks) as (_, answer, server):
            if answer.status == 200 and answer.body["last_error"] == REFUSED_ADDRESS \
                    and not server.requests:
                yield skipped(2, f"trust an issuer serving {tried}",
                              "the service refuses loopback JWKS, finding 3; rerun with "
                              "TRUST_FETCH_ALLOW=127.0.0.1/32 and --loopback-allowed")
                continue
            ok, state = gates_still_work()
            dropped = [d.get("reason") for d in answer.body.get("dropped_keys", [])] \
                if answer.status == 200 else []
            yield judged(2, f"trust an issuer serving {tried}, then scan and download a bundle",
                         f"PUT {answer.brief()}, dropped {dropped}; {state}",
                         ok and answer.status == 200 and bool(dropped))

    with w.issuer({"keys": []}, pinned=[good.jwk, evil_jwk]) as (_, answer, _):
        ok, state = gates_still_work()
        yield judged(2, "pin a key whose kid is a list on a trusted issuer",
                     f"PUT {answer.brief()}; {state}", ok and answer.status == 422)


def fetch_error(w: World, url: str) -> str:
    """Trust a throw-away issuer at ``url`` and say what the service made of the fetch:
    its ``last_error`` (``none`` when it fetched a key set), or the PUT's refusal."""
    issuer_id = f"atk-{secrets.token_hex(4)}"
    answer = w.put_issuer(issuer_id, url)
    w.drop_issuer(issuer_id)
    if answer.status != 200:
        return f"PUT {answer.brief()}"
    return answer.body.get("last_error") or "none"


SPELLINGS = ("127.0.0.1", "localhost", "0x7f000001", "2130706433", "[::1]")
INTERNAL_PORTS = (22, 5432, 6379)


@finding(3)
def no_fetches_inside(w: World) -> Iterator[Outcome]:
    server = KeySetServer()
    try:
        url = server.answer("/jwks.json", {"keys": [IssuerKey().jwk]})
        if w.loopback_allowed:
            yield skipped(3, "a JWKS URL on loopback in 5 spellings",
                          "--loopback-allowed: the operator lets the service fetch from "
                          "127.0.0.1 (TRUST_FETCH_ALLOW)")
        else:
            errors, fetched = [], []
            for host in SPELLINGS:
                errors.append(fetch_error(w, url.replace("127.0.0.1", host)))
                if server.requests:
                    fetched.append(host)
                    server.requests.clear()
            hint = (" (if the service allows loopback on purpose, TRUST_FETCH_ALLOW, pass "
                    "--loopback-allowed)") if fetched else ""
            yield judged(3, "a JWKS URL on the script's server as " + ", ".join(SPELLINGS),
                         f"{' / '.join(sorted(set(errors)))}; fetched from "
                         f"{fetched or 'none'}{hint}",
                         not fetched and all(e == REFUSED_ADDRESS or e.startswith("PUT 422")
                                             for e in errors))
    finally:
        server.close()

    if w.loopback_allowed:
        # The operator allows loopback: ask what the fetch says of ports the script
        # controls (closed, an SSH banner, a Redis-like error), never of real services.
        fakes = [RawServer(ssh_banner), RawServer(redis_like)]
        targets = {"closed port": f"http://127.0.0.1:{closed_port()}/jwks.json",
                   "SSH-like port": fakes[0].url(), "Redis-like port": fakes[1].url()}
    else:
        fakes = []
        targets = {f"127.0.0.1:{port}": f"http://127.0.0.1:{port}/jwks.json"
                   for port in INTERNAL_PORTS}
    errors = {}
    try:
        for name, target in targets.items():
            errors[name] = fetch_error(w, target)
    finally:
        for fake in fakes:
            fake.close()
    yield judged(3, "map ports through last_error: " + ", ".join(targets),
                 "; ".join(f"{name}: {error}" for name, error in errors.items()),
                 len(set(errors.values())) == 1 and "none" not in errors.values())

    tried = ("a JWKS URL that redirects (302) to another path",
             "a JWKS sent one byte a second (a minute in all)")
    if not w.loopback_allowed:
        for attempt in tried:
            yield skipped(3, attempt, "needs --loopback-allowed: the service refuses the "
                                      "script's loopback server before connecting")
        return
    not_allowed = "the service refuses loopback: start it with TRUST_FETCH_ALLOW=127.0.0.1/32"
    server = KeySetServer()
    try:
        inner = server.answer("/jwks.json", {"keys": [IssuerKey().jwk]})
        error = fetch_error(w, server.answer("/moved", b"", status=302,
                                             headers={"Location": inner}))
        yield skipped(3, tried[0], not_allowed) if error == REFUSED_ADDRESS else judged(
            3, tried[0], f"last_error {error!r}, requested {server.requests}",
            server.requests == ["/moved"] and error == "redirect not followed")
    finally:
        server.close()
    slow = RawServer(trickle)
    try:
        started = time.monotonic()
        error = fetch_error(w, slow.url())
        took = time.monotonic() - started
        yield skipped(3, tried[1], not_allowed) if error == REFUSED_ADDRESS else judged(
            3, tried[1], f"last_error {error!r} after {took:.0f} s", error == "timed out")
    finally:
        slow.close()


@finding(4)
def passes_at_travel_gates(w: World) -> Iterator[Outcome]:
    holder = w.person()
    air, rail = w.gate("air"), w.gate("rail")
    cases = (("a plain token at an air gate", air, w.token(holder)),
             ("an air pass at a rail gate", rail, w.token(holder, "air")))
    for tried, gate, token in cases:
        online, offline = w.scan(gate, token), w.offline(gate, token)
        yield judged(4, tried + ", online and offline", f"{online} / {offline}",
                     online == offline == "refuse pass_required")
    right = w.scan(rail, w.token(holder, "rail"))

    yellow = w.person()
    w.report(yellow, 38.6, ["fever"])
    asked = w.service.call("POST", "/api/v1/me/tokens", {"scope": "rail"}, yellow.secret)
    wide_rail = w.gate("rail", admits=("green", "yellow"))
    plain = w.token(yellow)
    online, offline = w.scan(wide_rail, plain), w.offline(wide_rail, plain)
    yield judged(4, "a yellow holder asks for a rail pass, then shows a plain token at a rail "
                    "gate admitting yellow",
                 f"pass {asked.brief()}; plain token {online} / {offline} "
                 f"(a green holder's rail pass there: {right})",
                 asked.status == 403 and online == offline == "refuse pass_required")

    with w.partner() as partner:
        token = partner.key.token(partner.issuer_id)
        online, offline = w.scan(rail, token), w.offline(rail, token)
        yield judged(4, "a trusted issuer's plain token at a rail gate, online and offline",
                     f"{online} / {offline}", online == offline == "refuse pass_required")


LEGAL_REF_PREFIX = "(2026) Atk 01 Zhi"


@finding(5)
def credit_acts_stay_with_credit(w: World) -> Iterator[Outcome]:
    holder = w.person()
    marker = secrets.token_hex(4)
    legal_ref, lift_reason = f"{LEGAL_REF_PREFIX} {marker}", f"debt repaid {marker}"
    note = f"debt of 50000 CNY still unpaid {marker}"
    placed = []
    for _ in range(2):
        placed.append(w.service.expect(201, "POST", "/api/v1/credit/restrictions", {
            "id_number": holder.id_number, "categories": ["air", "rail"],
            "legal_basis": {"kind": "court_judgment", "ref": legal_ref,
                            "authority": "Attack Intermediate People's Court",
                            "authority_level": "city"},
            "notified_at": ago(days=10), "effective_from": ago(days=1),
            "remedy": "Pay the judgment debt."}, w.credit_authority)["restriction_id"])
    w.service.expect(200, "POST", f"/api/v1/credit/restrictions/{placed[0]}/lift",
                     {"reason": lift_reason}, w.credit_authority)
    appeal = w.service.expect(201, "POST", "/api/v1/me/appeals", {
        "target": "restriction", "target_id": str(placed[1]), "reason": "I paid the debt"},
        holder.secret)
    w.service.expect(200, "POST", f"/api/v1/appeals/{appeal['id']}/decision",
                     {"outcome": "upheld", "note": note}, w.credit_authority)
    for reader in ("official", "admin"):
        log = w.service.expect(200, "GET", "/api/v1/audit", secret=w.creds[reader],
                               query={"per_page": 200})
        blob = json.dumps(log, ensure_ascii=False)
        seen = [m for m in (legal_ref, lift_reason, note) if m in blob]
        credit_entries = sum(e.get("role") == "credit_authority" for e in log["entries"])
        filtered = sum(w.audit(a, w.creds[reader])["total"]
                       for a in ("restriction.place", "restriction.lift", "appeal.decide"))
        credit_log = w.service.call("GET", "/api/v1/credit/audit", secret=w.creds[reader])
        yield judged(5, f"place, lift and decide an appeal of restrictions, then read "
                        f"GET /audit as the health {reader}",
                     f"{credit_entries} credit-authority entries, {filtered} credit acts by "
                     f"filter, markers seen: {seen or 'none'}; GET /credit/audit "
                     f"{credit_log.brief()}",
                     not seen and credit_entries == filtered == 0
                     and credit_log.status == 403)


PROBE_RULE = {"id": "atk_probe", "summary": "Attack probe: any questionnaire",
              "when": {"==": [{"var": "kind"}, "questionnaire"]}, "color": "yellow",
              "quarantine_days": 1}


@finding(6)
def reads_leave_a_trail(w: World) -> Iterator[Outcome]:
    person = w.person()
    w.report(person, 36.6, [])
    pseudonyms = {person.subject, claims_of(w.token(person))["sub"]} - {None}
    draft = w.draft([PROBE_RULE])
    answer = w.service.expect(200, "POST", f"/api/v1/rulesets/{draft}/simulate",
                              secret=w.official)
    blob = json.dumps(answer, ensure_ascii=False)
    named = [p for p in pseudonyms if p in blob]
    facts = '"facts"' in blob or "questionnaire:" in blob
    audited = [e for e in w.audit("ruleset.simulate")["entries"]
               if e["target"] == f"ruleset:{draft}"]
    yield judged(6, "simulate a draft that turns every reporter yellow, look for people "
                    "in its samples",
                 f"{answer.get('changes')}, samples name "
                 f"{'the probe person' if named else 'no one'}"
                 f"{', with facts' if facts else ''}; audited: {bool(audited)}",
                 not named and not facts and bool(audited))

    case = w.person()
    venue = w.gate()
    w.scan(venue, w.token(case))
    pseudonyms = {case.subject, claims_of(w.token(case))["sub"]} - {None}
    reason = f"case {w.run} exposure check"
    leads = w.leads(case.id_number, reason)
    entries = [e for e in w.audit("checkins.read")["entries"] if e.get("reason") == reason]
    blob = json.dumps(entries)
    mapped = [p for p in (*pseudonyms, case.id_number) if p in blob]
    trail = w.service.expect(200, "GET", "/api/v1/me/access-log", secret=case.secret)
    seen = [e for e in trail["entries"] if e.get("action") == "checkins.read"]
    yield judged(6, "read a person's check-ins by ID number, then look for their QR "
                    "pseudonym in the audit log and for the read in their access log",
                 f"leads {leads.brief()}, {len(entries)} audit entry "
                 f"(target {entries[0]['target'] if entries else None}), pseudonym "
                 f"{'in the log' if mapped else 'not in the log'}; "
                 f"{len(seen)} read(s) in the holder's access log",
                 leads.status == 200 and bool(entries) and not mapped and bool(seen))


@finding(7)
def visits_cannot_be_linked(w: World) -> Iterator[Outcome]:
    holder = w.person()
    first, second = (claims_of(w.token(holder))["sub"] for _ in range(2))
    yield judged(7, "take two tokens of one holder and compare their sub",
                 "the same sub" if first == second else "different subs", first != second)


@finding(8)
def acts_are_audited(w: World) -> Iterator[Outcome]:
    source = f"atk-audit-{secrets.token_hex(4)}"  # the entry names sources, never people
    w.records(w.record("close_contact", new_id_number(), source=source))
    entries = [e for e in w.audit("gov.import")["entries"]
               if (e.get("detail") or {}).get("sources") == [source]]
    yield judged(8, "import a record as the data provider",
                 f"gov.import entries for it: {len(entries)}", len(entries) == 1)

    area = f"atk-{w.run}-{secrets.token_hex(2)}"
    w.service.expect(200, "PUT", f"/api/v1/gov/areas/{area}", {
        "risk_level": "low", "since": ago(minutes=1), "region": w.region}, w.data_provider)
    entries = [e for e in w.audit("area.set")["entries"] if e["target"] == f"area:{area}"]
    yield judged(8, "set an area's risk level", f"area.set entries for it: {len(entries)}",
                 len(entries) == 1)

    draft = w.draft([])
    w.service.expect(200, "POST", f"/api/v1/rulesets/{draft}/simulate", secret=w.official)
    entries = [e for e in w.audit("ruleset.simulate")["entries"]
               if e["target"] == f"ruleset:{draft}"]
    yield judged(8, "simulate a draft", f"ruleset.simulate entries for it: {len(entries)}",
                 len(entries) == 1)

    with w.partner() as partner:
        target = f"issuer:{partner.issuer_id}"

        def refreshes() -> int:
            log = w.audit("trust.refresh", w.admin, per_page=200)["entries"]
            return sum(e["target"] == target for e in log)
        before = refreshes()
        w.service.expect(200, "POST", f"/api/v1/trust/issuers/{partner.issuer_id}/refresh",
                         secret=w.admin)
        after = refreshes()
    yield judged(8, "refresh a trusted issuer's keys", f"trust.refresh entries +{after - before}",
                 after == before + 1)

    case = w.person()
    reasons = {f"parallel read {n} {w.run}" for n in range(10)}
    start = threading.Barrier(len(reasons))

    def read(reason: str) -> int:
        start.wait()
        return w.leads(case.id_number, reason).status

    with ThreadPoolExecutor(len(reasons)) as pool:
        statuses = sorted(pool.map(read, reasons))
    logged = [e for e in w.audit("checkins.read", per_page=200)["entries"]
              if e.get("reason") in reasons]
    yield judged(8, "10 tracing reads at once", f"statuses {statuses}, "
                                                f"checkins.read entries for them: {len(logged)}",
                 statuses == [200] * 10 and len(logged) == 10)


@finding(9)
def foreign_tokens_are_bounded(w: World) -> Iterator[Outcome]:
    venue = w.gate()
    with w.partner() as partner:
        control = w.scan(venue, partner.key.token(partner.issuer_id))
        if control != "admit ok":
            raise Unexpected(f"a trusted partner's 5-minute token was not admitted: {control}")
        for tried, token in (
                ("exp 1e300", partner.key.token(partner.issuer_id, exp=1e300)),
                ("a lifetime of a day", partner.key.token(partner.issuer_id, lifetime=86400))):
            online, offline = w.scan(venue, token), w.offline(venue, token)
            yield judged(9, f"a trusted issuer's token with {tried} at a venue, online and "
                            "offline",
                         f"{online} / {offline} (its 5-minute token: {control})",
                         online.startswith("refuse") and offline.startswith("refuse"))
        twin = partner.issuer_id.upper()
        clash = w.put_issuer(twin, "https://jwks.partner.invalid/jwks.json")
        if clash.status == 200:
            w.drop_issuer(twin)
        yield judged(9, f"trust {twin!r} beside {partner.issuer_id!r}", clash.brief(),
                     clash.status == 422 and clash.fields == ["issuer_id"])
    own = w.service.expect(200, "GET", "/api/v1/trust/issuers", secret=w.admin)["issuers"][0]
    ours = own["issuer_id"].upper() if own["issuer_id"] != own["issuer_id"].upper() \
        else own["issuer_id"].lower()
    answer = w.put_issuer(ours, "https://jwks.partner.invalid/jwks.json")
    if answer.status == 200:
        w.drop_issuer(ours)
    yield judged(9, f"trust {ours!r}, our own issuer id in other letter case", answer.brief(),
                 answer.status == 422 and answer.fields == ["issuer_id"])


@finding(10)
def uploads_are_decided_again(w: World) -> Iterator[Outcome]:
    def flagged(gate: Gate) -> dict:
        listed = w.service.expect(200, "GET", "/api/v1/checkpoints", secret=w.official)
        mine = next(c for c in listed["checkpoints"] if c["checkpoint_id"] == gate.checkpoint_id)
        return mine.get("disagreements", {}).get("reasons", {})

    venue = w.gate()
    w.bundle(venue)
    with w.partner() as partner:
        now = time.time()
        late = partner.key.token(partner.issuer_id, iat=now - 400, lifetime=300)
        exp = datetime.fromtimestamp(claims_of(late)["exp"], UTC)
        answer = w.upload(venue, (late, exp + timedelta(seconds=21), "admit"))
    yield judged(10, "upload, as admitted offline, a token scanned 21 s after its exp",
                 f"accepted {answer.get('accepted')}, check-ins {answer.get('checkins')}, "
                 f"disagreements {answer.get('disagreements')}; officials see "
                 f"{flagged(venue)}", answer.get("disagreements") == 1)

    holder, venue = w.person(), w.gate()
    w.bundle(venue)
    green = w.token(holder)
    w.records(w.record("close_contact", holder.id_number))
    answer = w.upload(venue, (green, datetime.now(UTC), "admit"))
    yield judged(10, "upload, as admitted offline, a green token scanned after the code "
                     "turned red",
                 f"disagreements {answer.get('disagreements')}; officials see "
                 f"{flagged(venue)}",
                 answer.get("disagreements") == 1 and "code_changed" in flagged(venue))

    answer = w.upload(venue, (w.token(holder), datetime.now(UTC)
                              - timedelta(days=27, hours=23), "admit"))
    rejected = answer["rejected"]
    named = sorted(rejected[0].get("fields", {})) if rejected else []
    yield judged(10, "upload a scan backdated 27 days 23 hours", f"accepted {answer['accepted']}, "
                                                                 f"rejected naming {named}",
                 answer["accepted"] == 0 and named == ["scanned_at"])


ZERO_WIDTH = "\u200b\u200b\u200b"


@finding(11)
def tracing_needs_a_founded_case(w: World) -> Iterator[Outcome]:
    case, visitor = w.person(), w.person()
    venue = w.gate()
    for holder in (case, visitor):
        w.scan(venue, w.token(holder))
    for tried, reason in (("a case with no records and a reason of three zero-width spaces",
                           ZERO_WIDTH),
                          ("a case with no records and a visible reason",
                           f"case {w.run} contact tracing")):
        answer = w.service.call("POST", "/api/v1/tracing/import", {
            "case": {"id_number": case.id_number}, "reason": reason}, w.official)
        color = w.color(visitor)
        yield judged(11, f"tracing import of {tried}",
                     f"{answer.brief()}; the visitor is {color}",
                     answer.status == 422 and color == "green")


@finding(12)
def the_small_things(w: World) -> Iterator[Outcome]:
    holder = w.person()
    rows = [w.record("close_contact", holder.id_number) for _ in range(15)]
    w.records(*rows)
    answers = [w.service.call("POST", "/api/v1/me/appeals", {
        "target": "code", "target_id": f"{r['source']}/{r['ref']}",
        "reason": "That was not me."}, holder.secret) for r in rows]
    filed = sum(a.status == 201 for a in answers)
    refusal = next((a.brief() for a in answers if a.status != 201), "none")
    yield judged(12, "file 15 appeals in a row", f"{filed} filed, then {refusal}",
                 filed < 15 and refusal.startswith("409"))

    unbounded = w.service.call("GET", "/api/v1/appeals", secret=w.official,
                               query={"limit": 100000})
    page = w.service.expect(200, "GET", "/api/v1/appeals", secret=w.official)
    yield judged(12, "read the whole appeal queue at once",
                 f"?limit=100000: {unbounded.brief()}; a page holds {len(page['appeals'])} "
                 f"with next_cursor {'present' if 'next_cursor' in page else 'absent'}",
                 unbounded.status == 422 and "next_cursor" in page)

    token = w.service.call("POST", "/api/v1/me/tokens", {}, holder.secret)
    personal = {
        "POST /citizens": w.service.call("POST", "/api/v1/citizens", {
            "name": "Probe", "id_number": new_id_number(), "phone": new_phone(),
            "region": w.region}),
        "GET /me/data": w.service.call("GET", "/api/v1/me/data", secret=holder.secret),
        "GET /me/code": w.service.call("GET", "/api/v1/me/code", secret=holder.secret),
        "POST /me/tokens": token,
        "GET /me/appeals": w.service.call("GET", "/api/v1/me/appeals", secret=holder.secret),
        "GET /appeals": w.service.call("GET", "/api/v1/appeals", secret=w.official),
        "GET /audit": w.service.call("GET", "/api/v1/audit", secret=w.official),
    }
    cacheable = [name for name, a in personal.items()
                 if "no-store" not in (a.headers.get("Cache-Control") or "")]
    yield judged(12, "look for Cache-Control: no-store on " + ", ".join(personal),
                 f"missing on {cacheable}" if cacheable else "no-store on all",
                 not cacheable)

    venue = w.gate()
    fresh = w.token(w.person())
    twin_answer, original = w.scan(venue, high_s_twin(fresh)), w.scan(venue, fresh)
    yield judged(12, "scan a token's high-S twin (r, n - s)",
                 f"{twin_answer} (the token itself: {original})",
                 twin_answer == "refuse bad_signature")

    if w.instance is None:
        yield skipped(12, "the instance folder's file modes", "give --instance PATH on the "
                                                              "service's machine")
        return
    open_to_others = []
    for path in [w.instance, *sorted(w.instance.rglob("*"))]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            open_to_others.append(f"{path.relative_to(w.instance)} {oct(mode)}")
    yield judged(12, f"read the file modes under {w.instance}",
                 f"open to others: {open_to_others}" if open_to_others
                 else "owner only (0600 files, 0700 folders)", not open_to_others)


# --------------------------------------------------------------------------- running


def run(world: World, only: set[int] | None = None,
        show: Callable[[str], None] = lambda line: print(line, flush=True)) -> list[Outcome]:
    outcomes = []
    for number, attack in sorted(ATTACKS.items()):
        if only and number not in only:
            continue
        try:
            for outcome in attack(world):
                outcomes.append(outcome)
                show(outcome.line())
        except Exception as exc:  # one attack that cannot be replayed stops no other
            detail = str(exc) if isinstance(exc, Unexpected) else (
                f"{type(exc).__name__}: {exc} at "
                f"{traceback.extract_tb(exc.__traceback__)[-1].lineno}")
            outcome = Outcome(number, attack.__name__.replace("_", " "), f"error: {detail}",
                              ERROR)
            outcomes.append(outcome)
            show(outcome.line())
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    count = {v: sum(o.verdict == v for o in outcomes) for v in (HELD, HOLE, SKIPPED, ERROR)}
    text = f"{count[HELD]} held, {count[HOLE]} hole{'s' * (count[HOLE] != 1)}"
    if count[SKIPPED]:
        text += f", {count[SKIPPED]} skipped"
    if count[ERROR]:
        text += f", {count[ERROR]} error{'s' * (count[ERROR] != 1)}"
    return text


def load_credentials(path: Path) -> dict[str, str]:
    creds = json.loads(path.read_text())
    missing = [role for role in OPERATORS if not creds.get(role)]
    if missing:
        raise ValueError(f"{path} holds no secret for {', '.join(missing)}")
    return creds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:5000")
    parser.add_argument("--credentials", type=Path,
                        default=ROOT / "instance" / "demo-credentials.json",
                        help="operator secrets, as written by `flask --app wsgi seed-demo`")
    parser.add_argument("--region", default="demo-city",
                        help="the region of the official, registrar and credit authority")
    parser.add_argument("--instance", type=Path,
                        help="the service's instance folder, to check its file modes")
    parser.add_argument("--loopback-allowed", action="store_true",
                        help="the service runs with TRUST_FETCH_ALLOW covering 127.0.0.1")
    parser.add_argument("--only", help="comma-separated finding numbers, e.g. 2,3")
    args = parser.parse_args(argv)
    try:
        service = Service(args.base_url, log=lambda note: print(note, file=sys.stderr))
        only = {int(n) for n in args.only.split(",")} if args.only else None
        creds = load_credentials(args.credentials)
    except (ValueError, OSError) as exc:
        print(f"attack.py: {exc}", file=sys.stderr)
        return 2
    world = World(service, creds, args.region, loopback_allowed=args.loopback_allowed,
                  instance=args.instance.resolve() if args.instance else None)
    outcomes = run(world, only)
    print(summary(outcomes))
    return 1 if any(o.verdict in (HOLE, ERROR) for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
