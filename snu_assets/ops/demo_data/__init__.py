"""Synthetic SNU data shaped exactly as production writes it (:mod:`.generator`, pure
generation) and its writer into MongoDB (:mod:`.writer`)."""

from snu_assets.ops.demo_data.generator import (
    Batch,
    PatchTruth,
    SeedData,
    SeedStats,
    SeedTruth,
    generate,
    generate_all,
)
from snu_assets.ops.demo_data.writer import seed_mongo

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
