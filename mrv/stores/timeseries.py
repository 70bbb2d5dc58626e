"""The time-series store interface shared by the SQLite and InfluxDB backends.

A reading's identity is (project, device, seq, quantity). Stores hold canonical values
as plain floats, with the raw value and raw unit beside them. ``insert`` is idempotent:
writing a row whose identity exists changes nothing, so a redelivered batch after a
crash stores nothing twice. Classification into new / duplicate / conflict is done by
the caller (the gateway) from ``existing``; both backends answer it the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol


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

    def count(self, project: str | None = None) -> int: ...

    def close(self) -> None: ...


def value_matches(a: float, b: float) -> bool:
    """Same physical value, allowing float noise from different source units."""
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))
