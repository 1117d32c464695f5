"""The code location: one ``Definitions`` object assembling assets, checks and resources."""

from dagster import Definitions

from snu_assets.assets import ALL_ASSETS
from snu_assets.resources import build_resources

defs = Definitions(
    assets=ALL_ASSETS,
    resources=build_resources(),
)
