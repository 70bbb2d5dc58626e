"""The PostgreSQL time-series store: one database that gateways on several hosts share.

Schema (``mrv_ts``, beside the relational store's tables when both use one database)
--------------------------------------------------------------------------------------
``mrv_ts.readings`` holds the readings, declaratively range-partitioned on ``time_ms``
(epoch milliseconds, UTC): one partition per calendar month (UTC) from 2000 to 2100,
``readings_yYYYYmMM``, created on demand by the first batch that reaches that month,
plus two open-ended partitions made with the schema, ``readings_before_2000`` (MINVALUE
to 2000-01-01) and ``readings_from_2100`` (2100-01-01 to MAXVALUE). Those two are the
safety net a DEFAULT partition would be, without its costs: every bigint time has a
partition, so no insert can fail for want of one, yet a DEFAULT partition would make
every new month's creation scan it (to prove it holds nothing of that month) and stop
the planner from reading the partitions in order (``neighbours`` would probe every
month instead of stopping at the first row). The gateway refuses readings before 2000
and in the future, so they stay empty unless an import puts odd times there; months
are bounded (1,200 at most), however hostile the times.

Per partition (indexes declared on the parent): ``(project, device, quantity, time_ms,
seq) INCLUDE (value, interval_s)``, which answers ``series`` and ``neighbours`` from the
index alone, and ``(project, time_ms)`` for a project's time range.

The dedupe ledger
-----------------
A unique constraint on a partitioned table must contain the partition key, so the
identity (project, device, seq, quantity) cannot be unique on ``readings`` itself. It is
the primary key of ``mrv_ts.ledger`` (identity, value, time_ms), a plain table in the
same database. ``insert`` is one transaction: the rows go into the ledger with ``ON
CONFLICT DO NOTHING RETURNING`` the identities that were new, and only those rows go into
``readings`` (by COPY, or in the same statement with ``method="unnest"``). Two gateways
(on any hosts) writing the same identity at once meet on the ledger's primary key: the
second waits for the first to commit and then inserts nothing, and learns so from the
count it gets back. ``existing`` reads the ledger.
Rows are written in identity order so that two overlapping batches take their key locks
in the same order (no deadlock). ``time_ms`` in the ledger says which partition holds the
reading, so dropping an old month means deleting its ledger rows in the same transaction.

Partitions are created in their own short transaction before the insert, under a
transaction-level advisory lock, so two gateways creating the same month are serialised
(``CREATE TABLE IF NOT EXISTS`` alone is not race-safe) and no insert transaction ever
waits for the DDL lock while holding ledger rows.

Failures: connection errors, an admin shutdown, a full disk (psycopg's
``OperationalError``) and a dropped connection raise :class:`StoreUnavailable`, so that
the gateway spools and retries; the next call connects again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import numpy as np
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from persistence.stores.timeseries import (
    Identity,
    ReadingRow,
    SeriesArrays,
    SeriesPoint,
    StoreUnavailable,
    query_filter,
)

log = logging.getLogger(__name__)

SCHEMA = "mrv_ts"
#: Monthly partitions cover [2000-01-01, 2100-01-01) UTC, in epoch milliseconds.
WINDOW_START_MS = 946_684_800_000
WINDOW_END_MS = 4_102_444_800_000
DAY_MS = 86_400_000
# pg_advisory_xact_lock key serialising this store's DDL across processes and hosts.
_DDL_LOCK = 0x6D72765F7473  # "mrv_ts"
_CONNECT_TIMEOUT_S = 5
_QUERY_FETCH = 5_000  # rows per round trip of a server-side cursor (query)
_RETRIES = 3  # a deadlock or serialisation failure is retried this often, then spooled

WriteMethod = Literal["unnest", "copy"]
T = TypeVar("T")

_COLUMNS = (
    "project",
    "site",
    "device",
    "seq",
    "quantity",
    "time_ms",
    "value",
    "kind",
    "interval_s",
    "raw_value",
    "raw_unit",
    "historical",
    "received_ms",
)
_TYPES = (
    "text",
    "text",
    "text",
    "bigint",
    "text",
    "bigint",
    "float8",
    "text",
    "float8",
    "float8",
    "text",
    "bool",
    "bigint",
)
_COLS = ", ".join(_COLUMNS)

_SCHEMA_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.readings (
    project text COLLATE "C" NOT NULL,
    site text COLLATE "C" NOT NULL,
    device text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    quantity text COLLATE "C" NOT NULL,
    time_ms bigint NOT NULL,
    value double precision NOT NULL,
    kind text NOT NULL,
    interval_s double precision,
    raw_value double precision NOT NULL,
    raw_unit text NOT NULL,
    historical boolean NOT NULL,
    received_ms bigint NOT NULL
) PARTITION BY RANGE (time_ms);
CREATE INDEX IF NOT EXISTS readings_series
    ON {SCHEMA}.readings (project, device, quantity, time_ms, seq) INCLUDE (value, interval_s);
CREATE INDEX IF NOT EXISTS readings_project_time ON {SCHEMA}.readings (project, time_ms);
CREATE TABLE IF NOT EXISTS {SCHEMA}.readings_before_2000 PARTITION OF {SCHEMA}.readings
    FOR VALUES FROM (MINVALUE) TO ({WINDOW_START_MS});
CREATE TABLE IF NOT EXISTS {SCHEMA}.readings_from_2100 PARTITION OF {SCHEMA}.readings
    FOR VALUES FROM ({WINDOW_END_MS}) TO (MAXVALUE);
CREATE TABLE IF NOT EXISTS {SCHEMA}.ledger (
    project text COLLATE "C" NOT NULL,
    device text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    quantity text COLLATE "C" NOT NULL,
    value double precision NOT NULL,
    time_ms bigint NOT NULL,
    PRIMARY KEY (project, device, seq, quantity)
);
"""

