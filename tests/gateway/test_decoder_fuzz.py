"""Property-based: whatever bytes arrive, the gateway stores or quarantines, never raises.

Runs the real BatchProcessor on real SQLite stores (no broker needed: the MQTT layer only
hands bytes over). Every message must end up as stored readings, duplicates of stored
readings, or quarantine entries — and the entry for bad input names a reason.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.wire import readings_topic
from gateway.decode import Inbound
from gateway.processor import BatchProcessor
from persistence.engine import Database
from persistence.repo import load_plan
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from tests.support.paths import TEST_PLAN
from verification.plan_check import load_plan_file

PLAN = TEST_PLAN
TOPIC = readings_topic("test-proj", "s1", "em1")


@pytest.fixture(scope="module")
def processor(tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz")
    db = Database(f"sqlite:///{home / 'mrv.sqlite'}")
    with db.session() as s, s.begin():
        load_plan(s, load_plan_file(PLAN), PLAN.read_text(), actor="test")
    store = SQLiteTimeSeriesStore(home / "readings.sqlite", synchronous="NORMAL")
    yield BatchProcessor(store, db)
    store.close()
    db.dispose()


def _json_values() -> st.SearchStrategy:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=12,
    )


def near_valid() -> st.SearchStrategy:
    """Messages close to the contract, with any field swapped for something else."""
    reading = st.fixed_dictionaries(
        {
            "quantity": st.sampled_from(["energy_export", "power", "banana", "", "ch4_fraction"]),
            "value": st.one_of(
                st.floats(allow_nan=True, allow_infinity=True),
                st.integers(),
                st.text(max_size=5),
                st.none(),
            ),
            "unit": st.sampled_from(["kWh", "MWh", "W", "kg", "degF", "", "%", "florbs", "KWH"]),
        },
        optional={
            "kind": st.sampled_from(["cumulative", "interval", "instant", "weird"]),
            "interval_s": st.one_of(st.integers(-5, 10**6), st.floats()),
        },
    )
    message = st.fixed_dictionaries(
        {
            "device": st.sampled_from(["em1", "em2", "", "x" * 70]),
            "seq": st.one_of(st.integers(-3, 2**64), st.text(max_size=3), st.booleans()),
            "time": st.one_of(
                st.sampled_from(
                    [
                        "2026-11-01T00:00:00Z",
                        "2026-11-01T00:00:00",
                        "yesterday",
                        "2126-01-01T00:00:00+09:00",
                    ]
                ),
                st.floats(allow_nan=True),
                st.integers(-(10**12), 10**13),
            ),
            "readings": st.lists(reading, max_size=3),
        },
        optional={"historical": _json_values(), "extra": _json_values()},
    )
    return st.one_of(message, st.lists(message, min_size=1, max_size=3), _json_values())


def _outcome_is_accounted(processor: BatchProcessor, payload: bytes) -> None:
    result = processor.process([Inbound(TOPIC, payload, 1_790_000_000_000)])
    handled = result.stored + result.duplicates + sum(result.quarantined.values())
    assert handled >= 1, f"payload vanished: {payload[:200]!r}"
    for item in result.quarantine_items:
        assert item.reason and item.detail


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=st.binary(max_size=512))
def test_arbitrary_bytes(processor, payload):
    _outcome_is_accounted(processor, payload)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=near_valid())
# found by hypothesis once: a seq beyond 64 bits overflowed the quarantine row's column
@example(data={"device": "em1", "seq": 2**64, "time": 1, "readings": []})
def test_near_valid_json(processor, data):
    _outcome_is_accounted(processor, json.dumps(data, allow_nan=True).encode())
