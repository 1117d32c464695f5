"""Issue #25: the metadata of a daily partition never misleads. A backfill runs many days as
one ranged run, and Dagster shows the run's metadata on every day of the range; each day's
materialisation must still show that day's own figures (those PostgreSQL holds for the day),
and what holds for the whole range be labelled as the range's. Through the real daily assets
(Dagster ``materialize`` over a partition range, as a single-run backfill runs them) on real
servers."""

import re
import uuid
from datetime import datetime, timedelta

import pytest
from bson import ObjectId
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, materialize

from snu_assets.defs.assets import DAILY_ASSETS
from snu_assets.defs.metadata import NO_ROWS_THAT_DAY, RANGE
from snu_assets.defs.resources import MongoResource
from snu_assets_tests.conftest import drop_schema, make_postgres
from snu_assets_tests.integration.test_rewrites_and_bad_input import (
    CREATED,
    patch_doc,
    plugin_ops,
)

#: Monday to Thursday; the youngs created each day (none on Wednesday: a quiet day)
DAYS = {"2025-03-10": 3, "2025-03-11": 1, "2025-03-12": 0, "2025-03-13": 2}
FIRST, LAST = min(DAYS), max(DAYS)
ASSETS = ("raw_patches", "reconstructed_events", "enriched_events")
#: the keys of the run's window, shown on every day of a ranged run: labelled as the range's
RANGE_KEYS = {"plage", "jours_de_la_plage", "par_jour", "à_lire"}
#: what holds for every day (the table, its columns, their lineage)
TABLE_KEYS = {"dagster/table_name", "dagster/column_schema", "dagster/column_lineage"}
#: each asset's own figures of a day
DAY_KEYS = {
    "raw_patches": {
        "jour",
        "dagster/row_count",
        "fenêtre",
        "rejetés",
        "rejets_par_motif",
        "valeurs_masquées",
        "masquages_par_motif",
        "ops_hors_liste_autorisée",
        "aperçu",
    },
    "reconstructed_events": {
        "jour",
        "dagster/row_count",
        "événements_de_jeunes",
        "événements_de_candidatures",
        "événements_par_nom",
        "aperçu",
    },
    "enriched_events": {
        "jour",
        "dagster/row_count",
        "événements_de_jeunes_sans_département_connu",
        "aperçu",
    },
}


@pytest.fixture()
def world(embedded_servers, postgres_url, pseudonyms):
    mongo = MongoResource(uri=embedded_servers.uri, database=f"snu_range_{uuid.uuid4().hex[:6]}")
    postgres = make_postgres(postgres_url, f"snu_range_{uuid.uuid4().hex[:6]}")
    seed(mongo.db())
    with DagsterInstance.ephemeral() as instance:
        yield postgres, instance, {"mongo": mongo, "postgres": postgres, "pseudonyms": pseudonyms}
    mongo.client().drop_database(mongo.database)
    drop_schema(postgres)


def seed(db) -> None:
    """Each day's youngs, created then completed (their first name and email: ops outside the
    allow-list);
    on the last day, a patch quarantined (its ref is not an ObjectId)."""
    for day, youngs in DAYS.items():
        at = datetime.fromisoformat(day) + timedelta(hours=9)  # naive UTC, 10:00 in Paris
        for n in range(youngs):
            young = ObjectId()
            created = dict(CREATED, email=f"y{n}@exemple.fr")
            completed = dict(created, status="WAITING_VALIDATION")
            db.youngs.insert_one({"_id": young, **completed})
            db.young_patches.insert_many(
                [
                    patch_doc(young, at + timedelta(minutes=n), plugin_ops({}, created)),
                    patch_doc(
                        young, at + timedelta(hours=1, minutes=n), plugin_ops(created, completed)
                    ),
                ]
            )
    db.young_patches.insert_one(
        patch_doc("nope", datetime.fromisoformat(LAST) + timedelta(hours=8), [])
    )


def run(resources, instance, **partitions):
    result = materialize(DAILY_ASSETS, resources=resources, instance=instance, **partitions)
    assert result.success
    return result


def latest(instance, asset: str, day: str):
    [record] = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[day]), limit=1
    ).records
    materialization = record.asset_materialization
    assert materialization.partition == day
    return {key: value.value for key, value in materialization.metadata.items()}


def per_day(postgres, table: str, expression: str = "count(*)") -> dict[str, int]:
    """``expression`` for each day of ``table`` in PostgreSQL (0 for a day without rows)."""
    with postgres.connect() as conn:
        found = conn.execute(
            f"select partition_date::text, {expression} from {postgres.table(table)} group by 1"
        ).fetchall()
    return {day: 0 for day in DAYS} | {day: int(n) for day, n in found}


