"""Layer 3 — enrich: the events with plain columns for dashboards (day, Monday week, age
band, department/region/academy from the shipped reference, statuses before/after), built
set-based in PostgreSQL by ``sql/enrich_events.sql``."""

import csv
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    TableColumnDep,
    TableColumnLineage,
    asset,
)

from snu_assets.core.privacy.audit import REREAD_ROWS
from snu_assets.core.reference.geography import csv_path
from snu_assets.daily_load.rows import EVENT_COLUMNS, WindowParams
from snu_assets.defs.daily.reconstructed_events import (
    check_duplicate_ids,
    check_events_personal_data,
)
from snu_assets.defs.freshness import DAILY_FRESHNESS
from snu_assets.defs.metadata import (
    DayColumn,
    Metadata,
    daily_metadata,
    day_previews,
    definition_metadata,
    table_identity,
)
from snu_assets.defs.partitions import daily_backfill_policy, daily_partitions
from snu_assets.defs.policies import OWNERS
from snu_assets.defs.resources import PostgresResource
from snu_assets.io.postgres import scalar

SQL = Path(__file__).parent / "sql"

WINDOW = "partition_date >= %(start)s and partition_date < %(end)s"
PLAIN_TEXT_COLUMNS = (
    "status_before",
    "status_after",
    "cohort",
    "gender",
    "age_band",
    "department",
    "region",
    "academy",
    "grade",
    "source",
    "author_role",
    "impersonator_role",
)
#: the preview in the UI: the event and its breakdowns up to the region
PREVIEW_COLUMNS = [
    "event_day",
    "event_name",
    *PLAIN_TEXT_COLUMNS[: PLAIN_TEXT_COLUMNS.index("region") + 1],
]

CHECKS = [
    AssetCheckSpec(
        "no_duplicate_event_ids",
        asset="enriched_events",
        blocking=True,
        description="Aucun event_id n'apparaît deux fois.",
    ),
    AssetCheckSpec(
        "no_personal_data",
        asset="enriched_events",
        blocking=True,
        description="before et after ne contiennent que des champs de la liste autorisée ; "
        "aucune valeur JSONB ni aucune colonne simple ne ressemble à une donnée personnelle.",
    ),
]


def _from_events(column: str) -> TableColumnDep:
    return TableColumnDep(asset_key=AssetKey("reconstructed_events"), column_name=column)


#: where the plain columns come from (cheap: declared, not parsed from the SQL)
COLUMN_LINEAGE = TableColumnLineage(
    deps_by_column={
        **{c: [_from_events(c)] for c in EVENT_COLUMNS if c != "young_state"},
        "event_day": [_from_events("partition_date")],
        "event_week": [_from_events("partition_date")],
        "age_band": [_from_events("age")],
        "status_before": [_from_events("before")],
        "status_after": [_from_events("after")],
        # a young's own state, or for an application's event its young's then
        **{
            c: [_from_events("after"), _from_events("before"), _from_events("young_state")]
            for c in (
                "cohort",
                "gender",
                "department",
                "region",
                "academy",
                "grade",
                "qpv",
                "source",
                "department_code",
            )
        },
        **{
            c: [TableColumnDep(asset_key=AssetKey("raw_patches"), column_name=c)]
            for c in ("author_role", "impersonator_role")
        },
    }
)


def load_geography(postgres: PostgresResource) -> int:
    """Refresh ``ref_departments`` from the CSV shipped with the package."""
    with open(csv_path(), newline="", encoding="utf-8") as handle:
        rows = [
            (r["department_code"], r["department"], r["region"], r["academy"])
            for r in csv.DictReader(handle)
        ]
    return postgres.replace_rows(
        "ref_departments", ("department_code", "department", "region", "academy"), rows, "true", {}
    )


