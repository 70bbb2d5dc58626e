"""One conformance suite for every time-series backend (SPEC section 6).

Each test runs on the SQLite store (in a temporary folder), on the PostgreSQL store (a
database of its own on a private server, with each of its two write methods) and on the
InfluxDB store writing to a real VictoriaMetrics server (see ``conftest.py``). Writes,
``existing()`` and ``count()`` go through the store itself for all. Reads differ: SQLite
and PostgreSQL answer ``query()``/``neighbours()`` themselves; for InfluxDB they are
answered from what the server holds, read back through VictoriaMetrics' export API by a test-only reader,
because VictoriaMetrics does not run Flux. So these tests check the InfluxDB backend's
write path against a real server; its Flux read path (query text and the parsing of
InfluxDB's annotated CSV) is checked separately and offline in ``test_influx_flux.py``.
"""

from __future__ import annotations

import random

import pytest

from persistence.stores.influx_ts import InfluxTimeSeriesStore
from persistence.stores.timeseries import ReadingRow, SeriesPoint, StoreUnavailable
from tests.persistence.stores.conftest import Backend, ExportReader, InfluxBackend

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
MINUTE = 60_000


def row(
    seq: int,
    *,
    time_ms: int | None = None,
    value: float | None = None,
    project: str = "P1",
    site: str = "S1",
    device: str = "D1",
    quantity: str = "energy_export",
    kind: str = "cumulative",
    interval_s: float | None = None,
    raw_unit: str = "Wh",
    historical: bool = False,
) -> ReadingRow:
    value = float(100 + seq) if value is None else value
    return ReadingRow(
        project=project,
        site=site,
        device=device,
        seq=seq,
        quantity=quantity,
        time_ms=T0 + seq * MINUTE if time_ms is None else time_ms,
        value=value,
        kind=kind,
        interval_s=interval_s,
        raw_value=value * 1000.0,
        raw_unit=raw_unit,
        historical=historical,
        received_ms=T0 + 10 * 86_400_000 + seq,
    )


def visible(backend: Backend, rows: list[ReadingRow]) -> list[ReadingRow]:
    """Rows as the backend's read-back can show them (drops what it cannot see)."""
    if "raw_unit" in backend.lossy:
        return [r._replace(raw_unit="") for r in rows]
    return rows


def in_store_order(rows: list[ReadingRow]) -> list[ReadingRow]:
    return sorted(rows, key=lambda r: (r.time_ms, r.device, r.quantity, r.seq))


def test_insert_is_idempotent(backend: Backend) -> None:
    rows = [row(s) for s in range(1, 6)]
    assert backend.store.insert(rows) == 5
    assert backend.store.insert(rows) == 0
    # A redelivery mixed with new readings: only the new ones count.
    assert backend.store.insert([*rows, row(6), row(7)]) == 2
    assert backend.store.count() == 7
    # Stored once each: VictoriaMetrics would show a second copy had it been re-sent.
    assert backend.read("P1") == visible(backend, [row(s) for s in range(1, 8)])


def test_empty_insert_stores_nothing(backend: Backend) -> None:
    assert backend.store.insert([]) == 0
    assert backend.store.count() == 0
    assert backend.read("P1") == []


def test_repeated_identity_in_one_batch_is_stored_once(backend: Backend) -> None:
    first, again = row(1, value=5.0), row(1, value=5.0)
    conflicting = row(1, value=9.0)
    assert backend.store.insert([first, again, conflicting]) == 1
    assert backend.store.existing([first.identity]) == {first.identity: 5.0}
    assert backend.read("P1") == visible(backend, [first])


def test_existing_returns_stored_values_of_present_identities_only(backend: Backend) -> None:
    stored = [row(1, value=1.5), row(2, value=2.5), row(3, device="D2", value=3.5)]
    backend.store.insert(stored)
    absent = [
        ("P1", "D1", 99, "energy_export"),  # unknown seq
        ("P1", "D1", 1, "power"),  # known seq, other quantity
        ("P2", "D1", 1, "energy_export"),  # other project
        ("P1", "D2", 1, "energy_export"),  # other device
    ]
    found = backend.store.existing([r.identity for r in stored] + absent)
    assert found == {
        ("P1", "D1", 1, "energy_export"): 1.5,
        ("P1", "D1", 2, "energy_export"): 2.5,
        ("P1", "D2", 3, "energy_export"): 3.5,
    }
    assert backend.store.existing(absent) == {}
    assert backend.store.existing([]) == {}


