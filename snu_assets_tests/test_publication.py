"""Statistical disclosure control of the published funnel (pure modules, no server): the
attacker of ``snu_assets.core.publication.attack`` (LP over every published relation:
levels, margins, weekly and cumulated, consecutive weeks) finds no hidden value narrower than
the protection, on hand-made tables and generated ones; a week reads only its block of the
history; corrections are folded into the next week."""

import random
from collections import defaultdict
from datetime import date, timedelta

import pytest

from snu_assets.core.publication.attack import intervals, too_narrow
from snu_assets.core.publication.grain import ALL, COLUMNS, MEASURES, Grain
from snu_assets.core.publication.intervals import feasible_intervals
from snu_assets.core.publication.publish import (
    History,
    PublicationOrderError,
    history_start,
    publish_week,
)
from snu_assets.core.publication.series import Rules
from snu_assets.core.publication.week_table import WeekTable, relation_equation

MONDAY = date(2025, 1, 6)
WEEK = timedelta(days=7)
KEYS = ("week", "cohort", "level", "region", "department", "gender", "age_band", *COLUMNS)


def generate(seed, *, regions=3, departments=3, weeks=4, youngs=150, bands=("15", "16", "17")):
    """A random cohort: youngs created, completing, processed then validated or refused, in
    random departments, genders and age bands; the finest counts cumulated per week."""
    rng = random.Random(seed)
    geo = {
        f"R{r}": tuple(f"D{r}{d}" for d in range(rng.randint(1, departments)))
        for r in range(regions)
    }
    weekly = [defaultdict(lambda: [0] * 5) for _ in range(weeks)]
    for _ in range(youngs):
        region = rng.choice(sorted(geo))
        key = (region, rng.choice(geo[region]), rng.choice(("female", "male")), rng.choice(bands))
        t = rng.randrange(weeks)
        steps = [(t, 0)]
        if rng.random() < 0.7:
            t = min(weeks - 1, t + rng.randint(0, 2))
            steps.append((t, 1))
            if rng.random() < 0.7:
                t = min(weeks - 1, t + rng.randint(0, 2))
                steps += [(t, 2), (t, 3 if rng.random() < 0.8 else 4)]
        for week, measure in steps:
            weekly[week][key][measure] += 1
    return cumulate(weekly)


def cumulate(weekly):
    running: dict = defaultdict(lambda: [0] * 5)
    out = []
    for week in weekly:
        for key, counts in week.items():
            running[key] = [a + b for a, b in zip(running[key], counts, strict=True)]
        out.append({k: list(v) for k, v in running.items()})
    return out


def publish_all(series, rules=None, cohort="Juillet 2025", history=None):
    """Publish every week of ``series`` (cumulated finest counts per week) in order; the
    history and every row as the table holds it."""
    history = history or History()
    rules = rules or Rules()
    rows, publications = [], []
    for t, cumulated in enumerate(series):
        week = MONDAY + WEEK * t
        publication = publish_week({cohort: cumulated}, history, {}, {}, week, rules)
        history.record(week, publication)
        publications.append(publication)
        rows += [dict(zip(KEYS, row[: len(KEYS)], strict=True)) for row in publication.published]
    return history, rows, publications


def assert_protected(rows, publications, k, width):
    # nothing published is small; hidden values are marked, primary exactly for 1 .. k-1
    for row in rows:
        for column in COLUMNS:
            assert row[column] is None or not 0 < abs(row[column]) < k, (row, column)
    for publication in publications:
        for *_, column, status, exact in publication.hidden:
            assert status == ("primary" if 0 < abs(exact) < k else "secondary"), (column, exact)
    # the attacker: every hidden value keeps an interval at least `width` wide
    assert too_narrow(rows, width) == {}


# ------------------------------------------------------------------------------ the grain


def test_the_grain_publishes_what_the_dashboards_read():
    grain = Grain.of([("R", "D1", "female", "16"), ("R", "D2", "male", "17")])
    keys = set(grain.keys)
    assert (ALL, ALL, "female", "16") in keys  # the nation: gender x age band
    assert ("R", ALL, "female", ALL) in keys and ("R", ALL, ALL, "16") in keys  # margins
    assert ("R", ALL, "female", "16") not in keys  # not the cross in a region
    assert ("R", "D1", ALL, ALL) in keys and ("R", "D1", "female", ALL) not in keys
    # every relation's members are published cells
    for total, parts in grain.relations:
        assert grain.published(total) and all(grain.published(p) for p in parts)
    assert ((ALL, ALL, ALL, ALL), (("R", ALL, ALL, ALL),)) in grain.relations
    assert (("R", ALL, ALL, ALL), (("R", "D1", ALL, ALL), ("R", "D2", ALL, ALL))) in (
        grain.relations
    )


