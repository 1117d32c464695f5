"""Views: the weekly funnel as published (``weekly_funnel``, protected by
:mod:`snu_assets.core.publication`) and exact without geography (``weekly_funnel_national``),
with cumulated counts, objectives and projections. SQL in ``sql/``; the publication's history
read through :mod:`snu_assets.io.publication`."""

from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
)

from snu_assets.core.publication.grain import COLUMNS
from snu_assets.core.publication.publish import PublicationOrderError, publish_week
from snu_assets.core.publication.series import Rules
from snu_assets.defs.freshness import WEEKLY_FRESHNESS
from snu_assets.defs.metadata import definition_metadata, described_schema, table_metadata
from snu_assets.defs.partitions import run_weeks, weekly_partitions
from snu_assets.defs.policies import OWNERS
from snu_assets.defs.report.progress import progress_chart_metadata
from snu_assets.defs.resources import (
    PostgresResource,
    PublicationRules,
)
from snu_assets.io.postgres import Slice, scalar
from snu_assets.io.publication import read_calendar, read_goals, read_history, read_logged

SQL = Path(__file__).parent / "sql"

# --------------------------------------------------------------------------- weekly funnel

WEEK = "week = %(week)s"

KEY_COLUMNS = ("week", "cohort", "level", "region", "department", "gender", "age_band")


def _week_params(week: date, k: int) -> dict:
    return {"week": week, "week_end": week + timedelta(days=7), "k": k}


def _funnel(postgres: PostgresResource, table: str, params: dict) -> int:
    text = postgres.sql(
        SQL / f"{table}.sql",
        funnel_events=SQL / "funnel_events.sql",
        projection=SQL / "projection.sql",
    )
    return postgres.replace_with_sql(table, text, WEEK, params)


#: the exact national sums of a weekly_funnel_national materialisation, by column
EXACT_KEYS = {
    "created": "créés_exact",
    "completed": "complétés_exact",
    "processed": "traités_exact",
    "validated": "validés_exact",
    "refused": "refusés_exact",
}


def _funnel_metadata(
    postgres: PostgresResource, table: str, rows: int, params: dict, where: str = WEEK
) -> dict:
    preview_columns = [
        "cohort",
        "gender",
        "age_band",
        "created",
        "completed",
        "processed",
        "validated",
        "refused",
        "validated_cumulated",
        "objective",
        "projection",
    ]
    sums = ", ".join(f"coalesce(sum({column}), 0)" for column in EXACT_KEYS)
    with postgres.connect() as conn:
        totals = (
            conn.execute(
                f'select {sums} from "{postgres.schema}".{table} where {where}', params
            ).fetchone()
            or ()
        )
    return {
        **table_metadata(
            postgres,
            table,
            preview_columns,
            where,
            params,
            "validated_cumulated desc nulls last, cohort",
        ),
        "dagster/row_count": rows,
        "semaine": str(params["week"]),
        **{key: int(v) for key, v in zip(EXACT_KEYS.values(), totals, strict=True)},
    }


# the previous week's publication: a week's protection builds on it (ordered in the graph,
# so that a backfill publishes the weeks in order)
PREVIOUS_WEEK = AssetDep(
    "weekly_funnel",
    partition_mapping=TimeWindowPartitionMapping(start_offset=-1, end_offset=-1),
)

#: what each metadata key of a weekly_funnel materialisation means (shown with it)
LEGEND = """| clé | signification |
|---|---|
| semaine | lundi de la semaine publiée (pour une plage de semaines, chaque semaine a sa matérialisation, avec ses propres chiffres) |
| déjà_publiée | la semaine l'était déjà : rien n'a été réécrit (les données arrivées depuis compteront dans la semaine suivante) |
| dagster/row_count | lignes de la semaine dans weekly_funnel |
| valeurs_publiées | valeurs d'effectif de la semaine dans weekly_funnel (10 par ligne), masquées comprises |
| valeurs_montrées | dont montrées (non masquées) |
| part_montrée | la part des valeurs montrées : valeurs_montrées / valeurs_publiées |
| masquées_primaires | masquées parce que petites (1 à k-1) |
| masquées_secondaires | masquées pour protéger les autres |
| national_publié | les totaux nationaux tels que publiés (s : masqué) ; chiffres exacts : weekly_funnel_national (ministère) |
| k, largeur_de_protection, semaines_par_bloc, détail | la règle appliquée (ressource publication) |
| par_semaine | pour une plage de semaines, les chiffres de chacune (le même tableau sur chaque semaine de la plage) |
"""


