"""Which of this deployment's live tokens are void, told to offline gates token by token.

Every token carries a fresh pseudonym (``backend/pseudonyms.py``), so a bundle can no
longer say "subject S changed at T": that would let a gate link S's visits and test
any S it has seen. Instead the service remembers, for each holder, the pseudonyms of
the tokens it issued that may still be live; when the holder's code changes it lists
exactly those tokens as changed, and when a restriction is placed, exactly the
holder's live passes for the restricted categories. A gate's bundle holds only
tokens that are really void, only of holders of its own region, and restriction
entries only at travel gates of that category: nothing it can test an arbitrary
token, or an earlier visit, against.

Redis keys (all written here)::

    hc:live:<subject>            ZSET "<iat ms>|<scope>|<pseudonym>" -> exp ms;
                                 expires a lifetime after the holder's last token
    hc:live:since                ms: every token issued since then is in hc:live:*
                                 (Redis keeps nothing on disk: after a restart only
                                 tokens issued since are known)
    hc:void:<region>             ZSET pseudonym -> ms the code change was listed;
                                 the bundle's status.changes, read from a cursor
    hc:barred:<category>:<region> ZSET pseudonym -> exp ms of a pass voided by a
                                 restriction; the bundle's status.restricted

A token is registered *before* the code it shows is read. A change committed after
that read is published after the commit, and by then the registration is there to
be found; a token registered later read the new code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

LIVE_KEY = "hc:live:{subject}"
SINCE_KEY = "hc:live:since"
VOID_KEY = "hc:void:{region}"
BARRED_KEY = "hc:barred:{category}:{region}"
# Past its exp by this much a token is refused by every verifier (their clock skew is
# seconds): registry entries and barred passes older than that are dropped.
STALE_MS = 60_000
# A bundle re-sends the entries of the last seconds before its cursor: a publish that
# stamped its time before another's but wrote after it is not missed.
CURSOR_OVERLAP_MS = 10_000


@dataclass(frozen=True)
class LiveToken:
    iat_ms: int
    scope: str
    pseudonym: str
    exp_ms: int

    @classmethod
    def parse(cls, member: str | bytes, exp_ms: float) -> LiveToken:
        text = member.decode() if isinstance(member, bytes) else member
        iat, scope, pseudonym = text.split("|", 2)
        return cls(int(iat), scope, pseudonym, int(exp_ms))


def register(pipe: Any, subject: str, pseudonym: str, scope: str | None, *, iat_ms: int,
             exp_ms: int) -> None:
    """Queue on ``pipe`` the commands that record a token as live (one round trip)."""
    key = LIVE_KEY.format(subject=subject)
    pipe.zadd(key, {f"{iat_ms}|{scope or ''}|{pseudonym}": exp_ms})
    pipe.zremrangebyscore(key, "-inf", iat_ms - STALE_MS)
    pipe.pexpireat(key, exp_ms + STALE_MS)
    # Only the first registration after Redis lost its data sets it: from then on the
    # registry is complete.
    pipe.set(SINCE_KEY, iat_ms, nx=True)


def _live(redis, subjects: Sequence[str]) -> list[list[LiveToken]]:
    pipe = redis.pipeline(transaction=False)
    for subject in subjects:
        pipe.zrange(LIVE_KEY.format(subject=subject), 0, -1, withscores=True)
    return [[LiveToken.parse(m, s) for m, s in found] for found in pipe.execute()]


def read_live(redis, subjects: Sequence[str]) -> list[list[LiveToken]]:
    """Each holder's registered tokens, in the order of ``subjects``."""
    return _live(redis, subjects) if subjects else []


def queue_voids(pipe: Any, holders: Iterable[tuple[str, int, list[LiveToken]]],
                listed_ms: int) -> None:
    """Queue on ``pipe``: the tokens issued before each holder's change are void.

    ``holders`` gives (region, changed_ms, live tokens) per holder whose code changed;
    the entries are listed at ``listed_ms`` (what a gate's cursor is compared with).
    """
    by_region: dict[str, dict[str, int]] = {}
    for region, changed_ms, tokens in holders:
        for token in tokens:
            if token.iat_ms < changed_ms and token.exp_ms > changed_ms - STALE_MS:
                by_region.setdefault(region, {})[token.pseudonym] = listed_ms
    for region, entries in by_region.items():
        pipe.zadd(VOID_KEY.format(region=region), entries)


def bar_passes(redis, subject: str, region: str, categories: Iterable[str], now_ms: int) -> int:
    """A restriction was placed: the holder's live passes for ``categories`` are barred at
    the travel gates of their region from now on. Returns how many."""
    wanted = set(categories)
    [tokens] = _live(redis, [subject])
    pipe = redis.pipeline(transaction=False)
    barred = 0
    for token in tokens:
        if token.scope in wanted and token.exp_ms > now_ms - STALE_MS:
            pipe.zadd(BARRED_KEY.format(category=token.scope, region=region),
                      {token.pseudonym: token.exp_ms})
            barred += 1
    if barred:
        pipe.execute()
    return barred


def mark_registry_from(pipe: Any, now_ms: int, *, lost: bool) -> None:
    """After Redis lost its data (``lost`` False: only if no token registered since) or
    missed registrations while unreachable (``lost`` True), the registry is complete
    only from now: older tokens of ours are void at offline gates."""
    pipe.set(SINCE_KEY, now_ms, nx=not lost)


@dataclass(frozen=True)
class BundleStatus:
    changes: list[dict[str, Any]]
    restricted: dict[str, Any] | None
    void_before: dict[str, int]
    cursor: int


def bundle_status(redis, *, issuer: str, region: str, category: str | None,
                  cursor: int | None, now_ms: int, window_ms: int) -> BundleStatus:
    """What a gate of ``region`` needs: void tokens of its region's holders listed since
    ``cursor``, and at a travel gate (``category``) the passes barred for that category.

    A change older than ``window_ms`` (a token's lifetime and the skew) cannot void a
    token that is still valid: nothing older is sent, or kept.
    """
    floor = now_ms - window_ms
    start = max((cursor or 0) - CURSOR_OVERLAP_MS, floor)
    void_key = VOID_KEY.format(region=region)
    pipe = redis.pipeline(transaction=False)
    pipe.zremrangebyscore(void_key, "-inf", f"({floor}")
    pipe.zrangebyscore(void_key, start, "+inf", withscores=True)
    pipe.set(SINCE_KEY, now_ms, nx=True)  # nothing registered since Redis lost its data
    pipe.get(SINCE_KEY)
    if category is not None:
        barred_key = BARRED_KEY.format(category=category, region=region)
        pipe.zremrangebyscore(barred_key, "-inf", f"({now_ms - STALE_MS}")
        pipe.zrange(barred_key, 0, -1)
    found = pipe.execute()
    entries, since = found[1], int(found[3])
    changes = [{"iss": issuer, "sub": _text(member), "changed_ms": int(score)}
               for member, score in entries]
    restricted = None
    if category is not None:
        restricted = {"category": category,
                      "tokens": [{"iss": issuer, "sub": _text(m)} for m in sorted(found[5])]}
    return BundleStatus(
        changes=changes,
        restricted=restricted,
        void_before={issuer: since} if since > floor else {},
        cursor=max([cursor or 0, floor] + [c["changed_ms"] for c in changes]),
    )


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
