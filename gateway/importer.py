"""Import a readings table through the same pipeline as MQTT messages.

The table is the one shape of :mod:`persistence.readings_table`, as ``mrv readings
export`` and the API write it (CSV or JSON Lines); a data logger's file may carry only
some of its columns. A reading needs time, site, device, seq and quantity, and either
raw_value and raw_unit (what the device sent: the gateway converts them again) or value
and unit (an empty unit is sent as the empty unit, as a device may send a dimensionless
quantity). An export carries both: then value must be what raw_value converts to, or the
file is refused (an edited value with its raw value left as it was would otherwise be
dropped without a word). ``received``, when given, is kept (an export re-imported
elsewhere keeps its arrival times); otherwise it is the time of the import.

Rows sharing (site, device, seq, time, historical, received) become one reading message
on that device's topic, so validation, dedupe, conflicts, quarantine, register checks
and the audit link of each batch are exactly the gateway's: a re-import of an export
stores nothing and counts every row as a duplicate, and a changed value is a conflict,
quarantined with its reason, the stored value kept.

Nothing is stored from a file that is not a readings table: a first pass checks every
cell (and every value against its raw value), the second stores. The file is bounded
by :data:`MAX_ROWS` rows of the table's columns, each cell at most
:data:`persistence.readings_table.MAX_CELL` characters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from core import quantities
from core.times import now_ms as wall_ms
from core.wire import MAX_READINGS_PER_MESSAGE, readings_topic
from gateway.decode import Decoded, Inbound
from gateway.processor import BatchProcessor, BatchResult
from persistence.readings_table import Cell, TableError, moment_ms, read_csv, read_jsonl
from persistence.stores.timeseries import value_matches

REQUIRED = ("time", "site", "device", "seq", "quantity")
MAX_ROWS = 5_000_000
#: Rows named in the outcome when they are quarantined; the rest are counted.
MAX_NAMED = 50
TableFormat = Literal["csv", "jsonl"]


@dataclass
class Imported(BatchResult):
    """The batches' outcome, how many rows the file had, and which of them were
    quarantined and why (the first :data:`MAX_NAMED`, by line)."""

    rows: int = 0
    named: list[str] = field(default_factory=list)


@dataclass
class _Message:
    """One reading message built from consecutive rows, and where each reading was."""

    inbound: Inbound
    lines: list[int]
    # per reading: the file's canonical value and unit, to check against the conversion
    given: list[tuple[float, str | None] | None]


def _reading(line: int, cells: dict[str, Cell]) -> tuple[dict[str, Any], Any]:
    """The wire reading of a row, and the canonical value the row states (or None). An
    empty unit is the empty unit (a dimensionless quantity may be sent without one)."""
    raw, raw_unit = cells.get("raw_value"), cells.get("raw_unit")
    value, unit = cells.get("value"), cells.get("unit")
    if raw is None and raw_unit is not None:
        raise TableError(line, "raw_value", "missing: raw_unit is the unit of raw_value")
    if raw is None and value is None:
        raise TableError(line, "value", "missing: a reading needs value, or raw_value")
    reading: dict[str, Any] = {
        "quantity": cells["quantity"],
        "value": raw if raw is not None else value,
        "unit": (raw_unit if raw is not None else unit) or "",
    }
    if cells.get("kind") is not None:
        reading["kind"] = cells["kind"]
    if cells.get("interval_s") is not None:
        reading["interval_s"] = cells["interval_s"]
    given = (value, unit) if raw is not None and value is not None else None
    return reading, given


def _head(line: int, cells: dict[str, Cell], project: str) -> tuple[Any, ...]:
    """What the rows of one message share: site, device, seq, time, historical, received."""
    for name in REQUIRED:
        if cells.get(name) is None:
            raise TableError(line, name, f"missing: a reading needs {', '.join(REQUIRED)}")
    if cells.get("project") not in (None, project):
        raise TableError(line, "project", f"{cells['project']!r} is not {project!r}")
    received = cells.get("received")
    return (
        cells["site"],
        cells["device"],
        cells["seq"],
        cells["time"],
        bool(cells.get("historical")),
        None if received is None else moment_ms(str(received)),
    )


def _messages(rows: Iterable[tuple[int, dict[str, Cell]]], project: str) -> Iterator[_Message]:
    """Consecutive rows of one (site, device, seq, time, ...) as one reading message."""
    now_ms = wall_ms()
    key: tuple[Any, ...] | None = None
    readings: list[dict[str, Any]] = []
    lines: list[int] = []
    given: list[tuple[float, str | None] | None] = []

    def message() -> _Message:
        assert key is not None
        site, device, seq, time, historical, received = key
        body = {"device": device, "seq": seq, "time": time, "historical": historical}
        payload = json.dumps({**body, "readings": readings}).encode()
        topic = readings_topic(project, str(site), str(device))
        received_ms = now_ms if received is None else received
        return _Message(Inbound(topic, payload, received_ms), lines, given)

    for line, cells in rows:
        head = _head(line, cells, project)
        reading, stated = _reading(line, cells)
        if readings and (head != key or len(readings) >= MAX_READINGS_PER_MESSAGE):
            yield message()
            readings, lines, given = [], [], []
        key = head
        readings.append(reading)
        lines.append(line)
        given.append(stated)
    if readings:
        yield message()


def _batches(messages: Iterable[_Message], size: int) -> Iterator[list[_Message]]:
    batch: list[_Message] = []
    for m in messages:
        batch.append(m)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_values(processor: BatchProcessor, batch: list[_Message]) -> None:
    """Refuse a row whose value is not what its raw value converts to (decoded as the
    gateway will decode it; a reading the gateway quarantines is not checked here)."""
    decoded = Decoded()
    for m in batch:
        processor.decoder.decode(m.inbound, decoded)
    by_inbound = {id(m.inbound): m for m in batch}
    for cand in decoded.candidates:
        m = by_inbound[id(cand.message)]
        stated = m.given[cand.reading]
        if stated is None:
            continue
        value, unit = stated
        spec = quantities.get(cand.row.quantity)
        line = m.lines[cand.reading]
        if spec is not None and unit not in (None, spec.canonical_unit):
            why = f"{unit!r} is not {cand.row.quantity}'s canonical unit {spec.canonical_unit}"
            raise TableError(line, "unit", why + " (value is in it when raw_value is given)")
        if not value_matches(value, cand.row.value):
            raw = f"{cand.row.raw_value!r} {cand.row.raw_unit}"
            why = f"{value!r} is not raw_value {raw} in {spec.canonical_unit if spec else ''}"
            raise TableError(line, "value", f"{why} ({cand.row.value!r})")


_READING = re.compile(r"readings\[(\d+)\]")


def _name_quarantined(result: BatchResult, batch: list[_Message], named: list[str]) -> None:
    """The lines of the batch's quarantined readings (all of a message's for a problem of
    the whole message), with the reason and the field, up to :data:`MAX_NAMED`."""
    by_payload = {m.inbound.payload: m for m in batch}
    for item in result.quarantine_items:
        m = by_payload.get(item.payload)
        if m is None or len(named) >= MAX_NAMED:
            continue
        found = _READING.search(item.item)
        lines = [m.lines[int(found.group(1))]] if found else m.lines
        where = ", ".join(str(n) for n in lines[:5]) + (" ..." if len(lines) > 5 else "")
        named.append(f"line {where}: {item.reason} ({item.field}): {item.detail}")


def import_table(
    processor: BatchProcessor,
    project: str,
    source: TextIO | Path,
    format: TableFormat = "csv",
    batch_size: int = 500,
    max_rows: int = MAX_ROWS,
) -> Imported:
    """Import a readings table (see the module docstring); raises TableError, storing
    nothing, if the file is not one."""
    read = read_csv if format == "csv" else read_jsonl

    def passes() -> Iterator[list[_Message]]:
        with _opened(source) as handle:
            yield from _batches(_messages(read(handle, max_rows), project), batch_size)

    for batch in passes():
        _check_values(processor, batch)
    total = Imported()
    for batch in passes():
        part = processor.process([m.inbound for m in batch])
        _name_quarantined(part, batch, total.named)
        total.merge(part)
        total.rows += sum(len(m.lines) for m in batch)
    return total


def import_csv(
    processor: BatchProcessor, project: str, source: TextIO | Path, batch_size: int = 500
) -> Imported:
    """:func:`import_table` of a CSV."""
    return import_table(processor, project, source, "csv", batch_size)


@contextmanager
def _opened(source: TextIO | Path) -> Iterator[TextIO]:
    """The source from its start: a file opened (a BOM tolerated), or a text stream
    rewound (it is read twice, so it must be seekable)."""
    if isinstance(source, Path):
        with source.open(newline="", encoding="utf-8-sig") as handle:
            yield handle
    else:
        source.seek(0)
        yield source
