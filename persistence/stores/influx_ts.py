"""The InfluxDB 2.x time-series store: batched line-protocol writes, Flux reads.

Data model
----------
One measurement, ``reading`` (configurable), for every quantity. A single measurement
keeps ``query(project)`` across all quantities a single ``_measurement ==`` filter; a
measurement per quantity would need a regex over measurement names, and the quantity
is a low-cardinality tag anyway. Per point:

* tags (indexed, low cardinality): ``project``, ``site``, ``device``, ``quantity``,
  ``kind`` and ``unit`` (the quantity's canonical unit from :mod:`core.quantities`).
* fields: ``value`` (canonical, float), ``raw_value`` (float), ``raw_unit`` (string),
  ``seq`` (int), ``interval_s`` (float; omitted when there is none), ``historical``
  (bool) and ``received_ms`` (int).

Where the sequence number goes
------------------------------
A reading's identity is (project, device, seq, quantity) but InfluxDB identifies a point
by (measurement, tag set, timestamp) and silently replaces the fields of a point written
again under the same key. Two readings of one series with different seqs and the same
millisecond must not overwrite each other, and a redelivered reading must land on the
same key again (so that re-writing it is harmless).

Putting ``seq`` in the tag set would do both, but it makes every reading its own series:
series cardinality grows by one per reading (a device reporting three quantities each
minute adds 1.6 million series a year), which InfluxDB indexes in memory, InfluxDB Cloud
caps per plan, and every Flux query pays for in per-series cursors. So instead the
point's timestamp carries the seq in its sub-millisecond digits::

    timestamp_ns = time_ms * 1_000_000 + seq % 1_000_000      (precision=ns)

The point key is a pure function of the reading (tags, time_ms, seq), so redelivery is
idempotent and two seqs in one millisecond get two points. Readers floor the timestamp
to milliseconds and take ``seq`` from its field; Flux ``range`` bounds given in whole
milliseconds stay exact (end-exclusive). Two readings of one series still collide if
they share a millisecond *and* their seqs are congruent modulo one million, i.e. a
device that stamps a million readings with the same time; a clock that stuck that
badly is a broken device, not data. VictoriaMetrics, which the tests write to, keeps
only millisecond timestamps, but it stores both samples of a shared millisecond.

The identity ledger
-------------------
``existing()`` (the gateway's dedupe, once per batch) and ``count()`` would each be a
Flux round trip; instead a small local SQLite file maps identity -> canonical value.
``insert()`` takes the ledger's write lock, drops rows the ledger already holds (so a
redelivered reading changes nothing, as the protocol requires: InfluxDB itself would
overwrite it), writes the rest to InfluxDB synchronously, and only after InfluxDB has
acknowledged records them in the ledger and commits. A crash between the two leaves the
ledger *behind* the store, never ahead: the redelivered readings are then written again
to the same point keys, which is harmless. The lock also serialises gateway processes
on one host, so the "how many were new" answer the gateway relies on stays exact.

Limits, plainly:

* One ledger per gateway host. Gateways on several hosts writing one bucket would each
  have their own ledger and each miss the others' readings: a reading redelivered to a
  different host would be counted as new and re-written (the same point key, so the
  data stays right) and a *conflicting* redelivery would overwrite the stored value
  instead of being quarantined. Several hosts need a shared ledger (e.g. a table in the
  relational store, PostgreSQL) in place of the SQLite file.
* ``count()`` counts what this ledger recorded, not what the bucket holds (readings
  written by other tools, or deleted by a retention policy, are not reflected).
* A lost ledger can be rebuilt from InfluxDB with :meth:`rebuild_ledger`; until then,
  duplicates are still harmless but conflicts go undetected.
* A ledger remembers which server, organisation, bucket and measurement it describes
  and refuses to open for another, because a ledger claiming readings that the new
  bucket does not hold would make the gateway drop them as duplicates.

Failures
--------
Writes are synchronous and not retried by the client: connection errors, timeouts,
HTTP 5xx, 429 (rate limited) and 401/403/404 (token or bucket misconfigured, which no
reading can fix) raise :class:`StoreUnavailable` so that the gateway spools the batch
and retries; nothing is acknowledged to a device before InfluxDB has answered 204. A
400/413/422 means InfluxDB refused the data itself and raises
:class:`InfluxWriteRejected`.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import math
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import urllib3.exceptions
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from core import quantities
from core.config import Settings
from persistence.stores.sqlite_ts import lookup_identities
from persistence.stores.timeseries import (
    Identity,
    ReadingRow,
    SeriesArrays,
    SeriesPoint,
    StoreUnavailable,
    series_via_query,
)

log = logging.getLogger(__name__)

MEASUREMENT = "reading"
LEDGER_FILENAME = "influx-ledger.sqlite"
NS_PER_MS = 1_000_000
SEQ_SLOTS = NS_PER_MS  # sub-millisecond nanoseconds available to carry the seq
# InfluxDB timestamps are signed 64-bit nanoseconds; keep time_ms * 1e6 + 999_999 inside.
MIN_TIME_MS = -(2**63) // NS_PER_MS + 1
MAX_TIME_MS = (2**63 - 1 - (SEQ_SLOTS - 1)) // NS_PER_MS
FIELDS = ("value", "raw_value", "raw_unit", "seq", "interval_s", "historical", "received_ms")
TAGS = ("device", "kind", "project", "quantity", "site", "unit")  # sorted: InfluxDB's order

# WritePrecision.NS is the string "ns" while write() is annotated to take WritePrecision.
_PRECISION_NS: Any = WritePrecision.NS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InfluxWriteRejected(ValueError):
    """InfluxDB refused the batch itself (bad line, field type conflict, too large)."""


class FluxQueryError(RuntimeError):
    """A Flux query failed on the server (bad query, or an error table in the result)."""


class LedgerMismatch(RuntimeError):
    """The ledger file describes another server, bucket or measurement."""


# --- line protocol ------------------------------------------------------------------

_ESCAPE_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n", "\r": r"\r"})
_ESCAPE_TAG = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\r": r"\r"})
_ESCAPE_FIELD_STRING = str.maketrans({'"': r"\"", "\\": "\\\\"})


def point_time_ns(time_ms: int, seq: int) -> int:
    """The point timestamp: the reading's millisecond plus ``seq`` in the nanoseconds."""
    if not MIN_TIME_MS <= time_ms <= MAX_TIME_MS:
        raise ValueError(f"time_ms {time_ms} is outside what InfluxDB can store")
    return time_ms * NS_PER_MS + seq % SEQ_SLOTS


