"""Scale-out through Dagster's Celery integration (``dagster-celery``), opt-in.

``SNU_EXECUTOR=celery`` makes every job of the code location, including the implicit asset
job that runs backfills, execute its steps as Celery tasks on a broker instead of
subprocesses of the run. Unset (the default), nothing changes: the multiprocess executor.

| variable | meaning | unset |
| --- | --- | --- |
| ``SNU_EXECUTOR`` | ``celery``: steps run on Celery workers | the default executor |
| ``SNU_CELERY_BROKER_URL`` | broker (RabbitMQ ``pyamqp://user:pw@host:5672/vhost``, or ``redis://``) | ``pyamqp://guest@localhost//`` |
| ``SNU_CELERY_BACKEND`` | result backend | ``rpc://`` (through the broker) |

Workers are started with ``python -m snu_assets.defs.automation.distributed worker`` (it
``exec``s Celery's worker on ``dagster_celery.app`` with the settings below, see
:func:`celery_argv`; ``worker-config`` still prints the YAML for ``dagster-celery worker start
-y``, which stops badly: see :func:`celery_argv`); they need the same ``SNU_*`` environment as the code location (they import
``snu_assets.definitions`` and open their own MongoDB and PostgreSQL connections) and a
``DAGSTER_HOME`` whose ``dagster.yaml`` reaches the same instance storage. Steps go to
Dagster's ``dagster`` queue; separate environments (staging, production) sharing one
RabbitMQ use separate virtual hosts in the broker URL. See ``docs/scale-out.md``.

Why these Celery settings: a step's message is acknowledged only once the step is done
(``task_acks_late``) and is given back to the broker if the worker process dies
(``task_reject_on_worker_lost``), so a host lost mid-step has its step re-delivered to
another worker; every write replaces its partition window in one transaction, so the
re-run ends identical. A worker takes one message at a time (prefetch 1): a long step does
not hold a queue of others hostage.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from snu_assets.settings import current

if TYPE_CHECKING:  # Dagster is imported when an executor is built, not with this module
    from dagster import ExecutorDefinition

DEFAULT_BROKER = "pyamqp://guest@localhost//"
DEFAULT_QUEUE = "dagster"
#: the longest a step can run on a worker: RabbitMQ's ``consumer_timeout`` (30 min by default),
#: past which the broker takes an unacknowledged message back from the worker anyway
LONGEST_STEP_S = 1800
#: Kubernetes' terminationGracePeriodSeconds of a worker: its running step, then a minute to
#: acknowledge it and stop (deploy/k8s/celery-worker.yaml)
GRACE_PERIOD_S = LONGEST_STEP_S + 60

#: Celery settings shared by the executor (the sending side) and the workers
CELERY_SETTINGS = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    # the broker forgets a worker that stops answering within a minute
    "broker_heartbeat": 30,
    # leave the worker's stdout/stderr as the process's file descriptors: Celery would replace
    # them with a logging proxy that has no file descriptor, and Dagster's compute log capture
    # (which redirects descriptors 1 and 2 into the step's log files) would capture nothing
    "worker_redirect_stdouts": False,
}


def enabled() -> bool:
    return current().executor == "celery"


def executor_config() -> dict:
    """The ``celery_executor`` config of the code location (the same block as the workers')."""
    return {
        "broker": current().celery_broker_url or DEFAULT_BROKER,
        "backend": current().celery_backend or "rpc://",
        "config_source": dict(CELERY_SETTINGS),
    }


def executor_from_env() -> ExecutorDefinition | None:
    """The executor of the code location: ``None`` (Dagster's default: a process per step),
    Dagster's in-process executor with ``SNU_EXECUTOR=in_process`` (a run's steps in its
    own process: small machines, the tests' backfills), Celery with ``SNU_EXECUTOR=celery``."""
    if current().executor == "in_process":
        from dagster import in_process_executor

        return in_process_executor
    if not enabled():  # SNU_EXECUTOR is validated by the Settings object
        return None
    from dagster_celery import celery_executor

    return celery_executor.configured(executor_config(), name="snu_celery")


def worker_config() -> str:
    """The YAML for ``dagster-celery worker start -y``: the executor's block."""
    import yaml

    return yaml.safe_dump({"execution": {"config": executor_config()}}, sort_keys=False)


#: Celery's pool: one thread per ``--concurrency`` in the worker's single process (see
#: :func:`celery_argv`)
WORKER_POOL = "threads"
#: the folder holding the ``dagster_celery_config`` module that ``dagster_celery.app`` reads
CONFIG_DIR = Path(__file__).resolve().parent / "celery_config"


def worker_command(name: str | None = None, concurrency: int = 1) -> list[str]:
    """The command that starts a worker on this host (``python -m ... worker``)."""
    command = ["python", "-m", "snu_assets.defs.automation.distributed", "worker"]
    if name:
        command += ["--name", name]
    return command + [f"--concurrency={concurrency}"]


def celery_argv(name: str | None = None, concurrency: int = 1) -> list[str]:
    """The Celery worker the ``worker`` command becomes (``exec``, same pid).

    Why not ``dagster-celery worker start``: that command runs ``celery`` as a child and waits
    for it, so a SIGTERM to it alone orphans the ``celery`` process, and as PID 1 of a
    container (no default signal action for PID 1) it ignores SIGTERM altogether. Exec'ed,
    Celery's own handler receives the signal: SIGTERM starts a warm shutdown (no new
    message, the running step finishes, its message is acknowledged, the process exits).

    Why the ``threads`` pool: with Celery's default ``prefork`` pool the step runs in a child
    process, which a SIGTERM to the worker's process group (systemd's default, ``kill --
    -pgid``, an init forwarding to the group) also reaches; Dagster turns it into an
    interrupt of the step, which fails, and the run with it. In the ``threads`` pool the step
    runs in a thread of the one worker process, so every SIGTERM reaches only Celery's
    handler and means "finish the step, then stop". A worker process runs one step at a time
    per ``--concurrency`` (one core each: run one worker process per core). Celery ignores
    further SIGTERMs during a warm shutdown; SIGKILL (the end of Kubernetes' grace period)
    drops the broker connection, so RabbitMQ re-delivers the unacknowledged step
    (``task_acks_late``) to another worker, and the step's writes, one transaction per
    partition window, were never committed.
    """
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "dagster_celery.app",
        "worker",
        f"--pool={WORKER_POOL}",
        f"--concurrency={concurrency}",
        "--prefetch-multiplier=1",
        "--loglevel=INFO",
        "-Q",
        DEFAULT_QUEUE,
    ]
    if name:
        argv += ["-n", f"{name}@%h"]
    return argv


