"""Layer 1 — extract: the day's patches from MongoDB into ``raw_patches``, personal data
stripped at this edge; unusable patches into ``rejected_patches`` with a reason."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSpec,
    MaterializeResult,
)

from snu_assets.core.privacy.audit import AuditReport
from snu_assets.daily_load.extract import Extract
from snu_assets.daily_load.rows import WINDOW
from snu_assets.defs.daily.config import DailyLoadConfig
from snu_assets.defs.metadata import (
    audit_metadata,
    definition_metadata,
    table_metadata,
    unique_ids_check,
)
from snu_assets.defs.policies import OWNERS
from snu_assets.defs.resources import PostgresResource
from snu_assets.io.audit import audit_table

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


def check_duplicates(conn, schema: str, params: dict) -> AssetCheckResult:
    return unique_ids_check(
        conn, schema, ASSET, "patch_id", "no_duplicate_patch_ids", WINDOW, params
    )


def check_personal_data(
    conn, schema: str, params: dict, produced: AuditReport | None = None
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


def check_complete(conn, schema: str, params: dict, expected: int) -> AssetCheckResult:
    landed = conn.execute(
        f'select (select count(*) from "{schema}".raw_patches where {WINDOW}) + '
        f'(select count(*) from "{schema}".rejected_patches where {WINDOW})',
        params,
    ).fetchone()[0]
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


def window_params(context: AssetExecutionContext) -> dict:
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
    window = context.partition_time_window
    return MaterializeResult(
        asset_key=ASSET,
        metadata={
            **table_metadata(
                postgres, "raw_patches", PREVIEW_COLUMNS, WINDOW, params, "occurred_at, patch_id"
            ),
            "dagster/row_count": extract.kept,
            "window": f"[{window.start.isoformat()}, {window.end.isoformat()})",
            "rejected": len(extract.rejected),
            "rejected_reasons": reasons,
            "redacted_values": extract.stats["redacted_values"],
            "redacted_by_reason": extract.reasons("redacted"),
            "dropped_ops_outside_allow_list": extract.stats["dropped_ops"],
            "patches_per_second": round(handled / max(elapsed, 1e-9)),
        },
        check_results=results,
    )
