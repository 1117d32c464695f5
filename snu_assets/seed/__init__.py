"""Synthetic SNU data shaped exactly as production writes it (see ``generator``), and its
writer into MongoDB (``writer``)."""

from snu_assets.seed.generator import (
    Batch,
    PatchTruth,
    SeedData,
    SeedStats,
    SeedTruth,
    generate,
    generate_all,
)
try:
    from snu_assets.seed.writer import seed_mongo
except ImportError:
    pass

__all__ = [
    "Batch",
    "PatchTruth",
    "SeedData",
    "SeedStats",
    "SeedTruth",
    "generate",
    "generate_all",
    "seed_mongo",
]
