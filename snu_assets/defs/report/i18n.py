"""The weekly report's words and number formats, in French (the ministry's language, the
default) or English (``SNU_REPORT_LANGUAGE``, or the ``language`` of the report's run config).

One message catalogue (:data:`MESSAGES`, one entry per string of the page and its chart, in
both languages) and one :class:`Formatter` per language: numbers, percentages and dates by
Babel from the CLDR locale data — in French ``1 234`` (narrow no-break space U+202F between
thousands), ``12,5 %`` (no-break space U+00A0 before the sign), ``2 décembre 2026``.
French strings put a narrow no-break space before ``:``, ``;``, ``?`` and ``!``.

Pure: no Dagster, no I/O. The template (``template.html``) holds no word of its own: every
text comes from here, so one template serves both languages.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from markupsafe import Markup

LANGUAGES = ("fr", "en")
#: the Babel locale of each language
LOCALES = {"fr": "fr_FR", "en": "en_GB"}
DASH = "–"  # no value
N = "\u202f"  # narrow no-break space (French: before : ; ? ! and after « )

#: every string of the page and its chart; values may hold markup (trusted constants) and
#: ``{placeholders}`` filled by :meth:`Formatter.messages` (escaped)
MESSAGES: dict[str, dict[str, str]] = {
    # -- funnel categories (column heads, KPIs) ---------------------------------------
    "created": {"fr": "Créés", "en": "Created"},
    "completed": {"fr": "Complétés", "en": "Completed"},
    "processed": {"fr": "Traités", "en": "Processed"},
    "validated": {"fr": "Validés", "en": "Validated"},
    "refused": {"fr": "Refusés", "en": "Refused"},
    "validated_cumulated": {"fr": "Validés, cumul", "en": "Validated, cumulated"},
    "objective": {"fr": "Objectif", "en": "Objective"},
    "progress": {"fr": "Avancement", "en": "Progress"},
    "projection": {"fr": "Projection", "en": "Projection"},
    "projected": {"fr": "Projeté", "en": "Projected"},
    "kpi_progress": {"fr": "Validés / objectif", "en": "Validated / objective"},
    "kpi_week": {"fr": "cette semaine, national", "en": "this week, national"},
    "kpi_of": {"fr": "{part} sur {whole}, toutes cohortes", "en": "{part} of {whole}, all cohorts"},
    # -- page -------------------------------------------------------------------------
    "title": {
        "fr": "Rapport hebdomadaire SNU, semaine du {week}",
        "en": "SNU weekly report, week of {week}",
    },
    "over": {
        "fr": "Service national universel &middot; inscriptions",
        "en": "Service National Universel &middot; inscriptions",
    },
    "heading": {
        "fr": "Rapport hebdomadaire, semaine du {week}",
        "en": "Weekly report, week of {week}",
    },
    "lead": {
        "fr": f"Du lundi {{first}} au dimanche {{last}}, jours comptés dans le fuseau "
        f"{{timezone}}. Les chiffres nationaux sont exacts{N}; les chiffres régionaux sont "
        "ceux publiés (petits effectifs masqués).",
        "en": "Monday {first} to Sunday {last}, days counted in {timezone}. National figures "
        "are exact; regional figures are the published ones (small cells hidden).",
    },
    "daily_heading": {
        "fr": "1. Entonnoir national, jour par jour",
        "en": "1. Daily national funnel",
    },
    "daily_note": {
        "fr": "Événements des jeunes de chaque jour de la semaine, toutes cohortes, d’après "
        "<code>enriched_events</code> (chiffres exacts).",
        "en": "Young events of each day of the week, all cohorts, from "
        "<code>enriched_events</code> (exact).",
    },
    "day": {"fr": "Jour", "en": "Day"},
    "week": {"fr": "Semaine", "en": "Week"},
    "national_heading": {
        "fr": "2. Entonnoir national par cohorte",
        "en": "2. National funnel per cohort",
    },
    "national_note": {
        "fr": "Les chiffres de la semaine et l’avancement de chaque cohorte depuis son "
        "ouverture, d’après <code>weekly_funnel_national</code> (chiffres exacts). "
        "Avancement = validés en cumul / objectif annuel{N}; projection = validés attendus à "
        "la clôture des inscriptions de la cohorte, au rythme observé jusqu’ici.",
        "en": "The week's counts and the progress of each cohort since it opened, from "
        "<code>weekly_funnel_national</code> (exact). Progress = validated cumulated / annual "
        "objective; projection = validated expected when the cohort's inscriptions close, at "
        "the pace so far.",
    },
    "cohort": {"fr": "Cohorte", "en": "Cohort"},
    "all_cohorts": {"fr": "Toutes cohortes", "en": "All cohorts"},
    "no_national": {
        "fr": "Aucun événement de jeune, dans aucune cohorte, jusqu’à cette semaine.",
        "en": "No young event in any cohort up to this week.",
    },
    "with_goal_only": {
        "fr": "cohortes ayant un objectif seulement",
        "en": "cohorts with an objective only",
    },
    "progress_heading": {
        "fr": "3. Avancement par rapport aux objectifs annuels",
        "en": "3. Progress against the annual objectives",
    },
    "chart_alt": {
        "fr": "Dossiers validés en cumul par semaine et par cohorte, avec l’objectif et la "
        "projection de chaque cohorte",
        "en": "Validated applications cumulated per week and cohort, with each cohort's "
        "objective and projection",
    },
    "chart_caption": {
        "fr": "Jeunes validés en cumul depuis l’ouverture de chaque cohorte (trait plein), son "
        "objectif annuel (tirets) et la projection à la clôture de ses inscriptions "
        "(pointillés), semaine après semaine jusqu’à celle-ci.",
        "en": "Validated youngs cumulated since each cohort opened (solid), its annual "
        "objective (dashed) and the projection at the close of its inscriptions (dotted), "
        "week by week up to this one.",
    },
    "regional_heading": {"fr": "4. Entonnoir régional", "en": "4. Regional funnel"},
    "regional_note": {
        "fr": "D’après <code>weekly_funnel</code>, la vue publiée (totaux régionaux){N}: un "
        "effectif de 1 à {k_1} y est masqué pour que personne ne puisse être isolé, ainsi que "
        "quelques autres, pour qu’aucun effectif masqué ne puisse être déduit des chiffres "
        "publiés (secret statistique). Un chiffre masqué s’affiche <b>s</b>. L’objectif de la "
        "région est la somme de ceux de ses départements.",
        "en": "From <code>weekly_funnel</code>, the published view (region totals): a count of "
        "1 to {k_1} is hidden there so that nobody can be singled out, and so are a few "
        "others, so that no hidden count can be worked out from the published ones. A hidden "
        "figure shows as <b>s</b>. The objective is the sum of the region's departments'.",
    },
    "region": {"fr": "Région", "en": "Region"},
    "no_regional": {
        "fr": "Aucune ligne régionale pour cette semaine.",
        "en": "No regional row for this week.",
    },
    "hidden_title": {
        "fr": f"masqué (secret statistique){N}: la part publiée seulement",
        "en": "hidden (statistical disclosure control): the published part only",
    },
    "definitions_heading": {"fr": "Définitions", "en": "Definitions"},
    "def_created": {
        "fr": "le compte d’un jeune a été créé (<code>young.created</code>).",
        "en": "a young's account was created (<code>young.created</code>).",
    },
    "def_completed": {
        "fr": "le dossier a été déposé pour validation (statut &rarr; WAITING_VALIDATION).",
        "en": "the application was submitted for validation (status &rarr; WAITING_VALIDATION).",
    },
    "def_processed": {
        "fr": "un dossier déposé a changé de statut (statut avant = WAITING_VALIDATION).",
        "en": "a submitted application changed status (status before = WAITING_VALIDATION).",
    },
    "def_validated": {"fr": "statut &rarr; VALIDATED.", "en": "status &rarr; VALIDATED."},
    "def_refused": {"fr": "statut &rarr; REFUSED.", "en": "status &rarr; REFUSED."},
    "cumulated": {"fr": "Cumul", "en": "Cumulated"},
    "def_cumulated": {
        "fr": "depuis l’ouverture de la cohorte, jusqu’à la fin de cette semaine.",
        "en": "since the cohort opened, up to the end of this week.",
    },
    "def_objective": {
        "fr": "le nombre maximal annuel de jeunes validés (<code>inscription_goals</code>).",
        "en": "the annual maximum of validated youngs (<code>inscription_goals</code>).",
    },
    "footer": {
        "fr": "Produit par l’asset <code>weekly_report</code> de snu-assets à partir du schéma "
        "PostgreSQL <code>{schema}</code> (tables enriched_events, weekly_funnel_national, "
        f"weekly_funnel, inscription_goals). Effectifs agrégés seulement{N}: aucune donnée "
        "personnelle.",
        "en": "Generated by the <code>weekly_report</code> asset of snu-assets from the "
        "PostgreSQL schema <code>{schema}</code> (tables enriched_events, "
        "weekly_funnel_national, weekly_funnel, inscription_goals). Aggregated counts only: "
        "no personal data.",
    },
    # -- chart ------------------------------------------------------------------------
    "chart_title": {
        "fr": "Dossiers validés, cumul par semaine (jusqu’à la semaine du {week})",
        "en": "Validated applications, cumulated per week (up to the week of {week})",
    },
    "chart_ylabel": {"fr": "jeunes validés (cumul)", "en": "validated youngs (cumulated)"},
    "chart_xlabel": {"fr": "semaine (lundi)", "en": "week (Monday)"},
    "chart_empty": {
        "fr": "aucun dossier validé pour l’instant",
        "en": "no validated application yet",
    },
    "chart_cohort": {"fr": "cohorte", "en": "cohort"},
    "chart_validated": {"fr": "validés, cumul", "en": "validated, cumulated"},
    "chart_objective": {"fr": "objectif annuel", "en": "annual objective"},
    "chart_projection": {"fr": "projection à la clôture", "en": "projection at close"},
}

for _texts in MESSAGES.values():
    for _language, _text in _texts.items():
        _texts[_language] = _text.replace("{N}", N)


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"report language {language!r}: expected one of {', '.join(LANGUAGES)}")
    return language


@dataclass(frozen=True)
class Formatter:
    """Words, numbers, percentages and dates of one language."""

    language: str

    def __post_init__(self) -> None:
        check_language(self.language)

    @property
    def locale(self) -> Locale:
        return _locale(self.language)

    # -- words ------------------------------------------------------------------------
    def text(self, key: str, **params: object) -> str:
        """One message, plain text (chart labels), ``{placeholders}`` filled in."""
        return MESSAGES[key][self.language].format(**params) if params else self.message(key)

    def message(self, key: str) -> str:
        return MESSAGES[key][self.language]

    def messages(self, **params: object) -> dict[str, Markup]:
        """Every message as markup for the template, placeholders filled in (escaped)."""
        out = {}
        for key, texts in MESSAGES.items():
            template = Markup(texts[self.language])  # trusted constants of this module
            out[key] = template.format(**params) if "{" in texts[self.language] else template
        return out

    # -- numbers ----------------------------------------------------------------------
    def integer(self, value: int | Decimal | float | None) -> str:
        """``1 234`` (fr, U+202F) / ``1,234`` (en); ``–`` for no value."""
        if value is None:
            return DASH
        return format_decimal(int(value), format="#,##0", locale=self.locale)

    def rounded(self, value: int | Decimal | float | None) -> str:
        """A decimal shown as a whole number (projections)."""
        if value is None:
            return DASH
        return format_decimal(
            Decimal(str(value)).quantize(Decimal(1)), format="#,##0", locale=self.locale
        )

    def percent(self, ratio: float | None) -> str:
        """``12,5 %`` (fr, U+00A0 before the sign) / ``12.5%`` (en), one decimal."""
        if ratio is None:
            return DASH
        return format_percent(ratio, format=_percent_pattern(self.language), locale=self.locale)

    # -- dates ------------------------------------------------------------------------
    def date_long(self, day: date) -> str:
        """``2 décembre 2026`` / ``2 December 2026``."""
        return format_date(day, format="d MMMM y", locale=self.locale)

    def day_short(self, day: date) -> str:
        """A day of the week: ``lun. 6 janv.`` / ``Mon 6 Jan``."""
        return format_date(day, format="EEE d MMM", locale=self.locale)

    def week_tick(self, day: date) -> str:
        """A Monday on the chart's axis: ``6 janv.`` / ``6 Jan``."""
        return format_date(day, format="d MMM", locale=self.locale)

    def chart_labels(self, week: date) -> Mapping[str, str]:
        """The chart's words (:func:`snu_assets.defs.report.charts.cumulated_validated_chart`)."""
        return {
            "title": self.text("chart_title", week=self.date_long(week)),
            **{
                name: self.message(f"chart_{name}")
                for name in ("ylabel", "xlabel", "empty", "cohort", "validated", "objective")
            },
            "projection": self.message("chart_projection"),
        }


@functools.cache
def _locale(language: str) -> Locale:
    return Locale.parse(LOCALES[language])


@functools.cache
def _percent_pattern(language: str) -> str:
    """The locale's percent pattern with one decimal (``#,##0.0 %`` in French)."""
    pattern = _locale(language).percent_formats[None].pattern
    integer, _, rest = pattern.partition("0")
    return f"{integer}0.0{rest}"
