"""Synthetic SNU data shaped exactly as production writes it (:mod:`.generator`, pure
generation: :mod:`.contract` the patch format, :mod:`.people` the world, :mod:`.lifecycle` the
machinery of a life and its parts in :mod:`.inscription`, :mod:`.stay`, :mod:`.missions`,
:mod:`.side_stories`, :mod:`.young`; :mod:`.records` what comes out) and its writer into
MongoDB (:mod:`.writer`).

Demo and test data only: it needs the ``demo`` extra (``pip install 'snu-assets[demo]'``,
Faker and tqdm) and nothing of the pipeline imports it."""

from snu_assets.ops.demo_data.generator import generate, generate_all
from snu_assets.ops.demo_data.records import Batch, PatchTruth, SeedData, SeedStats, SeedTruth
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
