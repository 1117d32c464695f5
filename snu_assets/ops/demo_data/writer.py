"""Write the synthetic data (:mod:`snu_assets.ops.demo_data.generator`) into MongoDB.

Streams: one young's whole life is generated at a time, its documents are appended to
per-collection buffers and every buffer is flushed with ``insert_many(ordered=False)``
once it holds ``batch_size`` documents, so memory stays bounded (100,000 youngs and
more) when ``collect_truth=False``.

Indexes are those of production: ``ref`` on the patch collections (``_id`` everywhere),
nothing on ``date``. Documents are inserted young by young, so a collection's natural
order is not date order (as in production, nothing guarantees it).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping

from pymongo.database import Database
from tqdm import tqdm

from snu_assets.ops.demo_data.contract import DEFAULT_START
from snu_assets.ops.demo_data.generator import generate
from snu_assets.ops.demo_data.records import SeedStats, SeedTruth

__all__ = ["LOGICAL_COLLECTIONS", "seed_mongo"]

#: Logical names (keys of ``collections``) in write order.
LOGICAL_COLLECTIONS = (
    "cohorts",
    "inscriptiongoals",
    "youngs",
    "young_patches",
    "applications",
    "application_patches",
)
_PATCH_COLLECTIONS = ("young_patches", "application_patches")


def _collection_names(overrides: Mapping[str, str] | None) -> dict[str, str]:
    """Production's names (``snu_assets.settings.COLLECTIONS``, env-overridable), then
    ``overrides``."""
    from snu_assets.settings import COLLECTIONS

    names = {key: COLLECTIONS.get(key, key) for key in LOGICAL_COLLECTIONS}
    unknown = set(overrides or {}) - set(LOGICAL_COLLECTIONS)
    if unknown:
        raise ValueError(f"unknown collections {sorted(unknown)}; known: {LOGICAL_COLLECTIONS}")
    names.update(overrides or {})
    return names


def seed_mongo(
    db: Database,
    *,
    seed: int = 42,
    youngs: int = 1000,
    days: int = 90,
    start: dt.date = DEFAULT_START,
    applications: bool = True,
    drop: bool = True,
    progress: bool = True,
    collect_truth: bool = True,
    batch_size: int = 5000,
    collections: Mapping[str, str] | None = None,
) -> SeedTruth | SeedStats:
    """Generate and write everything; returns the :class:`SeedTruth` (``collect_truth``)
    or only the :class:`SeedStats` counts.

    ``drop`` drops the six collections first; ``collections`` maps logical names
    (:data:`LOGICAL_COLLECTIONS`) to collection names, defaulting to the settings' ones.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    names = _collection_names(collections)
    if drop:
        for name in names.values():
            db.drop_collection(name)
    stats: SeedStats = SeedTruth() if collect_truth else SeedStats()
    buffers: dict[str, list[dict]] = {key: [] for key in LOGICAL_COLLECTIONS}
    began = time.perf_counter()

    def flush(key: str) -> None:
        if buffers[key]:
            db[names[key]].insert_many(buffers[key], ordered=False)
            buffers[key] = []

    batches = generate(seed, youngs, days, start, applications, collect_truth)
    with tqdm(total=youngs, disable=not progress, unit="young", desc="seeding MongoDB") as bar:
        for batch in batches:
            stats.absorb(batch)
            for key in LOGICAL_COLLECTIONS:
                docs = getattr(batch, key)
                if docs:
                    buffers[key].extend(docs)
                    if len(buffers[key]) >= batch_size:
                        flush(key)
            if batch.young_id is not None:
                bar.update(1)
        for key in LOGICAL_COLLECTIONS:
            flush(key)
    for key in _PATCH_COLLECTIONS:
        db[names[key]].create_index("ref")
    stats.seconds = time.perf_counter() - began
    return stats
