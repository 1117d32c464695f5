"""The weekly report (asset ``weekly_report``) on the seeded pipeline: one HTML page (and a PDF
when Chromium is installed) per complete week, whose figures are the tables' and the
generator truth's, self-contained, without any personal value."""

import base64
import importlib
import io
import re
from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pandas as pd
import pytest
from dagster import materialize
from dagster_shared.serdes import serialize_value

from snu_assets.defs.report.charts import cumulated_validated_chart
from snu_assets.defs.report.i18n import Formatter
from snu_assets.defs.report.progress import progress_chart_metadata
from snu_assets.defs.report.render import chromium_binary, render_with_chromium
from snu_assets.defs.report.weekly_report import count_cell, ratio_cell, weekly_report
from snu_assets_tests.integration.conftest import paris_day
from snu_assets_tests.integration.test_pipeline import rows
from snu_assets_tests.truth import expected_events

FUNNEL = ("created", "completed", "processed", "validated", "refused")
PNG = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------ helpers


def complete_weeks(window) -> list[date]:
    """Mondays whose seven days all lie in the seeded window."""
    first, last = window
    monday = first + timedelta(days=(7 - first.weekday()) % 7)
    weeks = []
    while monday + timedelta(days=6) <= last:
        weeks.append(monday)
        monday += timedelta(days=7)
    return weeks


def funnel_truth(truth):
    """(Paris day, funnel category, patch) of every young funnel event of the truth."""
    for patch in truth.patches:
        if patch.model != "young":
            continue
        day = paris_day(patch.date)
        for name in expected_events(patch):
            if name == "young.created":
                yield day, "created", patch
            elif name.startswith("young.status."):
                status = name.rsplit(".", 1)[1]
                if status == "WAITING_VALIDATION":
                    yield day, "completed", patch
                if status == "VALIDATED":
                    yield day, "validated", patch
                if status == "REFUSED":
                    yield day, "refused", patch
                if patch.before["status"] == "WAITING_VALIDATION":
                    yield day, "processed", patch


class Cells(HTMLParser):
    """Every ``<td data-table=...>`` of a report: {(table, key, col): (value, suppressed, text)}."""

    def __init__(self):
        super().__init__()
        self.cells, self.kpis, self._open, self._text = {}, set(), None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "td" and "data-table" in attrs:
            self._open, self._text = attrs, []
        if "data-kpi" in attrs:
            self.kpis.add(attrs["data-kpi"])

    def handle_data(self, data):
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._open is not None:
            a = self._open
            key = (a["data-table"], a["data-key"], a["data-col"])
            assert key not in self.cells, f"cell {key} twice"
            self.cells[key] = (a["data-value"], a.get("data-suppressed"), "".join(self._text))
            self._open = None

    def table(self, name) -> dict:
        """{key: {col: value}} of one table; values as ints, Decimals or None."""
        out = defaultdict(dict)
        for (table, key, col), (value, _, _) in self.cells.items():
            if table == name:
                out[key][col] = _number(value)
        return dict(out)


def _number(text: str):
    if text == "":
        return None
    return int(text) if re.fullmatch(r"-?\d+", text) else Decimal(text)


def parse(html: str) -> Cells:
    parser = Cells()
    parser.feed(html)
    return parser


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def reports(pipeline, window, instance, tmp_path_factory):
    """``weekly_report`` materialised for every complete seeded week, into a temporary
    reports dir (SNU_REPORTS_DIR, read at run time)."""
    folder = tmp_path_factory.mktemp("reports")
    weeks = complete_weeks(window)
    assert len(weeks) >= 5
    results = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SNU_REPORTS_DIR", str(folder))
        for week in weeks:
            result = materialize(
                [weekly_report],
                partition_key=week.isoformat(),
                resources={"postgres": pipeline},
                instance=instance,
            )
            assert result.success, week
            results[week] = result
    return folder, results


def _html(folder, week) -> str:
    return (folder / f"weekly_report_{week.isoformat()}.html").read_text(encoding="utf-8")


