"""Offline tests of the InfluxDB backend's text: no server is started or contacted.

No InfluxDB 2.x server (and no Flux engine) can be installed on our machines, so the
read path is checked here piece by piece: the Flux text built for ``query()`` and
``neighbours()``, the line protocol written, and the parser on a hand-written InfluxDB
2.x annotated-CSV response (``data/flux_response.csv``). The store's own plumbing is
driven by a fake HTTP response in place of ``query_raw``. Every test name starts with
``test_offline_``; the write path against a real server is in ``test_conformance.py``.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3.exceptions
from influxdb_client.rest import ApiException

from persistence.stores.influx_ts import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    FluxQueryError,
    InfluxTimeSeriesStore,
    InfluxWriteRejected,
    flux_for_neighbours,
    flux_for_query,
    flux_string,
    flux_time,
    line_for_row,
    neighbours_from_records,
    parse_annotated_csv,
    parse_annotated_csv_text,
    point_time_ns,
    readings_from_records,
    rfc3339_to_ns,
)
from persistence.stores.timeseries import ReadingRow, SeriesPoint, StoreUnavailable

DATA = Path(__file__).parent / "data"
T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
Q = 900_000  # a quarter of an hour
_POOL = urllib3.HTTPConnectionPool("127.0.0.1", 9)  # only named by timeout errors


def recorded_records() -> list[dict[str, Any]]:
    with (DATA / "flux_response.csv").open(newline="") as fh:
        return list(parse_annotated_csv(csv.reader(fh)))


def reading(
    seq: int, time_ms: int, value: float, raw_value: float, received_ms: int, **kw: Any
) -> ReadingRow:
    base: dict[str, Any] = dict(
        project="P1",
        site="S1",
        device="D1",
        quantity="energy_export",
        kind="interval",
        interval_s=900.0,
        raw_unit="Wh",
        historical=False,
    )
    base.update(kw)
    return ReadingRow(
        seq=seq,
        time_ms=time_ms,
        value=value,
        raw_value=raw_value,
        received_ms=received_ms,
        **base,
    )


POWER = dict(device="D2", quantity="power", kind="instant", interval_s=None, raw_unit="W")

# What data/flux_response.csv holds, in the store's order.
RECORDED = [
    reading(41, T0, 1.5, 1500.0, 1_700_000_000_500),
    reading(1_000_000, T0, 2.5, 2500.0, 1_700_000_000_600, **POWER),
    reading(
        9,
        T0,
        1.25,
        1.25,
        1_700_000_000_700,
        **{**POWER, "device": "D3", "site": "S2", "raw_unit": 'k"W'},
    ),
    reading(42, T0 + Q, 2.25, 2250.0, 1_700_000_900_500),
    reading(44, T0 + Q, 0.75, 750.0, 1_700_000_900_510),
    reading(10, T0 + Q, -0.3005, -300.5, 1_700_000_900_600, **POWER),
    reading(43, T0 + 2 * Q, 3.0, 3000.0, 1_700_003_000_000, historical=True),
]


# --- Flux text ------------------------------------------------------------------------


def test_offline_flux_text_for_a_filtered_query() -> None:
    text = flux_for_query(
        "mrv", "P1", device="D1", quantity="energy_export", start_ms=T0, end_ms=T0 + 4 * Q
    )
    assert text == (
        'from(bucket: "mrv")\n'
        "  |> range(start: 2023-11-14T22:13:20.000Z, stop: 2023-11-14T23:13:20.000Z)\n"
        '  |> filter(fn: (r) => r._measurement == "reading" and r.project == "P1" and '
        'r.device == "D1" and r.quantity == "energy_export")\n'
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
        '  |> drop(columns: ["_start", "_stop", "_measurement"])\n'
        "  |> group()\n"
        '  |> sort(columns: ["_time"])\n'
    )


def test_offline_flux_text_without_filters_spans_all_storable_time() -> None:
    text = flux_for_query("b", "P1", measurement="readings_v2")
    # Flux's range needs a start; the stop must cover future-stamped readings too.
    assert "range(start: 1677-09-21T00:12:43.146Z, stop: 2262-04-11T23:47:16.854Z)" in text
    assert 'filter(fn: (r) => r._measurement == "readings_v2" and r.project == "P1")' in text
    assert "r.device" not in text and "r.quantity" not in text


def test_offline_flux_text_clamps_bounds_to_storable_time() -> None:
    text = flux_for_query("b", "P1", start_ms=MIN_TIME_MS - 10**9, end_ms=MAX_TIME_MS + 10**9)
    assert "range(start: 1677-09-21T00:12:43.146Z, stop: 2262-04-11T23:47:16.854Z)" in text


def test_offline_flux_text_escapes_quotes_and_interpolation_in_tag_values() -> None:
    text = flux_for_query('my "bucket"', 'P"1', device="D\\1", quantity="q${x}")
    assert 'from(bucket: "my \\"bucket\\"")' in text
    assert 'r.project == "P\\"1"' in text
    assert 'r.device == "D\\\\1"' in text
    assert 'r.quantity == "q\\${x}"' in text


@pytest.mark.parametrize(
    ("raw", "literal"),
    [
        ("plain", '"plain"'),
        ('a"b', r'"a\"b"'),
        ("back\\slash", r'"back\\slash"'),
        ('\\"', r'"\\\""'),  # a backslash then a quote: both escaped, in that order
        ("cost ${price}", r'"cost \${price}"'),
        ("$ alone {", '"$ alone {"'),
        ("line\nbreak\ttab\r", r'"line\nbreak\ttab\r"'),
    ],
)
def test_offline_flux_string_literal_escaping(raw: str, literal: str) -> None:
    assert flux_string(raw) == literal


def test_offline_flux_time_literals() -> None:
    assert flux_time(T0) == "2023-11-14T22:13:20.000Z"
    assert flux_time(T0 + 7) == "2023-11-14T22:13:20.007Z"
    assert flux_time(0) == "1970-01-01T00:00:00.000Z"
    assert flux_time(-1) == "1969-12-31T23:59:59.999Z"


def test_offline_flux_text_for_neighbours() -> None:
    text = flux_for_neighbours("mrv", "P1", "D1", "energy_export", T0)
    prev, nxt = text.split("\n\n")
    where = (
        'filter(fn: (r) => r._measurement == "reading" and r.project == "P1" and '
        'r.device == "D1" and r.quantity == "energy_export" and r._field == "value")'
    )
    # before: everything up to (not including) the millisecond itself
    assert "range(start: 1677-09-21T00:12:43.146Z, stop: 2023-11-14T22:13:20.000Z)" in prev
    assert where in prev
    assert '|> last()\n  |> group()\n  |> sort(columns: ["_time"], desc: true)' in prev
    assert prev.rstrip().endswith('|> yield(name: "prev")')
    # after: from the next millisecond on
    assert "range(start: 2023-11-14T22:13:20.001Z, stop: 2262-04-11T23:47:16.854Z)" in nxt
    assert where in nxt
    assert '|> first()\n  |> group()\n  |> sort(columns: ["_time"])' in nxt
    assert nxt.rstrip().endswith('|> yield(name: "next")')
    for part in (prev, nxt):
        assert "|> limit(n: 1)" in part
        assert 'keep(columns: ["_time", "_value"])' in part


def test_offline_flux_text_for_neighbours_at_the_edges_of_time() -> None:
    assert 'yield(name: "prev")' not in flux_for_neighbours("b", "p", "d", "q", MIN_TIME_MS)
    assert 'yield(name: "next")' not in flux_for_neighbours("b", "p", "d", "q", MAX_TIME_MS)


def test_offline_flux_text_for_neighbours_escapes_tag_values() -> None:
    text = flux_for_neighbours("b", 'P"', "D", "Q", T0)
    assert text.count('r.project == "P\\""') == 2


# --- line protocol --------------------------------------------------------------------


def test_offline_line_protocol_for_a_reading() -> None:
    row = RECORDED[0]
    assert line_for_row(row) == (
        "reading,device=D1,kind=interval,project=P1,quantity=energy_export,site=S1,unit=kWh "
        'historical=false,interval_s=900.0,raw_unit="Wh",raw_value=1500.0,'
        "received_ms=1700000000500i,seq=41i,value=1.5 "
        "1700000000000000041"
    )


def test_offline_line_protocol_escapes_and_omissions() -> None:
    row = ReadingRow(
        project="P 1",
        site="",
        device="D,1",
        seq=7,
        quantity="no=such",
        time_ms=T0,
        value=2,  # an int where a float belongs must still go out as a float
        kind="instant",
        interval_s=None,
        raw_value=2.0,
        raw_unit='k"W\\h',
        historical=True,
        received_ms=T0,
    )
    line = line_for_row(row, measurement="my reading,v2")
    assert line == (
        r"my\ reading\,v2,device=D\,1,kind=instant,project=P\ 1,quantity=no\=such "
        r'historical=true,raw_unit="k\"W\\h",raw_value=2.0,'
        f"received_ms={T0}i,seq=7i,value=2.0 {T0 * 1_000_000 + 7}"
    )


def test_offline_point_time_carries_the_seq_below_the_millisecond() -> None:
    assert point_time_ns(T0, 41) == T0 * 1_000_000 + 41
    assert point_time_ns(T0, 1_000_041) == T0 * 1_000_000 + 41
    assert point_time_ns(-1, 5) == -1_000_000 + 5
    assert point_time_ns(MAX_TIME_MS, 999_999) <= 2**63 - 1
    assert point_time_ns(MIN_TIME_MS, 0) >= -(2**63)
    with pytest.raises(ValueError):
        point_time_ns(MAX_TIME_MS + 1, 0)


def test_offline_line_protocol_rejects_what_influxdb_cannot_store() -> None:
    with pytest.raises(ValueError, match="finite"):
        line_for_row(RECORDED[0]._replace(value=float("nan")))
    with pytest.raises(ValueError, match="finite"):
        line_for_row(RECORDED[0]._replace(raw_value=float("inf")))
    with pytest.raises(ValueError, match="outside"):
        line_for_row(RECORDED[0]._replace(time_ms=T0 * 1000))


# --- annotated CSV ----------------------------------------------------------------------


def test_offline_csv_parser_types_the_recorded_response() -> None:
    records = recorded_records()
    assert len(records) == 7
    first = records[0]
    assert first == {
        "result": "_result",  # from #default
        "table": 0,
        "_time": T0 * 1_000_000 + 41,
        "device": "D1",
        "kind": "interval",
        "project": "P1",
        "quantity": "energy_export",
        "site": "S1",
        "unit": "kWh",
        "historical": False,
        "interval_s": 900.0,
        "raw_unit": "Wh",
        "raw_value": 1500.0,
        "received_ms": 1_700_000_000_500,
        "seq": 41,
        "value": 1.5,
    }
    # The second block has another schema (no interval_s column) and two tables.
    assert [r["table"] for r in records] == [0, 0, 0, 0, 1, 1, 2]
    assert "interval_s" not in records[4]
    assert records[4]["_time"] == T0 * 1_000_000  # "…:20Z", no fraction
    assert records[5]["_time"] == (T0 + Q) * 1_000_000 + 10  # ".00000001Z", zeros trimmed
    assert records[6]["raw_unit"] == 'k"W'  # CSV quoting undone
    assert records[3]["historical"] is True


def test_offline_csv_parser_makes_readings_in_store_order() -> None:
    records = recorded_records()
    # One table per series as InfluxDB streams it; the store's Flux sorts by _time first.
    by_time = sorted(records, key=lambda r: r["_time"])
    assert list(readings_from_records(by_time)) == RECORDED


def test_offline_csv_parser_reads_the_text_of_a_response() -> None:
    with (DATA / "flux_response.csv").open(newline="") as fh:
        text = fh.read()
    assert list(parse_annotated_csv_text(text)) == recorded_records()


def test_offline_csv_parser_without_blank_rows_between_tables() -> None:
    # influxdb-client's CSVIterator drops blank rows: a new annotation row must start
    # a new block on its own.
    with (DATA / "flux_response.csv").open(newline="") as fh:
        rows = [row for row in csv.reader(fh) if row]
    assert list(parse_annotated_csv(rows)) == recorded_records()


def test_offline_csv_parser_annotations_in_any_order_defaults_and_nulls() -> None:
    text = (
        "#group,false,false,false,false,false\r\n"
        "#default,mine,,,,7\r\n"
        "#datatype,string,long,dateTime:RFC3339Nano,double,long\r\n"
        ",result,table,_time,_value,n\r\n"
        ",,0,2023-11-14T23:13:20.5+01:00,,\r\n"
        ",other,0,2023-11-14T22:13:20.123456789Z,+Inf,3\r\n"
    )
    records = list(parse_annotated_csv_text(text))
    assert records == [
        {"result": "mine", "table": 0, "_time": (T0 + 500) * 1_000_000, "_value": None, "n": 7},
        {
            "result": "other",
            "table": 0,
            "_time": T0 * 1_000_000 + 123_456_789,
            "_value": float("inf"),
            "n": 3,
        },
    ]


def test_offline_csv_parser_raises_on_an_error_table() -> None:
    text = (
        "#datatype,string,string\r\n"
        "#group,true,true\r\n"
        "#default,,\r\n"
        ",error,reference\r\n"
        ',"runtime error: could not find bucket ""mrv""",897\r\n'
    )
    with pytest.raises(FluxQueryError, match='could not find bucket "mrv"'):
        list(parse_annotated_csv_text(text))