def table_rows(markdown: str) -> dict[str, list[int]]:
    """The per-day table: its figures by day (the totals line under ``total``)."""
    rows = {}
    for line in markdown.splitlines()[2:]:
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        if re.fullmatch(r"\d{4}-\d\d-\d\d|total", cells[0]):
            rows[cells[0]] = [int(c) for c in cells[1:]]
    return rows


def preview_days(markdown: str) -> set[str]:
    """The partition days of a preview's rows (its first column)."""
    return {line.split("|")[1].strip() for line in markdown.splitlines()[2:]}


def test_each_day_of_a_ranged_run_shows_its_own_figures(world):
    postgres, instance, resources = world
    tags = {
        "dagster/asset_partition_range_start": FIRST,
        "dagster/asset_partition_range_end": LAST,
    }
    run(resources, instance, tags=tags)
    rows = {asset: per_day(postgres, asset) for asset in ASSETS}
    # the days differ: a metadata set shared by the whole range could not match all of them
    assert len(set(rows["raw_patches"].values())) == len(DAYS)
    assert rows["raw_patches"]["2025-03-12"] == 0

    for asset in ASSETS:
        for day in DAYS:
            shown = latest(instance, asset, day)
            assert shown["jour"] == day
            assert shown["dagster/row_count"] == rows[asset][day], (asset, day)
            # every key is the day's own, the table's, or labelled as the range's
            unlabelled = set(shown) - DAY_KEYS[asset] - TABLE_KEYS - RANGE_KEYS
            assert all(key.endswith(RANGE) for key in unlabelled), (asset, unlabelled)
            assert DAY_KEYS[asset] <= set(shown), asset
            assert shown["plage"] == f"{FIRST} → {LAST}"
            assert shown["jours_de_la_plage"] == len(DAYS)
            assert shown["lignes_de_la_plage"] == sum(rows[asset].values())
            assert f"{LAST}" in shown["à_lire"]
            # the per-day table: PostgreSQL's count of each day, then the total
            table = table_rows(shown["par_jour"])
            assert {d: figures[0] for d, figures in table.items()} == {
                **rows[asset],
                "total": sum(rows[asset].values()),
            }
            # the preview is the day's rows, or says the day has none
            if rows[asset][day]:
                assert preview_days(shown["aperçu"]) == {day}
            else:
                assert shown["aperçu"] == NO_ROWS_THAT_DAY

    raw = {day: latest(instance, "raw_patches", day) for day in DAYS}
    assert raw[FIRST]["fenêtre"].startswith(f"[{FIRST}T00:00:00+01:00, 2025-03-11T00:00:00")
    assert {day: m["rejetés"] for day, m in raw.items()} == per_day(postgres, "rejected_patches")
    assert raw[LAST]["rejets_par_motif"] == {"ref is not an ObjectId": 1}
    assert {day: m["valeurs_masquées"] for day, m in raw.items()} == per_day(
        postgres, "raw_patches", "coalesce(sum(redacted_values), 0)"
    )
    # the first name and email of each created young: two ops outside the allow-list
    assert {day: m["ops_hors_liste_autorisée"] for day, m in raw.items()} == {
        day: 2 * youngs for day, youngs in DAYS.items()
    }
    assert "patchs_par_seconde" not in raw[FIRST]
    assert raw[FIRST]["patchs_par_seconde_de_la_plage"] > 0
    events = latest(instance, "reconstructed_events", "2025-03-13")
    assert events["événements_par_nom"] == {
        "young.created": 2,
        "young.status.WAITING_VALIDATION": 2,
    }
    assert events["événements_de_jeunes"] == 4
    assert "désaccords" not in events and "désaccords_de_la_plage" in events


def test_a_one_day_run_shows_the_day_without_range(world):
    """A day re-run on its own shows its own figures, and no range; the other days keep
    those of the ranged run."""
    postgres, instance, resources = world
    tags = {
        "dagster/asset_partition_range_start": FIRST,
        "dagster/asset_partition_range_end": LAST,
    }
    run(resources, instance, tags=tags)
    run(resources, instance, partition_key="2025-03-11")
    rows = {asset: per_day(postgres, asset) for asset in ASSETS}
    for asset in ASSETS:
        alone = latest(instance, asset, "2025-03-11")
        assert alone["dagster/row_count"] == rows[asset]["2025-03-11"]
        assert not RANGE_KEYS & set(alone)
        assert not [key for key in alone if key.endswith(RANGE)]
        assert latest(instance, asset, FIRST)["plage"] == f"{FIRST} → {LAST}"
    raw = latest(instance, "raw_patches", "2025-03-11")
    assert raw["patchs_par_seconde"] > 0
    assert raw["fenêtre"].startswith("[2025-03-11T00:00:00+01:00")
    assert "désaccords" in latest(instance, "reconstructed_events", "2025-03-11")
