"""What the ministry reads is in French, English kept as an option (no server): the report's
formats and messages, ``SNU_REPORT_LANGUAGE``, the tables' descriptions (one catalogue for the
PostgreSQL comments and the Dagster column schemas) and the column schemas on the assets'
definitions."""

import re
import string
import warnings
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from snu_assets import settings
from snu_assets.defs.report.charts import cumulated_validated_chart
from snu_assets.defs.report.editions import PUBLIC, RESTRICTED, Cells
from snu_assets.defs.report.i18n import LANGUAGES, MESSAGES, Formatter, collation_key
from snu_assets.io.postgres import column_docs, comments_sql, ddl_version, table_docs

NNBSP, NBSP = "\u202f", "\u00a0"
#: the tables each Metabase role reads (roles.sql): every one is described
PUBLISHED = (
    "enriched_events",
    "inscription_goals",
    "cohorts",
    "ref_departments",
    "weekly_funnel",
    "weekly_funnel_national",
    "weekly_funnel_hidden",
)
#: assets whose definition carries the column schema of their table
ASSET_TABLES = (
    "raw_patches",
    "reconstructed_events",
    "enriched_events",
    "inscription_goals",
    "cohorts",
    "weekly_funnel",
    "weekly_funnel_national",
)


# ------------------------------------------------------------------------------ formats


def test_french_numbers_percentages_and_dates():
    fr = Formatter("fr")
    assert fr.integer(1234) == f"1{NNBSP}234"
    assert fr.integer(1234567) == f"1{NNBSP}234{NNBSP}567"
    assert fr.integer(None) == "–"
    assert fr.rounded(1234.4) == f"1{NNBSP}234"
    assert fr.percent(0.125) == f"12,5{NBSP}%"
    assert fr.percent(1.5) == f"150,0{NBSP}%"
    assert fr.date_long(date(2026, 12, 2)) == "2 décembre 2026"
    assert fr.date_long(date(2025, 1, 6)) == "6 janvier 2025"
    assert fr.day_short(date(2025, 1, 6)) == "lun. 6 janv."
    assert fr.week_tick(date(2025, 2, 10)) == "10 févr."


def test_english_kept_as_an_option():
    en = Formatter("en")
    assert en.integer(1234) == "1,234"
    assert en.percent(0.125) == "12.5%"
    assert en.date_long(date(2026, 12, 2)) == "2 December 2026"
    assert en.day_short(date(2025, 1, 6)) == "Mon 6 Jan"
    with pytest.raises(ValueError, match="de"):
        Formatter("de")


def test_cells_in_each_language():
    fr, en = Formatter("fr"), Formatter("en")
    public_fr, public_en = Cells(fr, PUBLIC), Cells(en, PUBLIC)
    assert public_fr.count("created", 1234, False).text == f"1{NNBSP}234"
    assert public_en.count("created", 1234, False).text == "1,234"
    hidden = public_fr.count("created", None, True)
    assert (hidden.text, hidden.raw, hidden.hidden) == ("s", "", True)
    assert "secret statistique" in (hidden.title or "")
    assert "disclosure control" in (public_en.count("created", None, True).title or "")
    # the restricted edition prints the exact figure and says it is hidden in the public one
    marked = Cells(fr, RESTRICTED).count("created", 3, True)
    assert (marked.text, marked.raw, marked.hidden) == ("3", "3", True)
    assert "édition publique" in (marked.title or "")
    assert public_fr.percent("progress", Decimal("0.1234")).text == f"12,3{NBSP}%"
    assert public_en.percent("progress", Decimal("0.1234")).text == "12.3%"
    assert public_fr.percent("progress", Decimal("0.5"), True).text == "s"
    assert public_fr.whole("projection", 1234).text == f"1{NNBSP}234"


def test_french_typography_of_the_report():
    fr = Formatter("fr")
    # the first of the month is "1er"; rounding half up, as French statistics do
    assert fr.date_long(date(2026, 11, 1)) == "1er novembre 2026"
    assert fr.day_short(date(2026, 11, 1)) == "dim. 1er nov."
    assert fr.date_long(date(2026, 11, 2)) == "2 novembre 2026"
    assert Formatter("en").date_long(date(2026, 11, 1)) == "1 November 2026"
    assert fr.percent(Decimal(5) / Decimal(16)) == f"31,3{NBSP}%"
    assert fr.percent(Decimal("0.00125")) == f"0,1{NBSP}%"
    regions = ["Wallis-et-Futuna", "Île-de-France", "Occitanie", "Hauts-de-France", "Corse"]
    assert sorted(regions, key=collation_key) == [
        "Corse",
        "Hauts-de-France",
        "Île-de-France",
        "Occitanie",
        "Wallis-et-Futuna",
    ]


