"""Benchmark of the weekly publication at the programme's size (issue #20).

One cohort of 20,000 applicants over 16 inscription weeks + 4 weeks of processing, France's
101 departments in 18 regions (uneven sizes), 2 genders, 4 age bands; every week published
in order through the pure use case ``publish_week`` (what the ``weekly_funnel`` asset runs
between its reads and writes), then the LP attacker over every published row. ``--year``: four
such cohorts overlapping (one opening every 12 weeks), published week after week together.

    python bench/publication.py                 # one cohort
    python bench/publication.py --year          # four cohorts
    python bench/publication.py --youngs 2000 --weeks 6 --tail 0   # the issue's small case

Prints a Markdown report (seconds per week, values shown, region/national totals shown, the
attacker's result); ``--out FILE`` writes it too.
"""

from __future__ import annotations

import argparse
import platform
import random
import resource
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

from snu_assets.core.publication.attack import too_narrow
from snu_assets.core.publication.grain import COLUMNS, LEVELS
from snu_assets.core.publication.publish import History, publish_week
from snu_assets.core.publication.series import Rules
from snu_assets.core.reference.geography import departments

GENDERS = ("female", "male")
BANDS = ("15", "16", "17", "18+")
WEEK = timedelta(days=7)
FIRST_MONDAY = date(2026, 1, 5)


def geography(seed: int) -> list[tuple[str, str, float]]:
    """(region, department, weight) for the 101 departments (collectivities left out), with
    uneven weights (log-normal: a few large departments, many small ones)."""
    rng = random.Random(seed)
    out = []
    for d in departments():
        if len(d.code) == 3 and d.code not in ("971", "972", "973", "974", "976"):
            continue
        out.append((d.region, d.name, rng.lognormvariate(0, 0.8)))
    return out


def cohort_events(
    seed: int, youngs: int, weeks: int, tail: int, geo: list[tuple[str, str, float]]
) -> list[dict[tuple, list[int]]]:
    """Per week, the finest weekly counts ``{(region, department, gender, band): [created,
    completed, processed, validated, refused]}`` of one cohort."""
    rng = random.Random(seed)
    total = weeks + tail
    out: list[dict[tuple, list[int]]] = [defaultdict(lambda: [0] * 5) for _ in range(total)]
    places = [(r, d) for r, d, _ in geo]
    weights = [w for _, _, w in geo]
    # inscriptions: more at the opening and before the close
    pace = [1.5 if i < 2 or i >= weeks - 2 else 1.0 for i in range(weeks)]
    for _ in range(youngs):
        region, department = rng.choices(places, weights)[0]
        key = (region, department, rng.choice(GENDERS), rng.choices(BANDS, (3, 4, 3, 1))[0])
        t = rng.choices(range(weeks), pace)[0]
        out[t][key][0] += 1
        if rng.random() < 0.8:  # completed
            t = min(total - 1, t + rng.choice((0, 0, 1, 1, 2)))
            out[t][key][1] += 1
            if rng.random() < 0.9:  # processed: validated, refused, or sent back for correction
                t = min(total - 1, t + rng.choice((0, 1, 1, 2, 3)))
                out[t][key][2] += 1
                outcome = rng.random()
                if outcome < 0.8:
                    out[t][key][3] += 1
                elif outcome < 0.92:
                    out[t][key][4] += 1
    return [dict(w) for w in out]


def cumulate(weeks: list[dict[tuple, list[int]]]) -> list[dict[tuple, list[int]]]:
    running: dict[tuple, list[int]] = defaultdict(lambda: [0] * 5)
    out = []
    for week in weeks:
        for key, counts in week.items():
            running[key] = [a + b for a, b in zip(running[key], counts, strict=True)]
        out.append({k: list(v) for k, v in running.items()})
    return out


def row_dict(row: tuple) -> dict:
    keys = ("week", "cohort", "level", "region", "department", "gender", "age_band", *COLUMNS)
    return dict(zip(keys, row[: len(keys)], strict=True))


