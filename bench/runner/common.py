"""What every part of the benchmark shares: where things are, the names of its databases
and schemas, time windows and number formats."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

BENCH_DIR = Path(__file__).resolve().parents[1]
PROJECT_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
LOG_DIR = RESULTS_DIR / "logs"
DLT_VENV = BENCH_DIR / ".venv-dlt"
DLT_REQUIREMENTS = BENCH_DIR / "requirements-dlt.txt"
#: the script the measured workers run in (``--worker STEP JSON OUT``)
RUN_SCRIPT = BENCH_DIR / "run.py"

MAIN_DB = "bench_main"
PROJECT_SCHEMA = "bench_snu"
FLOOR_SCHEMA = "bench_floor"
DLT_DATASET = "bench_dlt"
PSEUDONYM_KEY = "bench-key-0123456789abcdef"
#: what snu-assets reads of a patch (core/privacy/scrub.py: _id, ref, date, modelName, ops, user)
FLOOR_PROJECTION = {"_id": 1, "ref": 1, "date": 1, "modelName": 1, "ops": 1, "user.role": 1}
FLOOR_BATCH = 20_000
PEAK_GAP_DAYS = 7
SAMPLE_YOUNGS = 2_000

if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))


# ============================================================================ helpers


def tz() -> ZoneInfo:
    from snu_assets.settings import timezone

    return timezone()


def day_window(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """``[first 00:00, last+1 00:00)`` in SNU_TIMEZONE, as aware UTC datetimes."""
    zone = tz()
    start = dt.datetime(first.year, first.month, first.day, tzinfo=zone)
    end_day = last + dt.timedelta(days=1)
    end = dt.datetime(end_day.year, end_day.month, end_day.day, tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def patch_collections() -> dict[str, str]:
    from snu_assets.settings import MODELS

    return {model: names[1] for model, names in MODELS.items()}


def mib(kib: float | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


def fmt(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def worker_argv(step: str, **kwargs) -> list[str]:
    return [
        sys.executable,
        str(RUN_SCRIPT),
        "--worker",
        step,
        json.dumps(kwargs, default=str),
    ]