def _metadata(result) -> dict:
    [materialization] = result.asset_materializations_for_node("weekly_report")
    return materialization.metadata


# ------------------------------------------------------------------------------ chart


def test_chart_is_a_png_per_cohort_and_deterministic():
    weeks = [date(2025, 1, 6) + timedelta(days=7 * i) for i in range(5)]
    frame = pd.DataFrame(
        [
            (w, cohort, 10 * i * (j + 1), 100 + 50 * j, 30.0 * i * (j + 1) if i else None)
            for i, w in enumerate(weeks)
            for j, cohort in enumerate(("Mars 2025 - A", "Mai 2025"))
        ],
        columns=["week", "cohort", "validated_cumulated", "objective", "projection"],
    )
    png = cumulated_validated_chart(frame)
    assert png.startswith(PNG) and len(png) > 10_000
    assert png == cumulated_validated_chart(frame)  # no timestamp in the file
    assert png != cumulated_validated_chart(frame.iloc[:-2])  # the data shows
    empty = cumulated_validated_chart(frame.iloc[0:0])
    assert empty.startswith(PNG)
    with pytest.raises(ValueError, match="objective"):
        cumulated_validated_chart(frame.drop(columns=["objective"]))


def test_hidden_cells_read_as_lower_bounds():
    nnbsp = "\u202f"
    assert count_cell("created", 0, True).text == "s"  # nothing published
    bound = count_cell("created", 1234, True)  # published part only
    assert (bound.text, bound.raw, bound.hidden) == (f"≥{nnbsp}1{nnbsp}234", "1234", True)
    assert count_cell("created", 12, False).text == "12"
    assert count_cell("created", 12).hidden is None  # exact tables: no flag
    # French by default (SNU_REPORT_LANGUAGE): no-break space before the percent sign
    assert ratio_cell("progress", 0.1234).text == "12,3\u00a0%"
    assert ratio_cell("progress", 0.1234, True).text == f"≥{nnbsp}12,3\u00a0%"
    assert count_cell("objective", None).text == "–"
    html = render_html_cell(bound)
    assert 'data-suppressed="true"' in html and "<sup>s</sup>" in html
    assert "<sup>" not in render_html_cell(count_cell("created", 0, True))


def render_html_cell(cell) -> str:
    import jinja2

    from snu_assets.defs.report.weekly_report import TEMPLATE

    macros = TEMPLATE.read_text(encoding="utf-8").split("<html", 1)[0]
    template = jinja2.Environment(autoescape=True).from_string(
        macros + '{{ cell("regional", "k", c) }}'
    )
    return template.render(c=cell)


# ------------------------------------------------------------------------------ report


def test_a_report_for_every_complete_week(reports, pipeline, window):
    folder, results = reports
    weeks = complete_weeks(window)
    assert sorted(results) == weeks
    # the pipeline materialised exactly these weeks' national view
    assert [
        w
        for (w,) in rows(
            pipeline, "select distinct week from {s}.weekly_funnel_national order by 1"
        )
    ] == weeks
    for week in weeks:
        path = folder / f"weekly_report_{week.isoformat()}.html"
        assert path.exists() and path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
        metadata = _metadata(results[week])
        assert metadata["path"].value == str(path)
        assert metadata["week"].value == week.isoformat()
        pdf = path.with_suffix(".pdf")
        if chromium_binary():
            assert pdf.read_bytes().startswith(b"%PDF-") and pdf.stat().st_size > 10_000
            assert metadata["pdf"].value == str(pdf)
        else:
            assert not pdf.exists()
            assert metadata["pdf_status"].value.startswith("skipped")
    assert not list(folder.glob(".*.tmp")), "a temporary file was left behind"