def _float(name: str, value: float) -> str:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} {value!r}: InfluxDB stores finite floats only")
    return repr(number)


def line_for_row(row: ReadingRow, measurement: str = MEASUREMENT) -> str:
    """One reading as one line of InfluxDB line protocol (tags sorted, empty tags left out)."""
    spec = quantities.get(row.quantity)
    tags = {
        "device": row.device,
        "kind": row.kind,
        "project": row.project,
        "quantity": row.quantity,
        "site": row.site,
        "unit": spec.canonical_unit if spec else "",
    }
    tag_text = "".join(
        f",{key}={value.translate(_ESCAPE_TAG)}" for key, value in tags.items() if value
    )
    fields = [
        f"historical={'true' if row.historical else 'false'}",
        *([] if row.interval_s is None else [f"interval_s={_float('interval_s', row.interval_s)}"]),
        f'raw_unit="{row.raw_unit.translate(_ESCAPE_FIELD_STRING)}"',
        f"raw_value={_float('raw_value', row.raw_value)}",
        f"received_ms={int(row.received_ms)}i",
        f"seq={int(row.seq)}i",
        f"value={_float('value', row.value)}",
    ]
    return (
        f"{measurement.translate(_ESCAPE_MEASUREMENT)}{tag_text} {','.join(fields)} "
        f"{point_time_ns(row.time_ms, row.seq)}"
    )


