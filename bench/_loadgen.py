"""A lean closed-loop HTTP load generator for bench/scan.py (one process, one thread).

    python bench/_loadgen.py --port 8000 --concurrency 16 [--latencies OUT] REQUESTS.jsonl

Each line of REQUESTS.jsonl is ``{"method", "path", "headers", "body"}``; every line
is sent exactly once, by ``concurrency`` connections that each send their next
request as soon as the previous answer is complete. The raw bytes are built before
the clock starts and the loop is a bare ``selectors`` loop over non-blocking
sockets (no threads, no http.client), so the generator takes as little CPU as it
can from the server it shares the machine with. Connections are kept alive when
the server allows it and reopened when it closes them (gunicorn's sync workers
close after every answer), so a request's latency includes its TCP connect.

Prints one JSON object: requests, seconds, requests/s, p50/p99/max latency in ms,
statuses, errors, the generator's own CPU seconds and, for ``POST /api/v1/scans``
answers, how many were admitted and refused by reason. ``--latencies`` also writes
every answered request's latency in microseconds, one a line.
"""

from __future__ import annotations

import argparse
import errno
import json
import resource
import selectors
import socket
import sys
import time
from collections import Counter
from pathlib import Path

HOST = "127.0.0.1"


def build_requests(path: Path, port: int) -> list[bytes]:
    raw = []
    for line in path.read_text().splitlines():
        spec = json.loads(line)
        body = spec.get("body")
        payload = body.encode() if body is not None else b""
        head = [f"{spec['method']} {spec['path']} HTTP/1.1", f"Host: {HOST}:{port}",
                "User-Agent: bench-loadgen", "Accept: application/json"]
        head += [f"{name}: {value}" for name, value in spec.get("headers", {}).items()]
        if body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        raw.append(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
    return raw


class Conn:
    """One client connection: at most one request in flight."""

    __slots__ = ("sock", "index", "out", "buf", "started", "reused", "need", "status", "keep")

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.index = -1
        self.out = memoryview(b"")
        self.buf = bytearray()
        self.started = 0
        self.reused = False
        self.need = -1  # total bytes of the answer once its head is read
        self.status = 0
        self.keep = False  # the server keeps the connection open after this answer


def _parse_head(buf: bytearray) -> tuple[int, int, bool] | None:
    """(status, total length, server keeps the connection) once the head is complete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = bytes(buf[:end]).split(b"\r\n")
    version, status = lines[0].split(b" ", 2)[:2]
    length, keep = 0, version == b"HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            keep = value.strip().lower() == b"keep-alive"
    return int(status), end + 4 + length, keep


def run(raw: list[bytes], port: int, concurrency: int, timeout: float,
        latencies_out: Path | None = None) -> dict:
    sel = selectors.DefaultSelector()
    latencies = [0] * len(raw)
    statuses: Counter[int] = Counter()
    bodies: list[bytes | None] = [None] * len(raw)
    errors: Counter[str] = Counter()
    next_index = 0
    done = 0

    def send_next(conn: Conn, retry: bool = False) -> None:
        nonlocal next_index
        if not retry:
            if next_index >= len(raw):
                if conn.sock is not None:
                    sel.unregister(conn.sock)
                    conn.sock.close()
                    conn.sock = None
                return
            conn.index, next_index = next_index, next_index + 1
            conn.started = time.perf_counter_ns()
        conn.out, conn.buf, conn.need = memoryview(raw[conn.index]), bytearray(), -1
        if conn.sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            code = sock.connect_ex((HOST, port))
            if code not in (0, errno.EINPROGRESS):
                sock.close()
                raise OSError(code, f"connect: {errno.errorcode.get(code, code)}")
            conn.sock, conn.reused = sock, False
            sel.register(sock, selectors.EVENT_WRITE, conn)
        else:
            conn.reused = True
            sel.modify(conn.sock, selectors.EVENT_WRITE, conn)

    def drop(conn: Conn) -> None:
        if conn.sock is not None:
            sel.unregister(conn.sock)
            conn.sock.close()
            conn.sock = None

    def finish(conn: Conn, status: int | None, error: str | None = None) -> None:
        nonlocal done
        latencies[conn.index] = time.perf_counter_ns() - conn.started
        done += 1
        if error is not None:
            errors[error] += 1
        else:
            statuses[status] += 1
            if not 200 <= status < 300:
                errors[f"http {status}"] += 1
            bodies[conn.index] = bytes(conn.buf[conn.buf.find(b"\r\n\r\n") + 4:conn.need])

    conns = [Conn() for _ in range(min(concurrency, len(raw)))]
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter_ns()
    deadline = time.monotonic() + timeout
    for conn in conns:
        send_next(conn)
    while done < len(raw):
        if time.monotonic() > deadline:
            errors["timeout"] += len(raw) - done
            break
        for key, events in sel.select(timeout=1.0):
            conn: Conn = key.data
            try:
                if events & selectors.EVENT_WRITE:
                    sent = conn.sock.send(conn.out)
                    conn.out = conn.out[sent:]
                    if not conn.out:
                        sel.modify(conn.sock, selectors.EVENT_READ, conn)
                    continue
                chunk = conn.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                chunk, failure = b"", exc
            else:
                failure = None
            if not chunk:
                # A kept-alive connection the server closed before answering: resend.
                if conn.reused and not conn.buf:
                    drop(conn)
                    send_next(conn, retry=True)
                else:
                    drop(conn)
                    finish(conn, None, f"connection: {failure or 'closed early'}")
                    send_next(conn)
                continue
            conn.buf += chunk
            if conn.need < 0:
                head = _parse_head(conn.buf)
                if head is None:
                    continue
                conn.status, conn.need, conn.keep = head
            if len(conn.buf) < conn.need:
                continue
            finish(conn, conn.status)
            if not conn.keep:
                drop(conn)
            send_next(conn)
    elapsed = (time.perf_counter_ns() - start) / 1e9
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    for conn in conns:
        drop(conn)
    answered = sorted(latencies[:next_index])
    if latencies_out is not None:
        latencies_out.write_text("".join(f"{ns // 1000}\n" for ns in answered))

    def pct(p: float) -> float:
        return answered[min(len(answered) - 1, int(p * len(answered)))] / 1e6 if answered else 0.0

    return {
        "requests": len(raw), "answered": sum(statuses.values()), "seconds": round(elapsed, 3),
        "rps": round(sum(statuses.values()) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(pct(0.50), 2), "p99_ms": round(pct(0.99), 2),
        "max_ms": round(answered[-1] / 1e6, 2) if answered else 0.0,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": sum(errors.values()), "error_kinds": dict(errors),
        "cpu_seconds": round(cpu_after.ru_utime + cpu_after.ru_stime
                             - cpu_before.ru_utime - cpu_before.ru_stime, 3),
        **classify_scans(bodies),
    }


def classify_scans(bodies: list[bytes | None]) -> dict:
    """Decisions in scan answers, counted after the clock has stopped."""
    decisions: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for body in bodies:
        if not body or not body.startswith(b"{"):
            continue
        answer = json.loads(body)
        if "decision" in answer:
            decisions[answer["decision"]] += 1
            if answer["decision"] != "admit":
                reasons[answer["reason"]] += 1
    if not decisions:
        return {}
    return {"admitted": decisions["admit"], "refused": decisions["refuse"],
            "refusal_reasons": dict(reasons)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requests", type=Path, help="JSON lines, one request each")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after (s)")
    parser.add_argument("--latencies", type=Path, help="write each latency (us) here")
    args = parser.parse_args()
    raw = build_requests(args.requests, args.port)
    json.dump(run(raw, args.port, args.concurrency, args.timeout, args.latencies), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
