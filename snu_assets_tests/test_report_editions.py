"""The report's two editions as page contexts (pure, no server): what the public edition may
print, the grouping of regions, percentages from the figures printed."""

from datetime import date
from decimal import Decimal

from snu_assets.defs.report.editions import (
    PUBLIC,
    RESTRICTED,
    WeekFigures,
    build_page,
    printed_cells,
    unpublished_figures,
)
from snu_assets.defs.report.i18n import Formatter

WEEK = date(2026, 11, 23)
FUNNEL = ("created", "completed", "processed", "validated", "refused")


def national(cohort, created, validated_cumulated, objective=508, projection=Decimal("39.6")):
    return {
        "cohort": cohort,
        "created": created,
        "completed": 10,
        "processed": 6,
        "validated": 8,
        "refused": 0,
        "validated_cumulated": validated_cumulated,
        "objective": objective,
        "projection": projection if validated_cumulated is not None else None,
    }


def regional(cohort, region, created, *, hidden=(), objective=20, restricted=False):
    row = {
        "cohort": cohort,
        "region": region,
        "created": created,
        "completed": 0,
        "processed": 0,
        "validated": 0,
        "refused": 0,
        "validated_cumulated": created,
        "objective": objective,
        "projection": None,
        "has_rows": bool(created) or bool(hidden),
    }
    for col in hidden:
        if restricted:
            row[f"{col}_hidden"] = True
        else:
            row[col] = None
    return row


def page(edition, national_rows, regional_rows, daily=()):
    figures = WeekFigures(WEEK, edition, national_rows, regional_rows, daily)
    return build_page(figures, Formatter("fr"), 5)


def cells(context):
    return {(t, k, c.col): c for t, k, c in printed_cells(context)}


def test_a_sum_over_cohorts_is_printed_only_when_every_term_is():
    context = page(PUBLIC, [national("A", 12, 40), national("B", None, None)], [])
    found = cells(context)
    assert found[("national", "A", "created")].text == "12"
    assert found[("national", "B", "created")].text == "s"
    assert found[("national", "B", "created")].raw == ""
    # B's created is hidden: the total would give it away
    total = found[("national", "total", "created")]
    assert (total.text, total.raw, total.hidden) == ("s", "", True)
    assert found[("national", "total", "completed")].text == "20"
    # B has an objective and a hidden cumulated: progress and projection are hidden
    assert found[("national", "total", "progress")].text == "s"
    assert found[("national", "B", "projection")].text == "s"
    assert context["kpis"][0]["text"] == "s"


def test_percentages_are_those_of_the_figures_printed():
    context = page(PUBLIC, [national("A", 12, 40, objective=508, projection=Decimal("39.6"))], [])
    found = cells(context)
    assert found[("national", "A", "projection")].text == "40"
    # 40 / 508 = 7.87 %: printed 7,9 %, never the 7,8 % of 39.6 / 508
    assert found[("national", "A", "projected_progress")].text == "7,9\u00a0%"


def test_regions_in_french_order_collectivities_after_inactive_grouped():
    rows = [
        regional("A", "Wallis-et-Futuna", 7),
        regional("A", "Île-de-France", 9),
        regional("A", "Hauts-de-France", None, hidden=("created", "validated_cumulated")),
        regional("A", "Corse", 0),
        regional("A", "Mayotte", 0),
        regional("A", "Saint-Martin", 0),
    ]
    context = page(PUBLIC, [national("A", 16, 16)], rows)
    [group] = context["regional"]
    assert [r["label"] for r in group["rows"]] == ["Hauts-de-France", "Île-de-France"]
    assert [r["label"] for r in group["overseas"]] == ["Wallis-et-Futuna"]
    assert group["inactive_regions"] == ["Corse", "Mayotte", "Saint-Martin"]
    assert group["inactive"] == "Sans inscription\u202f: Corse, Mayotte, Saint-Martin"


def test_the_public_page_prints_only_published_values():
    rows = [regional("A", "Bretagne", 6), regional("A", "Corse", None, hidden=("created",))]
    context = page(PUBLIC, [national("A", 12, 40)], rows)
    published = {
        ("A", "all"): {**national("A", 12, 40)},
        ("A", "Bretagne"): rows[0],
        ("A", "Corse"): rows[1],
    }
    assert unpublished_figures(context, published) == []
    # a figure the table hides, printed anyway, is caught
    leaky = {**published, ("A", "Bretagne"): {**rows[0], "created": None}}
    assert unpublished_figures(context, leaky) == [
        "regional/A|Bretagne/created: printed 6, published s"
    ]


def test_the_restricted_page_prints_exact_figures_marked_and_its_days():
    rows = [regional("A", "Corse", 2, hidden=("created",), restricted=True)]
    daily = [{"day": WEEK, **dict.fromkeys(FUNNEL, 1)}]
    context = page(RESTRICTED, [national("A", 12, 40)], rows, daily)
    found = cells(context)
    corse = found[("regional", "A|Corse", "created")]
    assert (corse.text, corse.raw, corse.hidden) == ("2", "2", True)
    assert context["restricted"] and context["t"]["title_restricted"].startswith(
        "Diffusion restreinte"
    )
    assert found[("daily", WEEK.isoformat(), "created")].text == "1"
    assert context["kpis"][0]["text"] == "1"  # the week's total of the days


def test_a_cohort_or_region_not_given_reads_in_french():
    rows = [regional("unknown", "unknown", 6)]
    context = page(PUBLIC, [national("unknown", 6, 6)], rows)
    assert context["national"][0]["label"] == "Cohorte non renseignée"
    [group] = context["regional"]
    assert (group["cohort"], group["label"]) == ("unknown", "Cohorte non renseignée")
    assert [r["label"] for r in group["rows"]] == ["Région non renseignée"]