_SCHEMA_OBJECTS = (
    "readings",
    "readings_series",
    "readings_project_time",
    "readings_before_2000",
    "readings_from_2100",
    "ledger",
)
_SCHEMA_PRESENT = "SELECT " + " AND ".join(
    f"to_regclass('{SCHEMA}.{name}') IS NOT NULL" for name in _SCHEMA_OBJECTS
)
_PARTITIONS = (
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = %s::regclass ORDER BY c.relname"
)
_UNNEST_ALL = ", ".join(f"%s::{t}[]" for t in _TYPES)
# One statement: the ledger takes the identities that are new, and only those rows go
# into the partitioned table (the count of that insert is "how many were new").
_INSERT_UNNEST = f"""
WITH input AS (
    SELECT * FROM unnest({_UNNEST_ALL}) AS u({_COLS})
), fresh AS (
    INSERT INTO {SCHEMA}.ledger (project, device, seq, quantity, value, time_ms)
    SELECT project, device, seq, quantity, value, time_ms FROM input
    ON CONFLICT DO NOTHING
    RETURNING project, device, seq, quantity
)
INSERT INTO {SCHEMA}.readings ({_COLS})
SELECT {", ".join("i." + c for c in _COLUMNS)} FROM input i
JOIN fresh f ON f.project = i.project AND f.device = i.device AND f.seq = i.seq
    AND f.quantity = i.quantity
"""
_INSERT_LEDGER = f"""
INSERT INTO {SCHEMA}.ledger (project, device, seq, quantity, value, time_ms)
SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[], %s::float8[],
                     %s::bigint[])
ON CONFLICT DO NOTHING
RETURNING project, device, seq, quantity
"""
_COPY_READINGS = f"COPY {SCHEMA}.readings ({_COLS}) FROM STDIN"
_EXISTING = f"""
SELECT l.project, l.device, l.seq, l.quantity, l.value
FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[]) AS u(project, device, seq, quantity)
JOIN {SCHEMA}.ledger l ON l.project = u.project AND l.device = u.device AND l.seq = u.seq
    AND l.quantity = u.quantity
"""
_SERIES_KEY = "project = %s AND device = %s AND quantity = %s"
_NEIGHBOURS = f"""
(SELECT 0, time_ms, value, seq FROM {SCHEMA}.readings WHERE {_SERIES_KEY} AND time_ms < %s
 ORDER BY time_ms DESC, seq DESC LIMIT 1)
UNION ALL
(SELECT 1, time_ms, value, seq FROM {SCHEMA}.readings WHERE {_SERIES_KEY} AND time_ms > %s
 ORDER BY time_ms, seq LIMIT 1)
"""
_SERIES = f"""
(SELECT time_ms, value, interval_s, seq FROM {SCHEMA}.readings
 WHERE {_SERIES_KEY} AND time_ms < %s ORDER BY time_ms DESC, seq DESC LIMIT 1)
UNION ALL
(SELECT time_ms, value, interval_s, seq FROM {SCHEMA}.readings
 WHERE {_SERIES_KEY} AND time_ms >= %s AND time_ms <= %s ORDER BY time_ms, seq)
UNION ALL
(SELECT time_ms, value, interval_s, seq FROM {SCHEMA}.readings
 WHERE {_SERIES_KEY} AND time_ms > %s ORDER BY time_ms, seq LIMIT 1)
"""