# --- Flux text ----------------------------------------------------------------------


def flux_string(value: str) -> str:
    """A Flux string literal: quotes, backslashes and ``${`` interpolation escaped."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("${", "\\${")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def flux_time(time_ms: int) -> str:
    """A Flux time literal (RFC 3339, UTC, milliseconds) for epoch milliseconds."""
    moment = _EPOCH + timedelta(milliseconds=time_ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{time_ms % 1000:03d}Z"


def _clamp_range(start_ms: int | None, end_ms: int | None) -> tuple[int, int]:
    start = MIN_TIME_MS if start_ms is None else max(start_ms, MIN_TIME_MS)
    stop = MAX_TIME_MS + 1 if end_ms is None else min(end_ms, MAX_TIME_MS + 1)
    return start, stop


def _series_filter(measurement: str, tags: Sequence[tuple[str, str | None]]) -> str:
    terms = [f"r._measurement == {flux_string(measurement)}"]
    terms += [f"r.{key} == {flux_string(value)}" for key, value in tags if value is not None]
    return " and ".join(terms)


def flux_for_query(
    bucket: str,
    project: str,
    *,
    device: str | None = None,
    quantity: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    measurement: str = MEASUREMENT,
) -> str:
    """Flux for :meth:`InfluxTimeSeriesStore.query`: one row per reading, by time.

    ``range`` is start-inclusive and stop-exclusive, exactly the store's contract; since
    a point's sub-millisecond digits only carry the seq, whole-millisecond bounds select
    whole milliseconds. ``pivot`` turns the fields of a point into columns; ``group()``
    merges the per-series tables so that ``sort`` orders the whole answer by time (the
    reader then orders readings that share a millisecond by device, quantity and seq,
    which Flux cannot see without a ``map`` over every row). With no bounds the range
    spans everything InfluxDB can store, since Flux's ``range`` needs a start.
    """
    start, stop = _clamp_range(start_ms, end_ms)
    where = _series_filter(
        measurement, [("project", project), ("device", device), ("quantity", quantity)]
    )
    return (
        f"from(bucket: {flux_string(bucket)})\n"
        f"  |> range(start: {flux_time(start)}, stop: {flux_time(stop)})\n"
        f"  |> filter(fn: (r) => {where})\n"
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
        '  |> drop(columns: ["_start", "_stop", "_measurement"])\n'
        "  |> group()\n"
        '  |> sort(columns: ["_time"])\n'
    )


def flux_for_neighbours(
    bucket: str,
    project: str,
    device: str,
    quantity: str,
    time_ms: int,
    *,
    measurement: str = MEASUREMENT,
) -> str:
    """Flux for :meth:`InfluxTimeSeriesStore.neighbours`: two results, ``prev`` and ``next``.

    Both halves read only the ``value`` field. ``last()``/``first()`` directly after
    ``range`` and ``filter`` are pushed down to the storage engine; they work per table,
    and a series whose site, kind or unit tag changed over time is several tables, so
    the survivors are merged, sorted and cut to one. One script, one round trip. Returns
    an empty string when ``time_ms`` is so far out that neither half has a range.
    """
    where = _series_filter(
        measurement,
        [("project", project), ("device", device), ("quantity", quantity)],
    )
    where += ' and r._field == "value"'
    parts: list[str] = []
    head = f"from(bucket: {flux_string(bucket)})\n"
    if time_ms > MIN_TIME_MS:
        stop = min(time_ms, MAX_TIME_MS + 1)
        parts.append(
            head + f"  |> range(start: {flux_time(MIN_TIME_MS)}, stop: {flux_time(stop)})\n"
            f"  |> filter(fn: (r) => {where})\n"
            "  |> last()\n"
            "  |> group()\n"
            '  |> sort(columns: ["_time"], desc: true)\n'
            "  |> limit(n: 1)\n"
            '  |> keep(columns: ["_time", "_value"])\n'
            '  |> yield(name: "prev")\n'
        )
    if time_ms < MAX_TIME_MS:
        start = max(time_ms + 1, MIN_TIME_MS)
        parts.append(
            head + f"  |> range(start: {flux_time(start)}, stop: {flux_time(MAX_TIME_MS + 1)})\n"
            f"  |> filter(fn: (r) => {where})\n"
            "  |> first()\n"
            "  |> group()\n"
            '  |> sort(columns: ["_time"])\n'
            "  |> limit(n: 1)\n"
            '  |> keep(columns: ["_time", "_value"])\n'
            '  |> yield(name: "next")\n'
        )
    return "\n".join(parts)


# --- annotated CSV ------------------------------------------------------------------

_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
)


def rfc3339_to_ns(text: str) -> int:
    """Epoch nanoseconds of an RFC 3339 time, exactly (datetime stops at microseconds)."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    date, clock, fraction, zone = match.groups()
    offset = "+00:00" if zone in ("Z", "z") else zone
    delta = datetime.fromisoformat(f"{date}T{clock}{offset}") - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    return seconds * 1_000_000_000 + int((fraction or "").ljust(9, "0"))


