"""Only connection-level errors are retried by the assets' retry policy."""

import psycopg
import pytest
from dagster import DagsterExecutionInterruptedError, Failure
from pymongo.errors import AutoReconnect

from snu_assets.defs.policies import retry_transient_only
from snu_assets.io.postgres import ServerUnavailable


@pytest.mark.parametrize(
    "error", [ServerUnavailable("x"), AutoReconnect("x"), psycopg.OperationalError("x")]
)
def test_outages_are_reraised_for_the_retry_policy(error):
    @retry_transient_only
    def step():
        raise error

    with pytest.raises(type(error)):
        step()


def test_other_errors_fail_fast_without_retry():
    @retry_transient_only
    def step():
        raise KeyError("status")

    with pytest.raises(Failure) as caught:
        step()
    assert caught.value.allow_retries is False
    assert "KeyError" in caught.value.description


@pytest.mark.parametrize("interrupt", [DagsterExecutionInterruptedError, KeyboardInterrupt])
def test_an_interrupted_step_is_not_retried(interrupt):
    # Dagster turns an interrupt into a retry when the op has a retry policy: a step told to
    # stop (run terminated or timed out, SIGTERM) would start over
    @retry_transient_only
    def step():
        yield 1
        raise interrupt()

    with pytest.raises(Failure) as caught:
        list(step())
    assert caught.value.allow_retries is False
    assert "interrupted" in caught.value.description
    assert isinstance(caught.value.__cause__, interrupt)
