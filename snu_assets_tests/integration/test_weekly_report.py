"""The weekly report's two editions on the seeded pipeline: per week a public page (published
figures only, audited with the repository's LP attacker against the published table) and a
restricted one (exact figures, marked "Diffusion restreinte" on every page), their figures
the tables' and the generator truth's, self-contained, in French, without any personal value;
rendered by headless Chromium when it is installed."""

import base64
import importlib
import io
import re
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from dagster import materialize
from dagster_shared.serdes import serialize_value

from snu_assets.core.publication import attack
from snu_assets.core.reference.geography import overseas_collectivities, regions
from snu_assets.defs.report.editions import PUBLIC, RESTRICTED
from snu_assets.defs.report.i18n import Formatter, collation_key
from snu_assets.defs.report.progress import progress_chart_metadata
from snu_assets.defs.report.render import chromium_binary, render_with_chromium
from snu_assets.defs.report.weekly_report import weekly_report_public, weekly_report_restricted
from snu_assets.defs.resources import PublicationRules
from snu_assets_testing.report_pages import fold_printed, number, parse, published_rows
from snu_assets_tests.integration.conftest import paris_day
from snu_assets_tests.integration.test_pipeline import rows
from snu_assets_tests.truth import expected_events

FUNNEL = ("created", "completed", "processed", "validated", "refused")
COUNTS = (*FUNNEL, "validated_cumulated")
PNG = b"\x89PNG\r\n\x1a\n"
K = 5
REPORTS = [weekly_report_public, weekly_report_restricted]
NAMES = {PUBLIC: "weekly_report_public", RESTRICTED: "weekly_report_restricted"}


# ------------------------------------------------------------------------------ helpers


def report_weeks(window) -> list[date]:
    """Mondays of the weeks holding seeded days (the first one may be partial)."""
    first, last = window
    monday = first - timedelta(days=first.weekday())
    weeks = []
    while monday <= last:
        weeks.append(monday)
        monday += timedelta(days=7)
    return weeks


def complete_weeks(window) -> list[date]:
    """Mondays whose seven days all lie in the seeded window."""
    first, last = window
    return [w for w in report_weeks(window) if w >= first and w + timedelta(days=6) <= last]


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


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def reports(pipeline, window, instance, tmp_path_factory):
    """Both editions materialised for every seeded week, into a temporary reports dir
    (SNU_REPORTS_DIR, read at run time)."""
    folder = tmp_path_factory.mktemp("reports")
    results = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SNU_REPORTS_DIR", str(folder))
        for week in report_weeks(window):
            result = materialize(
                REPORTS,
                partition_key=week.isoformat(),
                resources={"postgres": pipeline, "publication": PublicationRules()},
                instance=instance,
            )
            assert result.success, week
            results[week] = result
    return folder, results


def _html(folder, week, edition) -> str:
    return (folder / edition.file_name(week, "html")).read_text(encoding="utf-8")


def _metadata(result, edition) -> dict:
    [materialization] = result.asset_materializations_for_node(NAMES[edition])
    return materialization.metadata


# ------------------------------------------------------------------------------ both editions


def test_two_editions_for_every_week_with_data(reports, pipeline, window):
    folder, results = reports
    weeks = report_weeks(window)
    assert sorted(results) == weeks
    for week in weeks:
        for edition in (PUBLIC, RESTRICTED):
            path = folder / edition.file_name(week, "html")
            html = path.read_text(encoding="utf-8")
            assert html.startswith("<!DOCTYPE html>")
            metadata = _metadata(results[week], edition)
            assert metadata["fichier_html"].value == str(path)
            assert metadata["semaine"].value == week.isoformat()
            assert metadata["édition"].value == edition.label_fr
            pdf = path.with_suffix(".pdf")
            if chromium_binary():
                assert pdf.read_bytes().startswith(b"%PDF-")
                assert metadata["fichier_pdf"].value == str(pdf)
            else:
                assert not pdf.exists() and metadata["pdf"].value.startswith("non produit")
        assert "diffusion_restreinte" in RESTRICTED.file_name(week, "pdf")
    assert not list(folder.glob(".*.tmp")), "a temporary file was left behind"


def test_every_metadata_key_is_explained(reports):
    _, results = reports
    for result in results.values():
        for edition in (PUBLIC, RESTRICTED):
            metadata = _metadata(result, edition)
            legend = metadata["légende"].value
            for key in metadata:
                if key in ("légende", "octets_html"):
                    continue
                assert key in legend, key