def _convert(datatype: str, text: str) -> Any:
    if datatype in ("long", "unsignedLong"):
        return int(text)
    if datatype == "double":
        return float(text)  # also "+Inf", "-Inf", "NaN"
    if datatype == "boolean":
        return text == "true"
    if datatype.startswith("dateTime"):
        return rfc3339_to_ns(text)
    return text  # string, duration, base64Binary and anything newer: as sent


def parse_annotated_csv(rows: Iterable[Sequence[str]]) -> Iterator[dict[str, Any]]:
    """Records of an InfluxDB annotated-CSV response, typed by its ``#datatype`` row.

    ``rows`` are CSV rows (``csv.reader`` output). Each table block starts with
    annotation rows (``#datatype``, ``#group``, ``#default``, in any order) and a header
    whose first cell is empty; a blank row or a new annotation row after data starts the
    next block (the influxdb-client's CSV iterator drops blank rows, so both are needed).
    Empty cells take the ``#default`` value, else ``None`` (a null; for strings, Flux
    cannot tell null from empty either). Time columns become epoch nanoseconds. An
    error table (columns ``error``, ``reference``) raises :class:`FluxQueryError`.
    """
    datatypes: list[str] = []
    defaults: list[str] = []
    header: list[str] | None = None
    for row in rows:
        if not row or all(cell == "" for cell in row):
            datatypes, defaults, header = [], [], None
            continue
        first = row[0]
        if first.startswith("#"):
            if header is not None:
                datatypes, defaults, header = [], [], None
            if first == "#datatype":
                datatypes = list(row)
            elif first == "#default":
                defaults = list(row)
            continue  # "#group" and unknown annotations carry nothing we need
        if header is None:
            header = list(row)
            continue
        record: dict[str, Any] = {}
        for i, name in enumerate(header):
            if i == 0 and name == "":
                continue  # the annotation column
            cell = row[i] if i < len(row) else ""
            if cell == "":
                cell = defaults[i] if i < len(defaults) else ""
            if cell == "":
                record[name] = None
                continue
            datatype = datatypes[i] if i < len(datatypes) else "string"
            record[name] = _convert(datatype, cell)
        if "error" in record and "reference" in header:
            raise FluxQueryError(f"Flux error: {record['error']} (ref {record['reference']})")
        yield record


def parse_annotated_csv_text(text: str) -> Iterator[dict[str, Any]]:
    """:func:`parse_annotated_csv` over a whole response body."""
    return parse_annotated_csv(csv.reader(io.StringIO(text, newline="")))


