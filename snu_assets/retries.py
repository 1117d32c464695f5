"""Retry what an outage explains, fail fast on everything else.

Dagster's RetryPolicy retries any exception; a bug or a bad configuration would then take a
minute of back-off before it is reported. Asset functions wrapped with
:func:`retry_transient_only` re-raise connection-level errors (retried by the policy) and
turn any other error into a ``Failure`` that is not retried.
"""

import functools
import inspect

import psycopg
import sqlalchemy as sa
from dagster import Failure
from pymongo.errors import AutoReconnect, ConnectionFailure, ExecutionTimeout, NetworkTimeout

from snu_assets.resources import ServerUnavailable

TRANSIENT = (
    ServerUnavailable,
    AutoReconnect, ConnectionFailure, NetworkTimeout, ExecutionTimeout,
    psycopg.OperationalError, sa.exc.OperationalError, sa.exc.DisconnectionError,
)


def retry_transient_only(fn):
    """Wrap an asset function (a plain function or a generator of results)."""

    def failure(exc: Exception) -> Failure:
        return Failure(
            description=f"{fn.__name__} failed with {type(exc).__name__} (not retried: not "
                        "a connection problem). See the stack trace of this step.",
            allow_retries=False,
        )

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def generator(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except (*TRANSIENT, Failure):
                raise
            except Exception as exc:
                raise failure(exc) from exc
        return generator

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (*TRANSIENT, Failure):
            raise
        except Exception as exc:
            raise failure(exc) from exc
    return wrapper
