"""How steps behave: who owns them, which pool they queue in, and retries — retry what an
outage explains, fail fast on everything else.

Dagster's RetryPolicy retries any exception; a bug or a bad configuration would then take a
minute of back-off before it is reported. Asset functions wrapped with
:func:`retry_transient_only` re-raise connection-level errors (retried by the policy) and
turn any other error into a ``Failure`` that is not retried.

An interruption (the run terminated from the UI or by run monitoring's maximum runtime, a
SIGTERM/SIGINT to the step process: Dagster raises ``DagsterExecutionInterruptedError`` at the
next bytecode) is not retried either: Dagster would turn it into a retry of the whole step
when the op has a retry policy, so that a step process told to stop started over 5 s later.
It becomes a ``Failure`` that is not retried; a run terminated from the UI still ends
CANCELED (its executor was interrupted too).
"""

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import sqlalchemy as sa
from dagster import Backoff, DagsterExecutionInterruptedError, Failure, RetryPolicy
from pymongo.errors import AutoReconnect, ConnectionFailure, ExecutionTimeout, NetworkTimeout

from snu_assets.io.postgres import ServerUnavailable

#: Concurrency pool of the steps that read MongoDB: `dagster instance concurrency set mongodb N`
#: (dagster.yaml's default pool limit applies until then) caps how many hit MongoDB at once.
MONGO_POOL = "mongodb"
#: Steps that read MongoDB retry transient outages with exponential backoff.
MONGO_RETRY = RetryPolicy(max_retries=3, delay=5, backoff=Backoff.EXPONENTIAL)

#: who answers for the assets (shown in the UI)
OWNERS = ["team:snu-data"]

TRANSIENT = (
    ServerUnavailable,
    AutoReconnect,
    ConnectionFailure,
    NetworkTimeout,
    ExecutionTimeout,
    psycopg.OperationalError,
    sa.exc.OperationalError,
    sa.exc.DisconnectionError,
)

#: how Dagster stops a step (termination, run timeout, SIGTERM/SIGINT of the step process)
INTERRUPTS = (DagsterExecutionInterruptedError, KeyboardInterrupt)


def retry_transient_only(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an asset function (a plain function or a generator of results)."""

    def failure(exc: Exception) -> Failure:
        return Failure(
            description=f"{fn.__name__} failed with {type(exc).__name__} (not retried: not "
            "a connection problem). See the stack trace of this step.",
            allow_retries=False,
        )

    def stopped(exc: BaseException) -> Failure:
        return Failure(
            description=f"{fn.__name__} was interrupted ({type(exc).__name__}: the run was "
            "terminated, exceeded its maximum runtime, or the step process received "
            "SIGTERM/SIGINT); a load it was in was rolled back. Not retried.",
            allow_retries=False,
        )

    @contextlib.contextmanager
    def only_transient_errors_retried() -> Iterator[None]:
        try:
            yield
        except (*TRANSIENT, Failure):
            raise
        except Exception as exc:
            raise failure(exc) from exc
        except INTERRUPTS as exc:
            raise stopped(exc) from exc

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with only_transient_errors_retried():
                yield from fn(*args, **kwargs)

        return generator

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with only_transient_errors_retried():
            return fn(*args, **kwargs)

    return wrapper
