"""Online scans per second under gunicorn, next to the framework's ceiling on this machine.

    python bench/scan.py [--requests 20000] [--concurrency 16] [--citizens 2000] [--rounds 4]
    python bench/scan.py --body token-only --rail-gates 0    # the figures before issue 16

Drives ``POST /api/v1/scans`` of the real service (``gunicorn -w 4 wsgi:app``, sync
workers) on PostgreSQL (databases ``--database`` and ``<database>_credit``, by default
``bench_scan`` and ``bench_scan_credit``, made with ``createdb`` when missing, every
table dropped and rebuilt by the migrations) and Redis (``--redis-url``, by default
database 14, flushed), with ``CHECKIN_SINK=stream`` and the check-in worker
``flask --app wsgi drain-checkins`` running beside it. The same harness hits
``GET /healthz``, a trivial JSON route of the same app: the framework's ceiling.
The two alternate in ``--rounds`` rounds so that both see the same machine.

Each scan sends the body the shipped scanner page sends (static/js/scanner/main.js):
``{"token": ..., "scan_id": <a random UUID>}``, which the route loads through its
schema. ``--body token-only`` sends ``{"token": ...}`` alone, the route's fast path,
as this benchmark did before issue 16.

Setup (not timed) goes through the app itself, with rate limits off: an official;
``--venues`` venues and ``--rail-gates`` rail gates of one region, all admitting
green, with ``--devices`` devices shared out among them; ``--citizens`` registered
citizens of whom ``--yellow`` report a fever (their scans are refused); and one
token each (POST /api/v1/me/tokens, TOKEN_LIFETIME_SECONDS raised for the run).
Citizen ``i`` belongs to checkpoint ``i mod checkpoints``. At a rail gate the token
is a rail pass, and every admitted scan asks the credit store whether the holder is
restricted; a share ``--restricted`` of the pass holders are restricted by a credit
authority after their pass was issued (refused online, ``restricted``). A yellow
holder gets no pass; at a rail gate their plain token is refused (``pass_required``).
The server runs with the default configuration, rate limits included: there are
enough devices that none reaches its per-device scan limit. Scan ``i`` shows token
``i mod citizens`` at a device of its holder's checkpoint: every token is only ever
scanned at its one checkpoint, which admits re-scans, so nothing is a replay.

The load comes from bench/_loadgen.py, a separate single-threaded process on
loopback that sends exactly the requests it is given over ``--concurrency``
connections and records each latency. Around each run the script reads the CPU
time of every part (gunicorn, the drain worker, the PostgreSQL backends of the
bench databases, the Redis server, the generator, the rest of the machine) and
reports it per request. After the last round it waits for the worker to empty the
``hc:scans`` stream, then compares the admitted answers the generator saw
(warm-up included) with the rows in ``check_ins``, and the refused ones with the
sum of ``refusal_counts``.

Targets (from the issue): scans/s at least half the ceiling's requests/s, and every
admitted scan stored. Exit status 1 when a stored count differs or a request
failed; the throughput ratio is reported, not enforced.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import MetaData, text  # noqa: E402

from backend import create_app  # noqa: E402
from backend.auth import issue_credential  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.identity import with_check_digit  # noqa: E402
from backend.models import Role  # noqa: E402
from backend.services import context  # noqa: E402
from backend.services.checkins import GROUP, STREAM  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "bench_scan"  # and bench_scan_credit
REDIS_URL = "redis://127.0.0.1:6379/14"
REGION = "bench"
BODIES = ("scanner", "token-only")
BIN = Path(sys.executable).parent
SCAN, HEALTH = "/api/v1/scans", "/healthz"
PARTS = ("gunicorn", "drain", "postgres", "redis", "generator", "other", "machine")


# --- environment and schema --------------------------------------------------------------


def tool(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else (shutil.which(name) or name)


def databases(name: str) -> tuple[str, str]:
    return name, f"{name}_credit"


def configure(instance: Path, token_lifetime: int, database: str, redis_url: str) -> None:
    """The environment shared by this process, the migrations, gunicorn and the worker."""
    health, credit = databases(database)
    os.environ.update({
        "DATABASE_URL": f"{PG}/{health}",
        "CREDIT_DATABASE_URL": f"{PG}/{credit}",
        "REDIS_URL": redis_url,
        "INSTANCE_PATH": str(instance),  # keys and secret under it: shared by all workers
        "CHECKIN_SINK": "stream",
        "TOKEN_LIFETIME_SECONDS": str(token_lifetime),
    })
    for name in ("SIGNING_KEY_DIR", "SECRET_KEY_PATH", "PSEUDONYM_KEY"):
        os.environ.pop(name, None)


def ensure_databases(database: str) -> None:
    for name in databases(database):
        exists = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-tAc",
             f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
            capture_output=True, text=True, check=True).stdout.strip()
        if exists != "1":
            subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)


def setup_app():
    """The app for setup and counting, with rate limits off: thousands of sign-ups come
    from one address. The server started later has the configured limits."""
    saved = os.environ.get("RATELIMIT_ENABLED")
    os.environ["RATELIMIT_ENABLED"] = "0"
    try:
        return create_app()
    finally:
        if saved is None:
            del os.environ["RATELIMIT_ENABLED"]
        else:
            os.environ["RATELIMIT_ENABLED"] = saved


def rebuild_schema(app) -> None:
    """Flush Redis, drop every table of both databases, then run the real migrations."""
    with app.app_context():
        app.extensions["redis"].flushdb()
        for bind_key in (None, "credit"):
            meta = MetaData()
            meta.reflect(bind=db.engines[bind_key])
            meta.drop_all(bind=db.engines[bind_key])
    subprocess.run([tool("flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, check=True,
                   capture_output=True)


# --- setup through the app ---------------------------------------------------------------


@dataclass
class Fleet:
    """What setup made: each checkpoint's device secrets, and the tokens to scan (token
    ``i`` belongs to checkpoint ``i mod len(devices)``)."""

    devices: list[list[str]]
    tokens: list[str]
    yellow: int
    restricted: int
    seconds: float


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def expect(response, status: int) -> dict:
    if response.status_code != status:
        raise RuntimeError(f"setup: {response.request.path} answered {response.status_code}: "
                           f"{response.get_data(as_text=True)[:300]}")
    return response.json


def prepare(app, citizens: int, yellow_share: float, devices: int,
            categories: list[str], restricted_share: float) -> Fleet:
    """An official, green-only checkpoints of ``categories`` sharing ``devices`` devices,
    citizens and their tokens (rail passes at rail gates)."""
    started = time.perf_counter()
    client = app.test_client()
    with app.app_context():
        _, secret = issue_credential(Role.OFFICIAL, region=REGION, name="bench official")
        db.session.commit()
        context.keyring().active()  # the signing key exists before the helpers sign with it
    official = bearer(secret)
    device_secrets: list[list[str]] = []
    for c, category in enumerate(categories):
        cid = expect(client.post("/api/v1/checkpoints", headers=official, json={
            "name": f"Bench {category} {c}", "category": category, "region": REGION,
            "admits": ["green"]}), 201)["checkpoint_id"]
        device_secrets.append([
            expect(client.post(f"/api/v1/checkpoints/{cid}/devices", headers=official,
                               json={"name": f"lane {n}"}), 201)["token"]
            for n in range(c, devices, len(categories))
        ])
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()
    # Registering is the slow part (a dozen queries a citizen): one process per core.
    helpers = os.cpu_count() or 1
    slices = [(range(k, citizens, helpers), yellow_share, categories, restricted_share)
              for k in range(helpers)]
    with ProcessPoolExecutor(helpers, mp_context=multiprocessing.get_context("spawn")) as pool:
        numbered = sorted(t for part in pool.map(register_citizens, slices) for t in part)
    # Citizen order: yellow and restricted holders spread out.
    return Fleet(device_secrets, [token for _, token, _, _ in numbered],
                 sum(color == "yellow" for _, _, color, _ in numbered),
                 sum(restricted for *_, restricted in numbered),
                 time.perf_counter() - started)


def operator(app, role: Role, name: str) -> dict[str, str]:
    """A registrar's headers (every bench citizen is verified at a service counter), or a
    credit authority's."""
    with app.app_context():
        _, secret = issue_credential(role, region=REGION, name=name)
        db.session.commit()
    return bearer(secret)