# ------------------------------------------------------------------------------ by hand


def test_one_small_department_needs_a_partner_and_the_region_stays():
    series = [
        {
            ("R", "A", "female", "16"): [3, 0, 0, 0, 0],
            ("R", "B", "female", "16"): [7, 0, 0, 0, 0],
            ("R", "C", "female", "16"): [9, 0, 0, 0, 0],
        }
    ]
    _, rows, publications = publish_all(series)
    by_key = {(r["region"], r["department"], r["gender"], r["age_band"]): r for r in rows}
    assert by_key[("R", "A", ALL, ALL)]["created"] is None
    assert by_key[("R", ALL, ALL, ALL)]["created"] == 19  # the region total stays
    # primary suppression alone would give A back as 19 - 7 - 9: a partner is hidden
    assert by_key[("R", "B", ALL, ALL)]["created"] is None
    assert_protected(rows, publications, 5, 5)


def test_primary_alone_is_recovered_by_the_attacker():
    """The attacker sees through primary suppression only."""
    grain = Grain.of([("R", "A", "female", "16"), ("R", "B", "female", "16")])
    values = grain.expand({("R", "A", "female", "16"): 3, ("R", "B", "female", "16"): 8})
    hidden = {key for key, v in values.items() if 0 < v < 5}
    equations = [
        relation_equation(rel, values, hidden)
        for rel in grain.relations
        if hidden & {rel[0], *rel[1]}
    ]
    found = feasible_intervals(equations, hidden)
    assert all(hi - lo < 1e-6 for lo, hi in found.values())  # exact disclosure
    assert found[("R", "A", ALL, ALL)][0] == pytest.approx(3)
    # the week's protection hides a partner instead
    table = WeekTable(grain, values, set(values), 5, 5).protect()
    assert ("R", "B", ALL, ALL) in table.hidden and not table.narrow()


def test_cumulated_of_consecutive_weeks_do_not_give_a_hidden_week_back():
    week1 = {("R", "A", "female", "16"): [6, 0, 0, 0, 0], ("R", "B", "male", "16"): [8, 0, 0, 0, 0]}
    week2 = {
        ("R", "A", "female", "16"): [8, 0, 0, 0, 0],
        ("R", "B", "male", "16"): [17, 0, 0, 0, 0],
    }
    _, rows, publications = publish_all([week1, week2])
    second = {(r["department"], r["gender"]): r for r in rows if r["week"] == MONDAY + WEEK}
    assert second[("A", ALL)]["created"] is None  # 2 this week
    # 6 then 8 published would give the week's 2 by difference: the cumulated goes too
    assert second[("A", ALL)]["created_cumulated"] is None
    assert_protected(rows, publications, 5, 5)


def test_no_suppression_when_k_is_one():
    _, rows, _ = publish_all(generate(1, weeks=2, youngs=30), Rules(k=1, width=1))
    assert rows and all(row[c] is not None for row in rows for c in COLUMNS)


def test_the_lp_attacker_on_a_known_table():
    # x + y = 10, y + z = 4, all >= 0: x in [6, 10], y in [0, 4], z in [0, 4]
    found = feasible_intervals(
        [({"x": 1, "y": 1}, 10), ({"y": 1, "z": 1}, 4)], ["x", "y", "z", "w"]
    )
    assert found["x"] == pytest.approx((6, 10)) and found["y"] == pytest.approx((0, 4))
    assert found["w"] == (0, float("inf"))


def test_the_attacker_reads_rows_only():
    """The attacker's intervals are those of the LP on what the rows say: a hidden value
    appears there with its interval, a published one does not."""
    _, rows, _ = publish_all(generate(5, regions=2, departments=2, weeks=2, youngs=60))
    found = intervals(rows)
    hidden = {
        (
            r["cohort"],
            m,
            kind,
            r["week"],
            (r["region"], r["department"], r["gender"], r["age_band"]),
        )
        for r in rows
        for m in MEASURES
        for kind, c in (("W", m), ("C", f"{m}_cumulated"))
        if r[c] is None
    }
    assert set(found) == hidden and hidden


# ------------------------------------------------------------------------------ generated


@pytest.mark.parametrize("seed", range(4))
def test_small_generated_series_are_protected(seed):
    _, rows, publications = publish_all(
        generate(seed, regions=2, departments=2, weeks=6, youngs=60), Rules(block_weeks=3)
    )
    assert_protected(rows, publications, 5, 5)