def _publish(postgres: PostgresResource, rules: Rules, week: date) -> dict:
    """Publish ``week`` once; the week's log (read back when it was already published)."""
    schema = postgres.schema
    with postgres.connect() as conn:
        logged = read_logged(conn, schema, week)
        if logged is not None:
            return {**logged, "week": week, "already_published": True}
        cumulated: dict[str, dict] = defaultdict(dict)
        for cohort, region, department, gender, band, *counts in conn.execute(
            postgres.sql(
                SQL / "weekly_funnel_cumulated.sql", funnel_events=SQL / "funnel_events.sql"
            ),
            {"week_end": week + timedelta(days=7)},
        ):
            cumulated[cohort][(region, department, gender, band)] = counts
        history = read_history(conn, schema, week, rules.block_weeks)
        goals = read_goals(conn, schema)
        calendar = read_calendar(conn, schema)
    try:
        publication = publish_week(cumulated, history, goals, calendar, week, rules)
    except PublicationOrderError as exc:
        raise Failure(description=str(exc), allow_retries=False) from exc
    stats = publication.stats
    log = {
        "week": week,
        "cohorts": len({row[1] for row in publication.published}),
        "small_cell_k": rules.k,
        "protection_width": rules.width,
        "block_weeks": rules.block_weeks,
        "detail": ",".join(d for _, d in rules.detail),
        "values_total": stats["values"],
        "values_shown": stats["shown"],
        "hidden_primary": stats["primary"],
        "hidden_secondary": stats["secondary"],
    }
    params = {"week": week}
    postgres.replace_slices(
        [
            Slice(
                "weekly_funnel",
                (*KEY_COLUMNS, *COLUMNS, "objective", "projection", "suppressed"),
                publication.published,
                WEEK,
                params,
            ),
            Slice(
                "weekly_funnel_hidden",
                (*KEY_COLUMNS, "measure", "suppression", "exact_value"),
                publication.hidden,
                WEEK,
                params,
            ),
            Slice("weekly_funnel_log", tuple(log), [tuple(log.values())], WEEK, params),
        ]
    )
    return {**log, "already_published": False}


def _national_published(postgres: PostgresResource, week: date) -> MetadataValue:
    """The national totals of ``week`` as published (``s``: hidden), per cohort."""
    columns = ", ".join(COLUMNS)
    with postgres.connect() as conn:
        rows = conn.execute(
            f"select cohort, {columns} from {postgres.table('weekly_funnel')} "
            "where week = %(week)s and level = 'national' and gender = 'all' "
            "and age_band = 'all' order by cohort",
            {"week": week},
        ).fetchall()
    lines = ["| cohorte | " + " | ".join(COLUMNS) + " |", "|" + "---|" * (len(COLUMNS) + 1)]
    for cohort, *values in rows:
        lines.append(
            f"| {cohort} | " + " | ".join("s" if v is None else str(v) for v in values) + " |"
        )
    return MetadataValue.md("\n".join(lines) if rows else "_aucune cohorte cette semaine_")


