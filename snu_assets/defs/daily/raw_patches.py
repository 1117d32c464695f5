"""Layer 1 — extract: the day's patches from MongoDB into ``raw_patches``, personal data
stripped at this edge; unusable patches into ``rejected_patches`` with a reason."""

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

import psycopg
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSpec,
    MaterializeResult,
)

from snu_assets import settings
from snu_assets.core.privacy.audit import AuditReport
from snu_assets.daily_load.extract import Extract
from snu_assets.daily_load.rows import WINDOW, WindowParams
from snu_assets.defs.daily.config import DailyLoadConfig
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
from snu_assets.io.postgres import scalar

PREVIEW_COLUMNS = ["partition_date", "occurred_at", "model", "author_role", "ops"]


# ------------------------------------------------------------------------------ checks

ASSET = "raw_patches"
CHECKS = [
    AssetCheckSpec(
        "no_duplicate_patch_ids",
        asset=ASSET,
        blocking=True,
        description="Aucun patch_id n'apparaît deux fois dans raw_patches.",
    ),
    AssetCheckSpec(
        "no_personal_data",
        asset=ASSET,
        blocking=True,
        description="Chaque chemin d'opération est dans la liste autorisée, et aucune valeur "
        "ne ressemble à une adresse e-mail, un numéro de téléphone, une adresse postale, un "
        "numéro de sécurité sociale, une date de naissance exacte ou un identifiant MongoDB.",
    ),
    AssetCheckSpec(
        "rejection_rate",
        asset=ASSET,
        description="La part des patchs de la fenêtre mis en quarantaine dans "
        "rejected_patches ne dépasse pas le max_rejection_rate de la configuration d'exécution "
        "(SNU_MAX_REJECTION_RATE, 1 % par défaut).",
    ),
    AssetCheckSpec(
        "complete",
        asset=ASSET,
        blocking=True,
        description="Chaque patch de la fenêtre présent dans MongoDB est dans raw_patches ou "
        "dans rejected_patches.",
    ),
]


def check_duplicates(
    conn: psycopg.Connection, schema: str, params: WindowParams
) -> AssetCheckResult:
    return unique_ids_check(
        conn, schema, ASSET, "patch_id", "no_duplicate_patch_ids", WINDOW, params
    )


def check_personal_data(
    conn: psycopg.Connection,
    schema: str,
    params: WindowParams,
    produced: AuditReport | None = None,
) -> AssetCheckResult:
    """The PII check of ``raw_patches``: its rows re-read from PostgreSQL (a sample of a large
    slice, see :func:`audit_table`), and ``produced``, the audit of every row where it was
    produced (:class:`~snu_assets.core.privacy.audit.RowAudit`)."""
    report = audit_table(
        conn,
        f'"{schema}".raw_patches',
        WINDOW,
        params,
        id_column="patch_id",
        ops_column="ops",
        plain_columns=("author_role",),
    )
    if produced is not None:
        report.merge(produced)
    return AssetCheckResult(
        asset_key=ASSET,
        check_name="no_personal_data",
        passed=report.passed,
        metadata=audit_metadata(report, produced),
    )


def check_rejection_rate(kept: int, rejected: dict[str, int], threshold: float) -> AssetCheckResult:
    total = kept + sum(rejected.values())
    rate = sum(rejected.values()) / total if total else 0.0
    return AssetCheckResult(
        asset_key=ASSET,
        check_name="rejection_rate",
        passed=rate <= threshold,
        metadata={
            "rejection_rate": round(rate, 5),
            "threshold": threshold,
            "rejected_by_reason": rejected,
        },
    )


def check_complete(
    conn: psycopg.Connection, schema: str, params: WindowParams, expected: int
) -> AssetCheckResult:
    landed = scalar(
        conn,
        f'select (select count(*) from "{schema}".raw_patches where {WINDOW}) + '
        f'(select count(*) from "{schema}".rejected_patches where {WINDOW})',
        params,
    )
    return AssetCheckResult(
        asset_key=ASSET,
        check_name="complete",
        passed=landed == expected,
        severity=AssetCheckSeverity.ERROR,
        metadata={"patches_in_mongodb": expected, "rows_raw_plus_rejected": landed},
    )


# ------------------------------------------------------------------------------- asset

SPEC = AssetSpec(
    ASSET,
    group_name="extract",
    tags={"layer": "extract", "pii": "scrubbed"},
    owners=OWNERS,
    kinds={"mongodb", "postgres"},
    metadata=definition_metadata("raw_patches"),
    description="Une ligne par patch MongoDB du jour (patchs des jeunes et des candidatures), "
    "débarrassée des données personnelles dès l'extraction : seuls les chemins d'opération de "
    "la liste autorisée restent, chaque identifiant est remplacé par un pseudonyme (hachage "
    "à clé), l'auteur par son seul rôle. Les patchs inutilisables vont dans "
    "rejected_patches, avec leur motif.",
)


