"""The snu_assets code location with ``run_partition.py``'s hold hooks, for the termination
tests that drive real runs through Dagster (code server, run worker, step processes).

Every process that imports this file (the code server, the run worker, each step process)
installs the hooks; only the step that loads ``SNU_TEST_HOLD_TABLE`` meets them: it writes
``SNU_TEST_HOLD_MARKER`` (``{pid, phase, backends}``) and sleeps until it is stopped.

    SNU_TEST_HOLD_TABLE=reconstructed_events SNU_TEST_HOLD_PHASE=copy
    SNU_TEST_HOLD_AFTER=20 SNU_TEST_HOLD_MARKER=/tmp/.../marker.json
"""

import argparse
import os

from snu_assets_tests.reliability.run_partition import install_hooks

install_hooks(
    argparse.Namespace(
        hold_table=os.environ.get("SNU_TEST_HOLD_TABLE"),
        hold_phase=os.environ.get("SNU_TEST_HOLD_PHASE", "copy"),
        hold_after=int(os.environ.get("SNU_TEST_HOLD_AFTER", "20")),
        marker=os.environ.get("SNU_TEST_HOLD_MARKER"),
        barrier_dir=None,
        schema=os.environ.get("SNU_POSTGRES_SCHEMA", "snu"),
    ),
    {},
)

from snu_assets.definitions import defs  # noqa: E402

__all__ = ["defs"]
