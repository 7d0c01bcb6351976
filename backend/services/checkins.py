"""Storing check-ins and refusal counts, draining the scan stream, purging old data.

Online scans do not write to the database: the scan's Lua script appends an
admitted scan (or a refusal count) to a Redis stream, and ``drain_once`` moves
entries into the tables in batches, acknowledging them only after the commit, so
an entry survives a worker that dies half way (another worker claims it).
With no real Redis (the embedded default) scans are written synchronously instead.
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import DateTime, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from ..extensions import db
from ..models import (
    CheckIn,
    CodeHistory,
    CodeState,
    Questionnaire,
    QuestionnaireTravel,
    RefusalCount,
    ScanReceipt,
)
from . import prebuilt
from .facts import LOOKBACK

STREAM = "hc:scans"
GROUP = "checkin-writers"
CLAIM_IDLE_MS = 60_000
RefusalKey = tuple[int, date, str]


CHECKIN_COLUMNS = ("scan_id", "checkpoint_id", "issuer", "subject", "scanned_at",
                   "received_at", "offline", "disagreement")


def _unnest_checkins():
    """PostgreSQL: one INSERT of a batch given as one array per column. The usual
    executemany sends a statement per row, which cost the check-in worker two thirds
    of its time; this is one statement and one round trip for the whole batch."""
    from sqlalchemy.dialects.postgresql import insert

    table = CheckIn.__table__
    arrays = [bindparam(name, type_=ARRAY(DateTime(timezone=True) if name.endswith("_at")
                                           else table.c[name].type))
              for name in CHECKIN_COLUMNS]
    batch = func.unnest(*arrays).table_valued(*CHECKIN_COLUMNS).render_derived("batch")
    return insert(table).from_select(list(CHECKIN_COLUMNS), select(*batch.c)
                                       ).on_conflict_do_nothing(index_elements=["scan_id"])


_UNNEST_CHECKINS = _unnest_checkins()


def insert_checkins(rows: list[Mapping]) -> None:
    """Insert check-ins; a scan id already stored is skipped (idempotent), also within
    one batch."""
    if not rows:
        return
    if prebuilt.on_postgresql():
        db.session.execute(_UNNEST_CHECKINS,
                           {name: [row[name] for row in rows] for name in CHECKIN_COLUMNS})
    else:
        db.session.execute(prebuilt.dialect_insert(CheckIn).on_conflict_do_nothing(index_elements=["scan_id"]),
                           list(rows))


def add_refusals(counts: Mapping[RefusalKey, int]) -> None:
    if not counts:
        return
    stmt = prebuilt.dialect_insert(RefusalCount)
    stmt = stmt.on_conflict_do_update(
        index_elements=["checkpoint_id", "day", "reason"],
        set_={"count": RefusalCount.count + stmt.excluded.count},
    )
    db.session.execute(stmt, [{"checkpoint_id": cp, "day": day, "reason": reason, "count": n}
                              for (cp, day, reason), n in counts.items()])


def checkin_row(scan_id: str, checkpoint_id: int, issuer: str, subject: str,
                scanned_at: datetime, received_at: datetime, offline: bool = False,
                disagreement: str | None = None) -> dict:
    return {"scan_id": scan_id, "checkpoint_id": checkpoint_id, "issuer": issuer,
            "subject": subject, "scanned_at": scanned_at, "received_at": received_at,
            "offline": offline, "disagreement": disagreement}


def ensure_group(redis) -> None:
    try:
        redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except Exception as exc:  # BUSYGROUP: it exists already
        if "BUSYGROUP" not in str(exc):
            raise


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def drain_once(redis, *, consumer: str | None = None, count: int = 1000,
               block_ms: int | None = None) -> int:
    """Move up to ``count`` stream entries into the database; returns how many."""
    ensure_group(redis)
    consumer = consumer or consumer_name()
    # Entries a dead worker read but never acknowledged.
    claimed = redis.xautoclaim(STREAM, GROUP, consumer, CLAIM_IDLE_MS, "0-0", count=count)
    entries = list(claimed[1]) if claimed else []
    if not entries:
        mine = redis.xreadgroup(GROUP, consumer, {STREAM: "0"}, count=count)
        entries = [e for e in (mine[0][1] if mine else []) if e[1]]
    if not entries:
        fresh = redis.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=count, block=block_ms)
        entries = list(fresh[0][1]) if fresh else []
    if not entries:
        return 0
    now = datetime.now(UTC)
    rows, refusals = [], Counter()
    for _, fields in entries:
        at = datetime.fromtimestamp(int(fields["at"]) / 1000, UTC)
        if fields.get("type") == "refusal":
            refusals[(int(fields["checkpoint"]), at.date(), fields["reason"])] += 1
        else:
            rows.append(checkin_row(fields["scan_id"], int(fields["checkpoint"]), fields["iss"],
                                    fields["sub"], at, now))
    insert_checkins(rows)
    add_refusals(refusals)
    db.session.commit()
    ids = [entry_id for entry_id, _ in entries]
    redis.xack(STREAM, GROUP, *ids)
    redis.xdel(STREAM, *ids)
    return len(entries)


def drain_all(redis, *, consumer: str | None = None) -> int:
    total = 0
    while moved := drain_once(redis, consumer=consumer):
        total += moved
    return total


def purge_expired(now: datetime, *, checkin_days: int, questionnaire_days: int,
                  history_days: int) -> dict[str, int]:
    """Delete check-ins, offline receipts, questionnaires and code history past retention.

    A citizen's current code stays; only superseded versions older than the
    retention go.
    """
    checkin_cutoff = now - timedelta(days=checkin_days)
    q_cutoff = now - timedelta(days=questionnaire_days)
    counts = {
        "check_ins": db.session.execute(
            delete(CheckIn).where(CheckIn.scanned_at < checkin_cutoff)).rowcount,
        "scan_receipts": db.session.execute(
            delete(ScanReceipt).where(ScanReceipt.received_at < checkin_cutoff)).rowcount,
    }
    old = select(Questionnaire.id).where(Questionnaire.reported_at < q_cutoff)
    if q_cutoff > now - LOOKBACK:
        # A retention shorter than the rules' lookback deletes reports they still read:
        # those people's stored codes must be evaluated again at their next read.
        read_by_rules = select(Questionnaire.citizen_id).where(
            Questionnaire.reported_at < q_cutoff, Questionnaire.reported_at >= now - LOOKBACK)
        db.session.execute(update(CodeState).where(CodeState.citizen_id.in_(read_by_rules))
                           .values(reusable_until=None))
    db.session.execute(delete(QuestionnaireTravel).where(
        QuestionnaireTravel.questionnaire_id.in_(old)))
    counts["questionnaires"] = db.session.execute(
        delete(Questionnaire).where(Questionnaire.reported_at < q_cutoff)).rowcount
    counts["code_history"] = db.session.execute(delete(CodeHistory).where(
        CodeHistory.changed_at < now - timedelta(days=history_days))).rowcount
    db.session.commit()
    return counts

