"""The published funnel against an attacker, on the seeded pipeline: connected as the public
role (``snu_public``: the protected aggregates only), read everything it may read, and
compute by linear programming the feasible interval of every hidden value from every
published relation (levels, gender and age-band margins, weekly and cumulated columns,
consecutive weeks). None may be narrower than the protection (k = SNU_SMALL_CELL_K)."""

import psycopg
import pytest

from snu_assets.defs.resources import build_resources
from snu_assets_testing.roles import temporary_roles
from snu_assets_tests.integration.test_pipeline import COUNTS, rows
from snu_assets_tests.sdc_attacker import intervals, narrower

#: the rules the pipeline published with (the code location's PublicationRules resource)
RULES = build_resources()["publication"]
SMALL_CELL_K, PROTECTION_WIDTH = RULES.small_cell_k, RULES.protection_width


@pytest.fixture(scope="module")
def public(pipeline):
    """(postgres, public role, reader role): the roles of roles.sql, dropped afterwards."""
    with temporary_roles(pipeline) as names:
        yield pipeline, names["public"], names["reader"]


def published_as(postgres, role) -> list[dict]:
    with psycopg.connect(postgres.resolved_url(), user=role, autocommit=True) as conn:
        cursor = conn.execute(f'select * from "{postgres.schema}".weekly_funnel')
        columns = [c.name for c in cursor.description]
        return [dict(zip(columns, r)) for r in cursor.fetchall()]


def test_the_public_role_reads_the_protected_aggregates_only(public):
    postgres, role, _ = public
    schema = postgres.schema
    with psycopg.connect(postgres.resolved_url(), user=role, autocommit=True) as conn:
        for table in ("weekly_funnel", "inscription_goals", "cohorts", "ref_departments"):
            conn.execute(f'select * from "{schema}".{table} limit 1')
        for table in (
            "weekly_funnel_national",
            "weekly_funnel_hidden",
            "enriched_events",
            "raw_patches",
            "rejected_patches",
            "reconstructed_events",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f'select 1 from "{schema}".{table} limit 1')
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f'delete from "{schema}".weekly_funnel')


def test_no_hidden_value_can_be_narrowed_by_a_public_reader(public):
    postgres, role, _ = public
    published = published_as(postgres, role)
    hidden = sum(1 for r in published for c in COUNTS if r[c] is None)
    assert hidden > 100, "the seed has small cells: many values must be hidden"
    # did the cohorts' cumulated counts start at the first published week? (then the
    # attacker may use it: cumulated of the week before the first one = 0)
    first = {}
    for row in published:
        if row["cohort"] not in first or row["week"] < first[row["cohort"]]:
            first[row["cohort"]] = row["week"]
    from_zero = all(
        weekly == cumulated
        for cohort, week in first.items()
        for weekly, cumulated in rows(
            postgres,
            "select sum(created), sum(created_cumulated) from "
            "{s}.weekly_funnel_national where cohort = %s and week = %s",
            (cohort, week),
        )
    )
    found = intervals(published, from_zero=from_zero, width=PROTECTION_WIDTH)
    assert len(found) == hidden
    narrow = {cell: i for cell, i in found.items() if narrower(i, PROTECTION_WIDTH)}
    assert narrow == {}, f"{len(narrow)} hidden values narrowed: {list(narrow.items())[:5]}"
    assert PROTECTION_WIDTH == SMALL_CELL_K


