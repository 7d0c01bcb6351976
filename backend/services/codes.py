"""Computing and keeping citizens' codes.

A code is recomputed whenever something it depends on changes (a questionnaire,
a government record, an area's risk, a published ruleset) and, once time may
have changed it, when it is read. ``version`` grows only when the
decision's fingerprint changes; the new version is published to Redis after the
commit (``after_commit``), where online scans compare it with a token's ``iat``.

Between data changes a code can only change at known moments: a quarantine ends
(the engine's ``changes_at``), a record dated in the future starts to count, an
area takes on a level set in advance, or a self-report leaves the lookback window
(``load_facts``). The first of them is stored as ``reusable_until`` (or
``UNTIL_DATA_CHANGES``) and reads before it serve the stored code without
evaluating: a token needs only the color, a green code has no reasons to
explain, and a yellow or red one's reasons are stored with it (their texts come
from the ruleset version that made it). Anything that changes the data
evaluates again through ``recompute_codes``, which resets it.
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, String, select

from risk import Decision, evaluate, restore

from ..extensions import db
from ..metrics import EVALUATION_SECONDS, PEOPLE_EVALUATED
from ..models import Citizen, CodeHistory, CodeState
from . import prebuilt, token_status
from .after_commit import CODE_KEY, STATUS_READY_KEY, CodeChange, record_changes
from .facts import load_facts
from .rulesets import active_ruleset

# Set once Redis holds every code change that can still matter (see republish_recent).
UNTIL_DATA_CHANGES = datetime(9999, 12, 31, tzinfo=UTC)


def recompute_codes(
    citizens: Sequence[Citizen], now: datetime, ruleset_cache: dict
) -> tuple[dict[int, tuple[CodeState, Decision]], int]:
    """Evaluate ``citizens`` now and update their stored codes in the current transaction;
    also how many codes changed.

    The caller commits; the changes are published after that commit (``after_commit``).
    """
    if not citizens:
        return {}, 0
    started = time.perf_counter()
    ids = sorted(c.id for c in citizens)
    # The stored codes are locked (in id order: two batches never deadlock) *before*
    # the facts are read. A second evaluation of the same person, say a close-contact
    # import racing the holder's questionnaire, waits for the first to commit and then
    # reads its facts too; otherwise the later commit would store a code computed
    # without the earlier one's record. populate_existing: a row already in the
    # session (read with the caller's credential) is refreshed from the locked row.
    # The price: a publish holds every code of its region until it commits, and an
    # evaluation of someone there waits for it (seconds for 100,000 people).
    states = {
        s.citizen_id: s
        for s in db.session.execute(_lock_codes(prebuilt.on_postgresql()), {"ids": ids}).scalars()
    }
    next_change: dict[int, datetime] = {}
    facts = load_facts(ids, now, next_change)
    by_region: dict[str, list[Citizen]] = defaultdict(list)
    for c in citizens:
        by_region[c.region].append(c)
    results: dict[int, tuple[CodeState, Decision]] = {}
    changes: list[CodeChange] = []
    for region, people in by_region.items():
        ruleset = active_ruleset(region, ruleset_cache)
        for citizen in people:
            decision = evaluate(facts[citizen.id], ruleset, now)
            reusable = min(decision.changes_at or UNTIL_DATA_CHANGES,
                           next_change.get(citizen.id, UNTIL_DATA_CHANGES))
            state, changed = _store(states.get(citizen.id), citizen, decision, reusable, now)
            results[citizen.id] = (state, decision)
            if changed:
                changes.append(CodeChange(citizen.subject, state.version, state.color, now,
                                              citizen.region))
    record_changes(changes)
    EVALUATION_SECONDS.observe(time.perf_counter() - started)
    PEOPLE_EVALUATED.inc(len(citizens))
    return results, len(changes)


@functools.cache
def _lock_codes(postgresql: bool) -> Select:
    return (select(CodeState).where(prebuilt.member(CodeState.citizen_id, postgresql))
            .order_by(CodeState.citizen_id).with_for_update()
            .execution_options(populate_existing=True))


def _store(
    state: CodeState | None, citizen: Citizen, decision: Decision,
    reusable_until: datetime | None, now: datetime,
) -> tuple[CodeState, bool]:
    fingerprint = decision.fingerprint()
    if state is not None and state.fingerprint == fingerprint:
        if state.reusable_until != reusable_until:  # same code, new horizon: no new version
            state.reusable_until = reusable_until
        return state, False
    reasons = decision.to_dict()["reasons"]
    if state is None:
        state = CodeState(citizen_id=citizen.id, version=1)
        db.session.add(state)
    else:
        state.version = state.version + 1
    state.color = decision.color
    state.reasons = reasons
    state.turns_green_at = decision.turns_green_at
    state.ruleset_version = decision.ruleset_version
    state.fingerprint = fingerprint
    state.evaluated_at = now
    state.changed_at = now
    state.reusable_until = reusable_until
    db.session.add(CodeHistory(citizen_id=citizen.id, version=state.version, color=state.color,
                               reasons=reasons, ruleset_version=state.ruleset_version,
                               changed_at=now))
    return state, True


def current_code(
    citizen: Citizen, now: datetime, ruleset_cache: dict, *, explained: bool = True,
) -> tuple[CodeState, Decision | None]:
    """The citizen's code as of ``now``: the stored one while it may be reused, else
    evaluated again (any change stored, and published after the commit).

    ``explained`` asks for the decision with its reasons; without it (a token needs
    only the stored code) the decision may be None.
    """
    stored = db.session.get(CodeState, citizen.id)
    if stored is not None and stored.reusable_until is not None and now < stored.reusable_until:
        if stored.color == "green":
            return stored, Decision("green", (), None, stored.ruleset_version, now)
        if not explained:
            return stored, None
        # A publish recomputes every code with it, so the version that made the stored
        # code is in force; its texts give the reasons in every language.
        compiled = ruleset_cache.get((citizen.region, stored.ruleset_version))
        if compiled is not None and (decision := restore(
                stored.color, stored.reasons, stored.turns_green_at, compiled, now)):
            return stored, decision
    results, _ = recompute_codes([citizen], now, ruleset_cache)
    db.session.commit()
    return results[citizen.id]


def citizens_by_id_hashes(hashes: Sequence[str]) -> list[Citizen]:
    statement = select(Citizen).where(
        prebuilt.member(Citizen.id_hash, prebuilt.on_postgresql(), String))
    found: list[Citizen] = []
    for chunk in prebuilt.chunks(sorted(set(hashes))):
        found.extend(db.session.execute(statement, {"ids": chunk}).scalars())
    return found


def republish_recent(redis, now: datetime, window_seconds: int, *,
                     registry_lost: bool = False) -> int:
    """Copy every code change of the last ``window_seconds`` from the database to Redis.

    Redis keeps nothing on disk here: after a restart (or a publish that failed
    while it was down) it no longer knows recent changes, and a token made before
    one would pass. Only changes younger than a token's lifetime can matter, so
    this is a small, bounded copy. The database keeps the evaluation time, a few
    milliseconds before the commit; a token stamped inside that window (made from
    the old state) would pass after a restart, a window accepted as negligible.

    Tokens still registered as live are listed void again for offline gates; tokens
    Redis forgot (a restart) or never heard of (``registry_lost``: registrations
    failed while it was unreachable) cannot be named, so offline gates are told to
    treat every token of ours issued before the registry was complete as changed.
    """
    since = now - timedelta(seconds=window_seconds)
    rows = db.session.execute(
        select(Citizen.subject, Citizen.region, CodeState.version, CodeState.color,
               CodeState.changed_at)
        .join(Citizen, Citizen.id == CodeState.citizen_id)
        .where(CodeState.changed_at >= since)
    ).all()
    live = token_status.read_live(redis, [row.subject for row in rows])
    now_ms = int(now.timestamp() * 1000)
    pipe = redis.pipeline(transaction=False)
    voids = []
    for (subject, region, version, color, changed_at), tokens in zip(rows, live, strict=True):
        ms = int(changed_at.timestamp() * 1000)
        pipe.hset(CODE_KEY.format(subject=subject),
                  mapping={"v": version, "changed_ms": ms, "color": color})
        voids.append((region, ms, tokens))
    # Listed now, not at the change: gates whose cursor passed that time still get them.
    token_status.queue_voids(pipe, voids, now_ms)
    token_status.mark_registry_from(pipe, now_ms, lost=registry_lost)
    pipe.set(STATUS_READY_KEY, int(now.timestamp()))
    pipe.execute()
    return len(rows)


def changed_ms_in_database(subject: str) -> int | None:
    """The database's view of when a subject's code last changed (Redis fallback)."""
    changed = db.session.execute(
        select(CodeState.changed_at).join(Citizen, Citizen.id == CodeState.citizen_id)
        .where(Citizen.subject == subject)
    ).scalar_one_or_none()
    return None if changed is None else int(changed.timestamp() * 1000)


def code_changes_in_database(subjects: Sequence[str], since: datetime) -> dict[str, list[int]]:
    """When each subject's code changed (ms since the epoch) after ``since``, from the
    code history: what the server knew at any moment since then (offline uploads)."""
    statement = (
        select(Citizen.subject, CodeHistory.changed_at)
        .join(CodeHistory, CodeHistory.citizen_id == Citizen.id)
        .where(prebuilt.member(Citizen.subject, prebuilt.on_postgresql(), String),
               CodeHistory.changed_at > since))
    found: dict[str, list[int]] = defaultdict(list)
    for chunk in prebuilt.chunks(sorted(set(subjects))):
        for subject, changed_at in db.session.execute(statement, {"ids": chunk}):
            found[subject].append(int(changed_at.timestamp() * 1000))
    return found
