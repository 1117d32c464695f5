"""The daily load's streaming order is declared and enforced (no server: a slice that
streams out of order fails before it reads anything)."""

import gc
from datetime import UTC, datetime

import pytest

from snu_assets.daily_load.pipeline import EVENTS, LOAD_GC_THRESHOLDS, RAW, REJECTED, DailyLoad
from snu_assets.daily_load.rows import EVENT_COLUMNS, RAW_COLUMNS, REJECTED_COLUMNS

START, END = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC)


def load(*assets: str) -> DailyLoad:
    return DailyLoad(
        None, None, START, END, assets=assets, read_mode="records", records_per_batch=10
    )


def test_one_read_streams_the_events_first_then_raw_and_rejected():
    both = load(RAW, EVENTS)
    slices = both.slices({"start": START.date(), "end": END.date()})
    assert [s.table for s in slices] == [EVENTS, RAW, REJECTED]
    assert [tuple(s.columns) for s in slices] == [EVENT_COLUMNS, RAW_COLUMNS, REJECTED_COLUMNS]
    assert [s.upsert_key for s in slices] == [None, "patch_id", None]
    assert both.extract is not None and both.reconstruction is not None
    assert both.reconstruction.extract is both.extract and both.spill is not None
    # raw rows before the events have streamed: refused, naming the declared order
    with pytest.raises(RuntimeError, match="before reconstructed_events had streamed"):
        list(slices[1].rows)
    with pytest.raises(RuntimeError, match="reconstructed_events → raw_patches"):
        list(slices[2].rows)


def test_each_asset_alone_has_its_own_order():
    raw = load(RAW)
    slices = raw.slices({})
    assert [s.table for s in slices] == [RAW, REJECTED]
    assert raw.reconstruction is None and raw.spill is None and raw.extract is not None
    with pytest.raises(RuntimeError, match="rejected_patches started streaming before raw"):
        list(slices[1].rows)
    events = load(EVENTS)
    assert [s.table for s in events.slices({})] == [EVENTS]
    assert events.extract is None and events.reconstruction is not None
    assert events.reconstruction.extract is None


def test_only_the_daily_assets_can_be_loaded():
    with pytest.raises(ValueError, match="not \\['enriched_events'\\]"):
        load("enriched_events")
    with pytest.raises(ValueError):
        load()


def test_a_load_tunes_the_garbage_collector_and_restores_it_even_when_it_fails():
    before, frozen_before = gc.get_threshold(), gc.get_freeze_count()
    seen = {}

    def replace(slices):
        seen["threshold"], seen["frozen"] = gc.get_threshold(), gc.get_freeze_count()
        raise ConnectionError("server gone")

    with pytest.raises(ConnectionError):
        load(RAW, EVENTS).run(replace, {"start": START.date(), "end": END.date()})
    # during the load: fewer collections, what lived before frozen out of their walks
    assert seen["threshold"] == LOAD_GC_THRESHOLDS
    assert seen["frozen"] > frozen_before
    # after it (a failure included): the process's own settings back
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen_before
