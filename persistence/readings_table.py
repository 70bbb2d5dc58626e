"""The one table shape of stored readings, declared once.

Every place that writes or reads readings as a table uses :data:`COLUMNS`: the API's
readings page (JSON objects and CSV), ``mrv readings export`` (CSV and JSON Lines),
``mrv readings import`` and the evidence bundle's ``readings.jsonl``. One row is one
stored reading; the columns come in this order, with these names and types (the types
of a Frictionless Table Schema, :func:`table_schema`):

- times are RFC 3339 in UTC with milliseconds (``2026-11-01T00:00:00.000Z``);
- numbers are written with Python's shortest round-trip ``repr``, so an export read
  back gives the same floats and, written again, the same bytes;
- booleans are ``true``/``false``; a missing value is an empty cell (CSV) or ``null``.

Reading a table back (:func:`read_csv`, :func:`read_jsonl`) checks every cell against
its column and names the line and column of the first problem; what the cells mean
(is the unit a unit, is the device registered, is the value plausible) is the
gateway's business, not the table's.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TextIO

from core import quantities
from core.times import format_ms, to_ms
from core.windows import moment_problem
from core.wire import SEQ_MAX
from persistence.stores.timeseries import ReadingRow

FieldType = Literal["string", "integer", "number", "boolean", "datetime"]
Cell = str | int | float | bool | None

#: An id of the wire contract (project, site, device, quantity), without anchors: a
#: Table Schema pattern matches the whole cell.
ID_CELL = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
KINDS = ("cumulative", "interval", "instant")
#: The longest cell read back: ids are at most 64 characters and units 32, so anything
#: longer is not a reading.
MAX_CELL = 256


@dataclass(frozen=True)
class ReadingColumn:
    """A column of the readings table: its name, type and meaning, the unit its numbers
    are in when that is the same on every row, and the constraints a cell must meet.
    ``always``: every exported row has a value here."""

    name: str
    type: FieldType
    description: str
    unit: str | None = None
    always: bool = True
    pattern: str | None = None
    enum: tuple[str, ...] | None = None
    max_length: int | None = None

    def field(self) -> dict[str, Any]:
        """The column as a Frictionless Table Schema field (``unit`` is our property)."""
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        out["description"] = self.description
        if self.unit:
            out["unit"] = self.unit
        constraints: dict[str, Any] = {}
        if self.always:
            constraints["required"] = True
        if self.pattern:
            constraints["pattern"] = self.pattern
        if self.enum:
            constraints["enum"] = list(self.enum)
        if self.max_length:
            constraints["maxLength"] = self.max_length
        if self.name == "seq":
            constraints.update(minimum=0, maximum=SEQ_MAX)
        if constraints:
            out["constraints"] = constraints
        return out


COLUMNS: tuple[ReadingColumn, ...] = (
    ReadingColumn("time", "datetime", "When the reading was taken (RFC 3339, UTC)."),
    ReadingColumn("project", "string", "Project id.", pattern=ID_CELL),
    ReadingColumn("site", "string", "Site id, as in the monitoring plan.", pattern=ID_CELL),
    ReadingColumn("device", "string", "Device id, as in the monitoring plan.", pattern=ID_CELL),
    ReadingColumn("seq", "integer", "The device's sequence number of the message."),
    ReadingColumn("quantity", "string", "Quantity, as in the catalogue.", pattern=ID_CELL),
    ReadingColumn("value", "number", "The value in the quantity's canonical unit (column unit)."),
    ReadingColumn("unit", "string", "The quantity's canonical unit.", always=False, max_length=32),
    ReadingColumn(
        "kind", "string", "cumulative (a register), interval (a total) or instant.", enum=KINDS
    ),
    ReadingColumn(
        "interval_s",
        "number",
        "The length of the interval an interval total covers, in seconds.",
        unit="s",
        always=False,
    ),
    ReadingColumn("raw_value", "number", "The value as the device sent it, in raw_unit."),
    ReadingColumn(
        "raw_unit",
        "string",
        "The unit the device sent (empty: none, as for a dimensionless quantity).",
        always=False,
        max_length=32,
    ),
    ReadingColumn("historical", "boolean", "A replay from the device's buffer."),
    ReadingColumn("received", "datetime", "When the gateway received it (RFC 3339, UTC)."),
)
NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
BY_NAME: Mapping[str, ReadingColumn] = {c.name: c for c in COLUMNS}


def table_schema() -> dict[str, Any]:
    """The readings table as a Frictionless Table Schema."""
    return {
        "fields": [c.field() for c in COLUMNS],
        "missingValues": [""],
        "primaryKey": ["project", "device", "seq", "quantity"],
    }


# --- writing ---------------------------------------------------------------------------


def record(row: ReadingRow) -> dict[str, Cell]:
    """A stored reading as one row of the table, JSON values, in column order."""
    spec = quantities.get(row.quantity)
    return {
        "time": format_ms(row.time_ms),
        "project": row.project,
        "site": row.site,
        "device": row.device,
        "seq": row.seq,
        "quantity": row.quantity,
        "value": row.value,
        "unit": spec.canonical_unit if spec else None,
        "kind": row.kind,
        "interval_s": row.interval_s,
        "raw_value": row.raw_value,
        "raw_unit": row.raw_unit,
        "historical": row.historical,
        "received": format_ms(row.received_ms),
    }


def csv_cell(value: Cell) -> str:
    """A cell as CSV text: ``repr`` of floats (they read back the same), ``true`` or
    ``false``, and empty for a missing value."""
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: a bool is an int
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def csv_writer(out: TextIO) -> Any:
    """A CSV writer with the table's dialect (``\\n`` line ends on every platform)."""
    return csv.writer(out, lineterminator="\n")


