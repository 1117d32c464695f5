"""Layer 5 — the weekly report, in two editions (:mod:`snu_assets.defs.report.editions`), each a
self-contained HTML page (inline CSS, chart embedded as a base64 PNG) and a PDF of it when
headless Chromium is installed:

* ``weekly_report_public``: the published figures only (what ``snu_public`` reads); it may be
  distributed. Its check proves that it prints nothing but published values.
* ``weekly_report_restricted``: the exact figures, for the ministry, marked *Diffusion
  restreinte* in its title, its file name, on every printed page and in its metadata.

Files: ``<reports dir>/rapport_hebdomadaire_<monday>_edition_publique.html`` and
``..._diffusion_restreinte.html`` (and ``.pdf``), where the reports dir is ``SNU_REPORTS_DIR``
or ``<state dir>/reports`` (read at run time). Both are replaced atomically: a reader never
sees half a file. Aggregated tables only: no personal data can reach them.
"""

import base64
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from snu_assets import settings
from snu_assets.defs.partitions import run_weeks, weekly_partitions
from snu_assets.defs.policies import OWNERS
from snu_assets.defs.report.data import published_totals, week_figures
from snu_assets.defs.report.editions import (
    FUNNEL,
    PUBLIC,
    RESTRICTED,
    Edition,
    build_page,
    printed_cells,
    unpublished_figures,
)
from snu_assets.defs.report.i18n import Formatter
from snu_assets.defs.report.progress import chart_markdown, progress_chart
from snu_assets.defs.report.render import (
    chromium_binary,
    render_with_chromium,
    reports_dir,
    write_atomically,
)
from snu_assets.defs.resources import PostgresResource, PublicationRules

TEMPLATE = Path(__file__).parent / "template.html"

#: what each metadata key of a report's materialisation means (shown with it)
LEGEND = """| clé | signification |
|---|---|
| édition | publique (chiffres publiés, diffusable) ou diffusion restreinte (chiffres exacts, ministère seulement) |
| fichier_html, fichier_pdf | les fichiers écrits (le PDF quand Chromium est installé) |
| pdf | comment le PDF a été produit, ou pourquoi il ne l'a pas été |
| semaine, langue | le lundi de la semaine, la langue du document |
| national | le tableau national tel qu'imprimé (s : masqué dans l'édition publique) |
| chiffres_imprimés | nombre de chiffres des tableaux du document |
| chiffres_masqués | édition publique : imprimés s ; diffusion restreinte : exacts mais masqués dans l'édition publique |
| régions_sans_inscription | régions regroupées sur une ligne (aucune inscription, ni dans la semaine ni en cumul) |
| graphique | le graphique d'avancement du document |
| octets_html | taille de la page HTML |
| par_semaine | pour une plage de semaines, le fichier de chacune (chaque semaine porte ses propres chiffres) |
"""


def render_html(context: dict[str, Any], chart_png: bytes) -> str:
    environment = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=False, lstrip_blocks=False
    )
    template = environment.from_string(TEMPLATE.read_text(encoding="utf-8"))
    return template.render(**context, chart_b64=base64.b64encode(chart_png).decode("ascii"))


def national_markdown(context: dict[str, Any], fmt: Formatter) -> MetadataValue:
    """The national table as printed (``s``: hidden), one line per cohort and the total."""
    columns = ["cohorte", *(fmt.message(c) for c in FUNNEL), fmt.message("validated_cumulated")]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in [*context["national"], context["national_total"]] if context["national"] else []:
        label = row.get("label", fmt.message("all_cohorts"))
        texts = [c.text for c in row["cells"][: len(FUNNEL) + 1]]
        lines.append("| " + " | ".join([label, *texts]).replace("\u202f", " ") + " |")
    return MetadataValue.md("\n".join(lines))


class WeeklyReportConfig(Config):
    """Configuration d'exécution du rapport hebdomadaire : sa langue."""

    language: str = Field(
        default=settings.current().report_language,
        description="Langue du document, de son graphique et de ses formats de nombres et de "
        "dates : fr (le français du ministère) ou en (anglais) ; par défaut "
        "SNU_REPORT_LANGUAGE.",
    )


def per_week(
    context: AssetExecutionContext, results: list[tuple[date, dict[str, Any]]]
) -> dict[str, Any]:
    """The run's metadata: the week's for one week; for a range, each week's own on its
    partition and a list of the files for the run."""
    if len(results) == 1:
        return results[0][1]
    for week, metadata in results:
        context.add_asset_metadata(metadata, partition_key=week.isoformat())
    lines = ["| semaine | fichier_html |", "|---|---|"]
    lines += [f"| {week} | {m['fichier_html'].value} |" for week, m in results]
    return {"par_semaine": MetadataValue.md("\n".join(lines))}


