"""The data sets: seeded once with the project's generator (calibrated on a sample),
reused while the request and the generator are unchanged."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from pathlib import Path

from runner.common import FLOOR_BATCH, FLOOR_PROJECTION, day_window, patch_collections, worker_argv
from runner.measure import Servers, run_measured


def generator_fingerprint() -> str:
    """A hash of the generator's modules (the whole ``demo_data`` package)."""
    from snu_assets.ops import demo_data

    digest = hashlib.sha256()
    for module in sorted(Path(demo_data.__file__).parent.glob("*.py")):
        digest.update(module.read_bytes())
    return digest.hexdigest()[:16]


# ============================================================================ data sets


def window_count(db, start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """The patches the project selects for ``[start, end)``: its own window filters (by
    ``date``, plus the undated ones placed by their ``_id``), both patch collections."""
    from snu_assets.io.mongo import window_filters

    return {
        model: sum(db[coll].count_documents(q) for q in window_filters(start, end, "date"))
        for model, coll in patch_collections().items()
    }


def prepare_data(
    servers: Servers,
    *,
    db_name: str,
    patches: int,
    days: int,
    start: dt.date,
    seed: int,
    peak_patches: int,
    peak_day: dt.date | None,
    reuse: bool,
) -> dict:
    """Seed ``db_name`` (unless ``reuse`` and it already holds this request); return the
    request, the seeding figures and the patches present in the range and the peak day."""
    assert db_name.startswith("bench_")
    request = {
        "patches": patches,
        "days": days,
        "start": start.isoformat(),
        "seed": seed,
        "peak_patches": peak_patches,
        "peak_day": peak_day.isoformat() if peak_day else None,
        "generator": generator_fingerprint(),
        "collections": patch_collections(),
    }
    with servers.mongo() as client:
        meta = client[db_name]["bench_meta"].find_one({"_id": "meta"})
    if reuse and meta and meta.get("request") == request:
        print(
            f"  · {db_name}: reusing the data set ({meta['range_patches']:,} patches"
            + (f", peak day {meta['peak_patches_present']:,}" if peak_day else "")
            + ")"
        )
        return {k: v for k, v in meta.items() if k != "_id"} | {"reused": True}
    if reuse:
        print(f"  · {db_name}: no matching data set to reuse, seeding")
    with servers.mongo() as client:
        client.drop_database(db_name)  # bench_* only: a fresh database, extra collections too
    seeds = []
    common = {"mongo_uri": servers.mongo_uri, "db": db_name}
    seeds.append(
        run_measured(
            f"seed_{db_name}",
            worker_argv(
                "seed",
                **common,
                seed=seed,
                patches=patches,
                days=days,
                start=start.isoformat(),
                drop=True,
            ),
            servers,
        )
    )
    if peak_day and peak_patches:
        # same patch and document collections (drop=False): the peak day is selected out of a
        # collection that also holds the range; its cohorts/goals do not double the range's
        seeds.append(
            run_measured(
                f"seed_{db_name}_peak",
                worker_argv(
                    "seed",
                    **common,
                    seed=seed + 1,
                    patches=peak_patches,
                    days=1,
                    start=peak_day.isoformat(),
                    drop=False,
                    collections={
                        "cohorts": "bench_peak_cohorts",
                        "inscriptiongoals": "bench_peak_inscriptiongoals",
                    },
                ),
                servers,
            )
        )
    for s in seeds:
        if s.get("error"):
            raise SystemExit(f"seeding failed: {s['error']}")
    with servers.mongo() as client:
        db = client[db_name]
        rng = window_count(db, *day_window(start, start + dt.timedelta(days=days - 1)))
        meta = {
            "request": request,
            "seeding": seeds,
            "range_patches_by_model": rng,
            "range_patches": sum(rng.values()),
        }
        if peak_day:
            peak = window_count(db, *day_window(peak_day, peak_day))
            meta |= {"peak_patches_by_model": peak, "peak_patches_present": sum(peak.values())}
        db["bench_meta"].replace_one({"_id": "meta"}, {"_id": "meta", **meta}, upsert=True)
    return meta | {"reused": False}


def scale_db(k: int) -> str:
    """The database of the scaling series' ``k``× line."""
    return f"bench_scale_{k}x"


def scale_data(servers: Servers, args, k: int, first: dt.date) -> dict:
    """The data set of the scaling series' ``k``× line (:func:`scale_db`)."""
    return prepare_data(
        servers,
        db_name=scale_db(k),
        patches=args.base_patches * k,
        days=args.days,
        start=first,
        seed=args.seed + 10 * k,
        peak_patches=0,
        peak_day=None,
        reuse=args.reuse_data,
    )


def warm_up(servers: Servers, db_name: str, start: dt.datetime, end: dt.datetime) -> float:
    """An untimed read of the window, so that no measured line pays a cold cache alone."""
    began = time.perf_counter()
    with servers.mongo() as client:
        for coll in patch_collections().values():
            for _ in client[db_name][coll].find(
                {"date": {"$gte": start, "$lt": end}}, FLOOR_PROJECTION, batch_size=FLOOR_BATCH
            ):
                pass
    return time.perf_counter() - began


def drop_bench_data(servers: Servers) -> None:
    """Drop every ``bench_*`` MongoDB database and PostgreSQL schema."""
    with servers.mongo() as client:
        dropped = [n for n in client.list_database_names() if n.startswith("bench_")]
        for name in dropped:
            client.drop_database(name)
    with servers.pg() as conn:
        schemas = [
            r[0]
            for r in conn.execute("select nspname from pg_namespace where nspname like 'bench\\_%'")
        ]
    servers.drop_pg_schemas(*schemas)
    print(f"dropped MongoDB databases {dropped or 'none'}, PostgreSQL schemas {schemas or 'none'}")
