"""Scale-out through Dagster's Celery integration (``dagster-celery``), opt-in.

``SNU_EXECUTOR=celery`` makes every job of the code location, including the implicit asset
job that runs backfills, execute its steps as Celery tasks on a broker instead of
subprocesses of the run. Unset (the default), nothing changes: the multiprocess executor.

| variable | meaning | unset |
| --- | --- | --- |
| ``SNU_EXECUTOR`` | ``celery``: steps run on Celery workers | the default executor |
| ``SNU_CELERY_BROKER_URL`` | broker (RabbitMQ ``pyamqp://user:pw@host:5672/vhost``, or ``redis://``) | ``pyamqp://guest@localhost//`` |
| ``SNU_CELERY_BACKEND`` | result backend | ``rpc://`` (through the broker) |

Workers are started with Dagster's own command (``dagster-celery worker start``) on the
YAML that :func:`worker_config` writes (``python -m snu_assets.defs.automation.distributed worker-config``);
they need the same ``SNU_*`` environment as the code location (they import
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

import sys

from snu_assets.settings import current

DEFAULT_BROKER = "pyamqp://guest@localhost//"
DEFAULT_QUEUE = "dagster"

#: Celery settings shared by the executor (the sending side) and the workers
CELERY_SETTINGS = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    # the broker forgets a worker that stops answering within a minute
    "broker_heartbeat": 30,
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


def executor_from_env():
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


def worker_command(
    name: str | None = None, concurrency: int = 1, config_path: str = "celery-worker.yaml"
) -> list[str]:
    """Dagster's command that starts a worker on this host."""
    command = [
        "dagster-celery",
        "worker",
        "start",
        "-A",
        "dagster_celery.app",
        "-y",
        config_path,
        "-q",
        DEFAULT_QUEUE,
    ]
    if name:
        command += ["-n", name]
    return command + ["--", f"--concurrency={concurrency}"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["worker-config"]:
        sys.stdout.write(worker_config())
        return 0
    if args[:1] == ["worker-command"]:
        print(" ".join(worker_command(args[1] if len(args) > 1 else None)))
        return 0
    print(
        "usage: python -m snu_assets.defs.automation.distributed worker-config | worker-command [NAME]",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