def test_reports_are_self_contained_and_carry_the_chart(reports, pipeline, window):
    folder, results = reports
    for week in complete_weeks(window):
        for edition in (PUBLIC, RESTRICTED):
            html = _html(folder, week, edition)
            assert not re.search(r"<(script|link|iframe)\b", html, re.I)
            assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", html, re.I)
            assert "url(" not in html and "@import" not in html
            [chart] = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
            assert base64.b64decode(chart).startswith(PNG)
            shown = re.fullmatch(
                r"!\[chart\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)",
                _metadata(results[week], edition)["graphique"].value,
            )
            assert shown and shown.group(1) == chart
    # the restricted chart is the exact one weekly_funnel_national's metadata shows
    week = complete_weeks(window)[-1]
    [chart] = re.findall(r'base64,([A-Za-z0-9+/=]+)"', _html(folder, week, RESTRICTED))
    assert chart in progress_chart_metadata(pipeline, week)["progress_chart"].value


def test_no_personal_value_in_reports_nor_their_runs(reports, truth, instance):
    folder, results = reports
    telling = {v for v in truth.personal_values if any(ch.isdigit() or ch == "@" for ch in v)}
    assert len(telling) > 100
    mongo_ids = {p.patch_id for p in truth.patches} | {p.ref for p in truth.patches}
    for path in folder.glob("rapport_hebdomadaire_*.html"):
        html = path.read_text(encoding="utf-8")
        assert not [v for v in telling if v in html], path.name
        assert not [i for i in mongo_ids if i in html], path.name
    for result in results.values():
        blob = "\n".join(serialize_value(e) for e in instance.all_logs(result.run_id))
        assert not [v for v in telling if v in blob]


def test_rerendering_a_week_gives_the_same_pages(reports, pipeline, instance, monkeypatch):
    folder, results = reports
    week = min(results)
    before = {e: _html(folder, week, e) for e in (PUBLIC, RESTRICTED)}
    monkeypatch.setenv("SNU_REPORTS_DIR", str(folder))
    assert materialize(
        REPORTS,
        partition_key=week.isoformat(),
        resources={"postgres": pipeline, "publication": PublicationRules()},
        instance=instance,
    ).success
    assert {e: _html(folder, week, e) for e in (PUBLIC, RESTRICTED)} == before


def test_without_chromium_the_pdf_is_skipped_and_said_so(
    pipeline, window, instance, monkeypatch, tmp_path
):
    module = importlib.import_module("snu_assets.defs.report.weekly_report")
    week = complete_weeks(window)[0]
    stale = tmp_path / RESTRICTED.file_name(week, "pdf")
    stale.write_bytes(b"%PDF- of an older page")
    monkeypatch.setenv("SNU_REPORTS_DIR", str(tmp_path))
    monkeypatch.setattr(module, "chromium_binary", lambda: None)
    result = materialize(
        [weekly_report_restricted],
        partition_key=week.isoformat(),
        resources={"postgres": pipeline, "publication": PublicationRules()},
        instance=instance,
    )
    assert result.success
    metadata = _metadata(result, RESTRICTED)
    assert metadata["pdf"].value.startswith("non produit : aucun moteur PDF")
    assert "fichier_pdf" not in metadata and not stale.exists()
    assert (tmp_path / RESTRICTED.file_name(week, "html")).exists()


# ------------------------------------------------------------------------------ public edition


def test_the_public_edition_prints_published_values_only(reports, pipeline, window):
    folder, results = reports
    hidden_seen = 0
    for week in report_weeks(window):
        page = parse(_html(folder, week, PUBLIC))
        assert not page.table("daily"), "daily figures are not published"
        published = {
            (r[0], r[1]): dict(zip(COUNTS, r[2:]))
            for r in rows(
                pipeline,
                "select cohort, region, created, completed, processed, validated, refused, "
                "validated_cumulated from {s}.weekly_funnel where week = %s "
                "and level in ('national', 'region') and gender = 'all' and age_band = 'all'",
                (week,),
            )
        }
        for (table, key, col), (raw, suppressed, text) in page.cells.items():
            if col not in COUNTS:
                continue
            if key == "total":
                terms = [v[col] for (c, r), v in published.items() if r == "all"]
                expected = None if None in terms else sum(terms)
            else:
                cohort, _, region = key.partition("|")
                expected = published.get((cohort, region or "all"), {col: 0})[col]
            assert number(raw) == expected, (week, table, key, col)
            if expected is None:
                assert (text, suppressed) == ("s", "true"), (week, key, col, text)
                hidden_seen += 1
            else:
                assert text.replace("\u202f", "") == str(expected)
        metadata = _metadata(results[week], PUBLIC)
        assert metadata["chiffres_masqués"].value == sum(
            1 for _, s, _ in page.cells.values() if s == "true"
        )
        evaluations = {c.check_name: c.passed for c in results[week].get_asset_check_evaluations()}
        assert evaluations["prints_only_published_figures"] is True
    assert hidden_seen > 0, "the seed has small cells: some must print as hidden"