def write_csv(rows: Iterable[ReadingRow], out: TextIO) -> int:
    """The header, then one line per reading; how many readings."""
    writer = csv_writer(out)
    writer.writerow(NAMES)
    n = 0
    for row in rows:
        writer.writerow([csv_cell(v) for v in record(row).values()])
        n += 1
    return n


def write_jsonl(rows: Iterable[ReadingRow], out: TextIO) -> int:
    """One JSON object per reading and line, keys in column order; how many readings."""
    n = 0
    for row in rows:
        out.write(json.dumps(record(row), allow_nan=False) + "\n")
        n += 1
    return n


def row_of(cells: Mapping[str, Any]) -> ReadingRow:
    """A stored reading from a complete row of the table (as :func:`record` wrote it);
    ``unit`` is derived from the quantity and not read. Raises ValueError."""
    checked = {c.name: parse_cell(c, cells.get(c.name)) for c in COLUMNS}
    missing = [c.name for c in COLUMNS if c.always and checked[c.name] is None]
    if missing or set(cells) - set(NAMES):
        raise ValueError(f"not a readings row: {missing or sorted(set(cells) - set(NAMES))}")
    return ReadingRow(
        project=str(checked["project"]),
        site=str(checked["site"]),
        device=str(checked["device"]),
        seq=int(_number(checked["seq"])),
        quantity=str(checked["quantity"]),
        time_ms=moment_ms(str(checked["time"])),
        value=_number(checked["value"]),
        kind=str(checked["kind"]),
        interval_s=None if checked["interval_s"] is None else _number(checked["interval_s"]),
        raw_value=_number(checked["raw_value"]),
        raw_unit=str(checked["raw_unit"] or ""),
        historical=bool(checked["historical"]),
        received_ms=moment_ms(str(checked["received"])),
    )


def _number(cell: Cell) -> float:
    if not isinstance(cell, int | float) or isinstance(cell, bool):
        raise ValueError(f"{cell!r} is not a number")
    return float(cell)


# --- reading ---------------------------------------------------------------------------


class TableError(ValueError):
    """A table that is not a readings table, at ``line`` (1 is the header) and
    ``column`` (None: the whole line)."""

    def __init__(self, line: int, column: str | None, why: str) -> None:
        self.line, self.column, self.why = line, column, why
        where = f"line {line}" + (f", column {column}" if column else "")
        super().__init__(f"{where}: {why}")


_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no", "")


def moment_ms(text: str) -> int:
    """Epoch milliseconds of an RFC 3339 time with an offset (``Z`` or ``+09:00``)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no offset (add Z for UTC)")
    if why := moment_problem(moment):
        raise ValueError(why)
    return to_ms(moment)


def parse_cell(column: ReadingColumn, raw: object) -> Cell:
    """A cell of ``column`` from CSV text or a JSON value; empty is None. Raises
    ValueError saying what the column takes."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        if len(raw) > MAX_CELL:
            raise ValueError(f"longer than {MAX_CELL} characters")
        if not raw.isprintable():
            raise ValueError("holds a control character")
        raw = raw.strip()
        if not raw:
            return None
    parse = _PARSERS[column.type]
    value = parse(raw)
    if isinstance(value, str):
        _check_text(column, value)
    return value