def run(cohorts: dict[str, tuple[date, list[dict]]], rules: Rules, attack: bool) -> dict:
    """Publish every week of ``cohorts`` (``{name: (first Monday, cumulated per week)}``)."""
    first = min(start for start, _ in cohorts.values())
    last = max(start + WEEK * (len(c) - 1) for start, c in cohorts.values())
    history = History()
    rows: list[dict] = []
    per_week = []
    week = first
    while week <= last:
        cumulated = {}
        for name, (start, series) in cohorts.items():
            i = (week - start).days // 7
            if 0 <= i < len(series):
                cumulated[name] = series[i]
            elif i >= len(series):
                cumulated[name] = series[-1]
        started = time.perf_counter()
        result = publish_week(cumulated, history, {}, {}, week, rules)
        seconds = time.perf_counter() - started
        # what the asset writes, read back as the next week's history
        history.record(week, result)
        rows += [row_dict(row) for row in result.published]
        s = result.stats
        per_week.append(
            {
                "week": week,
                "seconds": seconds,
                "values": s["values"],
                "shown": s["shown"],
                "totals_passing": s["totals_passing"],
                "totals_passing_hidden": s["totals_passing_hidden"],
                "reemerged": s["reemerged"],
                "lp_rounds": s["lp_rounds"],
                "fallback": s["fallback_weeks"],
            }
        )
        print(
            f"{week}  {seconds:7.2f} s  shown {s['shown'] / max(s['values'], 1):6.1%}  "
            f"totals hidden {s['totals_passing_hidden']}/{s['totals_passing']}  "
            f"re-emerged {s['reemerged']}  LP rounds {s['lp_rounds']}",
            flush=True,
        )
        week += WEEK
    narrow = None
    attack_seconds = None
    if attack:
        started = time.perf_counter()
        narrow = too_narrow(rows, rules.width)
        attack_seconds = time.perf_counter() - started
    return {
        "last": result,
        "weeks": per_week,
        "rows": len(rows),
        "narrow": narrow,
        "attack_seconds": attack_seconds,
    }


def report(title: str, args, outcome: dict) -> str:
    weeks = outcome["weeks"]
    values = sum(w["values"] for w in weeks)
    shown = sum(w["shown"] for w in weeks)
    passing = sum(w["totals_passing"] for w in weeks)
    passing_hidden = sum(w["totals_passing_hidden"] for w in weeks)
    seconds = [w["seconds"] for w in weeks]
    first3, last3 = sum(seconds[:3]) / 3, sum(seconds[-3:]) / 3
    lines = [
        f"## {title}",
        "",
        f"{args.youngs:,} applicants per cohort over {args.weeks} inscription weeks + "
        f"{args.tail}, {len(geography(args.seed))} departments, {len(GENDERS)} genders, "
        f"{len(BANDS)} age bands; rule k = {args.k}, width = {args.k}, blocks of "
        f"{args.block} weeks; seed {args.seed}. Python {platform.python_version()}, "
        f"load average at the end {open('/proc/loadavg').read().split()[0]}.",
        "",
        "| week | seconds | values | shown | region/national totals passing the rule, hidden "
        "| cumulated values re-published | LP rounds |",
        "|---|---|---|---|---|---|---|",
    ]
    for w in weeks:
        lines.append(
            f"| {w['week']} | {w['seconds']:.2f} | {w['values']:,} | "
            f"{w['shown'] / max(w['values'], 1):.1%} | {w['totals_passing_hidden']} of "
            f"{w['totals_passing']} | {w['reemerged']} | {w['lp_rounds']} |"
        )
    narrow = outcome["narrow"]
    lines += [
        "",
        f"- every week: {sum(seconds):.1f} s in all, slowest {max(seconds):.2f} s; first three "
        f"weeks {first3:.2f} s on average, last three {last3:.2f} s "
        f"({last3 / first3 if first3 else float('nan'):.2f}x)",
        f"- values shown: {shown:,} of {values:,} ({shown / max(values, 1):.1%}); region and "
        f"national totals passing the rule (value >= k) hidden: {passing_hidden} of {passing}",
        f"- peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB",
    ]
    if narrow is not None:
        lines.append(
            f"- the attacker (LP over every published row, all weeks): "
            f"{len(narrow)} hidden value(s) narrower than {args.k} "
            f"({outcome['attack_seconds']:.1f} s)"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--youngs", type=int, default=20_000)
    parser.add_argument("--weeks", type=int, default=16)
    parser.add_argument("--tail", type=int, default=4)
    parser.add_argument("--year", action="store_true", help="four cohorts, one every 12 weeks")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--block", type=int, default=Rules().block_weeks)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--no-attack", action="store_true")
    parser.add_argument(
        "--detail",
        default="cross,margins,total",
        help="cells published: national,region,department",
    )
    parser.add_argument("--no-reemergence", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    geo = geography(args.seed)
    cohorts = {}
    for c in range(4 if args.year else 1):
        events = cohort_events(args.seed + c, args.youngs, args.weeks, args.tail, geo)
        cohorts[f"Cohorte {c + 1}"] = (FIRST_MONDAY + WEEK * 12 * c, cumulate(events))
    rules = Rules(
        k=args.k,
        width=args.k,
        block_weeks=args.block,
        detail=tuple(zip(LEVELS, args.detail.split(","), strict=True)),
        reemergence=not args.no_reemergence,
    )
    started = time.perf_counter()
    outcome = run(cohorts, rules, attack=not args.no_attack)
    title = (
        f"A year: {len(cohorts)} cohorts" if args.year else "One cohort"
    ) + f" ({time.perf_counter() - started:.0f} s with the attack)"
    text = report(title, args, outcome)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