@asset(
    partitions_def=weekly_partitions,
    deps=["enriched_events", "inscription_goals", "cohorts", PREVIOUS_WEEK],
    group_name="views",
    owners=OWNERS,
    kinds={"postgres"},
    metadata={
        **definition_metadata("weekly_funnel"),
        # the tables the same step writes beside it (ministry only), not assets of their own
        "weekly_funnel_hidden": MetadataValue.table_schema(
            described_schema("weekly_funnel_hidden")
        ),
        "weekly_funnel_log": MetadataValue.table_schema(described_schema("weekly_funnel_log")),
        "légende": MetadataValue.md(LEGEND),
    },
    description="Entonnoir hebdomadaire publié (ce que lit snu_public), par semaine × cohorte à "
    "trois niveaux : national (genre × tranche d'âge et marges), région (par genre, par "
    "tranche d'âge), département (total) : créés, complétés, traités, validés, refusés "
    "dans la semaine et cumulés depuis l'ouverture de la cohorte, objectif, projection. "
    "Secret statistique : les effectifs de 1 à k-1 (SNU_SMALL_CELL_K, 5 par défaut) sont "
    "masqués (vides), et assez d'autres pour qu'aucune valeur masquée ne puisse être "
    "resserrée à moins de k par un lecteur de toutes les semaines publiées (contrôlé par "
    "programmation linéaire, bloc de semaines par bloc de semaines : le coût d'une semaine "
    "ne croît pas avec l'historique). Chaque semaine est publiée une fois, dans l'ordre "
    "(elle dépend de la précédente) ; les données arrivées après sa publication comptent "
    "dans la semaine suivante. Valeurs masquées et leur raison : weekly_funnel_hidden ; "
    "chiffres nationaux exacts : weekly_funnel_national (ministère).",
)
def weekly_funnel(
    context: AssetExecutionContext, postgres: PostgresResource, publication: PublicationRules
) -> MaterializeResult:
    postgres.ensure_schema()
    rules = publication.rules()
    logs = [_publish(postgres, rules, week) for week in run_weeks(context)]
    if len(logs) == 1:
        return MaterializeResult(metadata=_published_metadata(postgres, rules, logs[0]))
    # a range of weeks: each week's materialisation carries its own figures (one
    # MaterializeResult would give every week of the range the figures of one of them)
    lines = ["| semaine | déjà publiée | valeurs publiées | montrées |", "|---|---|---|---|"]
    for log in logs:
        context.add_asset_metadata(
            _published_metadata(postgres, rules, log), partition_key=log["week"].isoformat()
        )
        lines.append(
            f"| {log['week']} | {'oui' if log['already_published'] else 'non'} | "
            f"{log['values_total']} | {log['values_shown']} |"
        )
    return MaterializeResult(metadata={"par_semaine": MetadataValue.md("\n".join(lines))})


def _published_metadata(postgres: PostgresResource, rules: Rules, log: dict) -> dict:
    """The metadata of one week's materialisation of weekly_funnel (:data:`LEGEND`)."""
    with postgres.connect() as conn:
        rows = scalar(
            conn, f"select count(*) from {postgres.table('weekly_funnel')} where {WEEK}", log
        )
    return {
        "dagster/row_count": rows,
        "semaine": str(log["week"]),
        "déjà_publiée": log["already_published"],
        "valeurs_publiées": log["values_total"],
        "valeurs_montrées": log["values_shown"],
        "part_montrée": MetadataValue.float(
            round(log["values_shown"] / log["values_total"], 4) if log["values_total"] else 1.0
        ),
        "masquées_primaires": log["hidden_primary"],
        "masquées_secondaires": log["hidden_secondary"],
        "national_publié": _national_published(postgres, log["week"]),
        "k": rules.k,
        "largeur_de_protection": rules.width,
        "semaines_par_bloc": rules.block_weeks,
        "détail": ",".join(d for _, d in rules.detail),
    }


