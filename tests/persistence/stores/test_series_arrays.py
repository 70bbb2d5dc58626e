"""``series``: one series as arrays, bracketed by the readings just outside the range.

The SQLite store answers it with one SQL statement; the generic ``series_via_query`` (used
by the InfluxDB backend) builds it from ``neighbours`` and ``query``. Both must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from persistence.stores.timeseries import series_via_query
from tests.persistence.stores.test_conformance import MINUTE, T0, row


@pytest.fixture
def store(tmp_path):
    s = SQLiteTimeSeriesStore(tmp_path / "r.sqlite")
    yield s
    s.close()


def test_series_brackets_the_range_and_keeps_other_series_out(store) -> None:
    store.insert(
        [row(s, value=float(s)) for s in range(1, 8)]
        + [row(3, device="D2"), row(9, quantity="power", kind="instant", time_ms=T0 + 3 * MINUTE)]
        + [row(20, quantity="energy_interval", kind="interval", interval_s=60.0)]
    )
    for fetch in (store.series, lambda *a: series_via_query(store, *a)):
        s = fetch("P1", "D1", "energy_export", T0 + 3 * MINUTE, T0 + 5 * MINUTE)
        assert s.times_ms.tolist() == [T0 + m * MINUTE for m in (2, 3, 4, 5, 6)]
        assert s.values.tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]
        assert np.isnan(s.interval_s).all()
        # between readings: the two neighbours only
        s = fetch("P1", "D1", "energy_export", T0 + 3 * MINUTE + 1, T0 + 4 * MINUTE - 1)
        assert s.values.tolist() == [3.0, 4.0]
        assert fetch("P1", "D9", "energy_export", T0, T0 + MINUTE).times_ms.size == 0
    s = store.series("P1", "D1", "energy_interval", T0, T0 + 100 * MINUTE)
    assert s.interval_s.tolist() == [60.0]


def test_series_orders_equal_times_by_seq(store) -> None:
    store.insert([row(5, time_ms=T0, value=5.0), row(4, time_ms=T0, value=4.0)])
    assert store.series("P1", "D1", "energy_export", T0, T0).values.tolist() == [4.0, 5.0]
