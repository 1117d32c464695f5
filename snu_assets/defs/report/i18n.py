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
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

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
    "kpi_hidden": {
        "fr": "non publié (une cohorte au moins est masquée)",
        "en": "not published (at least one cohort is hidden)",
    },
    # -- the two editions ---------------------------------------------------------------
    "marking": {"fr": "Diffusion restreinte", "en": "Restricted distribution"},
    "marking_note": {
        "fr": "Diffusion restreinte{N}: chiffres exacts, réservés aux services du ministère. "
        "Ne pas transmettre hors du ministère{N}; pour une diffusion, utiliser l’édition "
        "publique.",
        "en": "Restricted distribution: exact figures, for the ministry's services only. Do "
        "not pass on outside the ministry; for distribution, use the public edition.",
    },
    "public_mark": {"fr": "Édition publique", "en": "Public edition"},
    "page": {"fr": "page", "en": "page"},
    "public_note": {
        "fr": "Édition publique{N}: chiffres publiés, protégés par le secret statistique. Un "
        "effectif de 1 à {k_1} est masqué, ainsi que d’autres, pour qu’aucun chiffre masqué ne "
        "puisse être déduit de ceux qui sont montrés{N}; un chiffre masqué s’affiche "
        "<b>s</b>. Ce document peut être diffusé.",
        "en": "Public edition: published figures, protected by statistical disclosure "
        "control. A count of 1 to {k_1} is hidden, and so are others, so that no hidden "
        "figure can be worked out from the ones shown; a hidden figure shows as <b>s</b>. "
        "This document may be distributed.",
    },
    # -- page -------------------------------------------------------------------------
    "title": {
        "fr": "Rapport hebdomadaire SNU, semaine du {week}",
        "en": "SNU weekly report, week of {week}",
    },
    "title_restricted": {
        "fr": "Diffusion restreinte – Rapport hebdomadaire SNU, semaine du {week}",
        "en": "Restricted distribution – SNU weekly report, week of {week}",
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
        "fr": "Du lundi {first} au dimanche {last}, jours comptés à l’heure de Paris.",
        "en": "Monday {first} to Sunday {last}, days counted in Paris time.",
    },
    "daily_heading": {
        "fr": "Entonnoir national, jour par jour",
        "en": "Daily national funnel",
    },
    "daily_note": {
        "fr": "Les inscriptions de chaque jour de la semaine, toutes cohortes (chiffres exacts).",
        "en": "The inscriptions of each day of the week, all cohorts (exact).",
    },
    "day": {"fr": "Jour", "en": "Day"},
    "week": {"fr": "Semaine", "en": "Week"},
    "national_heading": {
        "fr": "Entonnoir national par cohorte",
        "en": "National funnel per cohort",
    },
    "national_note_restricted": {
        "fr": "Les chiffres de la semaine et l’avancement de chaque cohorte depuis son "
        "ouverture (chiffres exacts). Avancement = validés en cumul / objectif annuel{N}; "
        "projection = validés attendus à la clôture des inscriptions de la cohorte, au rythme "
        "observé jusqu’ici.",
        "en": "The week's counts and the progress of each cohort since it opened (exact). "
        "Progress = validated cumulated / annual objective; projection = validated expected "
        "when the cohort's inscriptions close, at the pace so far.",
    },
    "national_note_public": {
        "fr": "Les chiffres publiés de la semaine et l’avancement de chaque cohorte depuis son "
        "ouverture. Avancement = validés en cumul / objectif annuel{N}; projection = validés "
        "attendus à la clôture des inscriptions de la cohorte, au rythme observé jusqu’ici. "
        "Une somme n’est montrée que si tous ses termes le sont.",
        "en": "The week's published counts and the progress of each cohort since it opened. "
        "Progress = validated cumulated / annual objective; projection = validated expected "
        "when the cohort's inscriptions close, at the pace so far. A sum is shown only when "
        "all its terms are.",
    },
    "cohort": {"fr": "Cohorte", "en": "Cohort"},
    "unknown_cohort": {"fr": "Cohorte non renseignée", "en": "Cohort not given"},
    "all_cohorts": {"fr": "Toutes cohortes", "en": "All cohorts"},
    "no_national": {
        "fr": "Aucune inscription, dans aucune cohorte, jusqu’à cette semaine.",
        "en": "No inscription in any cohort up to this week.",
    },
    "with_goal_only": {
        "fr": "cohortes ayant un objectif seulement",
        "en": "cohorts with an objective only",
    },
    "progress_heading": {
        "fr": "Avancement par rapport aux objectifs annuels",
        "en": "Progress against the annual objectives",
    },
    "chart_alt": {
        "fr": "Dossiers validés en cumul par semaine et par cohorte, avec l’objectif et la "
        "projection de chaque cohorte",
        "en": "Validated applications cumulated per week and cohort, with each cohort's "
        "objective and projection",
    },
    "chart_caption": {
        "fr": "Jeunes validés en cumul depuis l’ouverture de chaque cohorte (trait plein), son "
        "objectif annuel (tirets, nommé à droite) et la projection à la clôture de ses "
        "inscriptions (pointillés), semaine après semaine jusqu’à celle-ci.",
        "en": "Validated youngs cumulated since each cohort opened (solid), its annual "
        "objective (dashed, named on the right) and the projection at the close of its "
        "inscriptions (dotted), week by week up to this one.",
    },
    "chart_caption_public": {
        "fr": "Les chiffres publiés{N}: une semaine dont le cumul national est masqué "
        "interrompt la ligne.",
        "en": "Published figures: a week whose national cumulated count is hidden breaks the line.",
    },
    "regional_heading": {"fr": "Entonnoir régional", "en": "Regional funnel"},
    "regional_note_public": {
        "fr": "Les totaux régionaux publiés. L’objectif de la région est la somme de ceux de "
        "ses départements. Les régions sans aucune inscription (ni dans la semaine, ni en "
        "cumul) sont regroupées sur une ligne{N}; les collectivités d’outre-mer suivent les "
        "régions.",
        "en": "The published region totals. A region's objective is the sum of its "
        "departments'. Regions without any inscription (neither in the week nor cumulated) "
        "are grouped on one line; the overseas collectivities follow the regions.",
    },
    "regional_note_restricted": {
        "fr": "Les totaux régionaux exacts. Un chiffre marqué <sup>s</sup> est masqué dans "
        "l’édition publique (secret statistique). L’objectif de la région est la somme de ceux "
        "de ses départements. Les régions sans aucune inscription (ni dans la semaine, ni en "
        "cumul) sont regroupées sur une ligne{N}; les collectivités d’outre-mer suivent les "
        "régions.",
        "en": "The exact region totals. A figure marked <sup>s</sup> is hidden in the public "
        "edition (statistical disclosure control). A region's objective is the sum of its "
        "departments'. Regions without any inscription (neither in the week nor cumulated) "
        "are grouped on one line; the overseas collectivities follow the regions.",
    },
    "region": {"fr": "Région", "en": "Region"},
    "unknown_region": {"fr": "Région non renseignée", "en": "Region not given"},
    "overseas": {"fr": "Collectivités d’outre-mer", "en": "Overseas collectivities"},
    "inactive": {
        "fr": "Sans inscription{N}: {names}",
        "en": "No inscription: {names}",
    },
    "no_regional": {
        "fr": "Aucune ligne régionale pour cette semaine.",
        "en": "No regional row for this week.",
    },
    "hidden_title": {
        "fr": "masqué (secret statistique)",
        "en": "hidden (statistical disclosure control)",
    },
    "hidden_in_public_title": {
        "fr": "chiffre exact, masqué dans l’édition publique (secret statistique)",
        "en": "exact figure, hidden in the public edition (statistical disclosure control)",
    },
    # -- glossary -------------------------------------------------------------------------
    "definitions_heading": {"fr": "Glossaire", "en": "Glossary"},
    "def_created": {
        "fr": "un jeune a créé son compte et commencé son inscription.",
        "en": "a young created an account and started an inscription.",
    },
    "def_completed": {
        "fr": "un dossier complet a été déposé et attend sa validation.",
        "en": "a complete application was submitted and awaits validation.",
    },
    "def_processed": {
        "fr": "un dossier qui attendait sa validation a reçu une suite dans la semaine "
        "(validé, refusé, renvoyé en correction, mis en liste complémentaire...).",
        "en": "an application awaiting validation was acted upon in the week (validated, "
        "refused, sent back for correction, put on the waiting list...).",
    },
    "def_validated": {
        "fr": "un dossier a été validé dans la semaine, quel que soit son état d’avant.",
        "en": "an application was validated in the week, whatever its state before.",
    },
    "def_refused": {
        "fr": "un dossier a été refusé dans la semaine.",
        "en": "an application was refused in the week.",
    },
    "def_validated_vs_processed": {
        "fr": "Pourquoi les validés peuvent dépasser les traités{N}: un dossier peut être "
        "validé sans avoir attendu sa validation cette semaine-là, par exemple depuis la "
        "liste complémentaire ou après une correction. Il compte alors parmi les validés, pas "
        "parmi les traités.",
        "en": "Why validated can exceed processed: an application may be validated without "
        "having awaited validation that week, e.g. from the waiting list or after a "
        "correction. It then counts as validated, not as processed.",
    },
    "cumulated": {"fr": "Cumul", "en": "Cumulated"},
    "def_cumulated": {
        "fr": "depuis l’ouverture de la cohorte, jusqu’à la fin de cette semaine.",
        "en": "since the cohort opened, up to the end of this week.",
    },
    "def_objective": {
        "fr": "le nombre maximal de jeunes validés fixé pour l’année.",
        "en": "the maximum number of validated youngs set for the year.",
    },
    "def_projection": {
        "fr": "le nombre de validés attendu à la clôture des inscriptions de la cohorte, au "
        "rythme observé jusqu’ici{N}; «{N}Projeté{N}» le rapporte à l’objectif.",
        "en": "the number of validated youngs expected when the cohort's inscriptions close, "
        "at the pace so far; \u201cProjected\u201d relates it to the objective.",
    },
    "def_hidden": {
        "fr": "un chiffre masqué par le secret statistique{N}: de 1 à {k_1}, ou masqué pour "
        "qu’un autre ne puisse pas être déduit.",
        "en": "a figure hidden by statistical disclosure control: 1 to {k_1}, or hidden so "
        "that another cannot be worked out.",
    },
    "footer_public": {
        "fr": "Produit par snu-assets à partir des chiffres publiés du Service national "
        f"universel. Effectifs agrégés seulement{N}: aucune donnée personnelle.",
        "en": "Produced by snu-assets from the published figures of the Service National "
        "Universel. Aggregated counts only: no personal data.",
    },
    "footer_restricted": {
        "fr": "Diffusion restreinte. Produit par snu-assets à partir des chiffres exacts du "
        f"Service national universel. Effectifs agrégés seulement{N}: aucune donnée "
        "personnelle, mais des effectifs trop petits pour être diffusés.",
        "en": "Restricted distribution. Produced by snu-assets from the exact figures of the "
        "Service National Universel. Aggregated counts only: no personal data, but counts "
        "too small to be distributed.",
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
    "chart_objective_label": {
        "fr": "objectif {cohort}{N}: {value}",
        "en": "objective {cohort}: {value}",
    },
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
            names = {f for _, f, _, _ in string.Formatter().parse(texts[self.language]) if f}
            # a message whose placeholders are not all given is filled by its caller (text())
            out[key] = template.format(**params) if names and names <= set(params) else template
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

    def percent(self, ratio: Decimal | float | None) -> str:
        """``12,5 %`` (fr, U+00A0 before the sign) / ``12.5%`` (en), one decimal rounded half
        up as French statistics do (5/16 = 31,25 % reads 31,3 %, not Babel's half-even 31,2)."""
        if ratio is None:
            return DASH
        tenths = (Decimal(str(ratio)) * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return format_percent(
            tenths / 1000, format=_percent_pattern(self.language), locale=self.locale
        )

    # -- dates ------------------------------------------------------------------------
    def date_long(self, day: date) -> str:
        """``2 décembre 2026``, ``1er novembre 2026`` / ``2 December 2026``."""
        return format_date(day, format=f"{self._day(day)} MMMM y", locale=self.locale)

    def day_short(self, day: date) -> str:
        """A day of the week: ``lun. 6 janv.``, ``dim. 1er nov.`` / ``Mon 6 Jan``."""
        return format_date(day, format=f"EEE {self._day(day)} MMM", locale=self.locale)

    def _day(self, day: date) -> str:
        """The day of the month's pattern: French writes the first of the month ``1er``."""
        return "d'er'" if self.language == "fr" and day.day == 1 else "d"

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
            "objective_label": self.message("chart_objective_label"),
        }


def collation_key(name: str) -> tuple[str, str]:
    """Sort key of a French name: accents and case ignored first (Île-de-France among the I,
    not after Wallis-et-Futuna), then the name itself to break ties."""
    plain = "".join(
        ch for ch in unicodedata.normalize("NFD", name) if not unicodedata.combining(ch)
    )
    return plain.casefold(), name


@functools.cache
def _locale(language: str) -> Locale:
    return Locale.parse(LOCALES[language])


@functools.cache
def _percent_pattern(language: str) -> str:
    """The locale's percent pattern with one decimal (``#,##0.0 %`` in French)."""
    pattern = _locale(language).percent_formats[None].pattern
    integer, _, rest = pattern.partition("0")
    return f"{integer}0.0{rest}"