def test_offline_csv_parser_skips_points_that_are_not_readings() -> None:
    records = [*recorded_records()[:1], {"_time": T0 * 1_000_000, "other": 1.0}]
    assert list(readings_from_records(records)) == RECORDED[:1]


NEIGHBOURS_RESPONSE = (
    "#datatype,string,long,dateTime:RFC3339,double\r\n"
    "#group,false,false,false,false\r\n"
    "#default,prev,,,\r\n"
    ",result,table,_time,_value\r\n"
    ",,0,2023-11-14T22:13:20.000000041Z,1.5\r\n"
    "\r\n"
    "#datatype,string,long,dateTime:RFC3339,double\r\n"
    "#group,false,false,false,false\r\n"
    "#default,next,,,\r\n"
    ",result,table,_time,_value\r\n"
    ",,0,2023-11-14T22:43:20.000000043Z,3\r\n"
    "\r\n"
)


def test_offline_csv_parser_reads_a_neighbours_response() -> None:
    records = parse_annotated_csv_text(NEIGHBOURS_RESPONSE)
    assert neighbours_from_records(records) == (
        SeriesPoint(T0, 1.5),
        SeriesPoint(T0 + 2 * Q, 3.0),
    )
    only_next = NEIGHBOURS_RESPONSE.split("\r\n\r\n")[1]
    assert neighbours_from_records(parse_annotated_csv_text(only_next)) == (
        None,
        SeriesPoint(T0 + 2 * Q, 3.0),
    )
    assert neighbours_from_records([]) == (None, None)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:00.000000001Z", 1),
        ("1969-12-31T23:59:59.999999999Z", -1),
        ("2023-11-14T22:13:20.1Z", T0 * 1_000_000 + 100_000_000),
        ("2023-11-15T07:13:20.000000041+09:00", T0 * 1_000_000 + 41),
        ("2262-04-11T23:47:16.854775807Z", 2**63 - 1),
    ],
)
def test_offline_rfc3339_to_epoch_nanoseconds(text: str, ns: int) -> None:
    assert rfc3339_to_ns(text) == ns


