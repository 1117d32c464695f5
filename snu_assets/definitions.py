"""The code location: one ``Definitions`` object assembling assets, checks and resources."""

from __future__ import annotations

from dagster import Definitions

from snu_assets.assets.raw_patches import raw_patches
from snu_assets.assets.reconstructed_events import reconstructed_events
from snu_assets.resources import build_resources

defs = Definitions(
    assets=[raw_patches, reconstructed_events],
    resources=build_resources(),
)
