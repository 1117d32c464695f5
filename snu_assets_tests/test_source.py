"""Reading ahead in a background thread (``source.in_background``): order, errors, early stop."""

import threading
import time

import pytest

from snu_assets.io import mongo as source


def test_items_come_in_order_and_all():
    assert list(source.in_background(iter(range(1000)), ahead=3)) == list(range(1000))


def test_an_error_of_the_producer_reaches_the_consumer_after_the_items_before_it():
    def produce():
        yield 1
        yield 2
        raise ConnectionError("MongoDB went away")

    seen = []
    with pytest.raises(ConnectionError, match="went away"):
        for item in source.in_background(produce()):
            seen.append(item)
    assert seen == [1, 2]


def test_a_consumer_that_stops_early_stops_the_producer():
    produced = []

    def produce():
        for i in range(10_000):
            produced.append(i)
            yield i

    before = threading.active_count()
    items = source.in_background(produce(), ahead=2)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before  # the reading thread is gone
    assert len(produced) < 10  # it stopped reading: at most a few items ahead