def initialise_instance() -> None:
    """Build the worker's Dagster instance once before Celery starts: on a new instance
    database this creates Dagster's tables (under the storage's creation lock, so that
    workers, the daemon and the webserver may start together), and a wrong storage URL stops
    the worker at once instead of at its first step. Skipped without ``DAGSTER_HOME``: steps
    use the instance of the run that sends them."""
    if not os.environ.get("DAGSTER_HOME"):
        return
    from dagster import DagsterInstance

    with DagsterInstance.get():
        pass


def worker(name: str | None = None, concurrency: int = 1) -> NoReturn:
    """Start a Celery worker for the code location's steps: replaces this process."""
    current()  # the settings are valid (broker, instance URL ...) before anything starts
    initialise_instance()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(CONFIG_DIR), env.get("PYTHONPATH")) if p)
    # stdout/stderr are the process's own (worker_redirect_stdouts off): unbuffered, so that
    # the journal or the container log gets every line, the shutdown's last ones included
    env["PYTHONUNBUFFERED"] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, celery_argv(name, concurrency), env)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["worker-config"]:
        sys.stdout.write(worker_config())
        return 0
    if args[:1] == ["worker-command"]:
        print(" ".join(worker_command(args[1] if len(args) > 1 else None)))
        return 0
    if args[:1] == ["worker"]:
        parser = argparse.ArgumentParser(
            prog="python -m snu_assets.defs.automation.distributed worker"
        )
        parser.add_argument("--name", "-n", default=None, help="worker name (NAME@hostname)")
        parser.add_argument("--concurrency", "-c", type=int, default=1, help="steps at once")
        options = parser.parse_args(args[1:])
        worker(options.name, options.concurrency)
    print(
        "usage: python -m snu_assets.defs.automation.distributed "
        "worker [--name NAME] [--concurrency N] | worker-config | worker-command [NAME]",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