def reading_from_record(record: dict[str, Any]) -> ReadingRow | None:
    """A pivoted Flux record as a reading; ``None`` for a point that is not one of ours."""
    value, seq, when = record.get("value"), record.get("seq"), record.get("_time")
    if value is None or seq is None or when is None:
        return None
    interval = record.get("interval_s")
    raw_value = record.get("raw_value")
    received = record.get("received_ms")
    return ReadingRow(
        project=str(record.get("project") or ""),
        site=str(record.get("site") or ""),
        device=str(record.get("device") or ""),
        seq=int(seq),
        quantity=str(record.get("quantity") or ""),
        time_ms=int(when) // NS_PER_MS,
        value=float(value),
        kind=str(record.get("kind") or ""),
        interval_s=None if interval is None else float(interval),
        raw_value=float(value if raw_value is None else raw_value),
        raw_unit=str(record.get("raw_unit") or ""),
        historical=bool(record.get("historical")),
        received_ms=0 if received is None else int(received),
    )


def readings_from_records(records: Iterable[dict[str, Any]]) -> Iterator[ReadingRow]:
    """Readings from the records of :func:`flux_for_query`, in the store's order.

    Flux sorted by timestamp; readings sharing a millisecond differ only in the seq
    digits there, so each millisecond's group is re-sorted by (device, quantity, seq).
    Streams: only one millisecond's readings are held at a time.
    """
    group: list[ReadingRow] = []
    skipped = 0
    for record in records:
        row = reading_from_record(record)
        if row is None:
            skipped += 1
            continue
        if group and row.time_ms != group[0].time_ms:
            yield from sorted(group, key=_same_ms_order)
            group = []
        group.append(row)
    yield from sorted(group, key=_same_ms_order)
    if skipped:
        log.warning("skipped %d points without value/seq/_time fields", skipped)


def _same_ms_order(row: ReadingRow) -> tuple[str, str, int]:
    return (row.device, row.quantity, row.seq)


