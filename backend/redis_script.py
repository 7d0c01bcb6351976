"""A Lua script called as one pre-packed EVALSHA, over connections kept for it alone.

A fenced hot-path trick, for the scan script only (backend/services/scans.py): the
plain way is redis-py's ``client.register_script(source)``, which this must answer
exactly as (tests/integration/test_redis_script.py holds the two to the same
replies, a flushed script cache, a restart, an outage and threads). It is kept
because bench/scan.py shows it pays: measured against ``register_script`` in one
sitting (issue 16: five runs of each, alternating, on a shared 2-core machine),
scans reached 0.40-0.50 of the ceiling with it (mean 0.45) and 0.33-0.41 without
(mean 0.37), ahead in every pair; a call costs 22 us of CPU in the process instead of
47. Drop it for ``register_script`` when a run like that no longer shows 10%.

Where the time goes in the plain path: a pool checkout that polls the socket, a
deprecation shim, per-argument encoding and a retry wrapper, which together cost
about as much CPU in the web worker as the round trip itself. This sends the same
bytes with less Python in between. The connections are still redis-py's own, made
from the client's settings, so connecting, AUTH, SELECT, TLS, timeouts and reply
parsing are unchanged.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError


def _bulk(value: str | int) -> bytes:
    data = str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


class PackedScript:
    """``script(keys=[...], args=[...])`` like redis-py's registered scripts; thread-safe."""

    def __init__(self, client: Any, source: str) -> None:
        self.source = source
        # SHA-1 is how Redis names a script, not a security measure.
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        self._pool = client.connection_pool
        self._head = _bulk("EVALSHA") + _bulk(self.sha)
        self._idle: list[Any] = []  # list.pop and list.append are atomic: no lock needed
        self._pid = os.getpid()

    def pack(self, keys: Sequence[str], args: Sequence[str | int]) -> bytes:
        parts = [b"*%d\r\n" % (3 + len(keys) + len(args)), self._head, _bulk(len(keys))]
        parts.extend(_bulk(value) for value in (*keys, *args))
        return b"".join(parts)

    def __call__(self, *, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        packed = [self.pack(keys, args)]
        conn, kept = self._checkout()
        try:
            try:
                return self._run(conn, packed)
            except RedisConnectionError:
                if not kept:
                    raise
                # A kept connection Redis closed (a restart, an idle timeout): once more on
                # a new one, as redis-py retries. A repeat is harmless: the scan id makes
                # the check-in idempotent and the replay mark is the same value.
                conn.disconnect()
                conn, kept = self._new_connection(), False
                return self._run(conn, packed)
        except BaseException:
            conn.disconnect()
            conn = None
            raise
        finally:
            if conn is not None:
                self._idle.append(conn)

    def _checkout(self) -> tuple[Any, bool]:
        if self._pid != os.getpid():  # a forked child must not share its parent's sockets
            self._idle, self._pid = [], os.getpid()
        try:
            return self._idle.pop(), True
        except IndexError:
            return self._new_connection(), False

    def _new_connection(self) -> Any:
        return self._pool.connection_class(**self._pool.connection_kwargs)

    def _run(self, conn: Any, packed: list[bytes]) -> Any:
        conn.send_packed_command(packed, check_health=False)
        try:
            return conn.read_response()
        except NoScriptError:  # a restarted or flushed script cache: load it, then again
            conn.send_command("SCRIPT", "LOAD", self.source, check_health=False)
            conn.read_response()
            conn.send_packed_command(packed, check_health=False)
            return conn.read_response()
