"""The weekly progress chart's data and image, shared by the report's editions and the weekly
views' materialisation metadata: validated applications cumulated per week and cohort, with
their objectives and projections (``sql/<edition>/history.sql``: published or exact).

pandas and matplotlib are imported when a chart is drawn, not when the definitions load:
every run's process (a daily partition included) would otherwise pay ~0.8 s of imports."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from dagster import MetadataValue

from snu_assets import settings
from snu_assets.defs.report.data import history
from snu_assets.defs.report.editions import RESTRICTED, Edition
from snu_assets.defs.report.i18n import Formatter
from snu_assets.defs.resources import PostgresResource

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ["week", "cohort", "validated_cumulated", "objective", "projection"]


def history_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Validated cumulated (NaN where hidden), objective and projection per week x cohort."""
    import pandas as pd

    frame = pd.DataFrame([[r[c] for c in COLUMNS] for r in rows], columns=COLUMNS)
    for column in ("validated_cumulated", "objective", "projection"):
        frame[column] = pd.to_numeric(frame[column].map(as_float), errors="coerce")
    return frame


def progress_chart(
    postgres: PostgresResource,
    week: date,
    language: str | None = None,
    edition: Edition = RESTRICTED,
) -> bytes:
    """The chart up to ``week`` from ``edition``'s figures, its words and numbers in
    ``language`` (``fr`` / ``en``; default ``SNU_REPORT_LANGUAGE``)."""
    from snu_assets.defs.report.charts import cumulated_validated_chart

    words = Formatter(language or settings.current().report_language)
    return cumulated_validated_chart(
        history_frame(history(postgres, week, edition)),
        labels=words.chart_labels(week),
        number=words.integer,
        week_label=words.week_tick,
    )


def chart_markdown(png: bytes) -> MetadataValue:
    """The chart as a markdown image: the Dagster UI shows it (metadata entry, *[Show
    Markdown]*), the data: URI being allowed by its markdown sanitiser."""
    return MetadataValue.md(f"![chart](data:image/png;base64,{base64.b64encode(png).decode()})")


def progress_chart_metadata(postgres: PostgresResource, week: date) -> dict[str, MetadataValue]:
    """``{"progress_chart": <markdown image>}`` for a materialisation's metadata (the exact
    chart of validated cumulated per cohort against objectives and projections, up to
    ``week``: ministry's UI)."""
    return {"progress_chart": chart_markdown(progress_chart(postgres, week))}


def as_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