@pytest.mark.parametrize("seed,k", [(10, 5), (11, 3), (12, 11)])
def test_generated_series_are_protected_for_each_k(seed, k):
    rules = Rules(k=k, width=k, block_weeks=3)
    _, rows, publications = publish_all(
        generate(seed, regions=3, departments=3, weeks=7, youngs=300), rules
    )
    assert_protected(rows, publications, k, k)


@pytest.mark.parametrize("detail", [("cross", "cross", "cross"), ("cross", "margins", "margins")])
def test_every_grain_is_protected(detail):
    rules = Rules(detail=tuple(zip(("national", "region", "department"), detail, strict=True)))
    _, rows, publications = publish_all(
        generate(7, regions=3, departments=3, weeks=5, youngs=250), rules
    )
    assert_protected(rows, publications, 5, 5)
    details = {
        (r["gender"] != ALL) + (r["age_band"] != ALL) for r in rows if r["level"] == "department"
    }
    assert max(details) == (2 if detail[2] == "cross" else 1)


def test_a_cumulated_value_hidden_at_a_block_boundary_stays_hidden():
    """No chain joins two blocks: what is hidden at a block's last week is hidden after."""
    rules = Rules(block_weeks=2)
    history, rows, _ = publish_all(generate(3, weeks=6, youngs=120), rules)
    hidden = {
        (r["week"], key, c)
        for r in rows
        for c in COLUMNS
        if c.endswith("_cumulated")
        for key in [(r["region"], r["department"], r["gender"], r["age_band"])]
        if r[c] is None
    }
    for week, key, column in hidden:
        t = (week - MONDAY).days // 7
        if t % 2 == 1:  # the last week of a block
            for later in range(t + 1, 6):
                assert (MONDAY + WEEK * later, key, column) in hidden


# ------------------------------------------------------------------------------ the history


def test_a_week_reads_its_block_only():
    """The week's publication is the same from the whole history as from the weeks of its
    block (with their boundary): nothing re-solves the cohort's history."""
    rules = Rules(block_weeks=3)
    series = generate(8, weeks=8, youngs=200)
    history, _, _ = publish_all(series[:7], rules)
    week = MONDAY + WEEK * 7
    whole = publish_week({"Juillet 2025": series[7]}, history, {}, {}, week, rules)
    start = history_start(week, rules.block_weeks)
    recent = History(
        first_week=dict(history.first_week),
        published_weeks={w for w in history.published_weeks if w >= start},
        weeks=defaultdict(
            dict,
            {c: {w: fw for w, fw in ws.items() if w >= start} for c, ws in history.weeks.items()},
        ),
    )
    part = publish_week({"Juillet 2025": series[7]}, recent, {}, {}, week, rules)
    assert part.published == whole.published and part.hidden == whole.hidden
    assert whole.stats["block_weeks_read"] <= rules.block_weeks


def test_a_week_before_its_previous_one_is_refused():
    series = generate(2, weeks=3, youngs=80)
    history, _, _ = publish_all(series[:1])
    with pytest.raises(PublicationOrderError, match="2025-01-13 is not published yet"):
        publish_week({"Juillet 2025": series[2]}, history, {}, {}, MONDAY + 2 * WEEK, Rules())


def test_late_data_is_folded_into_the_next_week():
    """A week is published once; what arrives late counts in the next week, so that every
    relation between published weeks holds and no version of a week is differenced."""
    series = generate(4, weeks=3, youngs=150)
    history, rows, publications = publish_all(series[:2])
    late = {k: list(v) for k, v in series[2].items()}
    key = next(iter(sorted(late)))
    late[key][0] += 3  # three youngs of an earlier week loaded after its publication
    week = MONDAY + 2 * WEEK
    publication = publish_week({"Juillet 2025": late}, history, {}, {}, week, Rules())
    history.record(week, publication)
    rows += [dict(zip(KEYS, row[: len(KEYS)], strict=True)) for row in publication.published]
    exact = {(r["region"], r["department"], r["gender"], r["age_band"]): r for r in rows}
    national = [
        r for r in rows if r["level"] == "national" and r["gender"] == ALL and r["age_band"] == ALL
    ]
    before = sum(r["created"] for r in national[:2])
    assert national[2]["created_cumulated"] == before + national[2]["created"]
    assert national[2]["created_cumulated"] == sum(v[0] for v in late.values())
    assert exact
    assert_protected(rows, [*publications, publication], 5, 5)
