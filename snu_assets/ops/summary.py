"""The summary `make demo` prints: what MongoDB holds for the window against what landed in
PostgreSQL, events per name, and the national weekly funnel."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pandas as pd

from snu_assets.defs.resources import PostgresResource, build_resources
from snu_assets.io import mongo
from snu_assets.io.postgres import scalar
from snu_assets.settings import timezone


def _window(start: date, end: date) -> tuple[datetime, datetime]:
    tz = timezone()
    return (
        datetime.combine(start, time(), tz),
        datetime.combine(end + timedelta(days=1), time(), tz),
    )


def national_funnel(postgres: PostgresResource) -> pd.DataFrame:
    query = (
        "select week, cohort, sum(created) created, sum(completed) completed, "
        "sum(processed) processed, sum(validated) validated, sum(refused) refused, "
        "sum(validated_cumulated) validated_cumulated, max(objective) objective, "
        "sum(projection) projection "
        f'from "{postgres.schema}".weekly_funnel_national group by week, cohort order by week, cohort'
    )
    return pd.read_sql(query, postgres.engine())


def print_summary(start: date, end: date, timings: dict, total_seconds: float) -> None:
    resources = build_resources()
    source, postgres = resources["mongo"], resources["postgres"]
    lo, hi = _window(start, end)
    in_mongo: int = sum(
        mongo.count_window_patches(source.db(), m, lo, hi) for m in ("young", "application")
    )
    schema = postgres.schema
    with postgres.connect() as conn:
        raw = scalar(
            conn,
            f'select count(*) from "{schema}".raw_patches where partition_date between %s and %s',
            (start, end),
        )
        rejected = scalar(
            conn,
            f'select count(*) from "{schema}".rejected_patches where '
            "partition_date between %s and %s",
            (start, end),
        )
    events = pd.read_sql(
        f'select event_name, count(*) as events from "{schema}".reconstructed_events '
        "group by event_name order by events desc",
        postgres.engine(),
    )
    print()
    print(f"== snu-assets demo: {start} .. {end} ({timezone().key} days) ==")
    print(f"patches in MongoDB for the window : {in_mongo}")
    print(f"rows in raw_patches               : {raw}")
    print(f"rows in rejected_patches          : {rejected}")
    print(f"raw + rejected == MongoDB         : {raw + rejected == in_mongo}")
    print()
    print("events per name:")
    print(events.to_string(index=False))
    print()
    print("national weekly funnel:")
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(national_funnel(postgres).to_string(index=False))
    print()
    for step, seconds in timings.items():
        print(f"{step:<60} {seconds:7.1f}s")
    rate = (raw + rejected) / max(timings.get("daily layers", 0), 1e-9)
    print(f"{'daily layers: patches per second':<60} {rate:7.0f}")
    print(f"{'demo total':<60} {total_seconds:7.1f}s")
    with postgres.connect() as conn:
        published = conn.execute(
            f'select count(*), sum(values_total), sum(values_shown) from "{schema}".weekly_funnel_log'
        ).fetchone()
    weeks, values, shown = published or (0, 0, 0)
    if values:
        print()
        print(
            f"published: {weeks} weeks in weekly_funnel, {shown} of {values} values shown "
            f"({shown / values:.1%}; the others hidden by the disclosure control)"
        )
    from snu_assets.defs.report.render import reports_dir

    folder = reports_dir()
    print(f"weekly reports (HTML, PDF with chromium): {folder}")
    latest = sorted(folder.glob("rapport_hebdomadaire_*.html"))[-2:]
    for path in latest:  # the last week's two editions
        print(f"  {path.name}")
    if latest:
        print("  (edition_publique: may be distributed; diffusion_restreinte: ministry only)")
    print("next: `make dev` (Dagster UI and daemon on these servers, http://127.0.0.1:3000)")
