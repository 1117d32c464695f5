"""The report: the machine, the tables (lines, scaling, day selection) in text or
Markdown."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from pathlib import Path

from runner.common import PROJECT_ROOT, fmt

# ============================================================================ report


def machine() -> dict:
    info = {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    with contextlib.suppress(Exception):
        info["memory_gib"] = round(
            os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
        )
    with contextlib.suppress(Exception):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(Exception):
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "snu_assets"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        info["git"] = head + (" (snu_assets/ has uncommitted changes)" if dirty else "")
    return info


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return round(a / b, 2)


def own_cpu_us(line: dict) -> float | None:
    """The line's own CPU per patch in µs: its worker process (user + system, interpreter
    start and imports included) plus the PostgreSQL server during the step. What stays of a
    line's cost against a MongoDB that answers at once (SecantusDB's CPU is not in it)."""
    if line.get("error") or not line.get("patches") or line.get("cpu_s") is None:
        return None
    return (line["cpu_s"] + (line.get("pg_server_cpu_s") or 0)) / line["patches"] * 1e6


def own_cpu_notes(lines: list[dict]) -> list[str]:
    """The project's own CPU per patch against the floor's and the best dlt loader's, per
    window (``range`` / ``peak day``: the suffix of the line names)."""
    notes = []
    for window in ("range", "peak day"):
        mine = [ln for ln in lines if ln["line"].endswith(f"({window})")]
        own = {ln.get("kind"): own_cpu_us(ln) for ln in mine if ln.get("kind") != "dlt"}
        dlt = [v for ln in mine if ln.get("kind") == "dlt" and (v := own_cpu_us(ln))]
        project, floor = own.get("project"), own.get("floor")
        if not project:
            continue
        parts = [f"own CPU per patch ({window}): project {project:,.0f} µs"]
        if floor:
            parts.append(f"{project / floor:.2f}× the floor's {floor:,.0f}")
        if dlt:
            parts.append(f"{project / min(dlt):.2f}× dlt's best {min(dlt):,.0f}")
        notes.append(", ".join(parts))
    return notes


def main_table(lines: list[dict]) -> tuple[list[str], list[list[str]]]:
    head = [
        "line",
        "patches",
        "seconds",
        "patches/s",
        "peak RSS MiB",
        "worker CPU s",
        "mongo srv CPU s",
        "pg CPU s",
        "own CPU µs/patch",
        "other CPU s",
        "project/floor",
        "project/dlt",
    ]
    rows = []
    for ln in lines:
        rows.append(
            [
                ln["line"],
                fmt(ln["patches"]),
                "FAILED" if ln.get("error") else fmt(ln.get("seconds")),
                fmt(ln.get("patches_per_s")),
                fmt(ln.get("peak_rss_mib")),
                fmt(ln.get("cpu_s")),
                fmt(ln.get("mongo_server_cpu_s")),
                fmt(ln.get("pg_server_cpu_s")),
                fmt(own_cpu_us(ln), 0),
                fmt(ln.get("other_cpu_s")),
                fmt(ln.get("vs_floor"), 2) if ln.get("vs_floor") else "",
                fmt(ln.get("vs_dlt"), 2) if ln.get("vs_dlt") else "",
            ]
        )
    return head, rows


def scaling_table(series: list[dict]) -> tuple[list[str], list[list[str]]]:
    head = [
        "scale",
        "patches",
        "seconds",
        "patches/s",
        "peak RSS MiB",
        "time vs 1×",
        "RSS vs 1×",
        "extract+reconstruct / enriched s",
        "worker CPU s",
        "pg CPU s",
        "own CPU µs/patch",
        "mongo srv CPU s",
        "other CPU s",
    ]
    rows = []
    base = series[0] if series else {}
    for s in series:
        steps = s.get("steps_s") or {}
        rows.append(
            [
                s["line"],
                fmt(s["patches"]),
                "FAILED" if s.get("error") else fmt(s.get("seconds")),
                fmt(s.get("patches_per_s")),
                fmt(s.get("peak_rss_mib")),
                fmt(ratio(s.get("seconds"), base.get("seconds")), 2),
                fmt(ratio(s.get("peak_rss_mib"), base.get("peak_rss_mib")), 2),
                " / ".join(
                    fmt(steps.get(k)) for k in ("extract_and_reconstruct", "enriched_events")
                ),
                fmt(s.get("cpu_s")),
                fmt(s.get("pg_server_cpu_s")),
                fmt(own_cpu_us(s), 0),
                fmt(s.get("mongo_server_cpu_s")),
                fmt(s.get("other_cpu_s")),
            ]
        )
    return head, rows


def selection_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    head = ["day", "method", "patches found", "seconds", "plan (young_patches)", "index build s"]
    return head, [
        [
            f"{r['day']} ({r['which']})",
            r["method"],
            fmt(r["patches"]),
            fmt(r["seconds"], 3),
            r.get("plan", ""),
            fmt(r.get("index_build_s"), 2) if "index_build_s" in r else "",
        ]
        for r in rows
    ]


def render(head, rows, markdown: bool) -> str:
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)
    ]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)), "  ".join("-" * w for w in widths)]
    out += [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in rows
    ]
    return "\n".join(out)


def report(results: dict, markdown: bool) -> str:
    m, s = results["machine"], results["scale"]
    parts = []
    title = "# snu-assets benchmark" if markdown else "snu-assets benchmark"
    parts.append(title)
    parts.append(
        f"{results['finished_at']} — {m.get('cores')} cores, {m.get('memory_gib')} GiB, "
        f"{m.get('cpu', '?')}; {results['servers'].get('mongo')} "
        f"{results['servers'].get('secantusdb_package', results['servers'].get('mongo_version', ''))}"
        f", PostgreSQL {results['servers'].get('postgres_version', '?')}; git {m.get('git', '?')}"
    )
    peak = (
        f", peak day {s['peak_day']} ({s.get('peak_patches_present', 0):,} patches present "
        f"for {s['peak_patches_requested']:,} requested, seeded with days=1)"
        if s.get("peak_day")
        else ""
    )
    parts.append(
        f"Scale: range {s['first_day']} .. {s['last_day']} ({s['days']} days, "
        f"{s['range_patches']:,} patches present for {s['patches_requested']:,} requested)"
        + peak
        + "; "
        + (
            "data set reused."
            if s.get("reused")
            else f"seeding took {s.get('seeding_s') or 0:.0f}s."
        )
    )
    h2 = (lambda t: f"## {t}") if markdown else (lambda t: f"\n{t}\n" + "=" * len(t))
    parts.append(h2("Floor, peer (dlt) and snu-assets, same servers and data"))
    parts.append(render(*main_table(results["lines"]), markdown))
    notes = []
    for ln in results["lines"]:
        if ln.get("kind") == "project" and ln.get("steps_s"):
            notes.append(
                f"{ln['line']}: " + ", ".join(f"{k} {v:.1f}s" for k, v in ln["steps_s"].items())
            )
        if ln.get("mongo_commands"):
            notes.append(
                f"{ln['line']}: MongoDB round trips "
                + ", ".join(f"{k} {v:,}" for k, v in ln["mongo_commands"].items())
                + f"; {ln['mongo_wait_s']:.1f}s waiting for MongoDB's answers"
            )
        if ln.get("kind") == "floor" and ln.get("mongo_read_s") is not None:
            notes.append(
                f"{ln['line']}: MongoDB reads {ln['mongo_read_s']:.1f}s, "
                f"row building + COPY {ln['other_s']:.1f}s"
            )
        if ln.get("kind") == "dlt" and ln.get("phases"):
            notes.append(
                f"{ln['line']} ({ln.get('file_format')}, dlt {ln.get('dlt_version')}): "
                + ", ".join(f"{k} {v:.1f}s" for k, v in ln["phases"].items())
            )
        for key in ("warning", "error"):
            if ln.get(key):
                notes.append(f"{ln['line']}: {key.upper()}: {ln[key]}")
        if ln.get("checks_failed"):
            notes.append(f"{ln['line']}: failed checks: {', '.join(ln['checks_failed'])}")
    notes = own_cpu_notes(results["lines"]) + notes
    if notes:
        parts.append("\n".join(("- " if markdown else "  ") + n for n in notes))
    if results.get("scaling"):
        parts.append(h2(f"Scaling: the project's ranged run over {s['days']} days"))
        parts.append(render(*scaling_table(results["scaling"]), markdown))
    if results.get("day_selection"):
        total = results["day_selection"][0].get("collection_patches")
        parts.append(
            h2(f"Selecting one day's patches (both patch collections, {total:,} patches in them)")
        )
        parts.append(render(*selection_table(results["day_selection"]), markdown))
    if results.get("profile"):
        p = results["profile"]
        parts.append(
            h2(
                f"Profile of the ranged run ({p.get('scale')}; pyinstrument, "
                f"{p.get('duration_s')}s profiled): top functions by own time"
            )
        )
        head = ["function", "own s", "share"]
        rows = [[t["function"], fmt(t["seconds"], 2), f"{t['share']:.0%}"] for t in p["top_self"]]
        parts.append(render(head, rows, markdown))
        parts.append("Own time per file:" if markdown else "own time per file:")
        rows = [[t["file"], fmt(t["seconds"], 2), f"{t['share']:.0%}"] for t in p["top_files"]]
        parts.append(render(["file", "own s", "share"], rows, markdown))
        parts.append(
            "snu_assets functions by inclusive time:"
            if markdown
            else "snu_assets functions by inclusive time:"
        )
        rows = [
            [t["function"], fmt(t["seconds"], 2), f"{t['share']:.0%}"]
            for t in p["top_project_inclusive"]
        ]
        parts.append(render(["function", "incl. s", "share"], rows, markdown))
    parts.append(
        ("" if markdown else "\n")
        + (
            "Seconds: the work inside the step's process (imports and interpreter start excluded); "
            "peak RSS: that process's VmHWM (its own high-water mark; ru_maxrss would include the parent's RSS at fork); worker CPU: its user+system; mongo srv / pg CPU: "
            "the embedded servers during the step; own CPU µs/patch: (worker CPU + pg CPU) / "
            "patches, what a line costs against a MongoDB that answers at once; "
            "other CPU: what the machine spent on anything "
            "else meanwhile (other sessions' tests on the shared servers: a noise gauge, out of "
            f"{results['machine'].get('cores')} cores x seconds). project/floor and project/dlt: "
            "time ratios on the same window."
            + (
                f" Bench wall time {results['bench_wall_s']:,.0f}s ("
                + ", ".join(f"{k} {v:,.0f}s" for k, v in results.get("phases_s", {}).items())
                + ")."
                if results.get("bench_wall_s")
                else ""
            )
        )
    )
    return "\n\n".join(parts) + "\n"