def test_rewriting_an_identity_keeps_the_stored_value(backend: Backend) -> None:
    original = row(1, value=10.0)
    backend.store.insert([original])
    assert backend.store.insert([row(1, value=11.0)]) == 0
    assert backend.store.existing([original.identity]) == {original.identity: 10.0}
    assert backend.read("P1") == visible(backend, [original])


def test_existing_handles_large_batches(backend: Backend) -> None:
    rows = [row(s, time_ms=T0 + s) for s in range(1, 1201)]  # more than one IN chunk
    assert backend.store.insert(rows) == 1200
    found = backend.store.existing([r.identity for r in rows] + [row(5000).identity])
    assert len(found) == 1200
    assert found[rows[700].identity] == rows[700].value
    assert len(backend.read("P1")) == 1200


def test_different_seqs_at_the_same_time_are_both_kept(backend: Backend) -> None:
    a = row(1, time_ms=T0, value=1.0)
    b = row(2, time_ms=T0, value=2.0)
    c = row(1_000_001, time_ms=T0 + 1, value=3.0)  # same seq slot, next millisecond
    assert backend.store.insert([a, b]) == 2
    assert backend.store.insert([c]) == 1
    assert backend.store.count() == 3
    assert backend.store.existing([a.identity, b.identity]) == {a.identity: 1.0, b.identity: 2.0}
    assert backend.read("P1") == visible(backend, [a, b, c])


def test_query_orders_filters_and_excludes_the_end(backend: Backend) -> None:
    rows = [
        row(1, time_ms=T0, device="D2"),
        row(2, time_ms=T0, device="D1", quantity="power", kind="instant", raw_unit="W"),
        row(3, time_ms=T0, device="D1"),
        row(4, time_ms=T0 + MINUTE, device="D1", historical=True),
        row(5, time_ms=T0 + 2 * MINUTE, device="D2", site="S2"),
        row(6, time_ms=T0 + 3 * MINUTE, device="D1", kind="interval", interval_s=60.0),
        row(7, time_ms=T0 - MINUTE, device="D1"),
        row(1, time_ms=T0, project="P2"),
    ]
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    backend.store.insert(shuffled)
    p1 = [r for r in rows if r.project == "P1"]

    assert backend.read("P1") == visible(backend, in_store_order(p1))
    assert backend.read("P2") == visible(backend, [rows[-1]])
    assert backend.read("P3") == []
    assert backend.read("P1", device="D2") == visible(backend, [rows[0], rows[4]])
    assert backend.read("P1", quantity="power") == visible(backend, [rows[1]])
    assert backend.read("P1", device="D1", quantity="energy_export") == visible(
        backend, [rows[6], rows[2], rows[3], rows[5]]
    )
    # start inclusive, end exclusive
    window = backend.read("P1", start_ms=T0, end_ms=T0 + 2 * MINUTE)
    assert window == visible(backend, in_store_order(rows[0:4]))
    assert backend.read("P1", start_ms=T0 + 2 * MINUTE, end_ms=T0 + 2 * MINUTE + 1) == (
        visible(backend, [rows[4]])
    )
    assert backend.read("P1", start_ms=T0 + 2 * MINUTE, end_ms=T0 + 2 * MINUTE) == []
    assert backend.read("P1", start_ms=T0 + 3 * MINUTE) == visible(backend, [rows[5]])
    assert backend.read("P1", end_ms=T0) == visible(backend, [rows[6]])