def _check_text(column: ReadingColumn, value: str) -> None:
    if column.pattern and not re.fullmatch(column.pattern, value):
        raise ValueError("not an id: 1 to 64 letters, digits, '_', '.' or '-'")
    if column.enum and value not in column.enum:
        raise ValueError(f"{value!r} is not one of {', '.join(column.enum)}")
    if column.max_length and len(value) > column.max_length:
        raise ValueError(f"longer than {column.max_length} characters")


def _string(raw: object) -> str:
    if not isinstance(raw, str):
        raise ValueError("not text")
    return raw


def _integer(raw: object) -> int:
    if isinstance(raw, str) and re.fullmatch(r"[0-9]{1,19}", raw):
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= SEQ_MAX:
        raise ValueError(f"not a whole number from 0 to {SEQ_MAX}")
    return raw


def _float(raw: object) -> float:
    try:
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise ValueError
        value = float(raw)
    except (ValueError, OverflowError):
        raise ValueError("not a number") from None
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _boolean(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in _TRUE + _FALSE:
        return raw.lower() in _TRUE
    raise ValueError("not true or false")


def _datetime(raw: object) -> str:
    if not isinstance(raw, str):
        raise ValueError("not an RFC 3339 time")
    try:
        moment_ms(raw)
    except ValueError as exc:
        raise ValueError(f"not an RFC 3339 time with an offset ({exc})") from None
    return raw


_PARSERS: dict[FieldType, Callable[[object], Cell]] = {
    "string": _string,
    "integer": _integer,
    "number": _float,
    "boolean": _boolean,
    "datetime": _datetime,
}


def _header(names: list[str], line: int = 1) -> tuple[str, ...]:
    header = tuple(n.strip() for n in names)
    unknown = [n for n in header if n not in BY_NAME]
    if unknown:
        raise TableError(line, unknown[0][:64], f"not a column of readings ({', '.join(NAMES)})")
    twice = [n for n in header if header.count(n) > 1]
    if twice:
        raise TableError(line, twice[0], "appears twice in the header")
    return header


def _cells(line: int, named: Mapping[str, object]) -> dict[str, Cell]:
    out: dict[str, Cell] = {}
    for name, raw in named.items():
        try:
            out[name] = parse_cell(BY_NAME[name], raw)
        except ValueError as exc:
            raise TableError(line, name, str(exc)) from None
    return out


def read_csv(handle: TextIO, max_rows: int) -> Iterator[tuple[int, dict[str, Cell]]]:
    """(line, cells) of each data row of a readings CSV: only the table's columns, in
    any order and any subset, every cell checked against its column. Raises TableError
    at the first problem, or past ``max_rows``."""
    reader = csv.reader(handle)
    try:
        first = next(reader, None)
        if first is None:
            raise TableError(1, None, "empty: no header")
        header = _header(first)
        for n, cells in enumerate(reader, start=1):
            if n > max_rows:
                raise TableError(reader.line_num, None, f"more than {max_rows:,} rows")
            if not cells:
                continue
            if len(cells) != len(header):
                why = f"{len(cells)} cells, but the header has {len(header)}"
                raise TableError(reader.line_num, None, why)
            yield reader.line_num, _cells(reader.line_num, dict(zip(header, cells, strict=True)))
    except csv.Error as exc:
        raise TableError(reader.line_num, None, f"not CSV: {exc}") from None
    except UnicodeDecodeError:
        raise TableError(reader.line_num + 1, None, "not UTF-8 text") from None


def read_jsonl(handle: TextIO, max_rows: int) -> Iterator[tuple[int, dict[str, Cell]]]:
    """(line, cells) of each line of a readings JSON Lines file, checked as
    :func:`read_csv` checks a CSV (keys are the table's columns)."""
    line = 0
    try:
        for line, text in enumerate(handle, start=1):
            if line > max_rows:
                raise TableError(line, None, f"more than {max_rows:,} rows")
            if not text.strip():
                continue
            if len(text) > MAX_CELL * len(COLUMNS) * 2:
                raise TableError(line, None, "too long for one reading")
            try:
                item = json.loads(text)
            except ValueError as exc:
                raise TableError(line, None, f"not JSON: {exc}") from None
            if not isinstance(item, dict):
                raise TableError(line, None, "not a JSON object")
            _header(list(item), line)
            yield line, _cells(line, item)
    except UnicodeDecodeError:
        raise TableError(line + 1, None, "not UTF-8 text") from None
