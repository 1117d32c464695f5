"""Hostile input (issue #11): seconds per MB of every judge of personal data on adversarial
values, growing each family until one measurement exceeds a ceiling.

Judges (what a hostile patch goes through, in pipeline order):

- ``detectors``: :func:`detectors.findings` on the value (= ``kinds_of_personal_data`` for
  a string; every string and key of a structure);
- ``scrub /cohort`` (KEEP), ``scrub /cohortId`` (PSEUDONYM), ``scrub /birthdateAt`` (MONTH):
  :func:`scrub.scrub_patch` on a whole young patch document whose op writes the value there;
- ``audit scrubbed``: :func:`audit.audit_ops` + :func:`audit.audit_state` on what the three
  scrubs above produced (what PostgreSQL holds after the fix);
- ``audit raw ops`` / ``audit raw state``: the same audits on an unscrubbed op / state holding
  the value (a hostile row already in PostgreSQL);
- ``reconstruct``: :func:`reconstruction.reconstruct_record` on a record whose patch (and
  current document) holds the value; for ``many-ops``, one patch of N ops on nested paths and
  no current document (forward replay + backward walk).

Each measurement runs in a forked child process with a hard timeout: a quadratic or
exponential case is killed and reported as ``> ceiling``; the family stops growing for that
judge at the first size over the ceiling. Results: a markdown table on stdout and in
``bench/results/adversarial-<label>.md``.

    .venv/bin/python bench/adversarial.py --label after            # 16 KB .. 16 MB
    .venv/bin/python bench/adversarial.py --label smoke --quick    # 4 KB .. 256 KB
    PYTHONPATH=/tmp/wt-before .venv/bin/python bench/adversarial.py --label before --ceiling 3
    .venv/bin/python bench/adversarial.py --label before --ceiling 3 \\
        --replay bench/results/adversarial-before.log     # re-render a table from its log
"""

from __future__ import annotations

import argparse
import gc
import math
import multiprocessing
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bson import ObjectId

from snu_assets.core import reconstruction
from snu_assets.core.privacy import audit, detectors, scrub
from snu_assets.core.privacy.pseudonym import Pseudonymizer

KB, MB = 1024, 1024 * 1024
SIZES = [16 * KB, 64 * KB, 256 * KB, 1 * MB, 4 * MB, 16 * MB]
QUICK_SIZES = [4 * KB, 16 * KB, 64 * KB, 256 * KB]
#: the exponential family lives below the category cap (the only place ``_PLAIN`` runs)
SHORT_SIZES = [16, 20, 24, 28, 32, 48, 64, 96, 120]
QUICK_SHORT_SIZES = [16, 20, 24, 28]
DEPTH = 100
YEAR = 2025
MODEL = "young"
FIELDS = {
    "cohort": "scrub /cohort",
    "cohortId": "scrub /cohortId",
    "birthdateAt": "scrub /birthdateAt",
}
JUDGES = [
    "detectors",
    *FIELDS.values(),
    "audit scrubbed",
    "audit raw ops",
    "audit raw state",
    "reconstruct",
]
P = Pseudonymizer("adversarial-bench-key-0123456789")
OCCURRED = datetime(YEAR, 3, 1, 12, 0, tzinfo=UTC)
UNICODE_LETTERS = "éàüßøñçÆœЖжλδΩąęłșțğışžčřůőű中文日本語한국어"


# ------------------------------------------------------------------------------ families


def _repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _unicode(size: int) -> str:
    """Letters of several scripts, ``size`` UTF-8 bytes (about)."""
    average = len(UNICODE_LETTERS.encode()) / len(UNICODE_LETTERS)
    return _repeat(UNICODE_LETTERS, max(1, int(size / average)))


def _nested(size: int) -> dict:
    value: object = "a" * max(1, size - DEPTH * 8)
    for level in range(DEPTH):
        value = {f"k{level}": value}
    return value