def test_every_message_exists_in_both_languages_with_the_same_placeholders():
    fields = string.Formatter()
    for key, texts in MESSAGES.items():
        assert set(texts) == set(LANGUAGES), key
        names = [{f for _, f, _, _ in fields.parse(texts[lang]) if f} for lang in LANGUAGES]
        assert names[0] == names[1], key
        assert all(texts[lang].strip() for lang in LANGUAGES), key
    # French typography: a narrow no-break space before ; : ? ! (never a plain space)
    for key, texts in MESSAGES.items():
        assert not re.search(r" [;:?!]", texts["fr"]), key


def test_the_chart_speaks_french():
    frame = pd.DataFrame(
        [(date(2025, 1, 6), "Juillet 2025", 1200, 3000, 2400.0)],
        columns=["week", "cohort", "validated_cumulated", "objective", "projection"],
    )
    fr = Formatter("fr")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a glyph missing from the font would warn
        png = cumulated_validated_chart(
            frame,
            labels=fr.chart_labels(date(2025, 1, 6)),
            number=fr.integer,
            week_label=fr.week_tick,
        )
    assert png.startswith(b"\x89PNG") and png != cumulated_validated_chart(frame)
    assert fr.chart_labels(date(2025, 1, 6))["title"].endswith("semaine du 6 janvier 2025)")


# ------------------------------------------------------------------------------ settings


def test_report_language_setting():
    assert settings.Settings.from_env({}).report_language == "fr"
    assert settings.Settings.from_env({"SNU_REPORT_LANGUAGE": "en"}).report_language == "en"
    with pytest.raises(settings.SettingsError, match="SNU_REPORT_LANGUAGE='de'"):
        settings.Settings.from_env({"SNU_REPORT_LANGUAGE": "de"})
    assert "SNU_REPORT_LANGUAGE" in settings.Settings().describe()


def test_the_report_run_config_shows_the_language():
    from snu_assets.defs.report.weekly_report import WeeklyReportConfig

    field = WeeklyReportConfig.model_fields["language"]
    assert field.default == settings.current().report_language
    assert "SNU_REPORT_LANGUAGE" in (field.description or "")


# ------------------------------------------------------------------------------ descriptions


def test_every_published_table_and_column_is_described_in_both_languages():
    docs = table_docs()
    for table in PUBLISHED:
        assert table in docs, table
        for language in LANGUAGES:
            assert docs[table].description[language].strip()
            for name, sql_type, text in column_docs(table, language):
                assert sql_type and text.strip(), (table, name, language)
        french = [text for _, _, text in column_docs(table, "fr")]
        english = [text for _, _, text in column_docs(table, "en")]
        assert french != english, table


def test_comments_follow_the_language():
    fr, en = comments_sql("snu", "fr"), comments_sql("snu", "en")
    assert (
        'comment on column "snu"."weekly_funnel"."created" is '
        "'Comptes de jeunes créés dans la semaine (young.created).';" in fr
    )
    assert "'Young accounts created in the week (young.created).'" in en
    assert "''" in en  # quotes doubled (the region''s ...)
    assert fr.count("comment on column") == sum(len(t.columns) for t in table_docs().values())
    # switching the language re-runs the DDL (and the comments) once
    assert ddl_version("fr") != ddl_version("en")


def test_column_schemas_on_the_assets_definitions():
    from dagster import AssetKey

    from snu_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    for table in ASSET_TABLES:
        metadata = graph.get(AssetKey(table)).metadata
        schema = metadata["dagster/column_schema"]
        columns = {c.name: c for c in schema.columns}
        expected = column_docs(table)
        assert list(columns) == [name for name, _, _ in expected], table
        for name, sql_type, text in expected:
            assert columns[name].type == sql_type and columns[name].description == text
        assert metadata["dagster/table_name"].endswith(f".{table}")
    weekly = graph.get(AssetKey("weekly_funnel")).metadata
    assert weekly["dagster/column_schema"].columns[7].description.startswith("Comptes")
    hidden = weekly["weekly_funnel_hidden"].schema
    assert [c.name for c in hidden.columns][-3:] == ["measure", "suppression", "exact_value"]
