"""Charts of the weekly views, as PNG bytes (matplotlib's Agg renderer, no display needed).

Pure functions: a DataFrame in, PNG bytes out. They never touch ``matplotlib.pyplot`` (no
global figure state, safe in concurrent runs) and write no timestamp into the PNG, so the
same data gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from datetime import date

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

#: colour-blind-safe palette (Okabe-Ito), one colour per cohort, in cohort order
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000")

CHART_COLUMNS = ("week", "cohort", "validated_cumulated", "objective", "projection")

#: the chart's words (English); the report passes its language's (``report/i18n.py``)
LABELS = {
    "title": "Validated applications, cumulated per week",
    "ylabel": "validated youngs (cumulated)",
    "xlabel": "week (Monday)",
    "empty": "no validated application yet",
    "cohort": "cohort",
    "validated": "validated, cumulated",
    "objective": "annual objective",
    "projection": "projection at close",
    "objective_label": "objective {cohort}: {value}",
}


def cumulated_validated_chart(
    frame: pd.DataFrame,
    *,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
    number: Callable[[float], str] | None = None,
    week_label: Callable[[date], str] | None = None,
    width_in: float = 10.0,
    height_in: float = 5.0,
    dpi: int = 100,
) -> bytes:
    """PNG of the validated applications cumulated per week against the annual objective
    and the projection, one colour per cohort.

    ``frame`` holds one row per week x cohort with the columns ``week`` (the Monday, a date
    or ISO string), ``cohort``, ``validated_cumulated``, ``objective`` (the cohort's annual
    objective; may be missing) and ``projection`` (validated expected at the cohort's
    close at the current pace; may be missing). Per cohort: a solid line with dots for the
    cumulated validated, a dashed horizontal line at the objective, a dotted line for the
    projection. Returns the PNG bytes.

    ``labels`` overrides the words of :data:`LABELS` (the report's language), ``number``
    formats the axis' counts (default ``1,234``) and ``week_label`` a Monday on the axis
    (default ``06 Jan``).
    """
    words = {**LABELS, **(labels or {})}
    if title is not None:
        words["title"] = title
    missing = set(CHART_COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"chart data lacks the column(s) {sorted(missing)}")
    data = frame.loc[:, list(CHART_COLUMNS)].copy()
    data["week"] = pd.to_datetime(data["week"])
    for column in ("validated_cumulated", "objective", "projection"):
        data[column] = pd.to_numeric(data[column], errors="coerce")
    data = data.sort_values(["cohort", "week"])

    figure = Figure(figsize=(width_in, height_in), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(words["title"], loc="left", fontsize=12)
    axes.set_ylabel(words["ylabel"])
    axes.grid(axis="y", color="#dddddd", linewidth=0.8)
    axes.spines[["top", "right"]].set_visible(False)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda x, _: number(x) if number else f"{x:,.0f}"))

    if data.empty:
        axes.text(
            0.5,
            0.5,
            words["empty"],
            ha="center",
            va="center",
            transform=axes.transAxes,
            color="#666666",
        )
        axes.set_xticks([])
    else:
        weeks = sorted(data["week"].unique())
        cohort_handles: list[Line2D] = []
        objectives: dict[float, list[tuple[str, str]]] = {}
        for index, (cohort, rows) in enumerate(data.groupby("cohort", sort=True)):
            colour = PALETTE[index % len(PALETTE)]
            axes.plot(
                rows["week"],
                rows["validated_cumulated"],
                color=colour,
                marker="o",
                markersize=4,
                linewidth=2,
            )
            cohort_handles.append(Line2D([], [], color=colour, linewidth=6, label=str(cohort)))
            objective = rows["objective"].dropna()
            if not objective.empty:
                objectives.setdefault(float(objective.iloc[-1]), []).append((str(cohort), colour))
            projection = rows.dropna(subset=["projection"])
            if not projection.empty:
                axes.plot(
                    projection["week"],
                    projection["projection"],
                    color=colour,
                    linestyle=":",
                    linewidth=1.6,
                    marker="^",
                    markersize=3,
                )
        _objective_lines(axes, objectives, words, number)
        axes.set_xticks(weeks)
        axes.set_xticklabels(
            [
                week_label(pd.Timestamp(w).date())
                if week_label
                else pd.Timestamp(w).strftime("%d %b")
                for w in weeks
            ],
            rotation=0 if len(weeks) <= 12 else 45,
            fontsize=9,
        )
        axes.set_xlabel(words["xlabel"])
        axes.set_ylim(bottom=0)
        # one colour per cohort, one line style per series
        cohorts_legend = axes.legend(
            handles=cohort_handles,
            title=words["cohort"],
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=8,
            title_fontsize=8,
            frameon=False,
            alignment="left",
        )
        axes.add_artist(cohorts_legend)
        styles = [
            Line2D(
                [],
                [],
                color="#444444",
                linewidth=2,
                marker="o",
                markersize=4,
                label=words["validated"],
            ),
            Line2D(
                [],
                [],
                color="#444444",
                linestyle="--",
                linewidth=1.2,
                label=words["objective"],
            ),
            Line2D(
                [],
                [],
                color="#444444",
                linestyle=":",
                linewidth=1.6,
                marker="^",
                markersize=3,
                label=words["projection"],
            ),
        ]
        axes.legend(
            handles=styles, loc="lower left", bbox_to_anchor=(1.01, 0.0), fontsize=8, frameon=False
        )

    buffer = io.BytesIO()
    # no "Software"/date chunk: identical data gives identical bytes
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _objective_lines(
    axes: Axes,
    objectives: Mapping[float, list[tuple[str, str]]],
    words: Mapping[str, str],
    number: Callable[[float], str] | None,
) -> None:
    """One dashed line per cohort's objective, named at its right end. Cohorts sharing a
    value share the line: their dashes alternate (each colour shows) and the label names
    them all."""
    dash = 6.0
    for value, cohorts in objectives.items():
        n = len(cohorts)
        for i, (_, colour) in enumerate(cohorts):
            pattern = (dash, dash * (n - 1)) if n > 1 else (dash, dash * 0.6)
            axes.axhline(
                value, color=colour, linewidth=1.4, alpha=0.9, linestyle=(i * dash, pattern)
            )
        shown = number(value) if number else f"{value:,.0f}"
        names = ", ".join(name for name, _ in cohorts)
        axes.annotate(
            words["objective_label"].format(cohort=names, value=shown),
            xy=(1.0, value),
            xycoords=("axes fraction", "data"),
            xytext=(-4, 3),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=7.5,
            color=cohorts[0][1] if n == 1 else "#333333",
        )