def test_no_hidden_value_is_recoverable_from_the_public_edition(reports, pipeline, window):
    """The repository's LP attacker, given every number the public edition prints over all
    weeks (parsed from its HTML) and the whole published table, narrows no hidden value to
    less than k."""
    folder, _ = reports
    weeks = report_weeks(window)
    table = published_rows(pipeline, weeks[-1])
    folded = fold_printed(table, ((w, parse(_html(folder, w, PUBLIC))) for w in weeks))
    # a region without events prints zeros, as read; every other figure is the table's
    assert (folded.mismatched, folded.filled) == (0, 0)
    assert folded.printed > 50
    leaks = attack.too_narrow(table, K)
    assert not leaks, list(leaks.items())[:5]
    hidden = sum(1 for r in table for c in r if r[c] is None)
    assert hidden > 0


# ------------------------------------------------------------------------------ restricted edition


def test_daily_figures_equal_the_events_and_the_truth(reports, truth, window):
    folder, _ = reports
    expected = Counter((day, category) for day, category, _ in funnel_truth(truth))
    for week in complete_weeks(window):
        daily = parse(_html(folder, week, RESTRICTED)).table("daily")
        days = [week + timedelta(days=i) for i in range(7)]
        assert set(daily) == {d.isoformat() for d in days} | {"total"}
        for day in days:
            assert daily[day.isoformat()] == {c: expected[(day, c)] for c in FUNNEL}, day
        assert daily["total"] == {c: sum(expected[(d, c)] for d in days) for c in FUNNEL}
    assert sum(expected[(d, "validated")] for d, _ in expected) > 10


def test_restricted_national_figures_equal_weekly_funnel_national(reports, pipeline, window):
    folder, results = reports
    for week in complete_weeks(window):
        page = parse(_html(folder, week, RESTRICTED))
        national = page.table("national")
        found = rows(
            pipeline,
            "select cohort, sum(created), sum(completed), sum(processed), "
            "sum(validated), sum(refused), sum(validated_cumulated), "
            "max(objective), sum(projection) from {s}.weekly_funnel_national "
            "where week = %s group by cohort",
            (week,),
        )
        assert set(national) == {r[0] for r in found} | {"total"}
        for cohort, *counts, validated_cum, objective, projection in found:
            row = national[cohort]
            assert [row[c] for c in FUNNEL] == counts, (week, cohort)
            assert row["validated_cumulated"] == validated_cum
            assert row["objective"] == objective
            shown = None if projection is None else int(Decimal(projection) + Decimal("0.5"))
            assert row["projection"] == shown
            if objective and shown is not None:  # the percentage of the figures shown
                assert row["projected_progress"] == Decimal(shown) / Decimal(objective)
        total = national["total"]
        assert [total[c] for c in FUNNEL] == [sum(r[1 + i] for r in found) for i in range(5)]
        assert [total[c] for c in FUNNEL] == [page.table("daily")["total"][c] for c in FUNNEL]
        evaluations = {c.check_name: c.passed for c in results[week].get_asset_check_evaluations()}
        assert evaluations["daily_sums_equal_national_view"] is True
        markdown = _metadata(results[week], RESTRICTED)["national"].value
        assert all(str(total[c]) in markdown for c in FUNNEL)


def test_restricted_regional_figures_are_exact_and_mark_the_hidden(reports, pipeline, window):
    folder, _ = reports
    marked = 0
    for week in complete_weeks(window):
        page = parse(_html(folder, week, RESTRICTED))
        events = dict(
            ((c, r), n)
            for c, r, n in rows(
                pipeline,
                "select cohort, coalesce(region, 'unknown'), count(*) from {s}.enriched_events "
                "where model = 'young' and event_name = 'young.created' "
                "and event_day >= %s and event_day < %s group by 1, 2",
                (week, week + timedelta(days=7)),
            )
        )
        regional = page.table("regional")
        for (cohort, region), n in events.items():
            key = f"{cohort}|{region}"
            assert regional[key]["created"] == n, key
            raw, suppressed, text = page.cells[("regional", key, "created")]
            assert text.startswith(str(n)), text
            if suppressed == "true":
                assert "<sup>" not in text and text.endswith("s")
                marked += 1
    assert marked > 0, "some exact figures are hidden in the public edition: marked"


