"""Mixed load with nothing lost: every accepted write stored once, no stale code admitted.

    python bench/load.py [--seconds 30] [--citizens 600] [--devices 100] [--accounts 400]
                         [--scanners 12] [--citizen-threads 6] [--processes 4] [--workers 4]

Runs the real service (``gunicorn -w 4 wsgi:app`` and the check-in worker
``flask --app wsgi drain-checkins``) on PostgreSQL (databases ``bench_load`` and
``bench_load_credit``, rebuilt by the migrations) and Redis (database 13), and
drives it on loopback for a fixed time from forked processes (the scanning and
citizen threads spread over ``--processes``; the importer and the official are
threads of this process):

- citizens (``--accounts`` of them, apart from the scanned fleet): refresh their token,
  read their code, now and then report a questionnaire;
- devices: scan the fleet's tokens (issued before the run);
- a data provider: imports batches of five close contacts, spread evenly over the
  run (every third citizen of the fleet; each batch sent twice, the
  second time as a retry) and, right after each answer, scans the contacts' old
  tokens until refused: the propagation time;
- an official: publishes a ruleset half way through.

Before the clock starts, every kind of request is sent a few dozen times (``warm_up``).
Afterwards it waits for the worker to drain the scan stream, then checks from the
database that every admitted scan, accepted import row and accepted questionnaire
is stored exactly once, and that no scan that started after a contact's import
answer admitted that contact's old token. Prints requests/s and p99 by kind, the
counts and the propagation percentiles; exit status 1 if anything was lost,
duplicated or stale.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scan as harness  # noqa: E402  (bench/scan.py: environment, processes, setup helpers)

from backend.auth import issue_credential  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.identity import with_check_digit  # noqa: E402
from backend.models import Role  # noqa: E402
from backend.services import context  # noqa: E402

DATABASE = "bench_load"  # and bench_load_credit
REDIS_URL = "redis://127.0.0.1:6379/13"
REGION = harness.REGION


def call(port: int, method: str, path: str, secret: str | None, body=None):
    """One request on a fresh connection, read to its end (sync workers close after
    every answer). A bare socket rather than http.client: the generator shares the
    two cores with the server, so every microsecond it spends is the server's loss."""
    payload = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if secret:
        head += f"Authorization: Bearer {secret}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode() + b"\r\n" + payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    ended = time.perf_counter()
    raw = b"".join(chunks)
    header, _, data = raw.partition(b"\r\n\r\n")
    status = int(header.split(b" ", 2)[1])
    return status, (json.loads(data) if data else None), started, ended


def citizen_loop(port, secrets, until, out):
    rng, log = random.Random(), []
    while time.perf_counter() < until:
        secret = rng.choice(secrets)
        roll = rng.random()
        if roll < 0.5:
            status, _, t0, t1 = call(port, "POST", "/api/v1/me/tokens", secret, {})
            log.append(("token", status, t1 - t0))
        elif roll < 0.9:
            status, _, t0, t1 = call(port, "GET", "/api/v1/me/code", secret)
            log.append(("code", status, t1 - t0))
        else:
            body = {"temperature_c": round(rng.uniform(36.0, 37.2), 1), "symptoms": []}
            status, _, t0, t1 = call(port, "POST", "/api/v1/me/questionnaires", secret, body)
            log.append(("questionnaire", status, t1 - t0))
    out.put(("citizen", log))


def scanner_loop(port, devices, tokens, until, out):
    rng, log = random.Random(), []
    while time.perf_counter() < until:
        index = rng.randrange(len(tokens))
        device = devices[index % len(devices)]  # one checkpoint per token: never a replay
        status, body, t0, t1 = call(port, "POST", "/api/v1/scans", device,
                                    {"token": tokens[index]})
        log.append(("scan", status, t1 - t0, index, t0, status == 200 and body["decision"],
                    status == 200 and body["reason"]))
    out.put(("scanner", log))


BATCH = 5  # close contacts per import


