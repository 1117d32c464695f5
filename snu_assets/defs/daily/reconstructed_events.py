"""Layer 2 — reconstruct: for each patch of the day, the allow-listed state of its record
just before and just after it, rebuilt from the whole patch log and the current document,
and the events it makes (``young.created``, ``young.status.VALIDATED`` ...)."""

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date

import psycopg
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSpec,
    MaterializeResult,
)

from snu_assets.core.privacy.audit import REREAD_ROWS, AuditReport
from snu_assets.daily_load.rebuild import Reconstruction
from snu_assets.daily_load.rows import WINDOW, WindowParams
from snu_assets.defs.daily.config import DailyLoadConfig
from snu_assets.defs.daily.raw_patches import window_params
from snu_assets.defs.metadata import (
    DayColumn,
    Metadata,
    audit_metadata,
    daily_metadata,
    day_previews,
    definition_metadata,
    table_identity,
    unique_ids_check,
)
from snu_assets.defs.policies import OWNERS
from snu_assets.defs.resources import PostgresResource
from snu_assets.io.audit import audit_table

# ------------------------------------------------------------------------------ checks

ASSET = "reconstructed_events"
CHECKS = [
    AssetCheckSpec(
        "no_duplicate_event_ids",
        asset=ASSET,
        blocking=True,
        description="Aucun event_id n'apparaît deux fois.",
    ),
    AssetCheckSpec(
        "no_personal_data",
        asset=ASSET,
        blocking=True,
        description="before et after ne contiennent que des champs de la liste autorisée, et "
        "aucune valeur ne ressemble à une donnée personnelle.",
    ),
    AssetCheckSpec(
        "consistent_with_documents",
        asset=ASSET,
        description="L'état after du dernier patch de chaque enregistrement est égal à "
        "son document actuel (restreint à la liste autorisée), et les valeurs écrites par les "
        "patchs ne sont contredites par un état ultérieur que pour au plus "
        "max_disagreement_rate des opérations (configuration d'exécution ; trous dans "
        "l'historique ; SNU_MAX_DISAGREEMENT_RATE, 5 % par défaut).",
    ),
]


def check_duplicate_ids(
    conn: psycopg.Connection, schema: str, table: str, params: WindowParams
) -> AssetCheckResult:
    return unique_ids_check(
        conn, schema, table, "event_id", "no_duplicate_event_ids", WINDOW, params
    )


def check_events_personal_data(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    params: WindowParams,
    extra_columns: Sequence[str] = (),
    state_columns: Sequence[str] = ("before", "after"),
    produced: AuditReport | None = None,
    reread_rows: int | None = REREAD_ROWS,
    extra_metadata: Metadata | None = None,
) -> AssetCheckResult:
    """The PII check of an events table: its rows re-read from PostgreSQL (a sample of a
    large slice, see :func:`audit_table`), and ``produced``, the audit of every row where it
    was produced (:class:`~snu_assets.core.privacy.audit.RowAudit`)."""
    report = audit_table(
        conn,
        f'"{schema}".{table}',
        WINDOW,
        params,
        id_column="event_id",
        state_columns=state_columns,
        plain_columns=extra_columns,
        # an application's young_state holds its young's fields: the young allow-list judges it
        state_models={"young_state": "young"},
        reread_rows=reread_rows,
    )
    if produced is not None:
        report.merge(produced)
    return AssetCheckResult(
        asset_key=table,
        check_name="no_personal_data",
        passed=report.passed,
        metadata={**audit_metadata(report, produced), **(extra_metadata or {})},
    )


def check_consistency(stats: Counter[str], threshold: float) -> AssetCheckResult:
    rate = stats["disagreements"] / max(stats["anchored_ops"], 1)
    return AssetCheckResult(
        asset_key=ASSET,
        check_name="consistent_with_documents",
        passed=rate <= threshold,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "disagreement_rate": round(rate, 5),
            "threshold": threshold,
            "disagreements": stats["disagreements"],
            "records_whose_last_state_differs_from_document": stats[
                "last_state_differs_from_document"
            ],
            "records_with_document": stats["records_with_document"],
        },
    )