# ------------------------------------------------------------------------------ French reader


def test_the_pages_speak_french_to_a_french_reader(reports, pipeline, window):
    folder, results = reports
    fr = Formatter("fr")
    for week in report_weeks(window):
        for edition in (PUBLIC, RESTRICTED):
            html = _html(folder, week, edition)
            page = parse(html)
            text = page.visible()
            assert '<html lang="fr">' in html
            assert f"Rapport hebdomadaire, semaine du {fr.date_long(week)}" in text
            # no table name, no English status code, no English word
            assert not re.search(r"\b[a-z]+_[a-z_]+\b", text), re.findall(r"\b[a-z]+_\w+", text)
            assert not re.search(r"\b[A-Z]{3,}_[A-Z_]+\b", text)
            for english in ("Weekly", "Validated", "Definitions", "funnel", " the ", "unknown"):
                assert english not in text, english
            assert "Glossaire" in text and "Pourquoi les validés peuvent dépasser" in text
            assert _metadata(results[week], edition)["langue"].value == "fr"
            for (_, key, col), (raw, _, shown) in page.cells.items():
                if raw == "":
                    assert shown in ("s", "–"), (key, col, shown)
                    continue
                value = Decimal(raw)
                if col in ("progress", "projected_progress"):
                    assert shown.startswith(fr.percent(value)), (key, col, shown)
                else:
                    assert shown.startswith(fr.integer(value)), (key, col, shown)
            # regions in French order, the overseas collectivities after them
            for cohort in {k.split("|")[0] for (t, k, _) in page.cells if t == "regional"}:
                labels = [
                    k.split("|")[1]
                    for (t, k, c) in page.cells
                    if t == "regional" and c == "created" and k.startswith(cohort + "|")
                ]
                metro = [r for r in labels if r not in overseas_collectivities()]
                known = [r for r in metro if r != "unknown"]
                assert known == sorted(known, key=collation_key), labels
                first_com = next(
                    (i for i, r in enumerate(labels) if r in overseas_collectivities()), None
                )
                if first_com is not None:
                    assert all(r in overseas_collectivities() for r in labels[first_com:])
        if edition is RESTRICTED:
            day = week + timedelta(days=2)
            assert f">{fr.day_short(day)}</th>" in html


def test_inactive_regions_are_grouped_on_one_line(reports, pipeline, window):
    folder, _ = reports
    grouped = 0
    for week in complete_weeks(window):
        for edition in (PUBLIC, RESTRICTED):
            page = parse(_html(folder, week, edition))
            for cohort, names in page.inactive.items():
                listed = {
                    k.split("|")[1]
                    for (t, k, _) in page.cells
                    if t == "regional" and k.startswith(f"{cohort}|")
                }
                grouped += len(names)
                assert not set(names) & listed, cohort
                assert names == sorted(names, key=collation_key)
                # every region of the reference is on the page, listed or grouped
                assert set(names) | listed >= set(regions()) - {"unknown"}, cohort
    assert grouped > 10, "150 youngs over 24 regions: most regions are inactive each week"


def test_the_report_in_english_on_request(
    reports, pipeline, window, instance, tmp_path, monkeypatch
):
    folder, _ = reports
    week = complete_weeks(window)[-1]
    monkeypatch.setenv("SNU_REPORTS_DIR", str(tmp_path))
    config = {"config": {"language": "en"}}
    result = materialize(
        REPORTS,
        partition_key=week.isoformat(),
        resources={"postgres": pipeline, "publication": PublicationRules()},
        instance=instance,
        run_config={"ops": {"weekly_report_public": config, "weekly_report_restricted": config}},
    )
    assert result.success and _metadata(result, PUBLIC)["langue"].value == "en"
    for edition in (PUBLIC, RESTRICTED):
        english, french = _html(tmp_path, week, edition), _html(folder, week, edition)
        assert '<html lang="en">' in english
        assert f"Weekly report, week of {Formatter('en').date_long(week)}" in english
        assert "Rapport hebdomadaire" not in english and "Entonnoir" not in english
        en_cells, fr_cells = parse(english), parse(french)
        assert {k: v[:2] for k, v in en_cells.cells.items()} == {
            k: v[:2] for k, v in fr_cells.cells.items()
        }
    assert "Restricted distribution" in _html(tmp_path, week, RESTRICTED)
    with pytest.raises(Exception, match="de"):
        materialize(
            [weekly_report_public],
            partition_key=week.isoformat(),
            resources={"postgres": pipeline, "publication": PublicationRules()},
            instance=instance,
            run_config={"ops": {"weekly_report_public": {"config": {"language": "de"}}}},
        )


