"""Code changes reach Redis after the commit that stored them, and only then.

Online scans ask Redis whether a holder's code changed after a token was made, and
offline gates learn from it which tokens are void. Told before the commit, Redis
could announce a change that then rolls back; told by each caller after its own
commit, one forgotten call (a new view, a CLI command, a job) leaves a stale token
passing. So whatever stores a new code version says so with ``record_changes``
(``recompute_codes`` does for every evaluation), and the session publishes what its
transaction recorded once that transaction commits, whoever commits it: a request,
a CLI command or a job, one batch commit at a time. Nobody else publishes.

- The outermost commit publishes; releasing a savepoint does not (its work can still
  roll back with the transaction around it).
- A rollback forgets what its transaction recorded; a savepoint rolled back forgets
  what was recorded inside it and keeps the rest.
- A transaction that ends without committing (a session closed mid-way) forgets too.
- Redis down: the request still succeeds. The database stays the truth: scans fall
  back to it, and once Redis answers, recent changes are copied over from the
  database (``republish_recent``) before Redis is trusted again, by every process,
  not only the one whose publish failed: that process withdraws Redis's "complete"
  mark (``STATUS_READY_KEY``) as soon as Redis answers (a thread, retrying for up to
  a minute), and every worker's next scan or bundle finds the mark gone and refills
  first. A CLI command whose publish failed waits up to ten seconds for Redis before
  it exits.

The credit store shares the session (its own engine) but never changes a code, so
it records nothing here.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from ..extensions import db, redis_store
from ..health import note_degraded
from . import token_status

CODE_KEY = "hc:code:{subject}"
# Set when Redis holds every recent change (republish_recent); scans trust Redis only then.
STATUS_READY_KEY = "hc:code:ready"
WITHDRAW_ATTEMPTS, WITHDRAW_PAUSE_SECONDS = 120, 0.5  # a minute of retries
WITHDRAW_AT_EXIT_SECONDS = 10  # how long a process that is ending still tries
log = logging.getLogger(__name__)
# session.info[RECORDED]: (innermost savepoint or None, changes), in the order recorded.
RECORDED = "code_changes"


@dataclass(frozen=True)
class CodeChange:
    subject: str
    version: int
    color: str
    changed_at: datetime
    region: str  # offline gates of this region are told of the holder's void tokens


def record_changes(changes: Iterable[CodeChange]) -> None:
    """Publish ``changes`` once the current transaction commits; forget them if it does not."""
    changes = list(changes)
    if changes:
        session = db.session()
        session.info.setdefault(RECORDED, []).append(
            (session.get_nested_transaction(), changes))


def publish_changes(redis: Any, changes: Sequence[CodeChange]) -> None:
    """Tell verifiers about new code versions (called after the commit, from here only).

    Online verifiers compare the change's time with a token's ``iat``; offline gates
    of the holder's region are told which of the holder's live tokens are now void
    (``token_status``). The change is stamped after the commit and after the live
    tokens were read: a token signed from the old state was stamped before it was
    read, hence before this, and registered before that, hence is found.
    """
    if not changes:
        return
    live = token_status.read_live(redis, [change.subject for change in changes])
    ms = int(time.time() * 1000)
    pipe = redis.pipeline(transaction=False)
    for change in changes:
        pipe.hset(
            CODE_KEY.format(subject=change.subject),
            mapping={"v": change.version, "changed_ms": ms, "color": change.color},
        )
    token_status.queue_voids(pipe, ((c.region, ms, tokens) for c, tokens in zip(
        changes, live, strict=True)), ms)
    pipe.execute()


@event.listens_for(db.session, "after_commit")
def _publish_committed(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint released: nothing is durable until the outermost commit
    recorded = session.info.pop(RECORDED, None)
    if not recorded:
        return
    changes = [change for _, batch in recorded for change in batch]
    redis = redis_store.client()
    try:
        publish_changes(redis, changes)
    except RedisError as exc:
        # Imported here: context builds the scan path on codes, which records here.
        from .context import scan_context

        note_degraded(current_app, "redis", exc)
        scan_context().status_stale = True
        withdraw_ready_mark(redis)


@event.listens_for(db.session, "after_soft_rollback")
def _forget_savepoint(session: Session, rolled_back: SessionTransaction) -> None:
    if rolled_back.nested and session.info.get(RECORDED):
        session.info[RECORDED] = [(savepoint, changes) for savepoint, changes
                                  in session.info[RECORDED]
                                  if not _inside(savepoint, rolled_back)]


@event.listens_for(db.session, "after_transaction_end")
def _forget_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost: a commit has published already
        session.info.pop(RECORDED, None)


def _inside(savepoint: SessionTransaction | None, rolled_back: SessionTransaction) -> bool:
    while savepoint is not None:
        if savepoint is rolled_back:
            return True
        savepoint = savepoint.parent
    return False


class _Withdrawal:
    """The deletion owed to one Redis (one per app: two apps in a process have two)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self.due = False  # a publish failed since the last deletion began
        self.thread: threading.Thread | None = None


_withdrawals: dict[int, _Withdrawal] = {}  # by id() of the Redis client, which it keeps
_withdrawals_lock = threading.Lock()


def withdraw_ready_mark(redis: Any) -> threading.Thread:
    """Tell every process that Redis missed a change: delete ``STATUS_READY_KEY`` as
    soon as Redis answers, so that the next scan or bundle anywhere refills Redis from
    the database before trusting it. In a thread (the commit has returned); a process
    that is ending (a CLI command) gives it ``WITHDRAW_AT_EXIT_SECONDS`` first.
    A failure while a deletion is under way makes it delete once more afterwards: a
    refill by another worker in between could predate this failure's commit."""
    with _withdrawals_lock:
        withdrawal = _withdrawals.setdefault(id(redis), _Withdrawal(redis))
        withdrawal.due = True
        if withdrawal.thread is None or not withdrawal.thread.is_alive():
            withdrawal.thread = threading.Thread(target=_withdraw, args=(withdrawal,),
                                                 name="withdraw-ready-mark", daemon=True)
            withdrawal.thread.start()
        return withdrawal.thread


def _withdraw(withdrawal: _Withdrawal) -> None:
    for _ in range(WITHDRAW_ATTEMPTS):
        with _withdrawals_lock:
            if not withdrawal.due:
                return
            withdrawal.due = False
        try:
            withdrawal.redis.delete(STATUS_READY_KEY)
            continue  # deleted: once more only if another publish failed meanwhile
        except RedisError:
            with _withdrawals_lock:
                withdrawal.due = True
        time.sleep(WITHDRAW_PAUSE_SECONDS)
    with _withdrawals_lock:
        if not withdrawal.due:
            return
    log.error("Redis unreachable for a minute after a failed publish: other processes "
              "trust it until a scan here refills it or it restarts")


@atexit.register
def _withdraw_before_exit() -> None:
    deadline = time.monotonic() + WITHDRAW_AT_EXIT_SECONDS
    for withdrawal in list(_withdrawals.values()):
        if withdrawal.thread is not None and withdrawal.thread.is_alive():
            withdrawal.thread.join(max(0.0, deadline - time.monotonic()))
