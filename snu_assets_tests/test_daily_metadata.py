"""A ranged run's metadata, shown by Dagster on every day of its range, says the range: each
key labelled, the totals and a per-day table (issue #25; the integration test
``integration/test_ranged_metadata.py`` checks the figures against PostgreSQL)."""

from datetime import date, timedelta

from snu_assets.defs.daily import enriched_events as enriched
from snu_assets.defs.daily import raw_patches, reconstructed_events
from snu_assets.defs.metadata import RANGE, TABLE_DAYS, DayColumn, range_metadata


def days(count: int) -> dict[str, dict[str, int]]:
    first = date(2026, 10, 23)
    return {
        (first + timedelta(days=n)).isoformat(): {"dagster/row_count": n, "rejetés": n % 2}
        for n in range(count)
    }


COLUMNS = (
    DayColumn("lignes", "dagster/row_count", "lignes_de_la_plage"),
    DayColumn("rejetés", "rejetés", "rejetés_de_la_plage"),
)


def test_every_key_of_a_range_is_labelled_as_the_range():
    figures = days(43)
    keys = list(figures)
    metadata = range_metadata(keys, figures, COLUMNS, {"patchs_par_seconde": 900})
    assert metadata["plage"] == "2026-10-23 → 2026-12-04"
    assert metadata["jours_de_la_plage"] == 43
    assert metadata["lignes_de_la_plage"] == sum(range(43))
    assert metadata["rejetés_de_la_plage"] == 21
    assert metadata["patchs_par_seconde_de_la_plage"] == 900
    # no key a reader of one day would take for that day's
    assert "dagster/row_count" not in metadata and "patchs_par_seconde" not in metadata
    assert set(metadata) - {"plage", "par_jour", "à_lire"} == {
        key for key in metadata if key.endswith(RANGE)
    }
    assert "2026-12-04" in metadata["à_lire"].value


def test_the_per_day_table_lists_each_day_then_the_totals():
    figures = days(3)
    table = range_metadata(list(figures), figures, COLUMNS, {})["par_jour"].value
    assert table.splitlines() == [
        "| jour | lignes | rejetés |",
        "|---|---:|---:|",
        "| 2026-10-23 | 0 | 0 |",
        "| 2026-10-24 | 1 | 1 |",
        "| 2026-10-25 | 2 | 0 |",
        "| **total** | 3 | 1 |",
    ]


def test_a_long_range_lists_its_first_days_and_counts_all_of_them():
    figures = days(TABLE_DAYS + 10)
    lines = range_metadata(list(figures), figures, COLUMNS, {})["par_jour"].value.splitlines()
    assert len(lines) == 2 + TABLE_DAYS + 2
    assert lines[-2].startswith("| … 10 jours de plus, jusqu'au ")
    assert lines[-2].count("|") == lines[0].count("|")
    assert lines[-1] == f"| **total** | {sum(range(TABLE_DAYS + 10))} | {(TABLE_DAYS + 10) // 2} |"


def test_each_daily_asset_tables_its_rows_first_and_labels_its_totals():
    for columns in (
        raw_patches.DAY_COLUMNS,
        reconstructed_events.DAY_COLUMNS,
        enriched.DAY_COLUMNS,
    ):
        assert (columns[0].key, columns[0].total) == ("dagster/row_count", "lignes_de_la_plage")
        assert all(c.total.endswith(RANGE) for c in columns)