def test_neighbours_finds_the_readings_around_a_time(backend: Backend) -> None:
    series = [row(s, time_ms=T0 + s * MINUTE, value=float(s)) for s in (1, 2, 4)]
    other = [
        row(3, time_ms=T0 + 3 * MINUTE, device="D2"),  # other device
        row(5, time_ms=T0 + 3 * MINUTE, quantity="power", kind="instant"),  # other quantity
    ]
    backend.store.insert(series + other)

    def around(time_ms: int) -> tuple[SeriesPoint | None, SeriesPoint | None]:
        return backend.neighbours("P1", "D1", "energy_export", time_ms)

    p1, p2, p4 = (SeriesPoint(T0 + s * MINUTE, float(s)) for s in (1, 2, 4))
    assert around(T0 + 3 * MINUTE) == (p2, p4)
    assert around(T0 + 2 * MINUTE) == (p1, p4)  # a reading at the time itself is excluded
    assert around(T0) == (None, p1)
    assert around(T0 + 5 * MINUTE) == (p4, None)
    assert backend.neighbours("P1", "D9", "energy_export", T0) == (None, None)


def test_store_that_is_down_raises_store_unavailable_and_loses_nothing(
    backend: Backend,
) -> None:
    before = [row(s) for s in range(1, 4)]
    during = [row(s) for s in range(4, 7)]
    assert backend.store.insert(before) == 3

    backend.take_down()
    with pytest.raises(StoreUnavailable):
        backend.store.insert(during)
    backend.bring_up()

    # The failed batch left no trace: it is still new, and goes in whole on the retry.
    assert backend.store.existing([r.identity for r in during]) == {}
    assert backend.store.count() == 3
    assert backend.store.insert(during) == 3
    assert backend.store.insert(before + during) == 0
    assert backend.store.count() == 6
    assert backend.read("P1") == visible(backend, before + during)


def test_stored_readings_survive_a_restart(backend: Backend) -> None:
    rows = [row(s) for s in range(1, 4)]
    backend.store.insert(rows)
    backend.reopen()
    assert backend.store.count() == 3
    assert backend.store.count("P1") == 3
    assert backend.store.existing([rows[0].identity]) == {rows[0].identity: rows[0].value}
    assert backend.store.insert(rows) == 0
    assert backend.read("P1") == visible(backend, rows)


def test_count_per_project(backend: Backend) -> None:
    backend.store.insert([row(1), row(2), row(1, project="P2")])
    assert backend.store.count() == 3
    assert backend.store.count("P1") == 2
    assert backend.store.count("P2") == 1
    assert backend.store.count("P3") == 0


# --- InfluxDB backend only: what the server holds -------------------------------------


@pytest.mark.victoria
def test_influx_points_carry_the_documented_tags(victoria, tmp_path) -> None:
    """Tags as stored on the server: project, site, device, quantity, kind, unit."""
    backend = InfluxBackend(tmp_path, victoria)
    try:
        backend.store.insert(
            [
                row(1, quantity="gas_flow_normal", kind="instant", raw_unit="scf/h"),
                row(2, site="", quantity="no_such_quantity", kind="instant"),
            ]
        )
        labels = sorted(ExportReader(victoria).labels("P1"), key=lambda d: d["quantity"])
    finally:
        backend.close()
    assert labels == [
        {
            "project": "P1",
            "site": "S1",
            "device": "D1",
            "quantity": "gas_flow_normal",
            "kind": "instant",
            "unit": "Nm3/hour",
        },
        # an empty site and a quantity outside the catalogue leave their tags out
        {"project": "P1", "device": "D1", "quantity": "no_such_quantity", "kind": "instant"},
    ]


@pytest.mark.victoria
def test_influx_ledger_refuses_another_bucket(victoria, tmp_path) -> None:
    from persistence.stores.influx_ts import LedgerMismatch

    ledger = tmp_path / "ledger.sqlite"
    InfluxTimeSeriesStore(
        victoria.url, token="t", org="mrv", bucket="a", ledger_path=ledger
    ).close()
    with pytest.raises(LedgerMismatch):
        InfluxTimeSeriesStore(victoria.url, token="t", org="mrv", bucket="b", ledger_path=ledger)
