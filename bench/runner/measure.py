"""The servers, and a step measured in a fresh subprocess: wall time, peak RSS, CPU of
the process and of the embedded servers, on a machine as quiet as can be."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
from pathlib import Path

from runner.common import LOG_DIR, PROJECT_ROOT, mib

# ============================================================================ servers


class Servers:
    """Where everything runs: SNU_MONGO_URI / SNU_POSTGRES_URL, else the embedded servers."""

    def __init__(self):
        from snu_assets.io import embedded

        self.mongo_embedded = not os.environ.get("SNU_MONGO_URI")
        self.pg_embedded = not os.environ.get("SNU_POSTGRES_URL")
        if self.mongo_embedded:
            running = embedded.ensure_mongo()
            self.mongo_uri, self.mongo_pid = running.uri, running.pid
        else:
            self.mongo_uri, self.mongo_pid = os.environ["SNU_MONGO_URI"], None
        if self.pg_embedded:
            self.pg_url = embedded.postgres_uri()
            self.pg_pid = embedded._postmaster_pid()
        else:
            import re

            self.pg_url = re.sub(
                r"^postgres(ql)?(\+\w+)?://", "postgresql://", os.environ["SNU_POSTGRES_URL"]
            )
            self.pg_pid = None

    def mongo(self):
        import pymongo

        return pymongo.MongoClient(self.mongo_uri, tz_aware=True, serverSelectionTimeoutMS=10_000)

    def pg(self):
        import psycopg

        return psycopg.connect(self.pg_url, autocommit=True)

    def describe(self) -> dict:
        info = {
            "mongo": "embedded SecantusDB" if self.mongo_embedded else "SNU_MONGO_URI",
            "postgres": "embedded PostgreSQL" if self.pg_embedded else "SNU_POSTGRES_URL",
        }
        with contextlib.suppress(Exception), self.mongo() as client:
            build = client.admin.command("buildInfo")
            info["mongo_version"] = build.get("version")
        with contextlib.suppress(Exception), self.pg() as conn:
            info["postgres_version"] = conn.execute("show server_version").fetchone()[0]
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            info["secantusdb_package"] = version("SecantusDB")
        return info

    def drop_pg_schemas(self, *names: str) -> None:
        with self.pg() as conn:
            for name in names:
                assert name.startswith("bench_"), name
                conn.execute(f'drop schema if exists "{name}" cascade')


class ServerMeter:
    """CPU seconds of the embedded servers during a step (MongoDB: the SecantusDB process;
    PostgreSQL: the postmaster's whole tree, exited backends included) and the MongoDB
    server's peak RSS (sampled every 0.25 s). Nothing when the servers are remote."""

    def __init__(self, servers: Servers):
        self.mongo_pid, self.pg_pid = servers.mongo_pid, servers.pg_pid
        self._stop = threading.Event()
        self._thread = None
        self.mongo_rss_peak = 0
        self.child_pid = None
        self.child_rss_peak = 0

    @staticmethod
    def _proc(pid):
        try:
            import psutil

            return psutil.Process(pid) if pid else None
        except Exception:
            return None

    def _mongo_cpu(self):
        proc = self._proc(self.mongo_pid)
        if proc is None:
            return None
        with contextlib.suppress(Exception):
            t = proc.cpu_times()
            return t.user + t.system
        return None

    def _pg_cpu(self):
        proc = self._proc(self.pg_pid)
        if proc is None:
            return None
        with contextlib.suppress(Exception):
            t = proc.cpu_times()
            total = t.user + t.system + t.children_user + t.children_system
            for child in proc.children(recursive=True):
                with contextlib.suppress(Exception):
                    c = child.cpu_times()
                    total += c.user + c.system
            return total
        return None

    def _sample(self):
        mongo = self._proc(self.mongo_pid)
        child = None
        while not self._stop.wait(0.2):
            if mongo is not None:
                with contextlib.suppress(Exception):
                    self.mongo_rss_peak = max(self.mongo_rss_peak, mongo.memory_info().rss)
            if child is None and self.child_pid:
                child = self._proc(self.child_pid)
            if child is not None:
                with contextlib.suppress(Exception):
                    tree = [child, *child.children(recursive=True)]
                    rss = sum(p.memory_info().rss for p in tree)
                    self.child_rss_peak = max(self.child_rss_peak, rss)

    def __enter__(self):
        self.before = (self._mongo_cpu(), self._pg_cpu())
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        after = (self._mongo_cpu(), self._pg_cpu())
        self.mongo_cpu = None if None in (self.before[0], after[0]) else after[0] - self.before[0]
        self.pg_cpu = None if None in (self.before[1], after[1]) else after[1] - self.before[1]


def machine_busy_cpu() -> float | None:
    """Busy CPU seconds of the whole machine so far (``/proc/stat``, all cores)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    return None


#: wait before each measured step until the 1-minute load average is under this (the servers
#: are shared: other sessions' test suites skew timings); 0 disables; see --quiet-load
QUIET = {"load": 1.5, "max_wait_s": 120.0}


def wait_for_quiet() -> float:
    """Sleep until the 1-minute load average drops under ``QUIET['load']`` (at most
    ``QUIET['max_wait_s']``); returns the seconds waited."""
    if not QUIET["load"]:
        return 0.0
    began = time.monotonic()
    while os.getloadavg()[0] > QUIET["load"] and time.monotonic() - began < QUIET["max_wait_s"]:
        time.sleep(5)
    return round(time.monotonic() - began, 1)


def run_measured(name: str, argv: list[str], servers: Servers, env: dict | None = None) -> dict:
    """Run ``argv`` as a fresh subprocess; its JSON result (written to a file whose path is the
    last argument) plus wall time, peak RSS and CPU of that process (``wait4``), and the
    servers' CPU during the step."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    out = LOG_DIR / f"{name}.json"
    out.unlink(missing_ok=True)
    log = LOG_DIR / f"{name}.log"
    waited = wait_for_quiet()
    print(
        f"  · {name} ..."
        + (f" (waited {waited:.0f}s for a quieter machine)" if waited > 1 else ""),
        end="",
        flush=True,
    )
    load_before = os.getloadavg()
    busy_before = machine_busy_cpu()
    began = time.perf_counter()
    with open(log, "wb") as handle, ServerMeter(servers) as meter:
        proc = subprocess.Popen(
            [*argv, str(out)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=PROJECT_ROOT,
            env={**os.environ, **(env or {})},
        )
        meter.child_pid = proc.pid
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - began
    busy_after = machine_busy_cpu()
    # ru_maxrss of a child started by fork/vfork + exec counts the PARENT's RSS at exec time
    # (Linux keeps the old mm's high-water mark): kept for the record, but the peak reported
    # is the worker's own VmHWM (read in the worker at its end), else the polled tree RSS
    result = {
        "name": name,
        "exit_code": proc.returncode,
        "process_wall_s": round(wall, 3),
        "peak_rss_mib": None,
        "rusage_maxrss_mib": mib(usage.ru_maxrss),
        "polled_rss_peak_mib": round(meter.child_rss_peak / 2**20, 1) or None,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "mongo_server_cpu_s": None if meter.mongo_cpu is None else round(meter.mongo_cpu, 2),
        "pg_server_cpu_s": None if meter.pg_cpu is None else round(meter.pg_cpu, 2),
        "mongo_server_rss_peak_mib": round(meter.mongo_rss_peak / 2**20, 1) or None,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "waited_for_quiet_s": waited,
        "log": str(log),
    }
    if busy_before is not None and busy_after is not None:
        # CPU the machine spent on anything else during the step (other sessions, tests...)
        ours = (
            result["cpu_s"] + (result["mongo_server_cpu_s"] or 0) + (result["pg_server_cpu_s"] or 0)
        )
        result["other_cpu_s"] = round(max(0.0, busy_after - busy_before - ours), 1)
    if proc.returncode == 0 and out.exists():
        result.update(json.loads(out.read_text()))
    result["peak_rss_mib"] = (
        mib(result.get("vmhwm_kib")) or result["polled_rss_peak_mib"] or result["rusage_maxrss_mib"]
    )
    if proc.returncode == 0 and out.exists():
        print(f" {result.get('seconds', wall):.1f}s, peak RSS {result['peak_rss_mib']} MiB")
    else:
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        result["error"] = "\n".join(tail)
        print(f" FAILED (exit {proc.returncode}), see {log}")
    return result