# --- the store's plumbing, with a fake server answer ------------------------------------


class FakeResponse:
    """Stands in for the urllib3 response ``query_raw`` returns: lines of bytes."""

    def __init__(self, body: bytes) -> None:
        self.lines = body.splitlines(keepends=True)
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.lines)

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        pass


@pytest.fixture
def offline_store(tmp_path: Path) -> Iterator[InfluxTimeSeriesStore]:
    """A store pointed at a port nothing listens on; tests replace its HTTP calls."""
    store = InfluxTimeSeriesStore(
        "http://127.0.0.1:9",
        token="t",
        org="mrv",
        bucket="mrv",
        ledger_path=tmp_path / "ledger.sqlite",
        timeout_ms=1000,
    )
    yield store
    store.close()


def _serve(
    store: InfluxTimeSeriesStore, monkeypatch: pytest.MonkeyPatch, body: bytes
) -> list[tuple[str, FakeResponse]]:
    calls: list[tuple[str, FakeResponse]] = []

    def query_raw(flux: str, org: str | None = None) -> FakeResponse:
        response = FakeResponse(body)
        calls.append((flux, response))
        return response

    monkeypatch.setattr(store._query_api, "query_raw", query_raw)
    return calls


def test_offline_store_query_sends_the_flux_and_parses_the_answer(
    offline_store: InfluxTimeSeriesStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The recorded file's first table (device D1) is already in _time order.
    first_block = (DATA / "flux_response.csv").read_bytes().split(b"\r\n\r\n")[0]
    calls = _serve(offline_store, monkeypatch, first_block + b"\r\n\r\n")
    rows = list(offline_store.query("P1", device="D1", start_ms=T0, end_ms=T0 + 4 * Q))
    assert rows == [r for r in RECORDED if r.device == "D1"]
    [(flux, response)] = calls
    assert flux == flux_for_query("mrv", "P1", device="D1", start_ms=T0, end_ms=T0 + 4 * Q)
    assert response.closed


def test_offline_store_empty_range_asks_nothing(
    offline_store: InfluxTimeSeriesStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _serve(offline_store, monkeypatch, b"")
    assert list(offline_store.query("P1", start_ms=T0, end_ms=T0)) == []
    assert calls == []


def test_offline_store_neighbours_parses_both_results(
    offline_store: InfluxTimeSeriesStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _serve(offline_store, monkeypatch, NEIGHBOURS_RESPONSE.encode())
    assert offline_store.neighbours("P1", "D1", "energy_export", T0 + Q) == (
        SeriesPoint(T0, 1.5),
        SeriesPoint(T0 + 2 * Q, 3.0),
    )
    assert calls[0][0] == flux_for_neighbours("mrv", "P1", "D1", "energy_export", T0 + Q)


def test_offline_store_maps_query_failures(
    offline_store: InfluxTimeSeriesStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail_with(exc: Exception) -> None:
        def query_raw(flux: str, org: str | None = None) -> FakeResponse:
            raise exc

        monkeypatch.setattr(offline_store._query_api, "query_raw", query_raw)

    fail_with(ApiException(status=400, reason="Bad Request"))
    with pytest.raises(FluxQueryError):
        list(offline_store.query("P1"))
    fail_with(ApiException(status=503, reason="Service Unavailable"))
    with pytest.raises(StoreUnavailable):
        list(offline_store.query("P1"))
    fail_with(urllib3.exceptions.ReadTimeoutError(_POOL, "/api/v2/query", "read timed out"))
    with pytest.raises(StoreUnavailable):
        offline_store.neighbours("P1", "D1", "q", T0)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ApiException(status=500, reason="Internal Server Error"), StoreUnavailable),
        (ApiException(status=503, reason="Service Unavailable"), StoreUnavailable),
        (ApiException(status=429, reason="Too Many Requests"), StoreUnavailable),
        (ApiException(status=401, reason="Unauthorized"), StoreUnavailable),
        (ApiException(status=404, reason="bucket not found"), StoreUnavailable),
        (ApiException(status=400, reason="field type conflict"), InfluxWriteRejected),
        (ApiException(status=413, reason="Request Entity Too Large"), InfluxWriteRejected),
        (
            urllib3.exceptions.ReadTimeoutError(_POOL, "/api/v2/write", "timed out"),
            StoreUnavailable,
        ),
        (urllib3.exceptions.ProtocolError("Connection aborted."), StoreUnavailable),
        (ConnectionResetError(104, "Connection reset by peer"), StoreUnavailable),
    ],
)
def test_offline_store_maps_write_failures_and_keeps_the_ledger_clean(
    offline_store: InfluxTimeSeriesStore,
    monkeypatch: pytest.MonkeyPatch,
    exc: Exception,
    expected: type[Exception],
) -> None:
    def write(**_: Any) -> None:
        raise exc

    monkeypatch.setattr(offline_store._write_api, "write", write)
    with pytest.raises(expected):
        offline_store.insert(RECORDED[:2])
    assert offline_store.existing([r.identity for r in RECORDED[:2]]) == {}
    assert offline_store.count() == 0


def test_offline_store_writes_in_chunks_and_records_after_success(
    offline_store: InfluxTimeSeriesStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies: list[bytes] = []

    # Another connection, as another process would look (the store's own lock is held).
    ledger = sqlite3.connect(offline_store.ledger_path)

    def write(**kw: Any) -> None:
        # the ledger is written only after InfluxDB answered
        assert ledger.execute("SELECT count(*) FROM ledger").fetchone() == (0,)
        assert kw["write_precision"] == "ns"
        bodies.append(kw["record"])

    monkeypatch.setattr(offline_store._write_api, "write", write)
    offline_store.max_lines_per_request = 3
    assert offline_store.insert(RECORDED) == 7
    assert [len(b.splitlines()) for b in bodies] == [3, 3, 1]
    assert bodies[0].splitlines()[0].decode() == line_for_row(RECORDED[0])
    assert offline_store.count() == 7
    bodies.clear()
    assert offline_store.insert(RECORDED) == 0
    assert bodies == []  # a redelivery is not even sent
    ledger.close()


def test_offline_store_rebuilds_its_ledger_from_a_query(
    offline_store: InfluxTimeSeriesStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offline_store, "query", lambda project, **kw: iter(RECORDED))
    assert offline_store.rebuild_ledger("P1") == 7
    assert offline_store.rebuild_ledger("P1") == 0
    assert offline_store.count("P1") == 7
    assert offline_store.existing([RECORDED[2].identity]) == {RECORDED[2].identity: 1.25}