def test_daily_figures_equal_the_events_and_the_truth(reports, pipeline, truth, window):
    folder, _ = reports
    expected = Counter((day, category) for day, category, _ in funnel_truth(truth))
    for week in complete_weeks(window):
        daily = parse(_html(folder, week)).table("daily")
        days = [week + timedelta(days=i) for i in range(7)]
        assert set(daily) == {d.isoformat() for d in days} | {"total"}
        for day in days:
            assert daily[day.isoformat()] == {c: expected[(day, c)] for c in FUNNEL}, day
        assert daily["total"] == {c: sum(expected[(d, c)] for d in days) for c in FUNNEL}
    assert sum(expected[(d, "validated")] for d, _ in expected) > 10


def test_national_figures_equal_weekly_funnel_national(reports, pipeline, window):
    folder, results = reports
    for week in complete_weeks(window):
        cells = parse(_html(folder, week))
        national = cells.table("national")
        found = rows(
            pipeline,
            "select cohort, sum(created), sum(completed), sum(processed), "
            "sum(validated), sum(refused), sum(validated_cumulated), "
            "max(objective), sum(projection) from {s}.weekly_funnel_national "
            "where week = %s group by cohort",
            (week,),
        )
        assert set(national) == {r[0] for r in found} | {"total"}
        goals = dict(
            rows(
                pipeline, "select cohort, sum(objective) from {s}.inscription_goals group by cohort"
            )
        )
        for cohort, *counts, validated_cum, objective, projection in found:
            row = national[cohort]
            assert [row[c] for c in FUNNEL] == counts, (week, cohort)
            assert row["validated_cumulated"] == validated_cum
            assert row["objective"] == objective == goals.get(cohort)
            assert row["projection"] == projection
            if objective:
                assert float(row["progress"]) == pytest.approx(validated_cum / objective, abs=1e-6)
        total = national["total"]
        assert [total[c] for c in FUNNEL] == [sum(r[1 + i] for r in found) for i in range(5)]
        assert total["validated_cumulated"] == sum(r[6] for r in found)
        # the daily table and the national one tell the same week
        assert [total[c] for c in FUNNEL] == [cells.table("daily")["total"][c] for c in FUNNEL]
        # so do the figures of the asset's metadata and its check
        metadata = _metadata(results[week])
        assert [metadata[c].value for c in FUNNEL] == [total[c] for c in FUNNEL]
        assert metadata["validated_cumulated"].value == total["validated_cumulated"]
        checks = results[week].get_asset_check_evaluations()
        assert [(c.check_name, c.passed) for c in checks] == [
            ("daily_sums_equal_national_view", True)
        ]
        assert cells.kpis >= set(FUNNEL) | {"progress"}


def test_regional_figures_are_the_published_ones(reports, pipeline, window):
    folder, _ = reports
    shown_hidden = 0
    for week in complete_weeks(window):
        cells = parse(_html(folder, week))
        regional = cells.table("regional")
        found = rows(
            pipeline,
            "select cohort, region, created, validated, validated_cumulated "
            "from {s}.weekly_funnel where week = %s and level = 'region' "
            "and gender = 'all' and age_band = 'all'",
            (week,),
        )
        assert found
        for cohort, region, created, validated, cum in found:
            key = f"{cohort}|{region}"
            row = regional[key]
            assert (row["created"], row["validated"], row["validated_cumulated"]) == (
                created,
                validated,
                cum,
            ), key
            for col, value in (
                ("created", created),
                ("validated", validated),
                ("validated_cumulated", cum),
            ):
                raw, suppressed, text = cells.cells[("regional", key, col)]
                hidden = value is None
                assert suppressed == ("true" if hidden else "false"), (key, col)
                if hidden:  # the region total is hidden: "s", no figure
                    assert text == "s" and raw == "", (key, col, text)
                    shown_hidden += 1
                else:
                    assert text.replace("\u202f", "") == str(int(value))
        # every region with an objective for a reported cohort is listed
        goals = rows(
            pipeline,
            "select cohort, region, sum(objective) from {s}.inscription_goals "
            "where cohort in (select cohort from {s}.weekly_funnel_national "
            "where week = %s) group by 1, 2",
            (week,),
        )
        for cohort, region, objective in goals:
            assert regional[f"{cohort}|{region}"]["objective"] == objective
    assert shown_hidden > 0, "the seed has small cells: some must show as hidden"