# ------------------------------------------------------------------------------ Chromium


needs_chromium = pytest.mark.skipif(chromium_binary() is None, reason="chromium is not installed")


@needs_chromium
def test_the_restricted_marking_is_on_every_pdf_page(reports, window):
    from pypdf import PdfReader

    folder, _ = reports
    pages_seen = 0
    for week in complete_weeks(window):
        restricted = PdfReader(folder / RESTRICTED.file_name(week, "pdf"))
        assert len(restricted.pages) >= 2
        for pdf_page in restricted.pages:  # A4: 595 x 842 points
            assert (round(pdf_page.mediabox.width), round(pdf_page.mediabox.height)) == (595, 842)
        count = len(restricted.pages)
        for page_number, pdf_page in enumerate(restricted.pages, 1):
            text = " ".join(pdf_page.extract_text().split())
            # the page's margin boxes: the marking at its head, the marking and its number
            # at its foot (not the footer's sentence, which is on the last page only)
            assert "DIFFUSION RESTREINTE" in text, (week, page_number)
            assert f"Diffusion restreinte – page {page_number} / {count}" in text, page_number
            pages_seen += 1
        assert "Diffusion restreinte" in (restricted.metadata.title or "")
        public = PdfReader(folder / PUBLIC.file_name(week, "pdf"))
        for page_number, pdf_page in enumerate(public.pages, 1):
            text = " ".join(pdf_page.extract_text().split())
            assert "restreinte" not in text.casefold()
            assert f"Édition publique – page {page_number} / {len(public.pages)}" in text
    assert pages_seen > 5


@needs_chromium
def test_the_pages_fit_their_paper_in_chromium(reports, window, tmp_path):
    """Each edition laid out by headless Chromium as it prints (its print rules applied to
    the screen) at the printable width of A4: no element sticks out of the paper, and the
    screenshot is not blank."""
    from PIL import Image, ImageStat

    folder, _ = reports
    week = complete_weeks(window)[-1]
    for edition in (PUBLIC, RESTRICTED):
        html = _html(folder, week, edition)
        assert "@media print {" in html
        printed = tmp_path / f"{edition.name}.html"
        # the paper: the page's root 703 px wide, its print rules on
        printed.write_text(
            html.replace("@media print {", "@media all { html { width: 703px; }"),
            encoding="utf-8",
        )
        # A4 (210 mm) minus the 12 mm side margins, at 96 px per inch: 703 px; 24 px more of
        # white on the right, where nothing may be drawn
        shot = render_with_chromium(
            printed, screenshot=tmp_path / f"{edition.name}.png", window_size=(727, 3000)
        )
        image = Image.open(io.BytesIO(shot.read_bytes())).convert("RGB")
        assert max(ImageStat.Stat(image).stddev) > 20, "the screenshot is (nearly) uniform"
        strip = image.crop((705, 0, image.width, image.height))
        colours = strip.getcolors(maxcolors=1_000_000) or []
        ink = sum(n for n, rgb in colours if max(rgb) < 200)
        assert ink == 0, f"{edition.name}: {ink} px drawn beyond the paper's width"


def test_a_ranged_run_writes_every_week_and_labels_each(
    reports, pipeline, window, instance, tmp_path, monkeypatch
):
    """One run over two weeks (a range, as a backfill may launch it): both weeks' files are
    written, and each week's materialisation shows its own week and file."""
    from dagster import AssetKey, AssetRecordsFilter

    folder, _ = reports
    first, second = complete_weeks(window)[:2]
    monkeypatch.setenv("SNU_REPORTS_DIR", str(tmp_path))
    result = materialize(
        [weekly_report_public],
        resources={"postgres": pipeline, "publication": PublicationRules()},
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": second.isoformat(),
        },
    )
    assert result.success
    for week in (first, second):
        assert _html(tmp_path, week, PUBLIC) == _html(folder, week, PUBLIC)
        [record] = instance.fetch_materializations(
            AssetRecordsFilter(
                asset_key=AssetKey("weekly_report_public"), asset_partitions=[week.isoformat()]
            ),
            limit=1,
        ).records
        metadata = record.asset_materialization.metadata
        assert metadata["semaine"].value == week.isoformat()
        assert metadata["fichier_html"].value == str(tmp_path / PUBLIC.file_name(week, "html"))
