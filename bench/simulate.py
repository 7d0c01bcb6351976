"""Throughput of an official's draft -> simulate -> publish over a whole region, on a database.

    python bench/simulate.py --n 100000                      # fresh SQLite file in a temp dir
    python bench/simulate.py --n 100000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/bench
    python bench/simulate.py --n 20000 --profile simulate    # cProfile one phase

Seeds N people of one region straight into the database with bulk Core inserts
(citizens, 1-3 questionnaires each from the last 10 days, some travel through a
handful of areas of which some are medium or high risk, a few percent government
records), computes everyone's initial code with ``recompute_codes`` in batches,
then, as an official of the region, drafts a ruleset that lowers the fever
threshold from 37.3 C to 37.0 C and times ``simulate`` and ``publish`` of
``backend.services.ruleset_lifecycle``. It prints, for each phase, seconds and
people/second (wall clock), this process's CPU seconds (the database server's work
is not in them), the SQL statements sent, and the color transitions.

Every run starts from empty databases: all tables of both binds are dropped and
the schema is rebuilt by the real migrations. On PostgreSQL the health database
and its credit database (default: the same name with ``_credit``) are created
when missing. REDIS_URL is ignored: the in-process stand-in is used.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import os
import pstats
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import MetaData, create_engine, event, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from backend import create_app  # noqa: E402
from backend.auth import issue_credential  # noqa: E402
from backend.config import Config  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.identity import new_subject, with_check_digit  # noqa: E402
from backend.models import (  # noqa: E402
    AreaRiskLevel,
    Citizen,
    GovRecord,
    Questionnaire,
    QuestionnaireTravel,
    Role,
)
from backend.services.audit import Actor  # noqa: E402
from backend.services.codes import recompute_codes  # noqa: E402
from backend.services.context import identity_keys  # noqa: E402
from backend.services.ruleset_lifecycle import create_draft, publish, simulate  # noqa: E402
from backend.services.rulesets import active_ruleset_row  # noqa: E402

REGION = "bench"
CHUNK = 5_000  # people per bulk insert
BATCH = 1_000  # people per recompute_codes call for the initial codes
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
RESPIRATORY = ["cough", "sore_throat", "shortness_of_breath", "loss_of_smell"]
# (area code, [(risk level, days ago it took effect), ...]); areas not listed were never rated.
AREA_RISKS = [
    ("310101", [("high", 6)]),
    ("420102", [("medium", 9), ("high", 4)]),
    ("440305", [("medium", 8)]),
    ("330106", [("medium", 5)]),
    ("320508", [("medium", 20), ("low", 12)]),  # medium long ago, back to low before the trips
    ("510104", [("low", 30)]),
]
UNRATED_AREAS = ["110105", "120101", "370202", "350203", "210202", "500103", "610113", "530102"]
AREAS = [code for code, _ in AREA_RISKS] + UNRATED_AREAS
AREA_WEIGHTS = [2, 1, 2, 2, 3, 4] + [6] * len(UNRATED_AREAS)
# Share of people with one government record, by kind.
GOV_KINDS = {"close_contact": 0.010, "secondary_contact": 0.015, "test_result": 0.015,
             "confirmed_case": 0.002}


# --- databases and app -------------------------------------------------------------------


def _credit_url(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_credit").render_as_string(hide_password=False)


def _ensure_postgres_database(url: str) -> None:
    """Create the database ``url`` names when it does not exist yet (PostgreSQL only)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgres"):
        return
    server = create_engine(parsed.set(drivername="postgresql+psycopg", database="postgres"),
                           isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                              {"name": parsed.database}).scalar()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    server.dispose()


def build_app(database_url: str | None, credit_url: str | None, instance: Path):
    """The real app on fresh databases whose schema the migrations built."""
    os.environ.pop("REDIS_URL", None)
    if database_url:
        credit_url = credit_url or _credit_url(database_url)
        for url in (database_url, credit_url):
            _ensure_postgres_database(url)
        os.environ["DATABASE_URL"] = database_url
        os.environ["CREDIT_DATABASE_URL"] = credit_url
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("CREDIT_DATABASE_URL", None)
    app = create_app(Config(instance_path=instance))
    with app.app_context():
        for bind_key in (None, "credit"):
            meta = MetaData()
            meta.reflect(bind=db.engines[bind_key])
            meta.drop_all(bind=db.engines[bind_key])
        upgrade()
    return app


# --- synthetic population ----------------------------------------------------------------


def _temperature(rng: random.Random) -> float:
    if rng.random() < 0.02:
        return round(rng.uniform(37.3, 38.9), 1)
    return round(min(37.2, max(36.2, rng.gauss(36.6, 0.25))), 1)


def _symptoms(rng: random.Random, temperature: float) -> list[str]:
    symptoms = []
    if temperature >= 37.3 and rng.random() < 0.5:
        symptoms.append("fever")
    if rng.random() < 0.03:
        symptoms.append(rng.choice(RESPIRATORY))
    if rng.random() < 0.02:
        symptoms.append("fatigue")
    return symptoms


