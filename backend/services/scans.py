"""Scanning: the online scan path, offline uploads and the offline bundle.

The online path is the product's hottest: the pure verifier decides everything
it can from the token, keys and policy; then one Redis round trip (a Lua script)
checks that the holder's code has not changed since ``iat``, applies the replay
rule and appends the admitted scan to the check-in stream.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from marshmallow import Schema, ValidationError
from redis.exceptions import RedisError
from sqlalchemy import String, select

from checkpoints.verifier import (
    CODE_CHANGED,
    MALFORMED,
    RESTRICTABLE,
    RESTRICTED,
    KeySet,
    Policy,
    ScanDecision,
    verify,
)

from ..exceptions import TooManyRequests
from ..extensions import db
from ..keys import KeyRing
from ..models import DeviceBundle, ScanReceipt
from ..pseudonyms import TokenPseudonyms, iat_ms
from ..redis_script import PackedScript
from . import prebuilt
from .after_commit import CODE_KEY, STATUS_READY_KEY
from .checkins import STREAM, add_refusals, checkin_row, insert_checkins
from .codes import (
    changed_ms_in_database,
    code_changes_in_database,
    republish_recent,
)
from .token_status import bundle_status

# Keyed by the token's own ``sub`` and ``jti``: a token's, not a holder's, identity.
SEEN_KEY = "hc:seen:{issuer}:{subject}:{jti}"
NO_STATUS_KEY = "hc:code:-"  # other issuers' codes: no status here, the short lifetime rules
RATE_KEY = "hc:rl:scan:{device}:{minute}"


class ScanKeys(NamedTuple):
    """The scan script's KEYS, in order; the script calls each by its field's name."""

    code_key: str  # the holder's code status (CODE_KEY), or NO_STATUS_KEY
    seen_key: str  # the token's replay mark (SEEN_KEY)
    stream_key: str  # the check-in stream
    status_ready_key: str  # present while Redis holds every code status
    rate_key: str  # this device's scans this minute (RATE_KEY)


class ScanArgs(NamedTuple):
    """The scan script's ARGV, in order; the script calls each by its field's name."""

    issued_ms: int  # the token's iat
    checkpoint: int
    replay_seconds: int
    write_stream: str  # "1": append the check-in to the stream
    scan_id: str
    issuer: str
    subject: str  # for our own tokens the holder's stored subject
    scanned_ms: int
    scans_per_minute: int


def _named(body: str) -> str:
    """``body`` after locals naming its KEYS and ARGV: one list for Python and Lua."""
    prologue = [f"local {name} = KEYS[{i}]" for i, name in enumerate(ScanKeys._fields, 1)]
    prologue += [f"local {name} = ARGV[{i}]" for i, name in enumerate(ScanArgs._fields, 1)]
    return "\n".join(prologue) + "\n" + body


SCAN_SCRIPT = _named("""\
if redis.call('EXISTS', status_ready_key) == 0 then return 'no_status' end
local n = redis.call('INCR', rate_key)
if n == 1 then redis.call('EXPIRE', rate_key, 60) end
if n > tonumber(scans_per_minute) then return 'rate_limited' end
local changed = redis.call('HGET', code_key, 'changed_ms')
if changed and tonumber(changed) > tonumber(issued_ms) then return 'code_changed' end
local seen = redis.call('GET', seen_key)
if seen and seen ~= checkpoint then return 'replayed' end
if not seen then redis.call('SET', seen_key, checkpoint, 'EX', replay_seconds) end
if write_stream == '1' then
  redis.call('XADD', stream_key, '*', 'scan_id', scan_id, 'checkpoint', checkpoint,
             'iss', issuer, 'sub', subject, 'at', scanned_ms)
end
return 'ok'
""")


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class LocalKeys:
    """This deployment's published keys as a verifier KeySet, rebuilt only when they change."""

    def __init__(self, keyring: KeyRing, issuer: str) -> None:
        self.keyring, self.issuer = keyring, issuer
        self._kids: tuple[str, ...] = ()
        self._keys = KeySet()

    def keyset(self, now: datetime) -> KeySet:
        published = self.keyring.published(now)
        kids = tuple(k.kid for k in published)
        if kids != self._kids:
            self._keys = KeySet({(self.issuer, k.kid): k.private_key.public_key()
                                 for k in published})
            self._kids = kids
        return self._keys


