"""Real Redis and PostgreSQL processes of a test's own, on spare loopback ports.

Used by ``test_faults.py`` to stop and restart the service's dependencies under it.
Every process started here is stopped by the process handle or pid it was started
with (never by name), also when a test fails half way.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis


def free_port() -> int:
    """A port nothing listens on right now (bind port 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_binary() -> str | None:
    return shutil.which("redis-server")


def postgres_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin holding initdb and pg_ctl."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")
             if (Path(p).parent / "pg_ctl").exists()]
    if not found:
        return None

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in path.parent.name.split(".") if part.isdigit())

    return max(found, key=version)


def _wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 (not up yet)
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not come up within {timeout} s")
        time.sleep(0.05)


class RedisServer:
    """A ``redis-server`` child process: in memory only (``--save "" --appendonly no``)."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary, self.workdir = binary, workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = workdir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (again) on the same port, with empty memory."""
        assert self.proc is None, "already running"
        self.proc = subprocess.Popen(  # noqa: S603
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
             "--daemonize", "no", "--logfile", str(self.log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        probe = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5)

        def up() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log.read_text()[-2000:]}")
            return bool(probe.ping())

        try:
            _wait_for(up, 10, "redis-server")
        finally:
            probe.close()

    def kill(self) -> None:
        """Stop it as a crash would: SIGKILL, nothing saved (there is nothing to save)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True,
                           socket_timeout=2.0)


class PostgresCluster:
    """A throw-away PostgreSQL cluster run as the ``postgres`` OS user (we may be root).

    Trust authentication, listening on 127.0.0.1 and a spare port only, its unix
    socket in its own directory.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # Not under pytest's tmp dir: that is private to root and postgres must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="hc-faults-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "postgres.log"
        self.port = free_port()
        self.started = False
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in args]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        env = {**os.environ, "PGCONNECT_TIMEOUT": "5", "LC_ALL": "C"}
        done = subprocess.run(cmd, cwd=self.root, env=env, capture_output=True, text=True,  # noqa: S603
                              timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n"
                               f"{done.stdout}\n{done.stderr}\n{self._log_tail()}")
        return done

    def _log_tail(self) -> str:
        try:
            return self.logfile.read_text()[-3000:]
        except OSError:
            return ""

    def init(self) -> None:
        self._run(self.bindir / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "max_connections": "40",
            "shared_buffers": "16MB",
            # A test cluster: durability against power loss is not what is tested here.
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "off",
        }
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n# hc fault tests\n")
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())

    def start(self) -> None:
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-l", self.logfile, "-w",
                  "-t", "30", "start")
        self.started = True

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every session is terminated, then it comes back."""
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-l", self.logfile, "-w",
                  "-t", "30", "-m", "fast", "restart")
        self.started = True

    def stop(self) -> None:
        if not self.started:
            return
        try:
            self._run(self.bindir / "pg_ctl", "-D", self.data, "-w", "-t", "20",
                      "-m", "immediate", "stop", timeout=30)
        except Exception:  # noqa: BLE001 (fall back to the postmaster's own pid)
            pid_file = self.data / "postmaster.pid"
            if pid_file.exists():
                pid = int(pid_file.read_text().split()[0])
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGQUIT)
        self.started = False

    def createdb(self, name: str) -> None:
        self._run(self.bindir / "createdb", "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "postgres", name)

    def sqlalchemy_url(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def conninfo(self, dbname: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname} connect_timeout=5"

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
