"""A small cluster on one machine: Celery workers as separate hosts.

Layout (``10.231.N.0/24``, ``N`` picked free at start, names carry a random tag):

    host ── bridge snub<tag> 10.231.N.1 ──┬── veth ── netns snu<tag>w1: eth0 10.231.N.11
                                           └── veth ── netns snu<tag>w2: eth0 10.231.N.12 ...

On the bridge address, and nowhere else, listen:
- a dedicated SecantusDB server (MongoDB wire protocol), started here, data in a temp folder;
- a TCP relay (``relay.py``) to the machine's PostgreSQL (127.0.0.1:5432: analytics tables
  and a fresh database for Dagster's instance) and RabbitMQ (127.0.0.1:5672).

Each worker is the project's worker command (``python -m snu_assets.defs.automation.distributed
worker``, which exec's Celery) run by ``ip netns exec`` in its namespace: its loopback holds
nothing, so every byte it exchanges with MongoDB, PostgreSQL and the broker crosses the veth
pair. It also runs in a mount namespace where the code location's ``DAGSTER_HOME`` is an
empty tmpfs (its disk is not the code location's) with a ``DAGSTER_HOME`` of its own; the
instance's compute logs go to a folder of the lab that every "host" sees (the shared volume
of a deployment). ``dagster dev`` (webserver, daemon, code server, run
orchestrators) runs on the host side and reaches the same servers by the same addresses.

Everything started is stopped by :meth:`Lab.close` (workers: their process groups and any
pid left in their namespace; namespaces, veths and the bridge deleted; the Dagster database
and the broker virtual host deleted), also after a failure half-way through :meth:`Lab.start`.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from snu_assets.defs.automation import distributed

PROJECT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SYSTEM_PG = ("127.0.0.1", 5432)
RABBITMQ = ("127.0.0.1", 5672)
PG_ADMIN = os.environ.get(
    "SNU_TEST_SYSTEM_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

INSTANCE_YAML = """\
storage:
  custom:
    module: snu_assets.ops.instance_storage
    class: SnuPostgresStorage
    config: {{}}
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
concurrency:
  runs:
    max_concurrent_runs: {max_runs}
    tag_concurrency_limits:
      - key: dagster/backfill
        limit: {backfill_runs}
  pools:
    default_limit: {mongodb_pool}
compute_logs:
  module: dagster._core.storage.local_compute_log_manager
  class: LocalComputeLogManager
  config:
    base_dir: {compute_logs}
telemetry:
  enabled: false