@dataclass
class ScanContext:
    """What the scan path needs, gathered once per app."""

    redis: Any
    local_issuer: str
    replay_window_seconds: int
    clock_skew_seconds: int
    write_stream: bool  # False: write check-ins to the database synchronously
    status_window_seconds: int  # how far back a code change can still matter
    on_degraded: Callable[[Exception], None] = lambda exc: None
    script: Any = None
    status_stale: bool = False  # a publish failed: republish before trusting Redis
    registry_incomplete: bool = False  # a token was issued unregistered (token_status)
    pseudonyms: TokenPseudonyms | None = None  # reads our tokens' ``sub`` back
    # Scans a device may make per minute, counted by the scan script (backend/limits.py)
    device_scans_per_minute: int = 1200

    def __post_init__(self) -> None:
        self.script = PackedScript(self.redis, SCAN_SCRIPT)


def scan_online(
    token: Any, *, checkpoint_id: int, policy: Policy, keys: KeySet, ctx: ScanContext,
    now: datetime, scan_id: str | None = None, scanned_at: datetime | None = None,
    restricted: Callable[[str, str], bool] | None = None, device_id: int = 0,
) -> ScanDecision:
    """``restricted(issuer, subject)`` answers for travel gates whether the holder is barred;
    for our own tokens ``subject`` is the holder's stored subject, read back from ``sub``."""
    at = scanned_at if scanned_at is not None else now
    decision = verify(token, keys, policy, now, None, clock_skew_seconds=ctx.clock_skew_seconds)
    local = decision.issuer == ctx.local_issuer
    subject = decision.subject
    if decision.admitted and local:
        subject = _holder(ctx.pseudonyms, decision)
        if subject is None:  # signed by us, yet no well-formed sub: refuse, never guess
            decision = decision.refused(MALFORMED)
    if decision.admitted and restricted is not None and restricted(decision.issuer, subject):
        decision = decision.refused(RESTRICTED)
    if not decision.admitted:
        _count_refusal(ctx, checkpoint_id, at, decision.reason)
        return decision
    scan_id = scan_id or os.urandom(12).hex()
    code_key = CODE_KEY.format(subject=subject) if local else NO_STATUS_KEY
    seen_key = SEEN_KEY.format(issuer=decision.issuer, subject=decision.subject,
                               jti=decision.jti)
    args = ScanArgs(issued_ms=int((decision.issued_at or 0) * 1000), checkpoint=checkpoint_id,
                    replay_seconds=ctx.replay_window_seconds,
                    write_stream="1" if ctx.write_stream else "0", scan_id=scan_id,
                    issuer=decision.issuer, subject=subject, scanned_ms=_ms(at),
                    scans_per_minute=ctx.device_scans_per_minute)
    keys = ScanKeys(code_key=code_key, seen_key=seen_key, stream_key=STREAM,
                    status_ready_key=STATUS_READY_KEY,
                    rate_key=RATE_KEY.format(device=device_id, minute=int(now.timestamp()) // 60))
    try:
        if ctx.status_stale:
            _republish(ctx, now)
        outcome = ctx.script(keys=keys, args=args)
        if outcome == "no_status":  # Redis lost its data (restart): refill it once
            _republish(ctx, now)
            outcome = ctx.script(keys=keys, args=args)
        stream = ctx.write_stream
    except RedisError as exc:
        # Redis is down: the database answers the code-change question, the replay
        # check is skipped, and the check-in is written to the database at once.
        ctx.on_degraded(exc)
        ctx.status_stale = True
        changed = changed_ms_in_database(subject) if local else None
        outcome = "code_changed" if changed is not None and changed > args.issued_ms else "ok"
        stream = False
    if outcome == "rate_limited":  # the window is the minute the key is named after
        raise TooManyRequests("This device scans faster than its limit allows.",
                              retry_after=60 - int(now.timestamp()) % 60)
    if outcome != "ok":
        decision = decision.refused(outcome)
        _count_refusal(ctx, checkpoint_id, at, decision.reason)
        return decision
    if not stream:
        insert_checkins([checkin_row(scan_id, checkpoint_id, decision.issuer, subject,
                                     at, now)])
        db.session.commit()
    return decision


def _holder(pseudonyms: TokenPseudonyms | None, decision: ScanDecision) -> str | None:
    """The stored subject behind one of our tokens (its ``sub`` is that token's alone)."""
    if pseudonyms is None or decision.issued_at is None:
        return None
    return pseudonyms.subject_of(decision.subject, jti=decision.jti,
                                 issued_ms=iat_ms(decision.issued_at))


def _republish(ctx: ScanContext, now: datetime) -> None:
    """Refill Redis from the database before trusting it again (see republish_recent)."""
    republish_recent(ctx.redis, now, ctx.status_window_seconds,
                     registry_lost=ctx.registry_incomplete)
    ctx.status_stale = ctx.registry_incomplete = False


def _count_refusal(ctx: ScanContext, checkpoint_id: int, at: datetime, reason: str) -> None:
    if ctx.write_stream:
        try:
            ctx.redis.xadd(STREAM, {"type": "refusal", "checkpoint": checkpoint_id,
                                    "reason": reason, "at": _ms(at)})
            return
        except RedisError as exc:
            ctx.on_degraded(exc)
    add_refusals({(checkpoint_id, at.date(), reason): 1})
    db.session.commit()


@dataclass
class UploadResult:
    accepted: int = 0
    duplicates: int = 0
    checkins: int = 0
    disagreements: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


def upload_offline(
    scans: Sequence[Any], *, row_schema: Schema, checkpoint_id: int, policy: Policy,
    keys: KeySet, now: datetime, clock_skew_seconds: int, max_age_days: int,
    local_issuer: str, pseudonyms: TokenPseudonyms, device_id: int = 0,
    verifier_skew_seconds: int = 5, bundle_validity: timedelta = timedelta(hours=24),
) -> UploadResult:
    """Store scans a gate made offline, each scan id once, in one transaction.

    Each scan is decided again as the server would have decided it at its
    ``scanned_at``: signature, keys and policy (travel pass, lifetime cap), the
    token's own ``exp`` with the gates' small clock allowance
    (``verifier_skew_seconds``), and, for our own holders, whether the code changed
    after ``iat`` and before ``scanned_at`` (the code history). Our own tokens'
    check-ins are stored under the holder's stored subject, read back from the
    token's pseudonym, as online scans are. A scan the gate admitted is kept whatever
    the server says: as a check-in (flagged with the server's reason in
    ``disagreement`` when it would have refused), or, when the token names nobody the
    server can verify, as a flagged receipt only. A scan the gate refused is only
    counted, by the server's reason.

    ``scanned_at`` may reach back no further than the device's last bundle download
    minus ``bundle_validity`` (nor past the check-in retention); older scans are
    rejected by index, naming the field.
    """
    result = UploadResult()
    floor, floor_why = _earliest_scan(device_id, now, bundle_validity, max_age_days)
    rows: list[tuple[int, dict]] = []
    for index, raw in enumerate(scans):
        try:
            row = row_schema.load(raw)
        except ValidationError as err:
            result.rejected.append({"index": index, "error": "invalid scan",
                                    "fields": err.messages})
            continue
        at = row["scanned_at"]
        if at > now + timedelta(seconds=clock_skew_seconds):
            result.rejected.append({"index": index, "error": "scanned_at out of range",
                                    "fields": {"scanned_at": ["must not be in the future"]}})
            continue
        if at < floor:
            result.rejected.append({"index": index, "error": "scanned_at out of range",
                                    "fields": {"scanned_at": [
                                        f"must not be before {floor.isoformat()} ({floor_why})"]}})
            continue
        rows.append((index, row))
    ids = [row["scan_id"] for _, row in rows]
    known = set()
    seen = select(ScanReceipt.scan_id).where(
        prebuilt.member(ScanReceipt.scan_id, prebuilt.on_postgresql(), String))
    for chunk in prebuilt.chunks(ids):
        known.update(db.session.execute(seen, {"ids": chunk}).scalars())
    fresh = []
    for _, row in rows:
        if row["scan_id"] in known:
            result.duplicates += 1
            continue
        known.add(row["scan_id"])
        decision = verify(row["token"], keys, policy, row["scanned_at"], None,
                          clock_skew_seconds=verifier_skew_seconds)
        fresh.append((row, decision))
    fresh = _changed_before_scan(_our_holders(fresh, local_issuer, pseudonyms), local_issuer)
    checkins, refusals, receipts = [], Counter(), []
    for row, decision in fresh:
        at = row["scanned_at"]
        disagreement = None
        if row["decision"] == "admit":
            disagreement = None if decision.admitted else decision.reason
            if decision.subject is not None:
                checkins.append(checkin_row(row["scan_id"], checkpoint_id, decision.issuer,
                                            decision.subject, at, now, offline=True,
                                            disagreement=disagreement))
            result.disagreements += disagreement is not None
        else:
            reason = decision.reason if not decision.admitted else "refused_by_gate"
            refusals[(checkpoint_id, at.date(), reason)] += 1
        receipts.append(ScanReceipt(scan_id=row["scan_id"], checkpoint_id=checkpoint_id,
                                    received_at=now, disagreement=disagreement))
        result.accepted += 1
    db.session.add_all(receipts)
    insert_checkins(checkins)
    add_refusals(refusals)
    db.session.commit()
    result.checkins = len(checkins)
    return result


def _earliest_scan(device_id: int, now: datetime, bundle_validity: timedelta,
                   max_age_days: int) -> tuple[datetime, str]:
    """The oldest ``scanned_at`` an upload may carry, and why, in words for the device.

    A gate decides offline with a bundle; a scan from before the device's last
    download minus a bundle's validity was made with a bundle the server no longer
    stands by (or is backdated). A device that never downloaded one is bounded as if
    it had just now.
    """
    downloaded = db.session.get(DeviceBundle, device_id) if device_id else None
    since = downloaded.downloaded_at if downloaded is not None else now
    floor = since - bundle_validity
    retention = now - timedelta(days=max_age_days)
    if retention > floor:
        return retention, f"check-ins are kept {max_age_days} days"
    hours = f"{bundle_validity.total_seconds() / 3600:g} hours"
    if downloaded is None:
        return floor, f"this device has downloaded no bundle: at most {hours} back from now"
    return floor, f"this device's last bundle download minus the bundle's validity of {hours}"


def _our_holders(fresh: list[tuple[dict, ScanDecision]], local_issuer: str,
                 pseudonyms: TokenPseudonyms) -> list[tuple[dict, ScanDecision]]:
    """Our own tokens' decisions with the holder's stored subject in place of the
    token's pseudonym (``malformed`` when it reads back to nobody)."""
    out = []
    for row, decision in fresh:
        if decision.issuer == local_issuer and decision.subject is not None:
            holder = _holder(pseudonyms, decision)
            decision = (replace(decision, subject=holder) if holder is not None
                        else replace(decision.refused(MALFORMED), subject=None))
        out.append((row, decision))
    return out


def _changed_before_scan(
    fresh: list[tuple[dict, ScanDecision]], local_issuer: str | None,
) -> list[tuple[dict, ScanDecision]]:
    """Refuse (``code_changed``) our own holders' tokens whose code changed after ``iat``
    and no later than ``scanned_at``: the server knew the token was stale by then."""
    ours = [d for _, d in fresh if d.admitted and d.issuer == local_issuer]
    if not ours:
        return fresh
    since = datetime.fromtimestamp(min(d.issued_at or 0 for d in ours), UTC)
    changes = code_changes_in_database([d.subject for d in ours], since)
    out = []
    for row, decision in fresh:
        if decision.admitted and decision.issuer == local_issuer:
            iat_ms = round((decision.issued_at or 0) * 1000)
            at_ms = _ms(row["scanned_at"])
            if any(iat_ms < ms <= at_ms for ms in changes.get(decision.subject, ())):
                decision = decision.refused(CODE_CHANGED)
        out.append((row, decision))
    return out


def record_bundle_download(device_id: int, at: datetime, validity: timedelta) -> datetime:
    """Remember when the device took its bundle; returns until when the bundle holds."""
    stmt = prebuilt.dialect_insert(DeviceBundle)  # an upsert in either dialect
    db.session.execute(stmt.on_conflict_do_update(
        index_elements=["credential_id"], set_={"downloaded_at": stmt.excluded.downloaded_at}),
        [{"credential_id": device_id, "downloaded_at": at}])
    db.session.commit()
    return at + validity


def build_bundle(
    *, keys_by_issuer: Mapping[str, Mapping[str, Any]], policy: Policy, region: str, redis,
    cursor: int | None, now: datetime, local_issuer: str, token_lifetime: int,
    clock_skew_seconds: int, ctx: ScanContext | None = None,
) -> dict[str, Any]:
    """Keys, status deltas since ``cursor`` and the policy, for a gate working offline.

    The status names tokens, never holders (``token_status``): those of our tokens,
    held by people of the checkpoint's ``region``, that a code change made void, and
    at a travel gate the passes for its category barred by a restriction. A change
    older than a token's lifetime cannot affect any token still valid, so deltas
    never reach further back than that: the bundle stays small.
    """
    if ctx is not None and (ctx.status_stale or not redis.exists(STATUS_READY_KEY)):
        ctx.status_stale = True  # Redis lost its data or missed changes: refill it first
        _republish(ctx, now)
    status = bundle_status(
        redis, issuer=local_issuer, region=region,
        category=policy.category if policy.category in RESTRICTABLE else None,
        cursor=cursor, now_ms=_ms(now), window_ms=(token_lifetime + clock_skew_seconds) * 1000)
    body: dict[str, Any] = {"changes": status.changes, "revoked": [],
                            "restricted": status.restricted}
    if status.void_before:
        body["void_before"] = status.void_before
    return {
        "issued_at": now.isoformat(),
        "keys": dict(keys_by_issuer),
        "status": body,
        "status_cursor": str(status.cursor),
        "policy": policy.to_dict(),
        "clock_skew_seconds": clock_skew_seconds,
    }