def window_params(context: AssetExecutionContext) -> WindowParams:
    window = context.partition_time_window
    return {"start": window.start.date(), "end": window.end.date()}


def extract_result(
    context: AssetExecutionContext,
    config: DailyLoadConfig,
    postgres: PostgresResource,
    extract: Extract,
    in_mongodb: int,
    elapsed: float,
) -> MaterializeResult:
    """The materialisation of ``raw_patches`` and its checks, once its slices are loaded;
    ``in_mongodb``: the window's patches MongoDB returned (``complete`` compares it with the
    rows landed)."""
    params = window_params(context)
    expected = in_mongodb - extract.stats["duplicates_skipped"]
    with postgres.connect() as conn:
        results = [
            check_duplicates(conn, postgres.schema, params),
            check_personal_data(conn, postgres.schema, params, extract.audit.report),
            check_complete(conn, postgres.schema, params, expected),
        ]
    reasons = extract.reasons()
    results.append(check_rejection_rate(extract.kept, reasons, config.max_rejection_rate))
    handled = extract.kept + len(extract.rejected)
    context.log.info(
        f"raw_patches {context.partition_key_range.start}..{context.partition_key_range.end}: "
        f"{extract.kept} patches kept, {len(extract.rejected)} rejected in {elapsed:.1f}s "
        f"({handled / max(elapsed, 1e-9):.0f} patches/s)"
    )
    metadata = daily_metadata(
        context,
        ASSET,
        raw_patches_days(postgres, extract, context.partition_keys, params),
        DAY_COLUMNS,
        {"patchs_par_seconde": round(handled / max(elapsed, 1e-9))},
    )
    return MaterializeResult(
        asset_key=ASSET,
        metadata={**table_identity(postgres, ASSET), **metadata},
        check_results=results,
    )


#: a ranged run's per-day table (metadata ``par_jour``)
DAY_COLUMNS = (
    DayColumn("lignes", "dagster/row_count", "lignes_de_la_plage"),
    DayColumn("rejetés", "rejetés", "rejetés_de_la_plage"),
    DayColumn("valeurs masquées", "valeurs_masquées", "valeurs_masquées_de_la_plage"),
    DayColumn(
        "ops hors liste autorisée",
        "ops_hors_liste_autorisée",
        "ops_hors_liste_autorisée_de_la_plage",
    ),
)


def raw_patches_days(
    postgres: PostgresResource, extract: Extract, days: Sequence[str], params: WindowParams
) -> dict[str, Metadata]:
    """Each day's figures, once its rows are in: what ``raw_patches`` and ``rejected_patches``
    hold for the day (read back), the redactions and dropped ops of its rows (counted by the
    extract), its window and its first rows."""
    with postgres.connect() as conn:
        kept = {
            day: (int(rows), int(redacted))
            for day, rows, redacted in conn.execute(
                f"select partition_date, count(*), coalesce(sum(redacted_values), 0) "
                f"from {postgres.table(ASSET)} where {WINDOW} group by 1",
                params,
            ).fetchall()
        }
        rejected: dict[date, dict[str, int]] = defaultdict(dict)
        for day, reason, count in conn.execute(
            f"select partition_date, reason, count(*) from {postgres.table('rejected_patches')} "
            f"where {WINDOW} group by 1, 2 order by 1, 2",
            params,
        ).fetchall():
            rejected[day][reason] = int(count)
    previews = day_previews(postgres, ASSET, PREVIEW_COLUMNS, days, "occurred_at, patch_id")
    figures = {}
    for key in days:
        day = date.fromisoformat(key)
        rows, redacted = kept.get(day, (0, 0))
        figures[key] = {
            "dagster/row_count": rows,
            "fenêtre": day_window(day),
            "rejetés": sum(rejected[day].values()),
            "rejets_par_motif": rejected[day],
            "valeurs_masquées": redacted,
            "masquages_par_motif": extract.reasons("redacted", day),
            "ops_hors_liste_autorisée": extract.by_day.get(day, Counter())["dropped_ops"],
            "aperçu": previews[key],
        }
    return figures


def day_window(day: date) -> str:
    """The instants of a partition day, ``[start, end)`` in ``SNU_TIMEZONE``."""
    zone = settings.timezone()
    start, end = (datetime.combine(d, time.min, zone) for d in (day, day + timedelta(days=1)))
    return f"[{start.isoformat()}, {end.isoformat()})"