def test_region_totals_that_pass_the_rule_are_shown(public):
    """Every region total (every gender and age band) of at least k is published: weekly
    always; cumulated unless it provably cannot be, i.e. the region's weekly totals hidden
    since its last published cumulated value (or since the cohort opened) are a single one
    (the difference of the two cumulated values gives it back) or add up to less than k
    (each is then within less than k). Showing such a cumulated value would take hiding
    another region total that passes the rule. A cumulated value is hidden only if a
    weekly value of its cell was, that week or before."""
    postgres, role, _ = public
    published = published_as(postgres, role)
    by_key = {}
    for row in published:
        by_key[
            (
                row["cohort"],
                row["region"],
                row["department"],
                row["gender"],
                row["age_band"],
                row["week"],
            )
        ] = row
    shown = passing = 0
    unshowable = []
    for (cohort, region, department, gender, band, week), row in by_key.items():
        for measure in COUNTS[:5]:
            if row[f"{measure}_cumulated"] is None:
                earlier = [
                    r
                    for (c, re_, d, g, b, w), r in by_key.items()
                    if (c, re_, d, g, b) == (cohort, region, department, gender, band) and w <= week
                ]
                assert any(r[measure] is None for r in earlier), (row, measure)
            if department != "all" or region == "all" or gender != "all" or band != "all":
                continue
            for column in (measure, f"{measure}_cumulated"):
                value = row[column]
                if value is not None:
                    if value >= SMALL_CELL_K:
                        shown += 1
                        passing += 1
                    continue
                if hidden_value(postgres, row, column) < SMALL_CELL_K:
                    continue
                passing += 1
                assert column.endswith("_cumulated"), ("a weekly region total hidden", row, column)
                history = sorted(
                    (w, r)
                    for (c, re_, d, g, b, w), r in by_key.items()
                    if (c, re_, d, g, b) == (cohort, region, "all", "all", "all") and w <= week
                )
                hidden_weeks = []
                for w, r in reversed(history):
                    if w < week and r[column] is not None:
                        break  # the last published cumulated value
                    if r[measure] is None:
                        hidden_weeks.append(hidden_value(postgres, r, measure))
                assert len(hidden_weeks) == 1 or sum(hidden_weeks) < SMALL_CELL_K, (
                    row,
                    column,
                    hidden_weeks,
                )
                unshowable.append((cohort, region, str(week), column, hidden_weeks))
    print(
        f"\nregion totals of at least k shown: {shown} of {passing}; the "
        f"{len(unshowable)} others provably cannot be: {unshowable}"
    )
    assert shown + len(unshowable) == passing and shown >= 24, (shown, passing)


def hidden_value(postgres, row, column) -> int:
    [(value,)] = rows(
        postgres,
        "select exact_value from {s}.weekly_funnel_hidden where week = %s "
        "and cohort = %s and region = %s and department = %s and "
        "gender = %s and age_band = %s and measure = %s",
        (
            row["week"],
            row["cohort"],
            row["region"],
            row["department"],
            row["gender"],
            row["age_band"],
            column,
        ),
    )
    return value


def test_share_of_hidden_cells_before_and_after(public):
    """The closing note's figures: share of the published values hidden, primary and
    secondary, now; and before (department cells of 1..4 only, the former rule)."""
    postgres, _, reader = public
    with psycopg.connect(postgres.resolved_url(), user=reader, autocommit=True) as conn:
        schema = postgres.schema
        cells = conn.execute(
            f'select level, count(*) * 10 from "{schema}".weekly_funnel group by level'
        ).fetchall()
        hidden = conn.execute(
            f'select level, suppression, count(*) from "{schema}".'
            "weekly_funnel_hidden group by 1, 2"
        ).fetchall()
        finest = conn.execute(
            f'select count(*) * 10 from "{schema}".weekly_funnel where level = %s '
            "and gender <> 'all' and age_band <> 'all'",
            ("department",),
        ).fetchone()[0]
        small = conn.execute(
            f'select count(*) from "{schema}".weekly_funnel_hidden where level = %s and '
            "gender <> 'all' and age_band <> 'all' and exact_value between 1 and %s",
            ("department", SMALL_CELL_K - 1),
        ).fetchone()[0]
    total = sum(n for _, n in cells)
    counts = {}
    for level, status, n in hidden:
        counts[status] = counts.get(status, 0) + n
        counts[(level, status)] = n
    lines = [
        f"published values {total}: primary {counts.get('primary', 0) / total:.1%}, "
        f"secondary {counts.get('secondary', 0) / total:.1%}"
    ]
    for level, n in sorted(cells):
        lines.append(
            f"  {level}: {n} values, primary {counts.get((level, 'primary'), 0) / n:.1%}"
            f", secondary {counts.get((level, 'secondary'), 0) / n:.1%}"
        )
    lines.append(
        f"before (department x gender x age band cells only, primary only): "
        f"{small / finest:.1%} of {finest}"
    )
    print("\n" + "\n".join(lines))
    assert counts.get("primary") and counts.get("secondary")
