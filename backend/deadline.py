"""A whole-exchange deadline for blocking sockets.

A socket timeout bounds each read, not their sum: a peer that sends one byte a
second holds a caller with a 5 s timeout for as long as it likes. ``Deadline``
shuts the watched connections down when the whole exchange has taken its time, so
the blocked read or write returns at once, whatever it was doing (TLS handshake,
status line, SMTP reply).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType


class Deadline:
    """``with Deadline(5) as d: sock = d.watch(socket.create_connection(...))``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._ends = time.monotonic() + self.seconds
        self._timer.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._watched:
                sock.close()
            self._watched.clear()

    @property
    def expired(self) -> bool:
        """The time is up (the watched connections are shut, or about to be)."""
        return self._expired or time.monotonic() >= self._ends

    def remaining(self) -> float:
        """Seconds left (a small positive floor: a zero socket timeout means non-blocking)."""
        return max(0.001, self._ends - time.monotonic())

    def watch(self, sock: socket.socket) -> socket.socket:
        """Watch ``sock`` and return it. A duplicate descriptor is kept, because TLS
        wrapping detaches the original object; shutting the duplicate down ends the
        connection for every descriptor of it."""
        dup = sock.dup()
        with self._lock:
            self._watched.append(dup)
            if self._expired:
                _shutdown(dup)
        return sock

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._watched:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer or by us
        sock.shutdown(socket.SHUT_RDWR)