def share(k: int, fraction: float) -> bool:
    """Whether the ``k``-th of a series is in an evenly spread ``fraction`` of it."""
    return int((k + 1) * fraction) > int(k * fraction)


def restrict(client, authority: dict[str, str], id_number: str) -> None:
    """A rail restriction in force, placed by a credit authority after due process."""
    at = time.time()
    expect(client.post("/api/v1/credit/restrictions", headers=authority, json={
        "id_number": id_number, "categories": ["rail"],
        "legal_basis": {"kind": "court_judgment", "ref": "(2026) Bench 1",
                        "authority": "Bench Intermediate People's Court",
                        "authority_level": "city"},
        "notified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at - 10 * 86400)),
        "effective_from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at - 86400)),
        "remedy": "Pay the judgment debt."}), 201)


def register_verified(client, registrar: dict[str, str], body: dict) -> dict[str, str]:
    """Register ``body`` and verify it as a counter would; the holder's headers."""
    registered = expect(client.post("/api/v1/citizens", json=body), 201)
    code = expect(client.post("/api/v1/registrar/verifications", headers=registrar, json={
        "citizen_id": registered["citizen_id"], "id_number": body["id_number"]}), 201)["code"]
    holder = bearer(registered["token"])
    expect(client.post("/api/v1/me/verification/confirm", headers=holder,
                       json={"code": code}), 200)
    return holder