def conninfo_from_url(url: str) -> str:
    """A libpq connection string from a PostgreSQL URL as SQLAlchemy spells it
    (``postgresql://``, ``postgres://``, ``postgresql+psycopg://``...); query
    parameters (``sslmode``, ``sslrootcert``...) are kept."""
    if url.startswith("postgres://"):  # libpq's spelling; SQLAlchemy knows postgresql://
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"{parsed.drivername!r} is not a PostgreSQL URL")
    args: dict[str, Any] = parsed.translate_connect_args(username="user", database="dbname")
    args.update({k: v for k, v in parsed.query.items() if isinstance(v, str)})
    args.setdefault("connect_timeout", _CONNECT_TIMEOUT_S)
    return psycopg.conninfo.make_conninfo(**args)


def month_range(year: int, month: int) -> tuple[int, int]:
    """[start, end) of a UTC calendar month in epoch milliseconds."""
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return int(start.timestamp()) * 1000, int(end.timestamp()) * 1000


def months_of(times_ms: Iterable[int]) -> set[tuple[int, int]]:
    """The (year, month) of each time inside the monthly window; days first, since a
    batch's readings share few of them."""
    days = {t // DAY_MS for t in times_ms if WINDOW_START_MS <= t < WINDOW_END_MS}
    months = set()
    for day in days:
        moment = datetime.fromtimestamp(day * 86_400, UTC)
        months.add((moment.year, moment.month))
    return months


def partition_name(year: int, month: int) -> str:
    return f"readings_y{year:04d}m{month:02d}"


def _month_of_name(name: str) -> tuple[int, int] | None:
    """(year, month) of a partition named by :func:`partition_name`, else None."""
    if len(name) == 17 and name.startswith("readings_y") and name[14] == "m":
        year, month = name[10:14], name[15:17]
        if year.isdigit() and month.isdigit():
            return int(year), int(month)
    return None


def _unique_in_identity_order(rows: Sequence[ReadingRow]) -> list[ReadingRow]:
    """One row per identity (the first wins, as the protocol says), sorted by identity so
    that concurrent writers lock the ledger's keys in one order."""
    first: dict[Identity, ReadingRow] = {}
    for row in rows:
        first.setdefault(row.identity, row)
    return [first[key] for key in sorted(first)]


class PostgresTimeSeriesStore:
    """Readings in a shared PostgreSQL database (see the module docstring).

    ``method`` chooses how a batch is written: ``copy`` (the ledger insert returning the
    new identities, then COPY of those rows; the default) or ``unnest`` (one statement with
    an array per column). ``bench/store_pg.py`` measures both: on a loaded 2-core machine
    COPY came out about 5-10 % ahead in batches of 500 (2026-12-07), within the noise of
    single runs but ahead in most rounds.
    """

    def __init__(self, url: str, *, method: WriteMethod = "copy") -> None:
        if method not in ("unnest", "copy"):
            raise ValueError(f"method {method!r} must be unnest or copy")
        self.conninfo = conninfo_from_url(url)
        self.method = method
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        self._months: set[tuple[int, int]] = set()
        try:
            with self._lock:
                self._connection()
        except StoreUnavailable as exc:
            # A gateway may start before its database: it spools until the store answers.
            log.warning("%s; will retry on first use", exc)

    # -- connection --

    def _connection(self) -> psycopg.Connection[Any]:
        """The open connection, or a new one with the schema ensured (caller holds the
        lock)."""
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        self._drop()
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"postgres store: {exc}".strip()) from exc
        try:
            self._ensure_schema(conn)
        except psycopg.Error as exc:
            conn.close()
            raise StoreUnavailable(f"postgres store: {exc}".strip()) from exc
        self._conn = conn
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            with suppress(psycopg.Error):
                self._conn.close()
        self._conn = None

    def _ensure_schema(self, conn: psycopg.Connection[Any]) -> None:
        """Create the schema once per database, race-safely (the advisory lock), and learn
        which monthly partitions exist. When every object is there already, no DDL runs:
        CREATE INDEX IF NOT EXISTS would lock the table against other gateways' inserts."""
        found = conn.execute(_SCHEMA_PRESENT).fetchone()
        if not (found and found[0]):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
                conn.execute(_SCHEMA_DDL)
        names = conn.execute(_PARTITIONS, (f"{SCHEMA}.readings",)).fetchall()
        self._months = {month for (name,) in names if (month := _month_of_name(name))}

    @contextmanager
    def _guarded(self) -> Iterator[psycopg.Connection[Any]]:
        """The connection under the lock; connection failures become StoreUnavailable
        (and the next call connects afresh)."""
        with self._lock:
            conn = self._connection()
            try:
                yield conn
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self._drop()
                raise StoreUnavailable(f"postgres store: {exc}".strip()) from exc

    def _retrying(self, attempt: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run one transaction, again after a deadlock or serialisation failure."""
        for tries in range(1, _RETRIES + 1):
            try:
                with self._guarded() as conn:
                    return attempt(conn)
            except StoreUnavailable as exc:
                cause = exc.__cause__
                if tries == _RETRIES or not isinstance(cause, psycopg.errors.TransactionRollback):
                    raise
                log.info("postgres store: %s; retrying", cause)
        raise AssertionError("unreachable")

    # -- writes --

    def _ensure_partitions(self, conn: psycopg.Connection[Any], rows: Sequence[ReadingRow]) -> None:
        """Create the monthly partitions the rows need, in their own transaction."""
        missing = months_of(r.time_ms for r in rows) - self._months
        if not missing:
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
            for year, month in sorted(missing):
                start, end = month_range(year, month)
                conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})"
                    ).format(
                        sql.Identifier(SCHEMA, partition_name(year, month)),
                        sql.Identifier(SCHEMA, "readings"),
                        sql.Literal(start),
                        sql.Literal(end),
                    )
                )
        self._months |= missing

    def insert(self, rows: Sequence[ReadingRow]) -> int:
        if not rows:
            return 0
        batch = _unique_in_identity_order(rows)

        def attempt(conn: psycopg.Connection[Any]) -> int:
            self._ensure_partitions(conn, batch)
            with conn.transaction():
                if self.method == "copy":
                    return self._insert_copy(conn, batch)
                return self._insert_unnest(conn, batch)

        try:
            return self._retrying(attempt)
        except psycopg.errors.CheckViolation:
            # "no partition of relation found for row": a month this process made was
            # dropped since (retention); forget what it knew and make it again, once.
            self._months.clear()
            return self._retrying(attempt)

    @staticmethod
    def _insert_unnest(conn: psycopg.Connection[Any], batch: list[ReadingRow]) -> int:
        columns = [list(col) for col in zip(*batch, strict=True)]
        cur = conn.execute(_INSERT_UNNEST, columns)
        return int(cur.rowcount)

    @staticmethod
    def _insert_copy(conn: psycopg.Connection[Any], batch: list[ReadingRow]) -> int:
        ledger = [
            [r.project for r in batch],
            [r.device for r in batch],
            [r.seq for r in batch],
            [r.quantity for r in batch],
            [r.value for r in batch],
            [r.time_ms for r in batch],
        ]
        with conn.cursor() as cur:
            cur.execute(_INSERT_LEDGER, ledger)
            fresh = set(cur.fetchall())
            if not fresh:
                return 0
            with cur.copy(_COPY_READINGS) as copy:
                for row in batch:
                    if (row.project, row.device, row.seq, row.quantity) in fresh:
                        copy.write_row(row)
        return len(fresh)

    # -- reads --

    def existing(self, identities: Iterable[Identity]) -> dict[Identity, float]:
        keys = sorted(set(identities))
        if not keys:
            return {}
        columns = [list(col) for col in zip(*keys, strict=True)]
        with self._guarded() as conn:
            found = conn.execute(_EXISTING, columns).fetchall()
        return {(p, d, s, q): float(v) for p, d, s, q, v in found}

    def neighbours(
        self, project: str, device: str, quantity: str, time_ms: int
    ) -> tuple[SeriesPoint | None, SeriesPoint | None]:
        key = (project, device, quantity)
        with self._guarded() as conn:
            found = conn.execute(_NEIGHBOURS, (*key, time_ms, *key, time_ms)).fetchall()
        side: dict[int, SeriesPoint] = {
            which: SeriesPoint(int(t), float(v), int(s)) for which, t, v, s in found
        }
        return side.get(0), side.get(1)

    def query(
        self,
        project: str,
        *,
        device: str | None = None,
        quantity: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> Iterator[ReadingRow]:
        where, args = query_filter("%s", project, device, quantity, start_ms, end_ms)
        text = (
            f"SELECT {_COLS} FROM {SCHEMA}.readings WHERE {where} "
            "ORDER BY time_ms, device, quantity, seq"
        )
        return self._stream(text, args)

    def _stream(self, text: str, args: Sequence[object]) -> Iterator[ReadingRow]:
        """Rows of a query through a server-side cursor on a connection of its own, so a
        long export neither holds the writer's lock nor the whole result in memory."""
        try:
            conn = psycopg.connect(self.conninfo)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"postgres store: {exc}".strip()) from exc
        try:
            with conn.cursor(name="mrv_ts_query") as cur:
                cur.itersize = _QUERY_FETCH
                cur.execute(text, args)
                for row in cur:
                    yield ReadingRow._make(row)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StoreUnavailable(f"postgres store: {exc}".strip()) from exc
        finally:
            conn.close()

    def series(
        self, project: str, device: str, quantity: str, start_ms: int, end_ms: int
    ) -> SeriesArrays:
        key = (project, device, quantity)
        with self._guarded() as conn:
            rows = conn.execute(
                _SERIES, (*key, start_ms, *key, start_ms, end_ms, *key, end_ms)
            ).fetchall()
        if not rows:
            return SeriesArrays.empty()
        return SeriesArrays(
            np.fromiter((r[0] for r in rows), np.int64, len(rows)),
            np.fromiter((r[1] for r in rows), np.float64, len(rows)),
            np.fromiter((np.nan if r[2] is None else r[2] for r in rows), np.float64, len(rows)),
            np.fromiter((r[3] for r in rows), np.int64, len(rows)),
        )

    def count(self, project: str | None = None) -> int:
        with self._guarded() as conn:
            if project is None:
                found = conn.execute(f"SELECT count(*) FROM {SCHEMA}.readings").fetchone()
            else:
                found = conn.execute(
                    f"SELECT count(*) FROM {SCHEMA}.readings WHERE project = %s", (project,)
                ).fetchone()
        return int(found[0]) if found else 0

    def partitions(self) -> list[str]:
        """The partitions of the readings table, by name (for operators and tests)."""
        with self._guarded() as conn:
            found = conn.execute(_PARTITIONS, (f"{SCHEMA}.readings",)).fetchall()
        return [str(name) for (name,) in found]

    def close(self) -> None:
        with self._lock:
            self._drop()