#: what each metadata key of a weekly_funnel_national materialisation (and of its check)
#: means (shown with it)
NATIONAL_LEGEND = """| clé | signification |
|---|---|
| semaine | lundi de la semaine |
| créés_exact, complétés_exact, traités_exact, validés_exact, refusés_exact | chiffres nationaux exacts (jamais masqués) de la semaine, toutes cohortes, genres et tranches d'âge confondus : sommes de created, completed, processed, validated et refused sur les lignes de la semaine dans weekly_funnel_national (dans la semaine, non cumulés) |
| dagster/row_count | lignes de la semaine dans weekly_funnel_national (cohorte × genre × tranche d'âge) |
| aperçu | les premières lignes de la semaine, par validés cumulés décroissants |
| progression | validés cumulés par cohorte jusqu'à cette semaine, avec objectifs et projections |
| validés_dans_la_vue | (contrôle validated_equals_events) le chiffre validés_exact |
| événements_de_validation | (contrôle validated_equals_events) événements young.status.VALIDATED des jours de la semaine dans reconstructed_events |
| par_semaine | (contrôle validated_equals_events, pour une plage de semaines) les deux chiffres de chaque semaine ; chaque semaine de la plage a sa matérialisation, avec ses propres chiffres |
"""


@asset(
    partitions_def=weekly_partitions,
    freshness_policy=WEEKLY_FRESHNESS,
    deps=["enriched_events", "inscription_goals", "cohorts"],
    group_name="views",
    owners=OWNERS,
    kinds={"postgres"},
    metadata={
        **definition_metadata("weekly_funnel_national"),
        "légende": MetadataValue.md(NATIONAL_LEGEND),
    },
    check_specs=[
        AssetCheckSpec(
            "validated_equals_events",
            asset="weekly_funnel_national",
            blocking=True,
            description="Le nombre national de validés de la semaine (validés_exact) est égal "
            "au nombre d'événements young.status.VALIDATED des jours de la semaine dans "
            "reconstructed_events.",
        )
    ],
    description="Entonnoir hebdomadaire sans géographie (par semaine × cohorte × genre × "
    "tranche d'âge), calculé directement à partir des événements : les chiffres nationaux "
    "y sont exacts (jamais masqués ; réservé au ministère). L'objectif est l'objectif "
    "national de la cohorte (répété sur chaque ligne).",
)
def weekly_funnel_national(
    context: AssetExecutionContext, postgres: PostgresResource, publication: PublicationRules
) -> MaterializeResult:
    weeks = [
        _national_week(postgres, _week_params(week, publication.small_cell_k))
        for week in run_weeks(context)
    ]
    if len(weeks) == 1:
        [(metadata, validated, events)] = weeks
        check = AssetCheckResult(
            check_name="validated_equals_events",
            passed=validated == events,
            metadata={"validés_dans_la_vue": validated, "événements_de_validation": events},
        )
        return MaterializeResult(metadata=metadata, check_results=[check])
    # a range of weeks, each computed on its own: each week's materialisation carries its
    # own figures, the check (one for the run) every week's
    lines = ["| semaine | validés_dans_la_vue | événements_de_validation |", "|---|---|---|"]
    for metadata, validated, events in weeks:
        context.add_asset_metadata(metadata, partition_key=metadata["semaine"])
        lines.append(f"| {metadata['semaine']} | {validated} | {events} |")
    check = AssetCheckResult(
        check_name="validated_equals_events",
        passed=all(validated == events for _, validated, events in weeks),
        metadata={"par_semaine": MetadataValue.md("\n".join(lines))},
    )
    return MaterializeResult(check_results=[check])


def _national_week(postgres: PostgresResource, params: dict) -> tuple[dict, int, int]:
    """Compute one week of weekly_funnel_national: its materialisation's metadata
    (:data:`NATIONAL_LEGEND`), its validated count and the week's VALIDATED events."""
    rows = _funnel(postgres, "weekly_funnel_national", params)
    metadata = _funnel_metadata(postgres, "weekly_funnel_national", rows, params)
    # the chart helper of the report names its entry in English: named in French here
    [chart] = progress_chart_metadata(postgres, params["week"]).values()
    metadata["progression"] = chart
    with postgres.connect() as conn:
        events = scalar(
            conn,
            f'select count(*) from "{postgres.schema}".reconstructed_events '
            "where event_name = 'young.status.VALIDATED' "
            "and partition_date >= %(week)s and partition_date < %(week_end)s",
            params,
        )
    return metadata, metadata[EXACT_KEYS["validated"]], events