def test_reports_are_self_contained_and_carry_the_chart(reports, pipeline, window):
    folder, results = reports
    for week in complete_weeks(window):
        html = _html(folder, week)
        assert not re.search(r"<(script|link|iframe)\b", html, re.I)
        assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", html, re.I)
        assert "url(" not in html and "@import" not in html
        [chart] = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
        assert base64.b64decode(chart).startswith(PNG)
        metadata = _metadata(results[week])
        shown = re.fullmatch(
            r"!\[chart\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)",
            metadata["progress_chart"].value,
        )
        assert shown and base64.b64decode(shown.group(1)) == base64.b64decode(chart)
        # the helper weekly_funnel_national's metadata can use gives the same chart
        assert (
            progress_chart_metadata(pipeline, week)["progress_chart"].value
            == metadata["progress_chart"].value
        )
        assert metadata["national"].value.startswith("| cohort | created |")


def test_no_personal_value_in_reports_nor_their_runs(reports, truth, instance):
    folder, results = reports
    telling = {v for v in truth.personal_values if any(ch.isdigit() or ch == "@" for ch in v)}
    assert len(telling) > 100
    mongo_ids = {p.patch_id for p in truth.patches} | {p.ref for p in truth.patches}
    for path in folder.glob("weekly_report_*.html"):
        html = path.read_text(encoding="utf-8")
        assert not [v for v in telling if v in html], path.name
        assert not [i for i in mongo_ids if i in html], path.name
    for result in results.values():
        blob = "\n".join(serialize_value(e) for e in instance.all_logs(result.run_id))
        assert not [v for v in telling if v in blob]


def test_rerendering_a_week_gives_the_same_page(reports, pipeline, instance, monkeypatch):
    folder, results = reports
    week = min(results)
    before = _html(folder, week)
    monkeypatch.setenv("SNU_REPORTS_DIR", str(folder))
    assert materialize(
        [weekly_report],
        partition_key=week.isoformat(),
        resources={"postgres": pipeline},
        instance=instance,
    ).success
    assert _html(folder, week) == before


def test_without_chromium_the_pdf_is_skipped_and_said_so(
    pipeline, window, instance, monkeypatch, tmp_path
):
    # the module, not the asset of the same name that snu_assets.defs.assets exports
    module = importlib.import_module("snu_assets.defs.report.weekly_report")
    week = complete_weeks(window)[0]
    stale = tmp_path / f"weekly_report_{week.isoformat()}.pdf"
    stale.write_bytes(b"%PDF- of an older page")
    monkeypatch.setenv("SNU_REPORTS_DIR", str(tmp_path))
    monkeypatch.setattr(module, "chromium_binary", lambda: None)
    result = materialize(
        [weekly_report],
        partition_key=week.isoformat(),
        resources={"postgres": pipeline},
        instance=instance,
    )
    assert result.success
    metadata = _metadata(result)
    assert metadata["pdf_status"].value.startswith("skipped: no PDF renderer")
    assert "pdf" not in metadata and not stale.exists()
    assert (tmp_path / f"weekly_report_{week.isoformat()}.html").exists()


@pytest.mark.skipif(chromium_binary() is None, reason="chromium is not installed")
def test_screenshot_of_a_report_is_not_blank(reports, window, tmp_path):
    from PIL import Image, ImageStat

    folder, _ = reports
    week = complete_weeks(window)[-1]
    shot = render_with_chromium(
        folder / f"weekly_report_{week.isoformat()}.html",
        screenshot=tmp_path / "report.png",
        window_size=(1200, 1600),
    )
    image = Image.open(io.BytesIO(shot.read_bytes())).convert("RGB")
    assert image.size == (1200, 1600)
    stats = ImageStat.Stat(image)
    assert max(stats.stddev) > 20, "the screenshot is (nearly) uniform"
    # the page's accent colour (header rule, table heads) is drawn
    colours = image.getcolors(maxcolors=1_000_000)
    assert sum(n for n, rgb in colours if rgb[2] > 120 and rgb[0] < 40 and rgb[1] < 40) > 1_000