def _nested_long_keys(size: int) -> dict:
    key = "a" * max(1, size // DEPTH)
    value: object = "statut"
    for level in range(DEPTH):
        value = {f"{key}{level}": value}
    return value


def _many_ops(size: int, field: str = "cohort") -> list[dict]:
    """About ``size`` bytes of ops: nested allow-listed paths, with ops on non-allow-listed
    paths (personal values, dropped) in between."""
    ops, used, index = [], 0, 0
    while used < size:
        if index % 3 == 2:
            op = {
                "op": "replace",
                "path": f"/parent1Phone/{index}",
                "value": "06 12 34 56 78",
                "originalValue": "lea.martin@gmail.com",
            }
        elif field == "cohortId":
            op = {
                "op": "replace",
                "path": f"/cohortId/k{index}/v",
                "value": f"{index:024x}",
                "originalValue": f"{index + 1:024x}",
            }
        elif field == "birthdateAt":
            op = {
                "op": "replace",
                "path": f"/birthdateAt/k{index}/v",
                "value": f"20{index % 10:02d}-03-14T00:00:00Z",
                "originalValue": "2009-04-01T00:00:00Z",
            }
        else:
            op = {
                "op": "replace",
                "path": f"/cohort/k{index}/v{index % 7}",
                "value": f"Juillet {2000 + index % 30}",
                "originalValue": "Juin 2025",
            }
        ops.append(op)
        used += 40 + len(op["path"]) + len(op["value"]) + len(op["originalValue"])
        index += 1
    return ops


#: name -> (builder of the hostile value from a size in bytes, kind, sizes key)
FAMILIES = {
    "letters": (lambda n: "a" * n, "value", "long"),
    "digits": (lambda n: "1" * n, "value", "long"),
    "a.a-a@a. repeated": (lambda n: _repeat("a.a-a@a.", n), "value", "long"),
    "a-a-a- repeated": (lambda n: _repeat("a-", n), "value", "long"),
    "word chars then @": (lambda n: "a" * (n - 1) + "@", "value", "long"),
    "a + dots + 1": (lambda n: "a" + "." * (n - 2) + "1", "value", "long"),
    "a + dots + 1 (<= 120 B)": (lambda n: "a" + "." * (n - 2) + "1", "value", "short"),
    "unicode letters": (_unicode, "value", "long"),
    "nested 100 deep": (_nested, "value", "long"),
    "nested 100, long keys": (_nested_long_keys, "value", "long"),
    "many ops (nested paths)": (_many_ops, "ops", "long"),
}


# ------------------------------------------------------------------------------ judges


def _doc(ops: list[dict]) -> dict:
    return {
        "_id": ObjectId("65a0f0f0f0f0f0f0f0f0f0f1"),
        "__v": 0,
        "ref": ObjectId("65a0f0f0f0f0f0f0f0f0f0f0"),
        "modelName": MODEL,
        "date": OCCURRED.replace(tzinfo=None),
        "user": {"role": "admin", "_id": "x"},
        "ops": ops,
    }


def _value_doc(field: str, value) -> dict:
    return _doc(
        [{"op": "replace", "path": f"/{field}", "value": value, "originalValue": "Juillet 2025"}]
    )


def _raw_state(family: str, value, size: int):
    if FAMILIES[family][1] == "ops":
        return {
            "cohort": {
                op["path"].split("/")[2]: {op["path"].split("/")[3]: op["value"]}
                for op in value
                if op["path"].startswith("/cohort/")
            }
        }
    return {"status": "VALIDATED", "cohort": value}


def _patch(ops: list[dict], order: str, when: datetime) -> reconstruction.Patch:
    return reconstruction.Patch(
        patch_id=f"p{order}",
        model=MODEL,
        record_id="r",
        occurred_at=when,
        order=order,
        ops=ops,
        young_id="r",
    )


def _clear_caches() -> None:
    for cached in (
        getattr(detectors, "_kinds", None),
        getattr(scrub, "_target", None),
        getattr(scrub, "_pointer_tokens", None),
    ):
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()


def build(family: str, judge: str, size: int):
    """The thunk timed for ``(family, judge, size)``: everything else is built beforehand."""
    builder, kind, _ = FAMILIES[family]
    value = builder(size)
    if judge == "detectors":
        return lambda: detectors.findings(value, YEAR)
    field_of = {label: name for name, label in FIELDS.items()}
    if judge in field_of:
        doc = (
            _doc(_many_ops(size, field_of[judge]))
            if kind == "ops"
            else _value_doc(field_of[judge], value)
        )
        return lambda: scrub.scrub_patch(doc, MODEL, P)
    if judge == "audit scrubbed":
        outputs = []
        for name in FIELDS:
            doc = _doc(_many_ops(size, name)) if kind == "ops" else _value_doc(name, value)
            outputs.append(scrub.scrub_patch(doc, MODEL, P))

        def audit_scrubbed():
            for result in outputs:
                if isinstance(result, scrub.ScrubbedPatch):
                    audit.audit_ops(MODEL, result.ops, YEAR)
                    state = {op["path"].split("/")[1]: op.get("value") for op in result.ops}
                    audit.audit_state(MODEL, state, YEAR)

        return audit_scrubbed
    if judge == "audit raw ops":
        ops = value if kind == "ops" else _value_doc("cohort", value)["ops"]
        return lambda: audit.audit_ops(MODEL, ops, YEAR)
    if judge == "audit raw state":
        state = _raw_state(family, value, size)
        return lambda: audit.audit_state(MODEL, state, YEAR)
    if judge == "reconstruct":
        creation = _patch(
            [
                {"op": "add", "path": "/createdAt", "value": "2025-01-02T10:00:00.000Z"},
                {"op": "add", "path": "/status", "value": "IN_PROGRESS"},
            ],
            "65a0f0f0f0f0f0f0f0f0f0f0",
            datetime(2025, 1, 2, 10, tzinfo=UTC),
        )
        if kind == "ops":
            patches = [creation, _patch(value, "65a0f0f0f0f0f0f0f0f0f0f1", OCCURRED)]
            current = None
        else:
            change = _patch(
                [
                    {
                        "op": "replace",
                        "path": "/cohort",
                        "value": value,
                        "originalValue": "Juillet 2025",
                    }
                ],
                "65a0f0f0f0f0f0f0f0f0f0f1",
                OCCURRED,
            )
            patches = [creation, change]
            current = {
                "createdAt": "2025-01-02T10:00:00.000Z",
                "status": "IN_PROGRESS",
                "cohort": value,
            }
        return lambda: reconstruction.reconstruct_record(patches, current)
    raise ValueError(judge)


# ------------------------------------------------------------------------------ running


def _child(conn, family: str, judge: str, size: int) -> None:
    # a forked child of a process that imported dagster: a collection would walk (and copy)
    # its whole heap, the child is short-lived: no collection at all
    gc.disable()
    try:
        thunk = build(family, judge, size)
        conn.send(("built",))
        best = math.inf
        for _ in range(5):  # one run; a few more (best of) when it is too short to read
            _clear_caches()
            start = time.perf_counter()
            thunk()
            elapsed = time.perf_counter() - start
            best = min(best, elapsed)
            if elapsed > 0.05:
                break
        conn.send(("done", best))
    except BaseException as exc:  # noqa: BLE001 - reported, never hidden
        conn.send(("error", f"{type(exc).__name__}: {str(exc)[:80]}"))
    finally:
        conn.close()


def measure(family: str, judge: str, size: int, ceiling: float, build_limit: float):
    """``("done", seconds)``, ``("timeout", ceiling)``, ``("build-timeout", limit)`` or
    ``("error", text)``."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(child, family, judge, size), daemon=True)
    process.start()
    child.close()
    try:
        if not parent.poll(build_limit):
            return ("build-timeout", build_limit)
        message = parent.recv()
        if message[0] != "built":
            return message
        if not parent.poll(ceiling):
            return ("timeout", ceiling)
        return parent.recv()
    except EOFError:
        return ("error", f"child died (exit code {process.exitcode})")
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        parent.close()


def human(size: int) -> str:
    if size >= MB:
        return f"{size // MB} MB"
    if size >= KB:
        return f"{size // KB} KB"
    return f"{size} B"


def _log(args, line: str) -> None:
    print(line, file=sys.stderr, flush=True)
    args.log.append(line)


def _progress_line(family: str, judge: str, size: int, outcome) -> str:
    status, value = outcome
    shown = f"{value:.6g} s" if status == "done" else value
    return f"  {family:26} {judge:20} {human(size):>7}: {status} {shown}"


def _parse_progress(line: str):
    """The inverse of :func:`_progress_line` (``--replay``)."""
    family, judge, rest = line[2:28].strip(), line[29:49].strip(), line[49:]
    size_text, _, outcome = rest.partition(": ")
    number, unit = size_text.split()
    size = int(number) * {"B": 1, "KB": KB, "MB": MB}[unit]
    status, _, value = outcome.partition(" ")
    if status == "done":
        return family, judge, size, (status, float(value.split()[0]))
    if status in ("timeout", "build-timeout"):
        return family, judge, size, (status, float(value))
    return family, judge, size, (status, value)


def _row(family: str, judge: str, outcomes, ceiling: float) -> dict:
    """The points measured under the ceiling, and where the family stopped (if it did)."""
    points, stopped = [], None
    for size, (status, value) in outcomes:
        if status == "done":
            points.append((size, value))
            if value <= ceiling:
                continue
            stopped = (size, f"{value:.1f} s > ceiling")
        elif status == "timeout":
            stopped = (size, f"> {ceiling:g} s")
        elif status == "build-timeout":
            stopped = (size, f"setup > {value:g} s")
        else:
            stopped = (size, value)
        break
    return {"family": family, "judge": judge, "points": points, "stopped": stopped}


def run(args) -> list[dict]:
    rows = []
    families = [f for f in FAMILIES if not args.family or any(s in f for s in args.family)]
    judges = [j for j in JUDGES if not args.judge or any(s in j for s in args.judge)]
    for family in families:
        short = FAMILIES[family][2] == "short"
        sizes = (
            (QUICK_SHORT_SIZES if args.quick else SHORT_SIZES)
            if short
            else (QUICK_SIZES if args.quick else SIZES)
        )
        for judge in judges:
            outcomes = []
            for size in sizes:
                # building a 16 MB document (or scrubbing it for "audit scrubbed") is not timed
                limit = args.ceiling * (4 if judge == "audit scrubbed" else 1) + 30
                outcome = measure(family, judge, size, args.ceiling, limit)
                _log(args, _progress_line(family, judge, size, outcome))
                outcomes.append((size, outcome))
                if outcome[0] != "done" or outcome[1] > args.ceiling:
                    break
            rows.append(_row(family, judge, outcomes, args.ceiling))
    return rows


def replay(args) -> list[dict]:
    """Rows from the progress log of an earlier run (re-render its table)."""
    by_cell: dict[tuple[str, str], list] = {}
    for line in args.replay.read_text().splitlines():
        if line.startswith("code under test: "):
            args.code = line.removeprefix("code under test: ")
        elif line.startswith("  ") and ": " in line:
            family, judge, size, outcome = _parse_progress(line)
            by_cell.setdefault((family, judge), []).append((size, outcome))
    return [
        _row(family, judge, outcomes, args.ceiling) for (family, judge), outcomes in by_cell.items()
    ]


def exponent(points, stopped, ceiling) -> str:
    """log(t2/t1)/log(n2/n1) over the last two sizes done; with a single size done and the
    next one over the ceiling, the lower bound that gives (when it says anything)."""
    if len(points) >= 2:
        (n1, t1), (n2, t2) = points[-2], points[-1]
        if t1 < 0.002 or t2 < 0.002:
            return "~0 (too fast)"
        return f"{math.log(t2 / t1) / math.log(n2 / n1):.1f}"
    if stopped and stopped[1].startswith(">") and points and points[-1][1] >= 0.002:
        size, seconds = points[-1]
        bound = math.log(ceiling / seconds) / math.log(stopped[0] / size)
        return f"> {bound:.1f}" if bound >= 1 else "n/a (1 size)"
    return "n/a"


def code_under_test() -> str:
    where = Path(detectors.__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(where), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "snu_assets"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "?", ""
    return f"`{where}` at {commit}" + (" (+ uncommitted changes in snu_assets/)" if dirty else "")


def markdown(rows, args, wall: float) -> str:
    sizes = QUICK_SIZES if args.quick else SIZES
    lines = [
        f"# Adversarial inputs: {args.label}",
        "",
        f"- code: {args.code}",
        (
            f"- re-rendered from `{args.replay.name}` (the progress log of the run)"
            if args.replay
            else f"- run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python "
            f"{platform.python_version()}, {os.cpu_count()} CPUs, load "
            f"{os.getloadavg()[0]:.1f} at the end (2 shared cores: other work running), "
            f"wall {wall / 60:.1f} min; progress log: `adversarial-{args.label}.log`"
        ),
        (
            f"- sizes: {', '.join(human(s) for s in sizes)} (the `<= 120 B` family: "
            f"{', '.join(str(s) for s in (QUICK_SHORT_SIZES if args.quick else SHORT_SIZES))} "
            f"bytes); ceiling {args.ceiling:g} s per measurement (child process killed after it)"
        ),
        (
            "- `s/MB`: seconds per MB at the largest size that finished under the ceiling; "
            "`k`: growth exponent between the last two sizes done (1 linear, 2 quadratic; "
            "`> k`: lower bound when only one size finished before the ceiling)"
        ),
        "",
        "| family | judge | largest size done | seconds | s/MB | k | stopped at |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        points, stopped = row["points"], row["stopped"]
        done = [p for p in points if p[1] <= args.ceiling]
        if done:
            size, seconds = done[-1]
            if seconds == 0:  # replayed from a log that kept 4 decimals only
                cells = [human(size), "< 0.0001", f"< {1e-4 / (size / MB):.2g}"]
            else:
                cells = [human(size), f"{seconds:.4g}", f"{seconds / (size / MB):.3g}"]
        else:
            cells = ["none", "-", "-"]
        stop = f"{human(stopped[0])}: {stopped[1]}" if stopped else "-"
        lines.append(
            f"| {row['family']} | {row['judge']} | {' | '.join(cells)} | "
            f"{exponent(done, stopped, args.ceiling)} | {stop} |"
        )
    lines += [
        "",
        "Largest size done per family and judge (`-`: not even the first):",
        "",
        "| family | " + " | ".join(JUDGES) + " |",
        "| --- |" + " --- |" * len(JUDGES),
    ]
    by_family: dict[str, dict[str, str]] = {}
    for row in rows:
        done = [p for p in row["points"] if p[1] <= args.ceiling]
        mark = human(done[-1][0]) if done else "-"
        if row["stopped"]:
            mark += " ✗"
        by_family.setdefault(row["family"], {})[row["judge"]] = mark
    for family, cells in by_family.items():
        lines.append(f"| {family} | " + " | ".join(cells.get(j, "") for j in JUDGES) + " |")
    lines += ["", "`✗`: the next size exceeded the ceiling (or failed)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="latest", help="results/adversarial-<label>.md")
    parser.add_argument(
        "--ceiling",
        type=float,
        default=20.0,
        help="seconds: a family stops at the first size over it (default 20)",
    )
    parser.add_argument("--quick", action="store_true", help="sizes 4 KB .. 256 KB")
    parser.add_argument("--family", action="append", help="only families containing this")
    parser.add_argument("--judge", action="append", help="only judges containing this")
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument(
        "--replay",
        type=Path,
        help="re-render the table of an earlier run from its progress log "
        "(same --ceiling and --quick)",
    )
    args = parser.parse_args(argv)
    args.log, args.code = [], code_under_test()
    args.results.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if args.replay:
        rows = replay(args)
    else:
        _log(args, f"code under test: {args.code}")
        rows = run(args)
        (args.results / f"adversarial-{args.label}.log").write_text("\n".join(args.log) + "\n")
    text = markdown(rows, args, time.perf_counter() - start)
    (args.results / f"adversarial-{args.label}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