def _write_report(
    week: date,
    context: AssetExecutionContext,
    postgres: PostgresResource,
    k: int,
    language: str,
    edition: Edition,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Build, render and write ``edition`` for ``week``: (page context, metadata)."""
    fmt = Formatter(language)  # refuses a language it does not know
    page = build_page(week_figures(postgres, week, edition), fmt, k)
    chart = progress_chart(postgres, week, fmt.language, edition)
    html = render_html(page, chart)

    html_path = reports_dir() / edition.file_name(week, "html")
    write_atomically(html_path, html.encode("utf-8"))
    metadata: dict[str, Any] = {
        "édition": edition.label_fr,
        "semaine": week.isoformat(),
        "langue": fmt.language,
        "fichier_html": MetadataValue.path(str(html_path)),
    }
    pdf_path = html_path.with_suffix(".pdf")
    if chromium_binary():
        render_with_chromium(html_path, pdf=pdf_path)
        metadata["fichier_pdf"] = MetadataValue.path(str(pdf_path))
        metadata["pdf"] = "produit par Chromium (sans interface)"
    else:
        pdf_path.unlink(missing_ok=True)  # a PDF of an older page would mislead
        metadata["pdf"] = "non produit : aucun moteur PDF (installer le paquet Debian chromium)"
        context.log.warning(f"{edition.label_fr} de {week} : chromium absent, pas de PDF")
    printed = printed_cells(page)
    metadata.update(
        {
            "national": national_markdown(page, fmt),
            "chiffres_imprimés": len(printed),
            "chiffres_masqués": sum(1 for _, _, c in printed if c.hidden),
            "régions_sans_inscription": sum(len(g["inactive_regions"]) for g in page["regional"]),
            "graphique": chart_markdown(chart),
            "octets_html": len(html.encode("utf-8")),
            "légende": MetadataValue.md(LEGEND),
        }
    )
    return page, metadata


REPORT_FILES = (
    "écrit dans `SNU_REPORTS_DIR` (par défaut `reports/` dans le dossier d'état, `.snu`), "
    "page HTML autonome (styles en ligne, graphique inclus) et son PDF A4 quand Chromium "
    "est installé. En français par défaut, en anglais sur demande (configuration du run "
    "`language`, par défaut SNU_REPORT_LANGUAGE). Tableaux agrégés seulement : aucune "
    "donnée personnelle."
)


@asset(
    partitions_def=weekly_partitions,
    deps=["weekly_funnel", "inscription_goals"],
    group_name="views",
    owners=OWNERS,
    kinds={"postgres", "html"},
    check_specs=[
        AssetCheckSpec(
            "prints_only_published_figures",
            asset="weekly_report_public",
            description="Chaque chiffre de l'édition publique est une valeur publiée de "
            "weekly_funnel (totaux nationaux et régionaux), ou une somme de valeurs montrées ; "
            "un chiffre masqué est imprimé s, sans valeur ; aucun chiffre quotidien.",
        )
    ],
    description="Rapport hebdomadaire, édition publique (diffusable) : l'entonnoir national "
    "par cohorte, l'avancement par rapport aux objectifs et les projections, l'entonnoir "
    "régional, tels que publiés dans weekly_funnel (secret statistique : un chiffre masqué "
    "s'affiche s). Construit uniquement à partir de ce que lit le rôle snu_public. Fichier "
    "`rapport_hebdomadaire_AAAA-MM-JJ_edition_publique.html` (le lundi), " + REPORT_FILES,
)
def weekly_report_public(
    context: AssetExecutionContext,
    config: WeeklyReportConfig,
    postgres: PostgresResource,
    publication: PublicationRules,
) -> MaterializeResult:
    results, wrong, checked = [], [], 0
    for week in run_weeks(context):
        page, metadata = _write_report(
            week, context, postgres, publication.small_cell_k, config.language, PUBLIC
        )
        results.append((week, metadata))
        wrong += [
            f"{week} {w}" for w in unpublished_figures(page, published_totals(postgres, week))
        ]
        checked += metadata["chiffres_imprimés"]
    check = AssetCheckResult(
        check_name="prints_only_published_figures",
        passed=not wrong,
        metadata={
            "chiffres_vérifiés": checked,
            "écarts": MetadataValue.md("\n".join(f"- {w}" for w in wrong[:50]) or "aucun"),
        },
    )
    return MaterializeResult(metadata=per_week(context, results), check_results=[check])


@asset(
    partitions_def=weekly_partitions,
    deps=["weekly_funnel_national", "weekly_funnel", "enriched_events", "inscription_goals"],
    group_name="views",
    owners=OWNERS,
    kinds={"postgres", "html"},
    check_specs=[
        AssetCheckSpec(
            "daily_sums_equal_national_view",
            asset="weekly_report_restricted",
            description="Les sept chiffres quotidiens du rapport (d'après enriched_events) "
            "s'additionnent, catégorie par catégorie, en l'entonnoir national de la semaine "
            "(weekly_funnel_national).",
        )
    ],
    description="Rapport hebdomadaire, DIFFUSION RESTREINTE (ministère seulement) : chiffres "
    "exacts, marqués « Diffusion restreinte » dans le titre, le nom du fichier et sur chaque "
    "page. L'entonnoir national jour par jour et par cohorte, l'avancement par rapport aux "
    "objectifs et les projections, l'entonnoir régional exact (un chiffre masqué dans "
    "l'édition publique y est marqué s). Fichier "
    "`rapport_hebdomadaire_AAAA-MM-JJ_diffusion_restreinte.html` (le lundi), " + REPORT_FILES,
)
def weekly_report_restricted(
    context: AssetExecutionContext,
    config: WeeklyReportConfig,
    postgres: PostgresResource,
    publication: PublicationRules,
) -> MaterializeResult:
    results, check_metadata, passed = [], {}, True
    for week in run_weeks(context):
        page, metadata = _write_report(
            week, context, postgres, publication.small_cell_k, config.language, RESTRICTED
        )
        results.append((week, metadata))
        national = {c: sum(int(r[c]) for r in page["national_figures"]) for c in FUNNEL}
        passed = passed and national == page["week_totals"]
        # one check for the run: the last week's figures (every week's must agree)
        check_metadata = {f"jour_{c}": page["week_totals"][c] for c in FUNNEL} | {
            f"national_{c}": national[c] for c in FUNNEL
        }
    check = AssetCheckResult(
        check_name="daily_sums_equal_national_view", passed=passed, metadata=check_metadata
    )
    return MaterializeResult(metadata=per_week(context, results), check_results=[check])