def importer_loop(port, provider, device_of, tokens, victims, until, out):
    """Batches of close contacts spread evenly over the run, so that propagation is
    measured throughout it (the official's publish included)."""
    log, imports, propagation = [], [], []
    batch_no = 0
    interval = (until - time.perf_counter()) / max(1, -(-len(victims) // BATCH))
    while time.perf_counter() < until and victims:
        next_batch = time.perf_counter() + interval
        batch = [victims.pop() for _ in range(min(BATCH, len(victims)))]
        batch_no += 1
        rows = [{"kind": "close_contact", "id_number": id_number, "source": "load",
                 "ref": f"L{batch_no}-{index}", "occurred_at": "2026-11-26T08:00:00+00:00"}
                for index, id_number in batch]
        for attempt in (1, 2):  # the second send is a client's retry: nothing may double
            status, body, t0, t1 = call(port, "POST", "/api/v1/gov/records", provider,
                                        {"records": rows})
            log.append(("import", status, t1 - t0))
            if status == 200:
                imports.append((batch_no, attempt, body["accepted"], body["duplicates"]))
            if attempt == 1:
                answered = t1
                # Each contact's old token is scanned, all at once, until refused: the
                # first refusal's answer time after the import's answer. (An admitted scan
                # sent after the answer would also show up as a stale admit below.)
                probes = [threading.Thread(target=probe, args=(
                    port, device_of(index), tokens[index], answered, propagation))
                    for index, _ in batch]
                for t in probes:
                    t.start()
                for t in probes:
                    t.join()
                out.put(("answered", [(index, answered) for index, _ in batch]))
        time.sleep(max(0.0, next_batch - time.perf_counter()))
    out.put(("importer", log, imports, propagation))


def probe(port, device, token, answered, propagation) -> None:
    attempts = 0
    while True:
        attempts += 1
        status, body, _, ended = call(port, "POST", "/api/v1/scans", device, {"token": token})
        if status == 200 and body["decision"] == "refuse":
            propagation.append((ended - answered, attempts))
            return
        if ended - answered > 5:
            propagation.append((float("inf"), attempts))
            return


def official_loop(port, official, draft_id, at, out):
    time.sleep(max(0.0, at - time.perf_counter()))
    status, body, t0, t1 = call(port, "POST", f"/api/v1/rulesets/{draft_id}/publish", official)
    out.put(("official", [("publish", status, t1 - t0)], body))


def run_group(loop, threads: int, args: tuple, out) -> None:
    """In a process of its own: ``threads`` threads running ``loop(*args, out)``; last,
    the CPU time the process used (it exits before the run's CPU is read)."""
    group = [threading.Thread(target=loop, args=(*args, out)) for _ in range(threads)]
    for t in group:
        t.start()
    for t in group:
        t.join()
    out.put(("cpu", own_cpu()))


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu() -> dict[int, tuple[str, float]]:
    """Every process's name and CPU seconds so far, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = tail.split()
        found[int(entry.name)] = (head.split("(", 1)[1], (int(fields[11]) + int(fields[12]))
                                  / ticks)
    return found


def machine_cpu() -> float:
    line = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    busy = sum(int(v) for v in line) - int(line[3]) - int(line[4])  # minus idle, iowait
    return busy / os.sysconf("SC_CLK_TCK")


def cpu_by_part(before, after, gunicorn: set[int], drain: int, generator: float,
                machine: float) -> dict[str, float]:
    """Where the machine's CPU went during the run: the server's parts, the load
    generator (whose processes reported their own) and everything else."""
    parts = dict.fromkeys(("gunicorn", "drain", "postgres", "redis", "generator"), 0.0)
    for pid, (name, seconds) in after.items():
        used = seconds - before.get(pid, (name, 0.0))[1]
        if pid in gunicorn:
            parts["gunicorn"] += used
        elif pid == drain:
            parts["drain"] += used
        elif name == "postgres":
            parts["postgres"] += used
        elif name == "redis-server":
            parts["redis"] += used
    parts["generator"] = generator
    parts["other"] = max(0.0, machine - sum(parts.values()))
    parts["machine"] = machine
    return parts


def spread(total: int, processes: int) -> list[int]:
    """``total`` threads over at most ``processes`` processes, as evenly as possible."""
    processes = max(1, min(processes, total))
    return [n for n in (total // processes + (k < total % processes)
                        for k in range(processes)) if n]


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--citizens", type=int, default=600)
    parser.add_argument("--devices", type=int, default=100,
                        help="scanning devices; enough that none passes RATE_LIMIT_SCANS")
    parser.add_argument("--accounts", type=int, default=400,
                        help="citizens refreshing tokens; enough that none passes "
                             "RATE_LIMIT_TOKENS")
    parser.add_argument("--scanners", type=int, default=12, help="scanning threads")
    parser.add_argument("--citizen-threads", type=int, default=6)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--processes", type=int, default=4,
                        help="load processes the scanning and citizen threads are spread "
                             "over (one Python process cannot send fast enough)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hc-load-"))
    harness.configure(work / "instance", token_lifetime=3600, database=DATABASE,
                      redis_url=REDIS_URL)
    harness.ensure_databases(DATABASE)
    app = harness.setup_app()
    harness.rebuild_schema(app)
    fleet = harness.prepare(app, args.citizens, 0.0, args.devices, ["venue"], 0.0)
    [devices] = fleet.devices  # one venue: every token is scanned there
    client = app.test_client()
    with app.app_context():
        creds = {}
        for role in (Role.DATA_PROVIDER, Role.OFFICIAL):
            _, creds[role] = issue_credential(role, region=REGION, name=f"load {role.value}")
        db.session.commit()
    citizen_secrets = []
    active = client.get("/api/v1/rulesets/active",
                        headers=harness.bearer(creds[Role.OFFICIAL])).json["rules"]
    for rule in active:
        if rule["id"] == "fever":
            rule["when"]["and"][1]["or"][0][">="][1] = 37.0
    draft_id = client.post("/api/v1/rulesets", headers=harness.bearer(creds[Role.OFFICIAL]),
                           json={"rules": active, "note": "load run"}).json["id"]
    tokens = fleet.tokens
    # Citizens' own secrets: new accounts (the fleet's are not kept). Enough of them that
    # no one asks for more tokens than RATE_LIMIT_TOKENS allows: a refusal (429) costs
    # the server far less than a token, and would flatter the figure.
    registrar = harness.operator(app, Role.REGISTRAR, "load counter")
    for n in range(args.accounts):
        holder = harness.register_verified(client, registrar, {
            "name": "Load Citizen", "phone": "13800000000", "region": REGION,
            "id_number": with_check_digit(f"{220000 + n:06d}19850505{n % 1000:03d}")})
        citizen_secrets.append(holder["Authorization"].split()[1])
    # The import victims: every third of the fleet's citizens (whose ID numbers follow
    # bench/scan.py), taken from the end: the scanners scan them all along.
    victims = [(i, with_check_digit(
        f"{110000 + (i + 1) // 1000:06d}19900101{(i + 1) % 1000:03d}"))
        for i in range(0, len(tokens), 3)]
    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()

    port = harness.free_port()
    with ExitStack() as stack:
        gunicorn = harness.start(stack, [harness.tool("gunicorn"), "-w", str(args.workers), "-b",
                                         f"127.0.0.1:{port}", "wsgi:app"], work / "gunicorn.log")
        drain = harness.start(stack, [harness.tool("flask"), "--app", "wsgi", "drain-checkins"],
                              work / "drain.log")
        harness.wait_ready(gunicorn, port, work / "gunicorn.log")
        warm_admitted = warm_up(port, creds[Role.DATA_PROVIDER], citizen_secrets,
                                devices, tokens)
        # Forked load processes (perf_counter is the system's monotonic clock, so their
        # times compare with this process's); the importer and the official are threads here.
        mp = multiprocessing.get_context("fork")
        out = mp.Queue()
        until = time.perf_counter() + args.seconds
        share = args.processes / max(1, args.scanners + args.citizen_threads)
        groups = [(scanner_loop, n, (port, devices, tokens, until))
                  for n in spread(args.scanners, round(args.scanners * share))]
        groups += [(citizen_loop, n, (port, citizen_secrets, until))
                   for n in spread(args.citizen_threads, round(args.citizen_threads * share))]
        processes = [mp.Process(target=run_group, args=(*group, out)) for group in groups]
        threads = [threading.Thread(target=importer_loop, args=(
            port, creds[Role.DATA_PROVIDER],
            lambda i: devices[i % len(devices)], tokens, victims, until, out))]
        threads.append(threading.Thread(target=official_loop, args=(
            port, creds[Role.OFFICIAL], draft_id, until - args.seconds / 2, out)))
        server = {gunicorn.pid, *harness.child_pids(gunicorn.pid)}
        cpu_before, machine_before, self_before = process_cpu(), machine_cpu(), own_cpu()
        started = time.perf_counter()
        for worker in (*processes, *threads):
            worker.start()
        # One report per loop, and one CPU reading per load process.
        expected = args.scanners + args.citizen_threads + 1 + 1 + len(processes)
        results, reports, generator_cpu = [], 0, 0.0
        while reports < expected:
            item = out.get(timeout=args.seconds + 120)
            if item[0] == "cpu":
                generator_cpu += item[1]
            else:
                results.append(item)
            reports += item[0] != "answered"
        for worker in (*processes, *threads):
            worker.join()
        elapsed = time.perf_counter() - started
        cpu = cpu_by_part(cpu_before, process_cpu(), server, drain.pid,
                          generator_cpu + own_cpu() - self_before,
                          machine_cpu() - machine_before)
        with app.app_context():
            harness.wait_drained(context.redis())
    return report(app, results, elapsed, cpu, warm_admitted)


def warm_up(port: int, provider: str, citizens: list[str], devices: list[str],
            tokens: list[str]) -> int:
    """Every kind of request a few dozen times before the clock starts, from 8 threads
    so that all workers see them: a fresh worker's first requests (SQL compiled into
    its caches, connections opened) would otherwise fall on the first measured import.
    Nothing is written that the checks count, except admitted scans: their number is
    returned. The import names nobody registered (source ``warmup``)."""
    admitted = []

    def work(k: int) -> None:
        mine = 0
        for n in range(12):
            secret = citizens[(k * 12 + n) % len(citizens)]
            call(port, "GET", "/api/v1/me/code", secret)
            call(port, "POST", "/api/v1/me/tokens", secret, {})
            index = (k * 12 + n) % len(tokens)
            status, body, _, _ = call(port, "POST", "/api/v1/scans",
                                      devices[index % len(devices)], {"token": tokens[index]})
            mine += status == 200 and body["decision"] == "admit"
        call(port, "POST", "/api/v1/gov/records", provider, {"records": [{
            "kind": "close_contact", "id_number": with_check_digit(f"33000019700101{k:03d}"),
            "source": "warmup", "ref": f"W{k}", "occurred_at": "2026-11-26T08:00:00+00:00"}]})
        admitted.append(mine)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(admitted)


def report(app, results, elapsed, cpu, warm_admitted: int) -> int:
    from sqlalchemy import text

    by_kind: dict[str, list] = {}
    scans, answered, imports, propagation = [], {}, [], []
    for item in results:
        if item[0] == "answered":
            answered.update(dict(item[1]))
            continue
        for entry in item[1]:
            by_kind.setdefault(entry[0], []).append(entry)
        if item[0] == "scanner":
            scans.extend(item[1])
        if item[0] == "importer":
            imports, propagation = item[2], item[3]
    admitted = warm_admitted + sum(1 for s in scans if s[1] == 200 and s[5] == "admit")
    stale = [s for s in scans if s[5] == "admit" and s[3] in answered and s[4] > answered[s[3]]]
    accepted_rows = sum(a for _, _, a, _ in imports)
    q_ok = sum(1 for e in by_kind.get("questionnaire", []) if e[1] == 201)
    first_try = sum(1 for p in propagation if p[1] == 1)
    with app.app_context():
        count = lambda sql: db.session.execute(text(sql)).scalar()  # noqa: E731
        stored = {
            "check_ins": count("SELECT count(*) FROM check_ins"),
            "load_records": count("SELECT count(*) FROM gov_records WHERE source = 'load'"),
            "distinct_refs": count("SELECT count(DISTINCT ref) FROM gov_records "
                                   "WHERE source = 'load'"),
            "questionnaires_in_run": count("SELECT count(*) FROM questionnaires"),
        }
    total = sum(len(v) for v in by_kind.values())
    print(f"ran {elapsed:.1f} s: {total} requests, {total / elapsed:.0f} requests/s")
    for kind, entries in sorted(by_kind.items()):
        lat = [e[2] for e in entries]
        errors = sum(1 for e in entries if e[1] >= 500)
        p99 = 1000 * percentile(lat, .99)
        refused = Counter(e[1] for e in entries if 400 <= e[1] < 500)
        print(f"  {kind:14s} {len(entries) / elapsed:7.1f}/s  p99 {p99:7.1f} ms  5xx {errors}"
              f"  4xx {dict(sorted(refused.items())) or 0}")
    cores = os.cpu_count() or 1
    print(f"CPU, ms per request (the {cores} cores had {1000 * cores * elapsed / total:.2f}):")
    print("  " + "  ".join(f"{part} {1000 * seconds / total:.2f}"
                           for part, seconds in cpu.items()))
    print(f"scans admitted {admitted} ({warm_admitted} in the warm-up), stored check-ins "
          f"{stored['check_ins']}")
    print(f"import rows accepted {accepted_rows}, stored {stored['load_records']} "
          f"({stored['distinct_refs']} distinct refs); retries answered "
          f"{sum(d for _, attempt, _, d in imports if attempt == 2)} duplicates")
    print(f"questionnaires accepted {q_ok}, stored {stored['questionnaires_in_run']}")
    print(f"stale codes admitted after an import's answer: {len(stale)}")
    answers = [p[0] for p in propagation]
    p50, p99 = 1000 * percentile(answers, .5), 1000 * percentile(answers, .99)
    print(f"propagation, import answer -> answer of the first refused scan: n={len(answers)} "
          f"p50 {p50:.1f} ms p99 {p99:.1f} ms; the first scan sent after the answer was "
          f"refused in {first_try} of {len(answers)}")
    limited = sum(1 for entries in by_kind.values() for e in entries if e[1] == 429)
    if limited:
        print(f"FAILED: {limited} requests were rate limited (cheap refusals flatter the "
              "figure): raise --accounts or --devices")
    ok = (admitted == stored["check_ins"] and accepted_rows == stored["load_records"]
          == stored["distinct_refs"] and q_ok == stored["questionnaires_in_run"] and not stale
          and not limited)
    print("nothing lost, duplicated or stale" if ok else "FAILED: see counts above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