def neighbours_from_records(
    records: Iterable[dict[str, Any]],
) -> tuple[SeriesPoint | None, SeriesPoint | None]:
    """The ``prev`` and ``next`` results of :func:`flux_for_neighbours`."""
    found: dict[str, SeriesPoint] = {}
    for record in records:
        name, when, value = record.get("result"), record.get("_time"), record.get("_value")
        if name in ("prev", "next") and when is not None and value is not None:
            found[str(name)] = SeriesPoint(int(when) // NS_PER_MS, float(value))
    return found.get("prev"), found.get("next")


# --- the ledger ---------------------------------------------------------------------

_LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    project TEXT NOT NULL,
    device TEXT NOT NULL,
    seq INTEGER NOT NULL,
    quantity TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (project, device, seq, quantity)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class _Ledger:
    """identity -> canonical value for everything this host wrote to InfluxDB."""

    def __init__(self, path: Path, target: str, busy_timeout_ms: int) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(
            path,
            timeout=busy_timeout_ms / 1000.0,
            isolation_level=None,
            check_same_thread=False,
        )
        self.conn.execute("PRAGMA journal_mode=WAL")
        # A ledger that loses its last commits on power loss is behind the store: safe.
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        self.conn.executescript(_LEDGER_SCHEMA)
        self.conn.execute(
            "INSERT OR IGNORE INTO ledger_meta (key, value) VALUES ('target', ?)", (target,)
        )
        (stored,) = self.conn.execute(
            "SELECT value FROM ledger_meta WHERE key = 'target'"
        ).fetchone()
        if stored != target:
            self.conn.close()
            raise LedgerMismatch(
                f"ledger {path} belongs to {stored}, not {target}. Point the store back, or "
                "move the ledger aside and call rebuild_ledger() for the new bucket."
            )

    def lookup(self, identities: Iterable[Identity]) -> dict[Identity, float]:
        return lookup_identities(self.conn, "ledger", identities)

    def record(self, rows: Iterable[ReadingRow]) -> None:
        self.conn.executemany(
            "INSERT OR IGNORE INTO ledger (project, device, seq, quantity, value) "
            "VALUES (?,?,?,?,?)",
            ((r.project, r.device, r.seq, r.quantity, r.value) for r in rows),
        )


# --- the store ----------------------------------------------------------------------


def _unavailable_status(status: int | None) -> bool:
    return status is None or status >= 500 or status in (401, 403, 404, 408, 429)


class InfluxTimeSeriesStore:
    """Readings in an InfluxDB 2.x bucket; dedupe and counts from a local ledger."""

    def __init__(
        self,
        url: str,
        *,
        token: str,
        org: str,
        bucket: str,
        ledger_path: str | Path,
        measurement: str = MEASUREMENT,
        timeout_ms: int = 10_000,
        max_lines_per_request: int = 5_000,
        ledger_busy_timeout_ms: int | None = None,
    ) -> None:
        if not measurement:
            raise ValueError("measurement must not be empty")
        self.url = url
        self.org = org
        self.bucket = bucket
        self.measurement = measurement
        self.max_lines_per_request = max(1, max_lines_per_request)
        # No client-side retries: a failed write must reach the gateway at once so that
        # it spools the batch; the gateway owns retrying.
        self._client = InfluxDBClient(url=url, token=token, org=org, timeout=timeout_ms)
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._query_api = self._client.query_api()
        self._lock = threading.Lock()
        # Another process's insert holds the ledger lock for at most one InfluxDB write.
        busy = ledger_busy_timeout_ms if ledger_busy_timeout_ms is not None else timeout_ms + 5000
        target = f"{url.rstrip('/')} org={org} bucket={bucket} measurement={measurement}"
        try:
            self._ledger = _Ledger(Path(ledger_path), target, busy)
        except BaseException:
            self._client.close()  # type: ignore[no-untyped-call]  # influxdb-client is untyped
            raise

    @classmethod
    def from_settings(cls, settings: Settings) -> InfluxTimeSeriesStore:
        """The store configured by ``MRV_INFLUX_*``, its ledger in MRV_HOME."""
        return cls(
            settings.influx_url,
            token=settings.influx_token,
            org=settings.influx_org,
            bucket=settings.influx_bucket,
            ledger_path=settings.home / LEDGER_FILENAME,
        )

    @property
    def ledger_path(self) -> Path:
        return self._ledger.path

    # -- writes --

    def insert(self, rows: Sequence[ReadingRow]) -> int:
        if not rows:
            return 0
        batch: dict[Identity, ReadingRow] = {}
        for row in rows:
            batch.setdefault(row.identity, row)  # the first of a repeated identity wins
        conn = self._ledger.conn
        with self._lock:
            try:
                # The write lock spans check, InfluxDB write and ledger record, so two
                # gateway processes on this host cannot both count one reading as new.
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"influx ledger {self._ledger.path}: {exc}") from exc
            try:
                known = self._ledger.lookup(batch.keys())
                new = [row for ident, row in batch.items() if ident not in known]
                if new:
                    self._write(new)
                    self._ledger.record(new)
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    # InfluxDB may hold the rows already; the redelivery rewrites them.
                    raise StoreUnavailable(f"influx ledger {self._ledger.path}: {exc}") from exc
                raise
        return len(new)

    def _write(self, rows: Sequence[ReadingRow]) -> None:
        lines = [line_for_row(row, self.measurement) for row in rows]
        for i in range(0, len(lines), self.max_lines_per_request):
            body = "\n".join(lines[i : i + self.max_lines_per_request]).encode()
            try:
                self._write_api.write(
                    bucket=self.bucket,
                    org=self.org,
                    record=body,
                    write_precision=_PRECISION_NS,
                )
            except ApiException as exc:
                if _unavailable_status(exc.status):
                    raise StoreUnavailable(
                        f"influx {self.url}: HTTP {exc.status} {exc.reason}"
                    ) from exc
                raise InfluxWriteRejected(
                    f"influx {self.url} refused the batch: HTTP {exc.status} {exc.reason}: "
                    f"{_body_text(exc.body)}"
                ) from exc
            except (urllib3.exceptions.HTTPError, OSError, InfluxDBError) as exc:
                raise StoreUnavailable(f"influx {self.url}: {exc}") from exc

    # -- ledger answers --

    def existing(self, identities: Iterable[Identity]) -> dict[Identity, float]:
        try:
            with self._lock:
                return self._ledger.lookup(identities)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"influx ledger {self._ledger.path}: {exc}") from exc

    def series(
        self, project: str, device: str, quantity: str, start_ms: int, end_ms: int
    ) -> SeriesArrays:
        return series_via_query(self, project, device, quantity, start_ms, end_ms)

    def count(self, project: str | None = None) -> int:
        """Readings this host's ledger recorded (see the module docstring's limits)."""
        with self._lock:
            if project is None:
                cur = self._ledger.conn.execute("SELECT count(*) FROM ledger")
            else:
                cur = self._ledger.conn.execute(
                    "SELECT count(*) FROM ledger WHERE project=?", (project,)
                )
            return int(cur.fetchone()[0])

    def rebuild_ledger(
        self, project: str, *, start_ms: int | None = None, end_ms: int | None = None
    ) -> int:
        """Record every reading InfluxDB holds for ``project`` in the ledger; return how many.

        For a lost or new ledger (or after adopting a bucket that other hosts wrote):
        existing entries are kept, the first stored value of an identity wins.
        """
        added = 0
        pending: list[ReadingRow] = []

        def flush() -> None:
            nonlocal added
            with self._lock:
                before = self._ledger.conn.total_changes
                self._ledger.conn.execute("BEGIN IMMEDIATE")
                try:
                    self._ledger.record(pending)
                    self._ledger.conn.execute("COMMIT")
                except BaseException:
                    if self._ledger.conn.in_transaction:
                        self._ledger.conn.execute("ROLLBACK")
                    raise
                added += self._ledger.conn.total_changes - before
            pending.clear()

        for row in self.query(project, start_ms=start_ms, end_ms=end_ms):
            pending.append(row)
            if len(pending) >= 5000:
                flush()
        if pending:
            flush()
        return added

    # -- Flux reads --

    def _flux_records(self, flux: str) -> Iterator[dict[str, Any]]:
        try:
            response = self._query_api.query_raw(flux, org=self.org)
        except ApiException as exc:
            if _unavailable_status(exc.status):
                raise StoreUnavailable(f"influx {self.url}: HTTP {exc.status}") from exc
            raise FluxQueryError(
                f"influx {self.url}: HTTP {exc.status}: {_body_text(exc.body)}"
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError, InfluxDBError) as exc:
            raise StoreUnavailable(f"influx {self.url}: {exc}") from exc
        try:
            yield from parse_annotated_csv(csv.reader(codecs.iterdecode(response, "utf-8")))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise StoreUnavailable(f"influx {self.url}: {exc}") from exc
        finally:
            response.close()
            response.release_conn()

    def neighbours(
        self, project: str, device: str, quantity: str, time_ms: int
    ) -> tuple[SeriesPoint | None, SeriesPoint | None]:
        flux = flux_for_neighbours(
            self.bucket, project, device, quantity, time_ms, measurement=self.measurement
        )
        if not flux:
            return None, None
        return neighbours_from_records(self._flux_records(flux))

    def query(
        self,
        project: str,
        *,
        device: str | None = None,
        quantity: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> Iterator[ReadingRow]:
        start, stop = _clamp_range(start_ms, end_ms)
        if start >= stop:
            return  # Flux rejects an empty range; the answer is known anyway
        flux = flux_for_query(
            self.bucket,
            project,
            device=device,
            quantity=quantity,
            start_ms=start_ms,
            end_ms=end_ms,
            measurement=self.measurement,
        )
        yield from readings_from_records(self._flux_records(flux))

    def close(self) -> None:
        with self._lock:
            try:
                self._write_api.close()  # type: ignore[no-untyped-call]  # untyped library
                self._client.close()  # type: ignore[no-untyped-call]
            finally:
                self._ledger.conn.close()


def _body_text(body: Any) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")[:500]
    return str(body)[:500]