"""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _rabbitmqctl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["rabbitmqctl", "-q", *args], check=check, capture_output=True, text=True, timeout=120
    )


def prerequisites() -> str | None:
    """Why the lab cannot run here, or None."""
    import shutil
    import socket

    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip"):
        return "iproute2 (`ip`) is not installed"
    if not shutil.which("rabbitmqctl"):
        return "rabbitmqctl is not installed (the lab gives its broker a virtual host)"
    for name, (host, port) in (("PostgreSQL", SYSTEM_PG), ("RabbitMQ", RABBITMQ)):
        with socket.socket() as sock:
            sock.settimeout(2)
            if sock.connect_ex((host, port)) != 0:
                return f"{name} does not answer on {host}:{port}"
    probe = f"snuprobe{uuid.uuid4().hex[:4]}"
    if _ip("netns", "add", probe, check=False).returncode != 0:
        return "cannot create a network namespace (no CAP_NET_ADMIN?)"
    _ip("netns", "del", probe, check=False)
    try:
        import dagster_celery  # noqa: F401
    except ImportError:
        return "dagster-celery is not installed (pip install -e '.[distributed]')"
    return None


def _free_subnet() -> int:
    used = set(re.findall(r"inet 10\.231\.(\d+)\.", _ip("-4", "addr").stdout))
    choices = [n for n in range(16, 250) if str(n) not in used]
    return random.choice(choices)


def _group_kill(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 15) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # children left behind by the leader
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


@dataclass
class Worker:
    index: int
    netns: str
    address: str
    name: str
    log: Path
    proc: subprocess.Popen | None = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Lab:
    root: Path
    workers_count: int = 2
    mongodb_pool: int = 2
    max_runs: int = 4
    backfill_runs: int = 2
    days_per_run: int = 2
    start_date: str = "2025-03-03"
    concurrency: int = 1  # Celery processes per worker "host"
    mongo_dir: Path | None = None  # SecantusDB data to reuse (default: a fresh one)
    mongo_database: str | None = None  # its database (default: a fresh name)
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:4])
    workers: list[Worker] = field(default_factory=list)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    subnet: int = 0
    created: list[tuple[str, ...]] = field(default_factory=list)
    dev: object = None
    timings: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ names
    @property
    def host_ip(self) -> str:
        return f"10.231.{self.subnet}.1"

    @property
    def bridge(self) -> str:
        return f"snub{self.tag}"

    @property
    def vhost(self) -> str:
        return f"snu-{self.tag}"

    @property
    def mongo_db(self) -> str:
        return self.mongo_database or f"snu_dist_{self.tag}"

    @property
    def schema(self) -> str:
        return f"snu_dist_{self.tag}"

    @property
    def dagster_db(self) -> str:
        return f"dagster_dist_{self.tag}"

    @property
    def mongo_uri(self) -> str:
        return f"mongodb://{self.host_ip}:{self.mongo_port}/?directConnection=true"

    @property
    def postgres_url(self) -> str:
        return f"postgresql://postgres@{self.host_ip}:5432/test"

    @property
    def dagster_url(self) -> str:
        return f"postgresql+psycopg2://postgres@{self.host_ip}:5432/{self.dagster_db}"

    @property
    def broker_url(self) -> str:
        return f"pyamqp://guest:guest@{self.host_ip}:5672/{self.vhost}"

    # ------------------------------------------------------------- lifecycle
    def start(self, key: str) -> Lab:
        began = time.monotonic()
        self.key = key
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._network()
            self._servers()
            self._instance()
            for worker in self.workers:
                self.start_worker(worker)
            for worker in self.workers:
                self.wait_worker_ready(worker)
        except BaseException:
            self.close()
            raise
        self.timings["lab_start_s"] = round(time.monotonic() - began, 1)
        return self

    def _network(self) -> None:
        self.subnet = _free_subnet()
        _ip("link", "add", self.bridge, "type", "bridge")
        self.created.append(("link", self.bridge))
        _ip("addr", "add", f"{self.host_ip}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i in range(1, self.workers_count + 1):
            netns, host_end, ns_end = f"snu{self.tag}w{i}", f"snv{self.tag}{i}", f"snp{self.tag}{i}"
            address = f"10.231.{self.subnet}.{10 + i}"
            _ip("netns", "add", netns)
            self.created.append(("netns", netns))
            _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
            self.created.append(("link", host_end))
            _ip("link", "set", ns_end, "netns", netns)
            _ip("link", "set", host_end, "master", self.bridge, "up")
            _ip("-n", netns, "link", "set", ns_end, "name", "eth0")
            _ip("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", netns, "link", "set", "eth0", "up")
            _ip("-n", netns, "link", "set", "lo", "up")
            _ip("-n", netns, "route", "add", "default", "via", self.host_ip)
            self.workers.append(
                Worker(i, netns, address, f"snu{self.tag}w{i}", self.root / f"worker{i}.log")
            )

    def _spawn(
        self, name: str, cmd: list[str], env=None, log: Path | None = None
    ) -> subprocess.Popen:
        out = open(log or self.root / f"{name}.log", "ab")
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.root,
        )
        out.close()
        self.procs[name] = proc
        return proc

    def _wait_port(
        self, host: str, port: int, proc: subprocess.Popen, what: str, timeout: float = 60
    ) -> None:
        import socket

        deadline = time.monotonic() + timeout
        while True:
            with socket.socket() as sock:
                sock.settimeout(0.5)
                if sock.connect_ex((host, port)) == 0:
                    return
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on {host}:{port}; see {self.root}")
            time.sleep(0.2)

    def _servers(self) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind((self.host_ip, 0))
            self.mongo_port = sock.getsockname()[1]
        data = self.mongo_dir or self.root / "mongo"
        data.mkdir(parents=True, exist_ok=True)
        mongo = self._spawn(
            "secantus",
            [
                sys.executable,
                "-m",
                "secantus",
                "--host",
                self.host_ip,
                "--port",
                str(self.mongo_port),
                "--storage-path",
                str(data),
                "--log-level",
                "WARNING",
            ],
        )
        relay = self._spawn(
            "relay",
            [
                sys.executable,
                "-m",
                "snu_assets_tests.distributed.relay",
                f"{self.host_ip}:5432={SYSTEM_PG[0]}:{SYSTEM_PG[1]}",
                f"{self.host_ip}:5672={RABBITMQ[0]}:{RABBITMQ[1]}",
            ],
            env={**os.environ, "PYTHONPATH": str(PROJECT)},
        )
        self._wait_port(self.host_ip, self.mongo_port, mongo, "SecantusDB")
        self._wait_port(self.host_ip, 5432, relay, "the relay")
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'create database "{self.dagster_db}"')
        self.created.append(("database", self.dagster_db))
        # a RabbitMQ virtual host of its own: no message of another session's workers
        _rabbitmqctl("add_vhost", self.vhost)
        self.created.append(("vhost", self.vhost))
        _rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")

    def _instance(self) -> None:
        self.home = self.root / "dagster_home"
        self.home.mkdir(exist_ok=True)
        (self.home / "dagster.yaml").write_text(
            INSTANCE_YAML.format(
                max_runs=self.max_runs,
                backfill_runs=self.backfill_runs,
                mongodb_pool=self.mongodb_pool,
                compute_logs=self.compute_logs,
            )
        )

    @property
    def compute_logs(self) -> Path:
        """The compute logs' shared volume: outside every DAGSTER_HOME, seen by all hosts."""
        return self.root / "shared-compute-logs"

    def worker_home(self, worker: Worker) -> Path:
        """A worker host's own DAGSTER_HOME: the same instance storage, another disk."""
        home = self.root / f"worker{worker.index}_home"
        home.mkdir(exist_ok=True)
        (home / "dagster.yaml").write_text((self.home / "dagster.yaml").read_text())
        return home

    def env(self) -> dict[str, str]:
        """The environment of the code location, its run orchestrators and the workers."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SNU_", "DAGSTER_", "PYTEST_"))
            or k in ("SNU_STATE_DIR", "SNU_REPORTS_DIR")
        }
        env.update(
            {
                "PATH": f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}",
                "PYTHONPATH": str(PROJECT),
                "DAGSTER_HOME": str(self.home),
                "SNU_DAGSTER_POSTGRES_URL": self.dagster_url,
                "SNU_MONGO_URI": self.mongo_uri,
                "SNU_MONGO_DB": self.mongo_db,
                "SNU_POSTGRES_URL": self.postgres_url,
                "SNU_POSTGRES_SCHEMA": self.schema,
                "SNU_PSEUDONYM_KEY": self.key,
                "SNU_START_DATE": self.start_date,
                "SNU_BACKFILL_DAYS_PER_RUN": str(self.days_per_run),
                "SNU_EXECUTOR": "celery",
                "SNU_CELERY_BROKER_URL": self.broker_url,
                # no automation besides the backfill under test
                "SNU_NIGHTLY_CRON": "0 0 1 1 *",
                "SNU_LATE_DATA_INTERVAL_S": "86400",
                "SNU_WEEKLY_SENSOR_INTERVAL_S": "86400",
            }
        )
        return env

    # ----------------------------------------------------------------- workers
    def worker_argv(self, worker: Worker, pid_namespace: bool = False) -> list[str]:
        """The worker's command on its "host": its network namespace, a mount namespace in
        which the code location's DAGSTER_HOME is an empty tmpfs (the worker's disk is not the
        code location's: what a step writes under that path is lost, as on another machine),
        its own DAGSTER_HOME, and optionally a PID namespace whose PID 1 is the worker command
        itself (as in a container without an init)."""
        command = [
            str(BIN / c) if i == 0 else c
            for i, c in enumerate(distributed.worker_command(worker.name, self.concurrency))
        ]
        pid = ["--pid", "--fork", "--mount-proc"] if pid_namespace else []
        hide = f'mount -t tmpfs -o size=64m snu-other-disk "{self.home}" && exec "$@"'
        return [
            "ip", "netns", "exec", worker.netns,
            "unshare", "--mount", "--propagation", "private", *pid,
            "sh", "-c", hide, "worker", *command,
        ]  # fmt: skip

    def worker_env(self, worker: Worker) -> dict[str, str]:
        return {**self.env(), "DAGSTER_HOME": str(self.worker_home(worker))}

    def start_worker(self, worker: Worker) -> None:
        worker.proc = self._spawn(
            f"worker{worker.index}",
            self.worker_argv(worker),
            env=self.worker_env(worker),
            log=worker.log,
        )
        worker.started_at = worker.log.stat().st_size

    def wait_worker_ready(self, worker: Worker, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            text = worker.log.read_bytes()[getattr(worker, "started_at", 0) :].decode(
                errors="replace"
            )
            if re.search(rf"{worker.name}@\S+ ready", text):
                return
            if not worker.alive or time.monotonic() > deadline:
                raise RuntimeError(f"worker {worker.name} did not become ready:\n{text[-3000:]}")
            time.sleep(0.5)

    def kill_worker(self, worker: Worker) -> None:
        """The host dies: SIGKILL to every process of the worker, no goodbye to the broker."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.proc.pid, signal.SIGKILL)
        for pid in _ip("netns", "pids", worker.netns, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        worker.proc.wait(timeout=10)

    # ------------------------------------------------------------- dagster dev
    def start_dev(self, timeout: float = 180) -> None:
        from snu_assets_tests.e2e.dagster_dev import DagsterDev

        workspace = self.root / "workspace.yaml"
        workspace.write_text(
            "load_from:\n  - python_module:\n      module_name: "
            "snu_assets.definitions\n      location_name: snu_assets\n"
        )
        began = time.monotonic()
        self.dev = DagsterDev(workspace, self.env(), self.root / "dagster-dev.log")
        self.dev.start()
        self.repository = self.dev.wait_for(
            "the snu_assets code location", lambda: _loaded_repository(self.dev), timeout
        )
        self.timings["dagster_dev_start_s"] = round(time.monotonic() - began, 1)

    # ------------------------------------------------------------------ close
    def close(self) -> None:
        if self.dev is not None:
            with contextlib.suppress(Exception):
                self.dev.stop()
        for worker in self.workers:
            if worker.proc is not None:
                _group_kill(worker.proc)
        for name in [n for n in self.procs if not n.startswith("worker")]:
            _group_kill(self.procs[name])
        for kind, name in reversed(self.created):
            if kind == "netns":
                for pid in _ip("netns", "pids", name, check=False).stdout.split():
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(pid), signal.SIGKILL)
                _ip("netns", "del", name, check=False)
            elif kind == "link":
                _ip("link", "del", name, check=False)
            elif kind == "database":
                with (
                    contextlib.suppress(psycopg.Error),
                    psycopg.connect(PG_ADMIN, autocommit=True) as conn,
                ):
                    conn.execute(f'drop database if exists "{name}" with (force)')
            elif kind == "vhost":
                _rabbitmqctl("delete_vhost", name, check=False)
        self.created.clear()

    # ------------------------------------------------------------ event log
    def events(self, sql: str, params=()) -> list[tuple]:
        url = self.dagster_url.replace("postgresql+psycopg2://", "postgresql://", 1)
        with psycopg.connect(url) as conn:
            return conn.execute(sql, params).fetchall()

    def step_executions(self) -> list[tuple[str, str, str]]:
        """(run id, step key, worker name) of every step a worker took."""
        rows = self.events(
            "select run_id, step_key, event from event_logs "
            "where dagster_event_type = 'ENGINE_EVENT' "
            "and event like '%%in celery worker%%' order by id"
        )
        found = []
        for run_id, step_key, event in rows:
            match = re.search(rf"(snu{self.tag}w\d+)@", event)
            found.append((run_id, step_key, match.group(1) if match else "?"))
        return found

    def step_intervals(self, step_key: str) -> list[tuple[str, float, float | None]]:
        """(run id, start, end) of each execution of ``step_key`` from the event log."""
        rows = self.events(
            "select run_id, dagster_event_type, extract(epoch from timestamp) from event_logs "
            "where step_key = %s and dagster_event_type in "
            "('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE', 'STEP_UP_FOR_RETRY') order by id",
            (step_key,),
        )
        open_, spans = {}, []
        for run_id, kind, moment in rows:
            if kind == "STEP_START":
                open_[run_id] = float(moment)
            elif run_id in open_:
                spans.append((run_id, open_.pop(run_id), float(moment)))
        spans += [(run_id, began, None) for run_id, began in open_.items()]
        return spans


def max_overlap(spans: list[tuple[str, float, float | None]]) -> int:
    points = []
    for _, began, ended in spans:
        points += [(began, 1), (ended if ended is not None else float("inf"), -1)]
    level = best = 0
    for _, delta in sorted(points, key=lambda p: (p[0], p[1])):
        level += delta
        best = max(best, level)
    return best


def _loaded_repository(dev) -> str | None:
    from snu_assets_tests.e2e.test_dagster_dev import _loaded_repository as loaded

    return loaded(dev)
