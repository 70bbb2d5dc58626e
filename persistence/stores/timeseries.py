"""The time-series store interface shared by the SQLite and InfluxDB backends.

A reading's identity is (project, device, seq, quantity). Stores hold canonical values
as plain floats, with the raw value and raw unit beside them. ``insert`` is idempotent:
writing a row whose identity exists changes nothing, so a redelivered batch after a
crash stores nothing twice. Classification into new / duplicate / conflict is done by
the caller (the gateway) from ``existing``; both backends answer it the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np
from numpy.typing import NDArray


class ReadingRow(NamedTuple):
    """One stored reading, canonical units; times are epoch milliseconds (UTC)."""

    project: str
    site: str
    device: str
    seq: int
    quantity: str
    time_ms: int
    value: float
    kind: str
    interval_s: float | None
    raw_value: float
    raw_unit: str
    historical: bool
    received_ms: int

    @property
    def identity(self) -> Identity:
        return (self.project, self.device, self.seq, self.quantity)


Identity = tuple[str, str, int, str]


@dataclass(frozen=True)
class SeriesPoint:
    time_ms: int
    value: float
    # None: the backend does not say (InfluxDB); not compared, as backends may differ
    seq: int | None = field(default=None, compare=False)


class SeriesArrays(NamedTuple):
    """One series as arrays (canonical units), ordered by time then seq.

    interval_s is NaN for readings that are not interval totals. seq: each reading's
    sequence number (its identity, with the series' device and quantity), so that a
    report can name the readings behind a figure; None where a caller built the arrays
    from times and values alone.
    """

    times_ms: NDArray[np.int64]
    values: NDArray[np.float64]
    interval_s: NDArray[np.float64]
    seq: NDArray[np.int64] | None = None

    @classmethod
    def empty(cls) -> SeriesArrays:
        return cls(
            np.empty(0, np.int64),
            np.empty(0, np.float64),
            np.empty(0, np.float64),
            np.empty(0, np.int64),
        )


class StoreUnavailable(RuntimeError):
    """The store cannot take writes right now (down, locked, full): spool and retry."""


class TimeSeriesStore(Protocol):
    def existing(self, identities: Iterable[Identity]) -> dict[Identity, float]:
        """The stored canonical value of each identity that is already in the store."""
        ...

    def insert(self, rows: Sequence[ReadingRow]) -> int:
        """Durably write rows (idempotent on identity); return how many were new."""
        ...

    def neighbours(
        self, project: str, device: str, quantity: str, time_ms: int
    ) -> tuple[SeriesPoint | None, SeriesPoint | None]:
        """The stored readings just before and just after ``time_ms`` in one series."""
        ...

    def query(
        self,
        project: str,
        *,
        device: str | None = None,
        quantity: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> Iterator[ReadingRow]:
        """Readings in time order (then device, quantity, seq); ``end_ms`` exclusive."""
        ...

    def series(
        self, project: str, device: str, quantity: str, start_ms: int, end_ms: int
    ) -> SeriesArrays:
        """Readings of one series with start_ms <= time <= end_ms, plus the reading just
        before start_ms and the one just after end_ms (to interpolate the boundaries), as
        arrays for vectorised verification."""
        ...

    def count(self, project: str | None = None) -> int: ...

    def close(self) -> None: ...


def query_filter(
    mark: str,
    project: str,
    device: str | None,
    quantity: str | None,
    start_ms: int | None,
    end_ms: int | None,
) -> tuple[str, list[object]]:
    """The WHERE clause of ``query`` for an SQL store (``mark``: its placeholder, ``?``
    or ``%s``) and its arguments; ``end_ms`` exclusive."""
    where: list[str] = [f"project = {mark}"]
    args: list[object] = [project]
    for column, value in (("device", device), ("quantity", quantity)):
        if value is not None:
            where.append(f"{column} = {mark}")
            args.append(value)
    for clause, bound in (("time_ms >=", start_ms), ("time_ms <", end_ms)):
        if bound is not None:
            where.append(f"{clause} {mark}")
            args.append(bound)
    return " AND ".join(where), args


def value_matches(a: float, b: float) -> bool:
    """Same physical value, allowing float noise from different source units."""
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def _seq(point: SeriesPoint) -> int:
    """A neighbour's seq, -1 where the backend does not say (seqs are never negative)."""
    return -1 if point.seq is None else point.seq


def series_via_query(
    store: TimeSeriesStore, project: str, device: str, quantity: str, start_ms: int, end_ms: int
) -> SeriesArrays:
    """``series`` built from ``neighbours`` and ``query`` (for backends without a faster
    path)."""
    before, _ = store.neighbours(project, device, quantity, start_ms)
    _, after = store.neighbours(project, device, quantity, end_ms)
    rows = [
        (r.time_ms, r.value, r.interval_s if r.interval_s is not None else np.nan, r.seq)
        for r in store.query(
            project, device=device, quantity=quantity, start_ms=start_ms, end_ms=end_ms + 1
        )
    ]
    if before is not None:
        rows.insert(0, (before.time_ms, before.value, np.nan, _seq(before)))
    if after is not None:
        rows.append((after.time_ms, after.value, np.nan, _seq(after)))
    if not rows:
        return SeriesArrays.empty()
    t, v, i, q = zip(*rows, strict=True)
    return SeriesArrays(
        np.asarray(t, np.int64), np.asarray(v, float), np.asarray(i, float), np.asarray(q, np.int64)
    )