def _citizen_rows(rng: random.Random, start: int, count: int, now: datetime) -> list[dict]:
    keys = identity_keys()
    rows = []
    for i in range(start, start + count):
        birth = datetime(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
        id_number = with_check_digit(f"{110000 + i // 1000:06d}{birth:%Y%m%d}{i % 1000:03d}")
        rows.append({
            "subject": new_subject(),
            "id_hash": keys.id_hash(id_number),
            "id_tail": id_number[-4:],
            "name": rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2)))),
            "phone": f"1{rng.choice('3578')}{rng.randrange(10**9):09d}",
            "region": REGION,
            "created_at": now - timedelta(days=rng.uniform(10, 400)),
        })
    return rows


def _questionnaire_rows(rng: random.Random, citizen_ids: list[int], now: datetime) -> list[dict]:
    rows = []
    for citizen_id in citizen_ids:
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            reported_at = now - timedelta(seconds=rng.uniform(60, 10 * 86400))
            temperature = _temperature(rng)
            rows.append({"citizen_id": citizen_id, "reported_at": reported_at,
                         "temperature_c": temperature, "symptoms": _symptoms(rng, temperature),
                         "created_at": reported_at})
    return rows


def _travel_rows(rng: random.Random, questionnaires: list[dict]) -> list[dict]:
    """A stay before about one questionnaire in eight."""
    rows = []
    for q in questionnaires:
        if rng.random() >= 0.125:
            continue
        left_at = q["reported_at"] - timedelta(hours=rng.uniform(1, 72))
        rows.append({"questionnaire_id": q["id"], "citizen_id": q["citizen_id"],
                     "area_code": rng.choices(AREAS, AREA_WEIGHTS)[0],
                     "entered_at": left_at - timedelta(days=rng.uniform(1, 6)),
                     "left_at": left_at})
    return rows


def _gov_rows(rng: random.Random, citizens: list[dict], now: datetime) -> list[dict]:
    rows = []
    for citizen in citizens:
        roll, kind = rng.random(), None
        for candidate, share in GOV_KINDS.items():
            if roll < share:
                kind = candidate
                break
            roll -= share
        if kind is None:
            continue
        detail = {}
        if kind == "test_result":
            detail["result"] = "positive" if rng.random() < 0.05 else "negative"
        rows.append({"kind": kind, "id_hash": citizen["id_hash"],
                     "occurred_at": now - timedelta(seconds=rng.uniform(3600, 20 * 86400)),
                     "source": "lab-feed" if kind == "test_result" else "cdc-feed",
                     "ref": f"{kind}-{citizen['subject']}", "detail": detail,
                     "received_at": now, "provider_id": None, "withdrawn_at": None})
    return rows


def _area_rows(now: datetime) -> list[dict]:
    return [{"area_code": code, "region": "elsewhere", "risk_level": level,
             "since": now - timedelta(days=days_ago), "set_at": now - timedelta(days=days_ago),
             "set_by": None}
            for code, periods in AREA_RISKS for level, days_ago in periods]


def _reset_sequences(conn, tables: list[str]) -> None:
    """Rows were inserted with explicit ids: move PostgreSQL's sequences past them."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                          f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"))


def seed(n: int, rng: random.Random, now: datetime) -> Counter:
    """Insert N people and what is known about them, CHUNK people per bulk insert.

    Ids are given explicitly (the tables start empty) so that questionnaires and stays
    can point at their parents without reading generated keys back.
    """
    counts: Counter = Counter()
    with db.engine.begin() as conn:
        conn.execute(insert(AreaRiskLevel.__table__), _area_rows(now))
        for start in range(0, n, CHUNK):
            citizens = _citizen_rows(rng, start, min(CHUNK, n - start), now)
            for offset, row in enumerate(citizens, start=counts["citizens"] + 1):
                row["id"] = offset
            questionnaires = _questionnaire_rows(rng, [c["id"] for c in citizens], now)
            for offset, row in enumerate(questionnaires, start=counts["questionnaires"] + 1):
                row["id"] = offset
            travel = _travel_rows(rng, questionnaires)
            records = _gov_rows(rng, citizens, now)
            for model, rows in ((Citizen, citizens), (Questionnaire, questionnaires),
                                (QuestionnaireTravel, travel), (GovRecord, records)):
                if rows:
                    conn.execute(insert(model.__table__), rows)
            counts.update(citizens=len(citizens), questionnaires=len(questionnaires),
                          travel=len(travel), gov_records=len(records))
            counts.update(r["kind"] for r in records)
        _reset_sequences(conn, ["citizens", "questionnaires"])
    return counts


def settle() -> float:
    """VACUUM ANALYZE (ANALYZE on SQLite) after bulk writes, as autovacuum would do in time.

    Without statistics both planners scan the whole ``reported_at`` index for every
    batch; without VACUUM the first reads of fresh rows pay for setting hint bits.
    """
    started = time.perf_counter()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if conn.dialect.name == "postgresql" else "ANALYZE"))
    return time.perf_counter() - started


# --- the timed phases --------------------------------------------------------------------


def initial_codes(now: datetime, cache: dict) -> Counter:
    """Everyone's first code, BATCH people per recompute_codes call and per commit."""
    colors: Counter = Counter()
    last_id = 0
    while True:
        people = db.session.execute(
            select(Citizen).where(Citizen.region == REGION, Citizen.id > last_id)
            .order_by(Citizen.id).limit(BATCH)
        ).scalars().all()
        if not people:
            return colors
        results, _ = recompute_codes(people, now, cache)
        colors.update(state.color for state, _ in results.values())
        last_id = people[-1].id
        db.session.commit()
        db.session.expunge_all()