@asset(
    partitions_def=daily_partitions,
    backfill_policy=daily_backfill_policy,
    freshness_policy=DAILY_FRESHNESS,
    deps=["reconstructed_events"],
    check_specs=CHECKS,
    group_name="enrich",
    owners=OWNERS,
    tags={"layer": "enrich", "published": "true"},
    kinds={"postgres"},
    metadata=definition_metadata("enriched_events"),
    description="Les événements avec, à côté des états JSONB before et after, des colonnes "
    "simples : event_day, event_week (lundi), statut avant et après, cohorte, genre, âge et "
    "tranche d'âge (la date de naissance elle-même n'est jamais conservée ; âges comptés "
    "dans SNU_TIMEZONE), département, région et académie d'après le référentiel des "
    "départements français livré avec le code, niveau scolaire (grade), qpv, source, rôles "
    "de l'auteur et de l'administrateur agissant à sa place. L'événement d'une candidature "
    "porte les valeurs de son jeune telles qu'elles étaient au moment de l'événement "
    "(jointure à date sur les états reconstruits du jeune).",
)
def enriched_events(
    context: AssetExecutionContext, postgres: PostgresResource
) -> MaterializeResult:
    window = context.partition_time_window
    postgres.ensure_schema()
    load_geography(postgres)
    params = {"start": window.start.date(), "end": window.end.date()}
    started = time.perf_counter()
    postgres.replace_with_sql(
        "enriched_events", postgres.sql(SQL / "enrich_events.sql"), WINDOW, params
    )
    elapsed = time.perf_counter() - started
    with postgres.connect() as conn:
        # before/after are copies of reconstructed_events' states, every one of them audited
        # where it was produced: the check re-reads a sample of them, and all of them when
        # one is not such a copy
        not_copies = scalar(
            conn,
            f'select count(*) from "{postgres.schema}".enriched_events e '
            "where e.partition_date >= %(start)s and e.partition_date < %(end)s "
            f'and not exists (select 1 from "{postgres.schema}".reconstructed_events r '
            "where r.event_id = e.event_id and r.before is not distinct from e.before "
            "and r.after is not distinct from e.after)",
            params,
        )
        personal = check_events_personal_data(
            conn,
            postgres.schema,
            "enriched_events",
            params,
            PLAIN_TEXT_COLUMNS,
            reread_rows=None if not_copies else REREAD_ROWS,
            extra_metadata={"states_not_copied_from_reconstructed_events": not_copies},
        )
        results = [
            check_duplicate_ids(conn, postgres.schema, "enriched_events", params),
            personal,
        ]
    metadata = daily_metadata(
        context,
        "enriched_events",
        enriched_days(postgres, context.partition_keys, params),
        DAY_COLUMNS,
        {"secondes": round(elapsed, 2)},
    )
    return MaterializeResult(
        metadata={
            **table_identity(postgres, "enriched_events"),
            "dagster/column_lineage": COLUMN_LINEAGE,
            **metadata,
        },
        check_results=results,
    )


#: a ranged run's per-day table (metadata ``par_jour``)
DAY_COLUMNS = (
    DayColumn("lignes", "dagster/row_count", "lignes_de_la_plage"),
    DayColumn(
        "événements de jeunes sans département connu",
        "événements_de_jeunes_sans_département_connu",
        "événements_de_jeunes_sans_département_connu_de_la_plage",
    ),
)


def enriched_days(
    postgres: PostgresResource, days: Sequence[str], params: WindowParams
) -> dict[str, Metadata]:
    """Each day's figures, read back from ``enriched_events`` once loaded: its rows, its
    young's events whose department is unknown, its first rows."""
    with postgres.connect() as conn:
        counts = {
            day: (int(rows), int(unmatched))
            for day, rows, unmatched in conn.execute(
                "select partition_date, count(*), "
                "count(*) filter (where model = 'young' and department_code is null) "
                f"from {postgres.table('enriched_events')} where {WINDOW} group by 1",
                params,
            ).fetchall()
        }
    previews = day_previews(
        postgres, "enriched_events", PREVIEW_COLUMNS, days, "occurred_at, event_id"
    )
    figures = {}
    for key in days:
        rows, unmatched = counts.get(date.fromisoformat(key), (0, 0))
        figures[key] = {
            "dagster/row_count": rows,
            "événements_de_jeunes_sans_département_connu": unmatched,
            "aperçu": previews[key],
        }
    return figures
