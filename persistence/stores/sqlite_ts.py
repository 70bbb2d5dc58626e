"""The embedded SQLite time-series store: zero set-up, the default backend."""

from __future__ import annotations

import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path

import numpy as np

from persistence.stores.timeseries import (
    Identity,
    ReadingRow,
    SeriesArrays,
    SeriesPoint,
    StoreUnavailable,
    query_filter,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    project TEXT NOT NULL,
    device TEXT NOT NULL,
    seq INTEGER NOT NULL,
    quantity TEXT NOT NULL,
    site TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    value REAL NOT NULL,
    kind TEXT NOT NULL,
    interval_s REAL,
    raw_value REAL NOT NULL,
    raw_unit TEXT NOT NULL,
    historical INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (project, device, seq, quantity)
) WITHOUT ROWID;
-- Per-series reads (verification, neighbours) are answered from this index alone: it
-- holds every column they read, so a year of minute data is one range scan with no
-- lookups into the table. It replaces the narrower readings_series_time.
DROP INDEX IF EXISTS readings_series_time;
CREATE INDEX IF NOT EXISTS readings_series_cover
    ON readings (project, device, quantity, time_ms, seq, value, interval_s);
CREATE INDEX IF NOT EXISTS readings_project_time ON readings (project, time_ms);
"""

_COLUMNS = (
    "project, site, device, seq, quantity, time_ms, value, kind, interval_s, "
    "raw_value, raw_unit, historical, received_ms"
)
_IN_CHUNK = 500
_N_COLUMNS = len(_COLUMNS.split(","))
#: Rows per INSERT statement: a power of two up to this (1024 x 13 parameters is well
#: under SQLite's default limit of 32,766 since 3.32; less if the library allows fewer),
#: so a batch needs a handful of statements of at most eleven shapes, each compiled once
#: and kept in the connection's statement cache.
_INSERT_CHUNK_MAX = 1024
_INSERT_SQL = {
    2**k: f"INSERT OR IGNORE INTO readings ({_COLUMNS}) VALUES "
    + ",".join(["(" + ",".join("?" * _N_COLUMNS) + ")"] * 2**k)
    for k in range(_INSERT_CHUNK_MAX.bit_length())
}


def _chunks(n: int, largest: int = _INSERT_CHUNK_MAX) -> list[tuple[int, int]]:
    """(start, length) of the statements that insert ``n`` rows: chunks of the largest
    power of two (up to ``largest``, a power of two) that fits, down to 1."""
    out: list[tuple[int, int]] = []
    start, size = 0, largest
    while start < n:
        while size > n - start:
            size //= 2
        out.append((start, size))
        start += size
    return out


def lookup_identities(
    conn: sqlite3.Connection, table: str, identities: Iterable[Identity]
) -> dict[Identity, float]:
    """The stored value of each identity found in ``table`` (project, device, seq,
    quantity, value; keyed by identity).

    Grouped by (project, device), each group is one primary-key range: a ``BETWEEN`` over
    its seqs when they are dense (an in-order stream: one index seek, and the scan reads
    at most twice as many seqs as asked), else an IN list chunked below SQLite's
    parameter limit. The cost is bounded by the identities asked either way.
    """
    wanted = set(identities)
    grouped: dict[tuple[str, str], set[int]] = defaultdict(set)
    for project, device, seq, _quantity in wanted:
        grouped[(project, device)].add(seq)
    found: dict[Identity, float] = {}
    select = f"SELECT seq, quantity, value FROM {table} WHERE project=? AND device=? AND "
    for (project, device), seqs in grouped.items():
        low, high = min(seqs), max(seqs)
        queries: list[tuple[str, tuple[object, ...]]]
        if high - low < 2 * len(seqs):
            queries = [(select + "seq BETWEEN ? AND ?", (project, device, low, high))]
        else:
            ordered = sorted(seqs)
            queries = [
                (
                    select + f"seq IN ({','.join('?' * len(chunk))})",
                    (project, device, *chunk),
                )
                for chunk in (ordered[i : i + _IN_CHUNK] for i in range(0, len(ordered), _IN_CHUNK))
            ]
        for sql, args in queries:
            for seq, quantity, value in conn.execute(sql, args):
                ident = (project, device, seq, quantity)
                if ident in wanted:
                    found[ident] = value
    return found


class SQLiteTimeSeriesStore:
    """Readings in one SQLite file (WAL). Safe for several processes on one machine.

    Look-ups (``existing``, ``neighbours``) use a second connection: in WAL mode they
    read the last committed state while an insert is under way on the first, so a
    gateway can classify its next batch while the previous one is being written."""

    #: ``existing`` and ``neighbours`` do not wait for an ``insert`` in another thread.
    concurrent_reads = True

    def __init__(
        self, path: str | Path, *, synchronous: str = "FULL", busy_timeout_ms: int = 5000
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            self.path,
            timeout=busy_timeout_ms / 1000.0,
            isolation_level=None,
            check_same_thread=False,
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        self._conn.executescript(_SCHEMA)
        self._read_lock = threading.Lock()
        self._read = sqlite3.connect(
            self.path,
            timeout=busy_timeout_ms / 1000.0,
            isolation_level=None,
            check_same_thread=False,
        )
        self._read.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        limit = self._conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // _N_COLUMNS
        self._chunk_max = _INSERT_CHUNK_MAX
        while self._chunk_max > max(limit, 1):
            self._chunk_max //= 2

    def existing(self, identities: Iterable[Identity]) -> dict[Identity, float]:
        try:
            with self._read_lock:
                return lookup_identities(self._read, "readings", identities)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"sqlite store {self.path}: {exc}") from exc

    def insert(self, rows: Sequence[ReadingRow]) -> int:
        if not rows:
            return 0
        try:
            with self._lock:
                before = self._conn.total_changes
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    # Multi-row statements rather than executemany: a third less CPU per
                    # row, and sqlite3 releases the GIL once per statement instead of
                    # once per row (each release can cost the writer a wait of up to the
                    # 5 ms switch interval while the MQTT thread holds the GIL).
                    for start, size in _chunks(len(rows), self._chunk_max):
                        params = list(chain.from_iterable(rows[start : start + size]))
                        self._conn.execute(_INSERT_SQL[size], params)
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
                return self._conn.total_changes - before
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"sqlite store {self.path}: {exc}") from exc

    def neighbours(
        self, project: str, device: str, quantity: str, time_ms: int
    ) -> tuple[SeriesPoint | None, SeriesPoint | None]:
        base = (
            "SELECT time_ms, value, seq FROM readings WHERE project=? AND device=? AND quantity=? "
        )
        args = (project, device, quantity, time_ms)
        with self._read_lock:
            before = self._read.execute(
                base + "AND time_ms < ? ORDER BY time_ms DESC, seq DESC LIMIT 1", args
            ).fetchone()
            after = self._read.execute(
                base + "AND time_ms > ? ORDER BY time_ms ASC, seq ASC LIMIT 1", args
            ).fetchone()
        return (
            SeriesPoint(*before) if before else None,
            SeriesPoint(*after) if after else None,
        )

    def query(
        self,
        project: str,
        *,
        device: str | None = None,
        quantity: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> Iterator[ReadingRow]:
        where, args = query_filter("?", project, device, quantity, start_ms, end_ms)
        sql = (
            f"SELECT {_COLUMNS} FROM readings WHERE {where} ORDER BY time_ms, device, quantity, seq"
        )
        # A separate connection so that a long export does not hold the writer's lock.
        conn = sqlite3.connect(self.path, timeout=30.0)
        try:
            for row in conn.execute(sql, args):
                yield ReadingRow._make((*row[:11], bool(row[11]), row[12]))
        finally:
            conn.close()

    def series(
        self, project: str, device: str, quantity: str, start_ms: int, end_ms: int
    ) -> SeriesArrays:
        # One statement, three index range scans; the rows come back as tuples straight
        # into numpy, with no per-reading Python objects beyond sqlite3's own.
        where = "project=? AND device=? AND quantity=?"
        sql = f"""
            SELECT * FROM (SELECT time_ms, value, interval_s, seq FROM readings
                           WHERE {where} AND time_ms < ? ORDER BY time_ms DESC, seq DESC LIMIT 1)
            UNION ALL
            SELECT * FROM (SELECT time_ms, value, interval_s, seq FROM readings
                           WHERE {where} AND time_ms >= ? AND time_ms <= ?
                           ORDER BY time_ms, seq)
            UNION ALL
            SELECT * FROM (SELECT time_ms, value, interval_s, seq FROM readings
                           WHERE {where} AND time_ms > ? ORDER BY time_ms, seq LIMIT 1)
        """
        key = (project, device, quantity)
        conn = sqlite3.connect(self.path, timeout=30.0)
        try:
            rows = conn.execute(
                sql, (*key, start_ms, *key, start_ms, end_ms, *key, end_ms)
            ).fetchall()
        finally:
            conn.close()
        if not rows:
            return SeriesArrays.empty()
        table = np.array(rows, dtype=float)  # a NULL interval becomes NaN
        return SeriesArrays(
            table[:, 0].astype(np.int64),
            table[:, 1],
            table[:, 2],
            np.array([r[3] for r in rows], dtype=np.int64),  # exact beyond 2**53
        )

    def count(self, project: str | None = None) -> int:
        with self._lock:
            if project is None:
                return int(self._conn.execute("SELECT count(*) FROM readings").fetchone()[0])
            return int(
                self._conn.execute(
                    "SELECT count(*) FROM readings WHERE project=?", (project,)
                ).fetchone()[0]
            )

    def close(self) -> None:
        with self._read_lock:
            self._read.close()
        with self._lock:
            self._conn.close()