# ------------------------------------------------------------------------------ languages


def _cells_text(html: str) -> dict:
    return {key: text for key, (_, _, text) in parse(html).cells.items()}


def test_the_report_is_in_french_by_default(reports, pipeline, window):
    """The page, its numbers, percentages and dates in French, on the seeded figures."""
    folder, results = reports
    fr = Formatter("fr")
    for week in complete_weeks(window):
        html = _html(folder, week)
        assert '<html lang="fr">' in html
        assert f"Rapport hebdomadaire, semaine du {fr.date_long(week)}" in html
        assert re.search(r"\d{1,2} (janvier|février|mars) 2025", html)
        assert f"Du lundi {fr.date_long(week)} au dimanche" in html
        for english in ("Weekly report", "Daily national funnel", "Validated", "Definitions"):
            assert english not in html, english
        assert "Entonnoir régional" in html and "Toutes cohortes" in html
        assert _metadata(results[week])["language"].value == "fr"
        cells = parse(html)
        for (_, key, col), (raw, suppressed, text) in cells.cells.items():
            if raw == "" or suppressed == "true":
                continue
            value = Decimal(raw)
            if col in ("progress", "projected_progress"):
                assert text == fr.percent(float(value)), (key, col, text)
                assert "," in text or text == "–"
            elif col == "projection":
                assert text == fr.rounded(value)
            else:
                assert text == fr.integer(value)
        # a figure of a thousand or more reads 1 234 (narrow no-break space; the seeded
        # figures stay under a thousand: test_report_language checks it on its own)
        for (_, _, col), (raw, _, text) in cells.cells.items():
            if raw and col not in ("progress", "projected_progress") and Decimal(raw) >= 1000:
                assert re.fullmatch(r"(≥\u202f)?\d{1,3}(\u202f\d{3})+", text), text
        day = week + timedelta(days=2)
        assert f">{fr.day_short(day)}</th>" in html  # "mer. 15 janv."


def test_the_report_in_english_on_request(
    reports, pipeline, window, instance, tmp_path, monkeypatch
):
    """``language: en`` (run config; default SNU_REPORT_LANGUAGE) gives the same page in
    English: same figures, English words and formats."""
    folder, _ = reports
    week = complete_weeks(window)[-1]
    monkeypatch.setenv("SNU_REPORTS_DIR", str(tmp_path))
    result = materialize(
        [weekly_report],
        partition_key=week.isoformat(),
        resources={"postgres": pipeline},
        instance=instance,
        run_config={"ops": {"weekly_report": {"config": {"language": "en"}}}},
    )
    assert result.success and _metadata(result)["language"].value == "en"
    english, french = _html(tmp_path, week), _html(folder, week)
    assert '<html lang="en">' in english
    assert f"Weekly report, week of {Formatter('en').date_long(week)}" in english
    assert "Rapport hebdomadaire" not in english and "Entonnoir" not in english
    en_cells, fr_cells = parse(english), parse(french)
    # the same figures, formatted the English way
    assert {k: v[:2] for k, v in en_cells.cells.items()} == {
        k: v[:2] for k, v in fr_cells.cells.items()
    }
    en = Formatter("en")
    for (_, _, col), (raw, suppressed, text) in en_cells.cells.items():
        if raw and suppressed != "true" and col in ("progress", "projected_progress"):
            assert text == en.percent(float(raw)) and text.endswith("%") and "," not in text
    with pytest.raises(Exception, match="de"):
        materialize(
            [weekly_report],
            partition_key=week.isoformat(),
            resources={"postgres": pipeline},
            instance=instance,
            run_config={"ops": {"weekly_report": {"config": {"language": "de"}}}},
        )