# ------------------------------------------------------------------------------- asset

SPEC = AssetSpec(
    ASSET,
    deps=["raw_patches"],
    group_name="reconstruct",
    tags={"layer": "reconstruct", "pii": "scrubbed"},
    owners=OWNERS,
    kinds={"mongodb", "postgres"},
    metadata=definition_metadata("reconstructed_events"),
    description="Une ligne par événement : pour chaque patch du jour, l'état (restreint à la "
    "liste autorisée) du jeune ou de la candidature juste avant et juste après lui, "
    "reconstruit à partir de tout l'historique des patchs et du document actuel. Noms "
    "d'événements : young.created, young.<champ>.<NOUVELLE_VALEUR> pour status, "
    "statusPhase1-3 et cohort, application.created, application.status.<NOUVELLE_VALEUR>, "
    "<modèle>.deleted.",
)


def reconstruction_result(
    context: AssetExecutionContext,
    config: DailyLoadConfig,
    postgres: PostgresResource,
    work: Reconstruction,
    count: int,
    elapsed: float,
) -> MaterializeResult:
    """The materialisation of ``reconstructed_events`` and its checks, once loaded."""
    params = window_params(context)
    stats = work.stats
    with postgres.connect() as conn:
        results = [
            check_duplicate_ids(conn, postgres.schema, ASSET, params),
            check_events_personal_data(
                conn,
                postgres.schema,
                ASSET,
                params,
                state_columns=("before", "after", "young_state"),
                produced=work.audit.report,
            ),
            check_consistency(stats, config.max_disagreement_rate),
        ]
    context.log.info(
        f"reconstructed_events {context.partition_key_range.start}.."
        f"{context.partition_key_range.end}: {count} events of "
        f"{stats['records']} records in {elapsed:.1f}s"
    )
    metadata = daily_metadata(
        context,
        ASSET,
        events_days(postgres, context.partition_keys, params),
        DAY_COLUMNS,
        {
            "enregistrements_reconstruits": stats["records"],
            "désaccords": stats["disagreements"],
            "valeurs_d_origine_manquantes": stats["missing_original_values"],
            "événements_par_seconde": round(count / max(elapsed, 1e-9)),
        },
    )
    return MaterializeResult(
        asset_key=ASSET,
        metadata={**table_identity(postgres, ASSET), **metadata},
        check_results=results,
    )


PREVIEW_COLUMNS = ["partition_date", "event_name", "before", "after", "age"]
#: a ranged run's per-day table (metadata ``par_jour``)
DAY_COLUMNS = (
    DayColumn("événements", "dagster/row_count", "lignes_de_la_plage"),
    DayColumn("de jeunes", "événements_de_jeunes", "événements_de_jeunes_de_la_plage"),
    DayColumn(
        "de candidatures", "événements_de_candidatures", "événements_de_candidatures_de_la_plage"
    ),
)


def events_days(
    postgres: PostgresResource, days: Sequence[str], params: WindowParams
) -> dict[str, Metadata]:
    """Each day's figures, read back from ``reconstructed_events`` once loaded: its events,
    by model and by name, and its first rows."""
    by_name: dict[date, Counter[str]] = defaultdict(Counter)
    by_model: dict[date, Counter[str]] = defaultdict(Counter)
    with postgres.connect() as conn:
        for day, model, name, count in conn.execute(
            f"select partition_date, model, event_name, count(*) from {postgres.table(ASSET)} "
            f"where {WINDOW} group by 1, 2, 3",
            params,
        ).fetchall():
            by_name[day][name] += count
            by_model[day][model] += count
    previews = day_previews(postgres, ASSET, PREVIEW_COLUMNS, days, "occurred_at, event_id")
    figures = {}
    for key in days:
        day = date.fromisoformat(key)
        figures[key] = {
            "dagster/row_count": by_name[day].total(),
            "événements_de_jeunes": by_model[day]["young"],
            "événements_de_candidatures": by_model[day]["application"],
            "événements_par_nom": dict(sorted(by_name[day].items())),
            "aperçu": previews[key],
        }
    return figures
