"""Project-wide settings read from the environment (the names of ``shared/design.md``).

Everything the pipeline needs to know about *where* it runs comes from here, so that the
same code runs on the embedded demo servers and on production servers.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from zoneinfo import ZoneInfo

#: Folder holding the embedded servers' data, the demo pseudonym key and the Dagster home.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    """Local, git-ignored folder of the embedded servers (``SNU_STATE_DIR`` or ``./.snu``)."""
    path = Path(os.environ.get("SNU_STATE_DIR") or PROJECT_ROOT / ".snu")
    path.mkdir(parents=True, exist_ok=True)
    return path


def timezone_name() -> str:
    return os.environ.get("SNU_TIMEZONE") or "Europe/Paris"


def timezone() -> ZoneInfo:
    return _zone(timezone_name())


@functools.lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def schema() -> str:
    name = os.environ.get("SNU_POSTGRES_SCHEMA") or "snu"
    if not name.replace("_", "").isalnum() or not name[0].isalpha():
        raise ValueError(f"SNU_POSTGRES_SCHEMA={name!r} is not a plain SQL identifier")
    return name.lower()


def mongo_db_name() -> str:
    return os.environ.get("SNU_MONGO_DB") or "snu"


#: First day of the daily partitions (override with SNU_START_DATE, YYYY-MM-DD).
def start_date() -> str:
    return os.environ.get("SNU_START_DATE") or "2024-01-01"


#: Collection names as production names them; each one a setting.
COLLECTIONS = {
    "youngs": os.environ.get("SNU_COLLECTION_YOUNGS", "youngs"),
    "young_patches": os.environ.get("SNU_COLLECTION_YOUNG_PATCHES", "young_patches"),
    "applications": os.environ.get("SNU_COLLECTION_APPLICATIONS", "applications"),
    "application_patches": os.environ.get(
        "SNU_COLLECTION_APPLICATION_PATCHES", "application_patches"
    ),
    "inscriptiongoals": os.environ.get("SNU_COLLECTION_INSCRIPTIONGOALS", "inscriptiongoals"),
    "cohorts": os.environ.get("SNU_COLLECTION_COHORTS", "cohorts"),
}

#: model name -> (document collection, patch collection)
MODELS = {
    "young": (COLLECTIONS["youngs"], COLLECTIONS["young_patches"]),
    "application": (COLLECTIONS["applications"], COLLECTIONS["application_patches"]),
}
