"""The weekly progress chart's data and image, shared by the report and the weekly views'
materialisation metadata: validated applications cumulated per week and cohort, with their
objectives and projections (``sql/report_history.sql``).

pandas and matplotlib are imported when a chart is drawn, not when the definitions load:
every run's process (a daily partition included) would otherwise pay ~0.8 s of imports."""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from dagster import MetadataValue

from snu_assets import settings
from snu_assets.defs.report.i18n import Formatter
from snu_assets.defs.resources import PostgresResource

if TYPE_CHECKING:
    import pandas as pd

SQL = Path(__file__).parent / "sql"


def query(postgres: PostgresResource, name: str, params: dict) -> list[dict]:
    with postgres.connect() as conn:
        cursor = conn.execute(postgres.sql(SQL / name), params)
        columns = [c.name for c in cursor.description or ()]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]


def history_frame(postgres: PostgresResource, week: date) -> pd.DataFrame:
    """Validated cumulated, objective and projection per week x cohort up to ``week``."""
    import pandas as pd

    rows = query(postgres, "report_history.sql", {"week": week})
    frame = pd.DataFrame(
        rows, columns=["week", "cohort", "validated_cumulated", "objective", "projection"]
    )
    for column in ("validated_cumulated", "objective", "projection"):
        frame[column] = pd.to_numeric(frame[column].map(as_float), errors="coerce")
    return frame


def progress_chart(postgres: PostgresResource, week: date, language: str | None = None) -> bytes:
    """The chart up to ``week``, its words and numbers in ``language`` (``fr`` / ``en``;
    default ``SNU_REPORT_LANGUAGE``)."""
    from snu_assets.defs.report.charts import cumulated_validated_chart

    words = Formatter(language or settings.current().report_language)
    return cumulated_validated_chart(
        history_frame(postgres, week),
        labels=words.chart_labels(week),
        number=words.integer,
        week_label=words.week_tick,
    )


def chart_markdown(png: bytes) -> MetadataValue:
    """The chart as a markdown image: the Dagster UI shows it (metadata entry, *[Show
    Markdown]*), the data: URI being allowed by its markdown sanitiser."""
    return MetadataValue.md(f"![chart](data:image/png;base64,{base64.b64encode(png).decode()})")


def progress_chart_metadata(postgres: PostgresResource, week: date) -> dict:
    """``{"progress_chart": <markdown image>}`` for a materialisation's metadata (the chart of
    validated cumulated per cohort against objectives and projections, up to ``week``)."""
    return {"progress_chart": chart_markdown(progress_chart(postgres, week))}


def as_float(value) -> float | None:
    return None if value is None else float(value)
