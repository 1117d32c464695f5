"""What each edition of the weekly report reads, through the queries of ``sql/public/`` (only
the tables the role ``snu_public`` reads) and ``sql/restricted/`` (the exact tables)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from snu_assets.defs.report.editions import Edition, WeekFigures
from snu_assets.defs.resources import PostgresResource

SQL = Path(__file__).parent / "sql"


def query(postgres: PostgresResource, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of ``sql/<name>`` as dicts."""
    with postgres.connect() as conn:
        cursor = conn.execute(postgres.sql(SQL / name), params)
        columns = [c.name for c in cursor.description or ()]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]


def week_figures(postgres: PostgresResource, week: date, edition: Edition) -> WeekFigures:
    """Everything ``edition`` prints for ``week`` (its Monday), but the chart."""
    params = {"week": week, "week_end": week + timedelta(days=7)}
    folder = edition.name
    return WeekFigures(
        week=week,
        edition=edition,
        national=query(postgres, f"{folder}/national.sql", params),
        regional=query(postgres, f"{folder}/regional.sql", params),
        daily=query(postgres, "restricted/daily.sql", params) if edition.restricted else (),
    )


def history(postgres: PostgresResource, week: date, edition: Edition) -> list[dict[str, Any]]:
    """The chart's rows up to ``week``: week, cohort, validated_cumulated, objective,
    projection (the edition's: published or exact)."""
    return query(postgres, f"{edition.name}/history.sql", {"week": week})


def published_totals(postgres: PostgresResource, week: date) -> dict[tuple[str, str], dict]:
    """The week's published national and region totals, ``(cohort, region or 'all')`` -> row
    (NULL: hidden): what the public edition may print."""
    rows = query(postgres, "public/totals.sql", {"week": week})
    return {(r["cohort"], r["region"]): r for r in rows}
