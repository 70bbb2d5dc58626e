"""What the PostgreSQL store adds to the conformance suite: monthly partitions made on
demand (race-safely), one dedupe ledger shared by every writer, a real server outage,
and the settings that choose it. A private PostgreSQL per test process (``pg_server``);
the outage test starts one of its own."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
import pytest

from core.config import Settings
from devtools.pgserver import PostgresServer
from persistence.stores import open_timeseries
from persistence.stores.postgres_ts import (
    WINDOW_END_MS,
    WINDOW_START_MS,
    PostgresTimeSeriesStore,
    conninfo_from_url,
    month_range,
    months_of,
)
from persistence.stores.timeseries import StoreUnavailable, series_via_query
from tests.persistence.stores.test_conformance import MINUTE, T0, row
from tests.support.ports import free_port
from tests.support.services import db_counter

DAY = 86_400_000


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    return pg_server.create_database(f"mrv_pgts_{next(db_counter)}")


@pytest.fixture
def store(pg_url: str):
    s = PostgresTimeSeriesStore(pg_url)
    yield s
    s.close()


def _rows_per_partition(url: str) -> dict[str, int]:
    with psycopg.connect(conninfo_from_url(url)) as conn:
        found = conn.execute(
            "SELECT tableoid::regclass::text, count(*) FROM mrv_ts.readings GROUP BY 1"
        ).fetchall()
    return {name.removeprefix("mrv_ts."): n for name, n in found}


def test_month_arithmetic() -> None:
    dec = datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000
    assert month_range(2026, 12) == (dec, datetime(2027, 1, 1, tzinfo=UTC).timestamp() * 1000)
    assert month_range(2000, 1)[0] == WINDOW_START_MS
    assert month_range(2099, 12)[1] == WINDOW_END_MS
    assert months_of([month_range(2026, 2)[1] - 1, month_range(2026, 3)[0]]) == {
        (2026, 2),
        (2026, 3),
    }
    assert months_of([WINDOW_START_MS - 1, WINDOW_END_MS, -(2**62)]) == set()


def test_each_month_gets_its_partition_and_odd_times_the_edge_ones(store, pg_url) -> None:
    feb_end = month_range(2026, 2)[1] - 1
    rows = [
        row(1, time_ms=feb_end),  # the last millisecond of February
        row(2, time_ms=feb_end + 1),  # the first of March
        row(3, time_ms=WINDOW_START_MS - 1),  # 1999: before the monthly window
        row(4, time_ms=WINDOW_END_MS + 5 * DAY),  # 2100
        row(5, time_ms=-(2**62)),  # anything a bigint holds has a partition
    ]
    assert store.insert(rows) == 5
    assert store.partitions() == [
        "readings_before_2000",
        "readings_from_2100",
        "readings_y2026m02",
        "readings_y2026m03",
    ]
    assert _rows_per_partition(pg_url) == {
        "readings_y2026m02": 1,
        "readings_y2026m03": 1,
        "readings_before_2000": 2,
        "readings_from_2100": 1,
    }
    # reads cross the partitions in time order
    assert [r.seq for r in store.query("P1")] == [5, 3, 1, 2, 4]
    before, after = store.neighbours("P1", "D1", "energy_export", feb_end + 1)
    assert before is not None and after is not None
    assert (before.seq, after.seq) == (1, 4)


def test_a_dropped_month_is_made_again(store, pg_url) -> None:
    assert store.insert([row(1)]) == 1
    with psycopg.connect(conninfo_from_url(pg_url), autocommit=True) as conn:
        # retention: the month goes, with its ledger rows
        conn.execute("DROP TABLE mrv_ts.readings_y2023m11")
        conn.execute("DELETE FROM mrv_ts.ledger")
    assert store.insert([row(1), row(2)]) == 2
    assert store.count() == 2


def test_text_postgresql_cannot_hold_is_refused_not_spooled(store) -> None:
    """A NUL character cannot be stored in PostgreSQL text. That is this message's fault,
    not an outage: the error is not StoreUnavailable (which would spool and replay it for
    ever), so the gateway quarantines the one message; the store goes on working."""
    with pytest.raises(psycopg.DataError):
        store.insert([row(1, raw_unit="kWh\x00")])
    assert store.existing([row(1).identity]) == {}
    assert store.insert([row(1)]) == 1


def test_two_writers_creating_the_same_months_at_once(pg_url) -> None:
    """Eight writers (own connections, as gateways on other hosts) insert overlapping
    batches spanning three new months at the same moment: each month is made once, each
    identity stored once, and the writers' "new" counts add up to the distinct rows."""
    stores = [PostgresTimeSeriesStore(pg_url) for _ in range(8)]
    start = month_range(2026, 4)[0]
    batches = [
        [row(s, time_ms=start + s * 3 * DAY // 4) for s in range(w * 10, w * 10 + 50)]
        for w in range(len(stores))
    ]
    distinct = {r.identity for batch in batches for r in batch}
    barrier = threading.Barrier(len(stores))
    counts: list[int] = []
    errors: list[BaseException] = []

    def write(store: PostgresTimeSeriesStore, batch) -> None:
        try:
            barrier.wait()
            counts.append(store.insert(batch))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=pair) for pair in zip(stores, batches, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sum(counts) == len(distinct) == stores[0].count()
    assert [p for p in stores[0].partitions() if p.startswith("readings_y")] == [
        "readings_y2026m04",
        "readings_y2026m05",
        "readings_y2026m06",
    ]
    for s in stores:
        s.close()


def test_the_ledger_is_shared_by_every_store_on_the_database(pg_url) -> None:
    host_a, host_b = PostgresTimeSeriesStore(pg_url), PostgresTimeSeriesStore(pg_url)
    first = [row(s) for s in range(1, 4)]
    assert host_a.insert(first) == 3
    # what host A stored is a duplicate to host B (a redelivery to the other gateway)
    assert host_b.existing([r.identity for r in first]) == {r.identity: r.value for r in first}
    assert host_b.insert([*first, row(4)]) == 1
    # a conflicting value on host B is not stored over host A's
    assert host_b.insert([row(1, value=999.0)]) == 0
    assert host_a.existing([first[0].identity]) == {first[0].identity: first[0].value}
    with psycopg.connect(conninfo_from_url(pg_url)) as conn:
        ledger = conn.execute("SELECT count(*) FROM mrv_ts.ledger").fetchone()
    assert ledger == (4,) and host_a.count() == 4
    host_a.close()
    host_b.close()


def test_series_fast_path_agrees_with_the_generic_one(store) -> None:
    store.insert(
        [row(s, value=float(s), time_ms=T0 + s * 10 * DAY) for s in range(1, 8)]  # 3 months
        + [row(20, quantity="energy_interval", kind="interval", interval_s=60.0)]
        + [row(5, time_ms=T0 + 40 * DAY, value=4.5, device="D2")]
    )
    for start, end in ((T0 + 25 * DAY, T0 + 55 * DAY), (T0, T0 + 200 * DAY), (T0 + 1, T0 + 2)):
        fast = store.series("P1", "D1", "energy_export", start, end)
        slow = series_via_query(store, "P1", "D1", "energy_export", start, end)
        for a, b in zip(fast, slow, strict=True):
            assert np.array_equal(a, b, equal_nan=True)
    s = store.series("P1", "D1", "energy_interval", T0, T0 + 100 * DAY)
    assert s.interval_s.tolist() == [60.0]
    assert store.series("P1", "D9", "energy_export", T0, T0 + MINUTE).times_ms.size == 0


def test_a_real_outage_raises_store_unavailable_and_the_store_reconnects(tmp_path: Path) -> None:
    server = PostgresServer(port=free_port()).start()
    try:
        url = server.create_database("outage")
        store = PostgresTimeSeriesStore(url)
        assert store.insert([row(1)]) == 1
        server.halt()
        with pytest.raises(StoreUnavailable):
            store.insert([row(2)])
        with pytest.raises(StoreUnavailable):
            store.existing([row(2).identity])
        # a store opened while the server is down does not fail until it is used
        later = PostgresTimeSeriesStore(url)
        with pytest.raises(StoreUnavailable):
            later.count()
        server.launch()
        assert store.insert([row(1), row(2)]) == 1
        assert later.count() == 2
        store.close()
        later.close()
    finally:
        server.stop()


def test_urls_as_sqlalchemy_spells_them_become_libpq_ones() -> None:
    info = conninfo_from_url(
        "postgresql+psycopg://mrv:p%40ss%20w@db.example.net:6543/mrv?sslmode=require"
    )
    parsed = psycopg.conninfo.conninfo_to_dict(info)
    assert parsed == {
        "host": "db.example.net",
        "port": "6543",
        "user": "mrv",
        "password": "p@ss w",
        "dbname": "mrv",
        "sslmode": "require",
        "connect_timeout": "5",
    }
    assert psycopg.conninfo.conninfo_to_dict(conninfo_from_url("postgres://h/db"))["host"] == "h"
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        conninfo_from_url("sqlite:///x.db")


def test_settings_choose_the_postgres_store(tmp_path: Path, pg_url: str) -> None:
    shared = Settings(home=tmp_path, database_url=pg_url, ts_backend="postgres")
    assert shared.effective_ts_postgres_url == pg_url  # the relational store's database
    store = open_timeseries(shared)
    assert isinstance(store, PostgresTimeSeriesStore)
    store.close()
    own = Settings(home=tmp_path, ts_backend="postgres", ts_postgres_url="postgresql://h/ts")
    assert own.effective_ts_postgres_url == "postgresql://h/ts"
    with pytest.raises(ValueError, match="MRV_TS_BACKEND=postgres needs a PostgreSQL"):
        Settings(home=tmp_path, ts_backend="postgres")
    with pytest.raises(ValueError, match="MRV_TS_BACKEND=postgres needs a PostgreSQL"):
        Settings(home=tmp_path, ts_backend="postgres", database_url="sqlite:///x.db")
    with pytest.raises(ValueError, match="is not a postgresql:// URL"):
        Settings(home=tmp_path, ts_postgres_url="mysql://h/db")
    # not chosen: a SQLite relational store needs no PostgreSQL
    assert Settings(home=tmp_path).effective_ts_postgres_url is None