def register_citizens(job: tuple[range, float, list[str], float]
                      ) -> list[tuple[int, str, str, bool]]:
    """Register the citizens numbered ``job[0]``, a share with a fever, each with a token for
    their checkpoint (a rail pass at a rail gate, a share of whose holders are then
    restricted): (number, token, color, restricted)."""
    numbers, yellow_share, categories, restricted_share = job
    app = setup_app()
    client, tokens = app.test_client(), []
    registrar = operator(app, Role.REGISTRAR, "bench counter")
    authority = operator(app, Role.CREDIT_AUTHORITY, "bench court")
    for i in numbers:
        serial = i + 1
        id_number = with_check_digit(f"{110000 + serial // 1000:06d}19900101{serial % 1000:03d}")
        holder = register_verified(client, registrar, {
            "name": "张三", "id_number": id_number, "phone": "13800138000", "region": REGION})
        yellow = share(i // len(categories), yellow_share)  # at every checkpoint alike
        if yellow:
            expect(client.post("/api/v1/me/questionnaires", headers=holder,
                               json={"temperature_c": 38.6, "symptoms": []}), 201)
        rail = categories[i % len(categories)] == "rail" and not yellow
        issued = expect(client.post("/api/v1/me/tokens", headers=holder,
                                    json={"scope": "rail"} if rail else {}), 201)
        restricted = rail and share(i // len(categories), restricted_share)
        if restricted:
            restrict(client, authority, id_number)
        tokens.append((i, issued["token"], issued["color"], restricted))
    return tokens


def write_requests(path: Path, specs) -> Path:
    with path.open("w") as fh:
        for spec in specs:
            fh.write(json.dumps(spec) + "\n")
    return path


def scan_requests(fleet: Fleet, start: int, count: int, body: str):
    """Scan ``i`` shows token ``t = i mod citizens`` at a device of checkpoint
    ``t mod checkpoints``, with the scanner page's body (a fresh scan id each) or, with
    ``body="token-only"``, the token alone."""
    checkpoints = len(fleet.devices)
    for i in range(start, start + count):
        t = i % len(fleet.tokens)
        devices = fleet.devices[t % checkpoints]
        sent = {"token": fleet.tokens[t]}
        if body == "scanner":
            sent["scan_id"] = str(uuid.uuid4())  # crypto.randomUUID() in the page
        yield {"method": "POST", "path": SCAN, "body": json.dumps(sent),
               "headers": bearer(devices[(i // checkpoints) % len(devices)])}


def health_requests(count: int):
    for _ in range(count):
        yield {"method": "GET", "path": HEALTH, "headers": {}, "body": None}


# --- processes and CPU meters ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(stack: ExitStack, argv: list[str], log: Path) -> subprocess.Popen:
    """Start ``argv`` in the repository; it is stopped (by its pid) when ``stack`` closes."""
    out = stack.enter_context(log.open("wb"))
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    stack.callback(stop, proc)
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)  # gunicorn's master stops its own workers
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def wait_ready(proc: subprocess.Popen, port: int, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log.read_text()[-2000:]}")
        conn = HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", HEALTH)
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
        finally:
            conn.close()
    raise RuntimeError(f"gunicorn not ready after {timeout:.0f} s")


def child_pids(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of ``pids`` so far (from /proc)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_backends(app, database: str) -> list[int]:
    with app.app_context():
        pids = db.session.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = ANY(:names)"),
            {"names": list(databases(database))}).scalars().all()
        db.session.remove()
    return list(pids)


@dataclass
class Meters:
    """CPU used so far by each part of the system under test, and by the whole machine."""

    gunicorn: list[int]  # master and workers
    drain: int
    postgres: list[int]  # the backends connected to the bench databases
    redis: object

    def read(self) -> dict[str, float]:
        info = self.redis.info("cpu")
        line = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        busy = sum(int(v) for v in line) - int(line[3]) - int(line[4])  # minus idle, iowait
        return {
            "gunicorn": cpu_seconds(self.gunicorn),
            "drain": cpu_seconds([self.drain]),
            "postgres": cpu_seconds(self.postgres),
            "redis": info["used_cpu_sys"] + info["used_cpu_user"],
            "machine": busy / os.sysconf("SC_CLK_TCK"),
        }


def load(path: Path, port: int, concurrency: int, meters: Meters) -> dict:
    """One run of the load generator, with its latencies and the CPU each part used."""
    latencies = path.with_suffix(".lat")
    before = meters.read()
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "_loadgen.py"), str(path),
                          "--port", str(port), "--concurrency", str(concurrency),
                          "--latencies", str(latencies)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"the load generator failed on {path.name}:\n{run.stderr[-2000:]}")
    after = meters.read()
    result = json.loads(run.stdout)
    cpu = {part: after[part] - before[part] for part in before}
    cpu["generator"] = result["cpu_seconds"]
    cpu["other"] = cpu["machine"] - sum(v for k, v in cpu.items() if k != "machine")
    result["cpu"] = cpu
    result["latencies_us"] = [int(v) for v in latencies.read_text().split()]
    return result


def combine(runs: list[dict]) -> dict:
    """Rounds of one route as one run: totals, exact percentiles, CPU ms per request."""
    lat = sorted(v for r in runs for v in r["latencies_us"])
    answered, seconds = sum(r["answered"] for r in runs), sum(r["seconds"] for r in runs)
    reasons: Counter[str] = Counter()
    for r in runs:
        reasons.update(r.get("refusal_reasons", {}))
    return {
        "answered": answered, "rps": answered / seconds,
        "rounds_rps": [r["rps"] for r in runs],
        "p50_ms": lat[len(lat) // 2] / 1000, "p99_ms": lat[int(0.99 * (len(lat) - 1))] / 1000,
        "errors": sum(r["errors"] for r in runs),
        "error_kinds": [r["error_kinds"] for r in runs if r["errors"]],
        "admitted": sum(r.get("admitted", 0) for r in runs),
        "refused": sum(r.get("refused", 0) for r in runs),
        "refusal_reasons": dict(reasons),
        "cpu_ms": {p: 1000 * sum(r["cpu"][p] for r in runs) / answered for p in PARTS},
        "busy": sum(r["cpu"]["machine"] for r in runs) / (seconds * (os.cpu_count() or 1)),
    }


def wait_drained(redis, timeout: float = 120.0) -> float:
    """Wait until the worker has stored and acknowledged every stream entry."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        pending = redis.xlen(STREAM)
        if redis.exists(STREAM):
            groups = {g["name"]: g["pending"] for g in redis.xinfo_groups(STREAM)}
            pending += groups.get(GROUP, 0)
        if pending == 0:
            return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError(f"the stream still holds {redis.xlen(STREAM)} entries after {timeout} s")


# --- the run -----------------------------------------------------------------------------


def code_version() -> str:
    """The commit measured, and whether the working tree differs from it (read-only git)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" with uncommitted changes" if dirty.strip() else "")


def report(ceiling: dict, scans: dict, args: argparse.Namespace) -> None:
    routes = (("GET /healthz (ceiling)", ceiling), ("POST /api/v1/scans", scans))
    print(f"code: {code_version()}")
    body = ("token and scan_id, as the scanner page sends" if args.body == "scanner"
            else "the token alone: the route's fast path")
    print(f"scans: body {args.body} ({body}), at {args.venues} venues and {args.rail_gates} "
          "rail gates")
    print(f"machine: {os.cpu_count()} cores, shared by the load generator (one process, "
          f"{args.concurrency} connections) with {args.workers} gunicorn sync workers, the "
          "drain worker, PostgreSQL and Redis: the generator competes with the server for CPU. "
          "Sync workers close every connection, so each request includes a TCP connect.")
    print(f"\n{'route':<24}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'busy':>7}   req/s by round")
    for label, r in routes:
        rounds = " ".join(f"{v:.0f}" for v in r["rounds_rps"])
        print(f"{label:<24}{r['answered']:>9}{r['rps']:>9.0f}{r['p50_ms']:>9.2f}"
              f"{r['p99_ms']:>9.2f}{r['errors']:>8}{min(100 * r['busy'], 100):>6.0f}%   {rounds}")
    print("\nCPU ms per request (redis: the whole server; other: the rest of the machine, "
          "PostgreSQL's background processes and anything else running)")
    print(f"{'route':<24}" + "".join(f"{part:>10}" for part in PARTS))
    for label, r in routes:
        print(f"{label:<24}" + "".join(f"{r['cpu_ms'][part]:>10.2f}" for part in PARTS))
    foreign = max(r["cpu_ms"]["other"] / r["cpu_ms"]["machine"] for _, r in routes)
    if foreign > 0.15:
        print(f"warning: up to {100 * foreign:.0f}% of the machine's CPU went to processes "
              "outside this benchmark: absolute figures are depressed, the ratio less so")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="requests per route")
    parser.add_argument("--concurrency", type=int, default=16, help="client connections")
    parser.add_argument("--citizens", type=int, default=2_000, help="citizens, one token each")
    parser.add_argument("--yellow", type=float, default=0.05,
                        help="share of citizens with a fever (their scans are refused)")
    parser.add_argument("--devices", type=int, default=64,
                        help="devices, shared out among the checkpoints (each has a scan "
                             "rate limit)")
    parser.add_argument("--body", choices=BODIES, default="scanner",
                        help="scanner: {token, scan_id} as static/js/scanner sends it; "
                             "token-only: {token}, the route's fast path (before issue 16)")
    parser.add_argument("--venues", type=int, default=2, help="venue checkpoints")
    parser.add_argument("--rail-gates", type=int, default=2,
                        help="rail gates (their tokens are rail passes; each admitted scan "
                             "reads the credit store)")
    parser.add_argument("--restricted", type=float, default=0.02,
                        help="share of rail pass holders restricted after their pass")
    parser.add_argument("--database", default=DATABASE,
                        help="PostgreSQL database, and <name>_credit (dropped and rebuilt)")
    parser.add_argument("--redis-url", default=REDIS_URL, help="Redis database (flushed)")
    parser.add_argument("--port", type=int, default=0, help="gunicorn's port (0: any free)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--rounds", type=int, default=4, help="ceiling and scans alternate")
    parser.add_argument("--warmup", type=int, default=1_000, help="untimed requests per route")
    args = parser.parse_args()
    if min(args.concurrency, args.citizens, args.devices, args.workers, args.rounds) < 1:
        parser.error("--concurrency, --citizens, --devices, --workers and --rounds must be >= 1")
    categories = ["venue"] * args.venues + ["rail"] * args.rail_gates
    if not categories or min(args.venues, args.rail_gates) < 0:
        parser.error("--venues and --rail-gates: at least one checkpoint, none negative")
    if args.devices < len(categories) or args.citizens < len(categories):
        parser.error("--devices and --citizens must be at least the number of checkpoints")
    if args.requests < args.rounds:
        parser.error("--requests must be at least --rounds")

    # A plain `kill` should still stop gunicorn and the worker: unwind like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-scan-")))
        configure(tmp / "instance", token_lifetime=3600, database=args.database,
                  redis_url=args.redis_url)
        ensure_databases(args.database)
        app = setup_app()
        redis = app.extensions["redis"]
        rebuild_schema(app)
        fleet = prepare(app, args.citizens, args.yellow, args.devices, categories,
                        args.restricted)
        print(f"setup: {args.citizens} citizens ({fleet.yellow} yellow, {fleet.restricted} "
              f"restricted for rail), one token each, {args.devices} devices at "
              f"{args.venues} venues and {args.rail_gates} rail gates (green only), "
              f"in {fleet.seconds:.1f} s")

        port = args.port or free_port()
        gunicorn_log, drain_log = tmp / "gunicorn.log", tmp / "drain.log"
        drain = start(stack, [tool("flask"), "--app", "wsgi", "drain-checkins"], drain_log)
        master = start(stack, [tool("gunicorn"), "-w", str(args.workers),
                               "-b", f"127.0.0.1:{port}", "wsgi:app"], gunicorn_log)
        wait_ready(master, port, gunicorn_log)
        meters = Meters([master.pid, *child_pids(master.pid)], drain.pid, [], redis)

        def run(name: str, specs) -> dict:
            return load(write_requests(tmp / f"{name}.jsonl", specs), port, args.concurrency,
                        meters)

        warm = [run("warm-health", health_requests(args.warmup)),
                run("warm-scan", scan_requests(fleet, 0, args.warmup, args.body))]
        meters.postgres = postgres_backends(app, args.database)  # the workers have connected by now
        health_runs, scan_runs, sent = [], [], args.warmup
        for n in range(args.rounds):
            count = args.requests // args.rounds + (n < args.requests % args.rounds)
            health_runs.append(run(f"health-{n}", health_requests(count)))
            scan_runs.append(run(f"scan-{n}", scan_requests(fleet, sent, count, args.body)))
            sent += count
        drained_in = wait_drained(redis)
        if drain.poll() is not None:
            raise RuntimeError(f"the drain worker died:\n{drain_log.read_text()[-2000:]}")
        with app.app_context():
            stored = db.session.execute(text("SELECT count(*) FROM check_ins")).scalar_one()
            counted = db.session.execute(
                text("SELECT coalesce(sum(count), 0) FROM refusal_counts")).scalar_one()
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()

    ceiling, scans = combine(health_runs), combine(scan_runs)
    report(ceiling, scans, args)
    ratio = scans["rps"] / ceiling["rps"]
    print(f"\nscans/ceiling: {ratio:.2f} (target >= 0.50: {'met' if ratio >= 0.5 else 'NOT met'})")
    print(f"scan refusals in the timed rounds: {scans['refusal_reasons'] or 'none'}")
    admitted = warm[1]["admitted"] + scans["admitted"]
    refused = warm[1]["refused"] + scans["refused"]
    print(f"check-ins: {admitted} admitted answers (warm-up {warm[1]['admitted']} + rounds "
          f"{scans['admitted']}), {stored} rows in check_ins: "
          f"{'equal' if admitted == stored else 'DIFFERENT'} (stream empty {drained_in:.1f} s "
          "after the last round)")
    print(f"refusals: {refused} refused answers, refusal_counts total {counted}: "
          f"{'equal' if refused == counted else 'DIFFERENT'}")
    errors = sum(r["errors"] for r in warm) + ceiling["errors"] + scans["errors"]
    if errors:
        print(f"errors: {[r['error_kinds'] for r in warm]} {ceiling['error_kinds']} "
              f"{scans['error_kinds']}")
    return 0 if admitted == stored and refused == counted and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