def lower_fever_threshold(rules: list, threshold: float = 37.0) -> list:
    """As in tests/api/test_rulesets.py: the fever rule fires from ``threshold``."""
    rules = copy.deepcopy(rules)
    fever = next(r for r in rules if r["id"] == "fever")
    fever["when"]["and"][1]["or"][0][">="][1] = threshold
    fever["summary"] = f"Temperature of {threshold} C or more reported"
    return rules


class StatementCounter:
    """Counts SQL statements sent on the app's engine (an executemany counts once)."""

    def __init__(self, engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *args) -> None:
        self.count += 1


@contextmanager
def phase(name: str, counter: StatementCounter, profile: set[str], report: dict) -> Iterator:
    """Time a phase (and profile it when asked); record seconds and statements in ``report``."""
    profiler = cProfile.Profile() if name.split()[0] in profile else None
    before = counter.count
    started, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    try:
        yield
    finally:
        if profiler:
            profiler.disable()
        report[name] = (time.perf_counter() - started, time.process_time() - cpu,
                        counter.count - before)
        if profiler:
            print(f"\n--- cProfile: {name} (top 30 by internal time) ---")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
            print(f"--- cProfile: {name} (top 30 by cumulative time) ---")
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def run(args: argparse.Namespace, instance: Path) -> None:
    app = build_app(args.database_url, args.credit_database_url, instance)
    rng = random.Random(args.seed)
    report: dict[str, tuple[float, float, int]] = {}
    profile = set(args.profile or ())
    with app.app_context():
        backend_name = db.engine.dialect.name
        counter = StatementCounter(db.engine)
        cache = app.extensions["ruleset_cache"]

        with phase("seed", counter, profile, report):
            counts = seed(args.n, rng, datetime.now(UTC))
        settled = settle()
        with phase("initial codes", counter, profile, report):
            colors = initial_codes(datetime.now(UTC), cache)
        settled += settle()

        credential, _ = issue_credential(Role.OFFICIAL, region=REGION, name="Bench Official")
        db.session.commit()
        actor = Actor(id=credential.id, name=credential.name, role=Role.OFFICIAL.value,
                      region=REGION)
        rules = lower_fever_threshold(active_ruleset_row(REGION).rules)
        draft_id = create_draft(actor, rules, "fever from 37.0 C", datetime.now(UTC)).id

        with phase("simulate", counter, profile, report):
            simulation = simulate(actor, draft_id, datetime.now(UTC), cache)
        with phase("publish", counter, profile, report):  # Redis is told after the commit
            publication = publish(actor, draft_id, datetime.now(UTC), cache)

    print(f"\n{backend_name}: {args.n:,} people in region {REGION!r}")
    print("  seeded: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    print(f"  (VACUUM/ANALYZE after seeding and after the initial codes, untimed: {settled:.1f}s)")
    print("  initial colors: " + ", ".join(f"{c} {colors[c]:,}" for c in ("green", "yellow",
                                                                           "red")))
    # cpu s: this process only (the database server's work is not in it).
    print(f"\n  {'phase':<14} {'N':>9} {'seconds':>9} {'people/s':>10} {'cpu s':>7}"
          f" {'statements':>11} {'per 1,000':>10}")
    for name, (seconds, cpu, statements) in report.items():
        print(f"  {name:<14} {args.n:>9,} {seconds:>9.2f} {args.n / seconds:>10,.0f} {cpu:>7.2f}"
              f" {statements:>11,} {1000 * statements / args.n:>10.1f}")
    summary = simulation.to_dict()
    print(f"\n  simulate: {summary['subjects']:,} subjects, unchanged {summary['unchanged']:,}, "
          "changes " + (", ".join(f"{k} {v:,}" for k, v in summary["changes"].items())
                        or "none"))
    print(f"  publish: version {publication.version}, recomputed {publication.recomputed:,}, "
          f"codes changed {publication.changed:,} (notified to Redis)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of people")
    parser.add_argument("--database-url", help="health database (default: SQLite in a temp dir)")
    parser.add_argument("--credit-database-url",
                        help="credit database (default: the health URL's database + _credit)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the population")
    parser.add_argument("--profile", action="append",
                        choices=["seed", "initial", "simulate", "publish"],
                        help="print a cProfile of this phase (repeatable)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-simulate-") as tmp:
        run(args, Path(tmp))


if __name__ == "__main__":
    main()
