"""snu-assets: the SNU MongoDB patch log turned into anonymised event tables in PostgreSQL."""

import warnings

from dagster import BetaWarning, PreviewWarning

# backfill policies and partitioned checks are marked beta/preview in dagster 1.13
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)
