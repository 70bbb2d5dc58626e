"""The report's tables, declared once for every format.

A :class:`Table` names its rows in the report and its :class:`Column` s; a column says
how to read its value from a row, what kind of value that is, and how each format heads
and sizes it. The formats differ in what they are for, and the declaration says where:

- ``csv``, for machines: headers are ``key`` s, values raw (lists joined by ``;``); each
  table is one CSV file of a data package whose ``datapackage.json`` types each column
  by its ``datatype`` (default: by kind) and gives its ``fixed_unit`` and ``description``
  (:mod:`verification.render.csv_out`: every :class:`Table` of this module is a file);
- ``xlsx``, for spreadsheets: headers are ``title`` s, values raw with a number format
  by kind, column ``width`` s in characters;
- ``html``, for people: headers are ``label`` s, values formatted by kind (:meth:`text`);
- ``pdf``, for people on a narrow page: headers are ``short`` labels, a number carries
  its ``unit`` in its cell, and columns are a ``share`` of the table's width. Some
  columns exist there only, e.g. start and end in one cell.

``media`` says which formats show a column. The JSON is the report itself and needs no
table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, Protocol, TypeVar

from verification.render.text import (
    detail_json,
    detail_text,
    fmt_num,
    fmt_time,
    parse_utc,
    period_label,
)
from verification.report_model import (
    CalcRow,
    Correction,
    CrossCheck,
    DailySubtotal,
    EventRow,
    Evidence,
    Finding,
    Gap,
    Message,
    ParameterInput,
    ParameterRow,
    PointInputs,
    ReadingRef,
    Report,
)

Medium = Literal["csv", "xlsx", "html", "pdf"]
ALL: frozenset[Medium] = frozenset({"csv", "xlsx", "html", "pdf"})
NOT_PDF: frozenset[Medium] = ALL - {"pdf"}
PDF: frozenset[Medium] = frozenset({"pdf"})
CSV: frozenset[Medium] = frozenset({"csv"})
SHEETS: frozenset[Medium] = frozenset({"csv", "xlsx"})

#: How a value is formatted: ``text`` as it is, ``integer`` as digits, ``time`` an ISO
#: 8601 UTC instant (a date-time in a spreadsheet, to the second for people); the others
#: are numbers for people with as many decimals as they need (see :data:`DECIMALS`).
Kind = Literal["text", "integer", "time", "value", "tco2", "hours", "percent"]

#: Most decimals shown to people: a monitored value keeps six (an emission factor of
#: 0.533 and an energy total of 48,797.16 both read naturally), tCO2 three, percentage
#: points four, hours two.
DECIMALS: dict[Kind, int] = {"value": 6, "tco2": 3, "percent": 4, "hours": 2}

#: Spreadsheet number formats by kind (``text`` and ``integer`` keep Excel's General).
NUMBER_FORMATS: dict[Kind, str] = {
    "value": "#,##0.000###",
    "tco2": "#,##0.000",
    "hours": "#,##0.00",
    "percent": "0.000",
    "time": "yyyy-mm-dd hh:mm:ss.000",
}

#: How a machine reads a CSV column: a Frictionless Table Schema type.
DataType = Literal["string", "integer", "number", "boolean", "date", "datetime"]
#: The data type of each kind, unless a column says otherwise.
DATA_TYPES: dict[Kind, DataType] = {
    "text": "string",
    "integer": "integer",
    "value": "number",
    "tco2": "number",
    "hours": "number",
    "percent": "number",
    "time": "datetime",
}
#: The unit of each kind whose unit is the same on every row.
KIND_UNITS: dict[Kind, str] = {"tco2": "tCO2", "hours": "h", "percent": "%"}

#: A value as read from a row: lists (ids) are joined by each format.
Value = str | int | float | list[str] | None
#: A value as written to a CSV or XLSX cell (a date-time only in XLSX).
Cell = str | int | float | datetime | None

R = TypeVar("R")


@dataclass(frozen=True, kw_only=True)
class Heading:
    """What a format needs to head and size a column (see the module docstring)."""

    title: str
    kind: Kind = "text"
    key: str | None = None  # default: the title
    label: str | None = None  # default: the title
    short: str | None = None  # default: the label
    width: int = 0  # xlsx, characters
    share: float = 0.0  # pdf, of the table's width
    media: frozenset[Medium] = ALL
    datatype: DataType | None = None  # csv; default: by kind
    fixed_unit: str | None = None  # csv; default: by kind
    description: str | None = None  # csv

    def header(self, medium: Medium) -> str:
        """The column's header in ``medium``."""
        label = self.label or self.title
        headers: dict[Medium, str] = {
            "csv": self.key or self.title,
            "xlsx": self.title,
            "html": label,
            "pdf": self.short or label,
        }
        return headers[medium]

    @property
    def numeric(self) -> bool:
        """Numbers are right-aligned for people."""
        return self.kind not in ("text", "time")

    @property
    def number_format(self) -> str | None:
        return NUMBER_FORMATS.get(self.kind)

    @property
    def data_type(self) -> DataType:
        """How a machine reads the column's CSV cells."""
        return self.datatype or DATA_TYPES[self.kind]

    @property
    def unit_name(self) -> str | None:
        """The column's unit, when it is the same on every row."""
        return self.fixed_unit or KIND_UNITS.get(self.kind)


@dataclass(frozen=True, kw_only=True)
class Column(Heading, Generic[R]):
    """A column of a table whose rows are ``R``: ``get`` reads its value from a row;
    ``unit`` (pdf only) names the unit written after the number."""

    get: Callable[[R], Value]
    unit: Callable[[R], str] | None = None

    def value(self, row: R, medium: Medium) -> Cell:
        """The raw value for a CSV or XLSX cell."""
        value = self.get(row)
        if isinstance(value, list):
            # One CSV cell of ids for tools to split; a readable list in a spreadsheet.
            return (";" if medium == "csv" else ", ").join(value)
        if self.kind == "time" and medium == "xlsx" and isinstance(value, str):
            return parse_utc(value)
        return value

    def text(self, row: R, medium: Medium) -> str:
        """The value formatted for people (HTML, PDF)."""
        value = self.get(row)
        if isinstance(value, list):
            return ", ".join(value)
        if self.kind == "time":
            return fmt_time(value) if isinstance(value, str) else ""
        if self.kind == "text" or self.kind == "integer":
            return "" if value is None else str(value)
        assert not isinstance(value, str)  # a number kind reads a number
        text = fmt_num(value, DECIMALS[self.kind])
        return f"{text} {self.unit(row)}".rstrip() if self.unit and medium == "pdf" else text


class ReportTable(Protocol):
    """A table as the formats see it, whatever its rows are."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def sheet(self) -> str: ...
    @property
    def empty(self) -> str: ...
    def columns(self, medium: Medium) -> Sequence[Heading]: ...
    def headers(self, medium: Medium) -> tuple[str, ...]: ...
    def values(self, report: Report, medium: Medium) -> list[tuple[Cell, ...]]: ...
    def texts(self, report: Report, medium: Medium) -> list[tuple[str, ...]]: ...


@dataclass(frozen=True, kw_only=True)
class Table(Generic[R]):
    """One table of the report: ``id`` names its CSV section, ``title`` heads it for
    people, ``sheet`` is its XLSX sheet and ``empty`` the sentence that stands for it when
    it has no rows (an empty table could be read as "not checked")."""

    id: str
    title: str
    sheet: str
    empty: str
    rows: Callable[[Report], Sequence[R]]
    all_columns: tuple[Column[R], ...]

    def __post_init__(self) -> None:
        # A wrong declaration fails on import, not in a verifier's hands.
        if any(c.width <= 0 for c in self.columns("xlsx")):
            raise ValueError(f"table {self.id}: an XLSX column has no width")
        if not math.isclose(sum(c.share for c in self.columns("pdf")), 1.0):
            raise ValueError(f"table {self.id}: the PDF columns' shares do not add up to 1")

    def columns(self, medium: Medium) -> tuple[Column[R], ...]:
        return tuple(c for c in self.all_columns if medium in c.media)

    def headers(self, medium: Medium) -> tuple[str, ...]:
        return tuple(c.header(medium) for c in self.columns(medium))

    def values(self, report: Report, medium: Medium) -> list[tuple[Cell, ...]]:
        """The rows as raw cells (CSV, XLSX)."""
        columns = self.columns(medium)
        return [tuple(c.value(row, medium) for c in columns) for row in self.rows(report)]

    def texts(self, report: Report, medium: Medium) -> list[tuple[str, ...]]:
        """The rows as text for people (HTML, PDF)."""
        columns = self.columns(medium)
        return [tuple(c.text(row, medium) for c in columns) for row in self.rows(report)]


# --- the MRS input table ---------------------------------------------------------------


@dataclass(frozen=True)
class MrsLine:
    """A row of the MRS input table: a parameter row in its monitoring period."""

    period: str
    parameter: ParameterRow


def method_text(row: ParameterRow) -> str:
    """The MRS "measurement methods and procedures" cell: method, equipment, calibration."""
    parts = [row.method]
    if row.device:
        parts.append(f"Device: {row.device}")
    if row.calibration:
        parts.append(f"Calibration: {row.calibration}")
    return "; ".join(p for p in parts if p)


def comments_text(row: ParameterRow) -> str:
    """The MRS "other comments" cell: completeness and readings (options B and C) and the
    corrections applied."""
    parts = []
    if row.value is None:
        parts.append("No value could be established (see corrections)")
    if row.option != "A":  # a fixed value has no readings to be complete
        parts.append(f"Data completeness {row.completeness:.2%} ({row.readings:,} readings)")
    if row.corrections:
        parts.append("Corrections: " + ", ".join(row.corrections))
    return "; ".join(parts)


def _mrs_lines(report: Report) -> list[MrsLine]:
    period = period_label(report)
    return [MrsLine(period, row) for row in report.parameters]


#: The JCM Monitoring Report Sheet's input table, in its column order; the CSV keeps the
#: MRS titles as headers and adds machine-readable columns, so that tools need not parse
#: the combined "Measurement methods" and "Other comments" cells.
PARAMETERS = Table[MrsLine](
    id="parameters",
    title="Parameters (Monitoring Report Sheet input)",
    sheet="MRS_input",
    empty="No parameters.",
    rows=_mrs_lines,
    all_columns=(
        # For people the period heads the page instead, being the same on every row.
        Column(title="Monitoring period", get=lambda m: m.period, width=24, media=SHEETS),
        Column(
            title="Monitoring point No.",
            short="Point No.",
            get=lambda m: m.parameter.monitoring_point or "",
            width=14,
            share=0.065,
        ),
        Column(
            title="Parameters",
            short="Parameter",
            get=lambda m: m.parameter.symbol,
            width=12,
            share=0.06,
        ),
        Column(
            title="Description of data",
            get=lambda m: m.parameter.description,
            width=36,
            share=0.14,
        ),
        Column(
            title="Estimated values",
            short="Estimated value",
            kind="value",
            get=lambda m: m.parameter.value,
            width=16,
            share=0.085,
        ),
        Column(title="Units", short="Unit", get=lambda m: m.parameter.unit, width=9, share=0.065),
        Column(
            title="Monitoring option",
            short="Option",
            get=lambda m: m.parameter.option,
            width=11,
            share=0.045,
        ),
        Column(title="Source of data", get=lambda m: m.parameter.source, width=30, share=0.12),
        Column(
            title="Measurement methods and procedures",
            get=lambda m: method_text(m.parameter),
            width=48,
            share=0.2,
        ),
        Column(
            title="Monitoring frequency",
            short="Frequency",
            get=lambda m: m.parameter.frequency or "",
            width=16,
            share=0.08,
        ),
        Column(
            title="Other comments",
            get=lambda m: comments_text(m.parameter),
            width=40,
            share=0.14,
        ),
        Column(title="device", get=lambda m: m.parameter.device, media=CSV),
        Column(title="calibration", get=lambda m: m.parameter.calibration, media=CSV),
        Column(
            title="completeness",
            kind="value",
            get=lambda m: m.parameter.completeness,
            fixed_unit="1",
            description="Share of the monitoring period covered by data, 0 to 1.",
            media=CSV,
        ),
        Column(
            title="readings",
            kind="integer",
            get=lambda m: m.parameter.readings,
            description="How many stored readings the value is built from.",
            media=CSV,
        ),
        Column(
            title="corrections",
            get=lambda m: m.parameter.corrections,
            description="Ids of the corrections applied (table corrections), ';' between.",
            media=CSV,
        ),
    ),
)

#: The MRS input table's columns, in the order of the JCM Monitoring Report Sheet.
MRS_COLUMNS: tuple[str, ...] = PARAMETERS.headers("xlsx")


# --- the calculation -------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A calculation step and its number (from 1)."""

    number: int
    calc: CalcRow


CALCULATION = Table[Step](
    id="calculation",
    title="Calculation",
    sheet="MRS_calc",
    empty="No calculation steps.",
    rows=lambda r: [Step(i, c) for i, c in enumerate(r.calculation, 1)],
    all_columns=(
        Column(
            key="step", title="Step", kind="integer", get=lambda s: s.number, width=8, share=0.05
        ),
        Column(key="label", title="Calculation", get=lambda s: s.calc.label, width=44, share=0.3),
        Column(key="formula", title="Formula", get=lambda s: s.calc.formula, width=48, share=0.4),
        Column(
            key="value",
            title="Value",
            kind="value",
            get=lambda s: s.calc.value,
            width=18,
            share=0.15,
        ),
        Column(key="unit", title="Unit", get=lambda s: s.calc.unit, width=12, share=0.1),
    ),
)


# --- the details -----------------------------------------------------------------------

GAPS = Table[Gap](
    id="gaps",
    title="Data gaps",
    sheet="Gaps",
    empty="No data gaps in the monitoring period.",
    rows=lambda r: r.gaps,
    all_columns=(
        Column(key="id", title="Id", get=lambda g: g.id, width=10, share=0.06),
        Column(key="symbol", title="Parameter", get=lambda g: g.symbol, width=12, share=0.07),
        Column(
            key="monitoring_point",
            title="Monitoring point No.",
            label="Point No.",
            get=lambda g: g.monitoring_point,
            width=14,
            share=0.08,
        ),
        Column(key="device", title="Device", get=lambda g: g.device, width=18, share=0.1),
        Column(
            key="start",
            title="Start (UTC)",
            kind="time",
            get=lambda g: g.start,
            width=22,
            share=0.12,
        ),
        Column(
            key="end", title="End (UTC)", kind="time", get=lambda g: g.end, width=22, share=0.12
        ),
        Column(
            key="hours", title="Hours", kind="hours", get=lambda g: g.hours, width=10, share=0.06
        ),
        Column(key="rule", title="Rule applied", get=lambda g: g.rule, width=36, share=0.17),
        Column(key="note", title="Note", get=lambda g: g.note, width=48, share=0.22),
    ),
)

CORRECTIONS = Table[Correction](
    id="corrections",
    title="Corrections",
    sheet="Corrections",
    empty="No corrections applied.",
    rows=lambda r: r.corrections,
    all_columns=(
        Column(key="id", title="Id", get=lambda c: c.id, width=10, share=0.06),
        Column(key="kind", title="Kind", get=lambda c: c.kind, width=14, share=0.07),
        Column(key="symbol", title="Parameter", get=lambda c: c.symbol, width=12, share=0.07),
        Column(
            key="monitoring_point",
            title="Monitoring point No.",
            label="Point No.",
            get=lambda c: c.monitoring_point,
            width=14,
            share=0.07,
        ),
        Column(
            key="start",
            title="Start (UTC)",
            kind="time",
            get=lambda c: c.start,
            width=22,
            media=NOT_PDF,
        ),
        Column(
            key="end", title="End (UTC)", kind="time", get=lambda c: c.end, width=22, media=NOT_PDF
        ),
        Column(
            title="Start / end (UTC)",
            get=lambda c: f"{fmt_time(c.start)}\n{fmt_time(c.end)}",
            share=0.13,
            media=PDF,
        ),
        Column(
            key="delta",
            title="Change of value",
            label="Change",
            kind="value",
            get=lambda c: c.delta,
            unit=lambda c: c.unit,
            width=16,
            share=0.08,
        ),
        Column(key="unit", title="Unit", get=lambda c: c.unit, width=9, media=NOT_PDF),
        Column(
            key="effect_tco2",
            title="Effect on ER (tCO2)",
            kind="value",
            fixed_unit="tCO2",
            get=lambda c: c.effect_tco2,
            width=16,
            media=NOT_PDF,
        ),
        Column(
            title="Effect on ER",
            kind="tco2",
            get=lambda c: c.effect_tco2,
            unit=lambda _: "tCO2",
            share=0.08,
            media=PDF,
        ),
        Column(key="rule", title="Rule applied", get=lambda c: c.rule, width=36, share=0.2),
        Column(key="note", title="Note", get=lambda c: c.note, width=48, share=0.24),
    ),
)

CROSS_CHECKS = Table[CrossCheck](
    id="cross_checks",
    title="Cross-checks (meter against invoices)",
    sheet="Cross-checks",
    empty="No cross-checks in the monitoring period.",
    rows=lambda r: r.cross_checks,
    all_columns=(
        Column(key="symbol", title="Parameter", get=lambda x: x.symbol, width=12, share=0.07),
        Column(
            key="monitoring_point",
            title="Monitoring point No.",
            label="Point No.",
            get=lambda x: x.monitoring_point,
            width=14,
            share=0.07,
        ),
        Column(
            key="start",
            title="Start (UTC)",
            kind="time",
            get=lambda x: x.start,
            width=22,
            media=NOT_PDF,
        ),
        Column(
            key="end", title="End (UTC)", kind="time", get=lambda x: x.end, width=22, media=NOT_PDF
        ),
        Column(
            title="Start / end (UTC)",
            get=lambda x: f"{fmt_time(x.start)}\n{fmt_time(x.end)}",
            share=0.13,
            media=PDF,
        ),
        Column(
            key="meter_value",
            title="Meter value",
            label="Meter",
            kind="value",
            get=lambda x: x.meter_value,
            unit=lambda x: x.unit,
            width=16,
            share=0.09,
        ),
        Column(
            key="invoice_value",
            title="Invoice value",
            label="Invoices",
            kind="value",
            get=lambda x: x.invoice_value,
            unit=lambda x: x.unit,
            width=16,
            share=0.09,
        ),
        Column(key="unit", title="Unit", get=lambda x: x.unit, width=9, media=NOT_PDF),
        Column(
            key="difference_pct",
            title="Difference (%)",
            short="Diff. (%)",
            kind="percent",
            get=lambda x: x.difference_pct,
            width=14,
            share=0.06,
        ),
        Column(
            key="used", title="Value used", label="Used", get=lambda x: x.used, width=14, share=0.07
        ),
        Column(
            key="invoices",
            title="Invoices",
            label="Invoice ids",
            description="Ids of the invoices (manual entries), ';' between.",
            get=lambda x: x.invoices,
            width=30,
            share=0.14,
        ),
        Column(key="note", title="Note", get=lambda x: x.note, width=48, share=0.28),
    ),
)

FINDINGS = Table[Finding](
    id="findings",
    title="Findings",
    sheet="Findings",
    empty="No findings: no correction, gap, replacement or open quarantine item.",
    rows=lambda r: r.findings,
    all_columns=(
        Column(key="id", title="Id", get=lambda f: f.id, width=8, share=0.05),
        Column(key="kind", title="Kind", get=lambda f: f.kind, width=14, share=0.09),
        Column(key="severity", title="Severity", get=lambda f: f.severity, width=10, share=0.07),
        Column(key="symbol", title="Parameter", get=lambda f: f.symbol, width=12, share=0.07),
        Column(
            key="monitoring_point",
            title="Monitoring point No.",
            label="Point No.",
            get=lambda f: f.monitoring_point,
            width=14,
            share=0.07,
        ),
        Column(
            key="effect_tco2",
            title="Effect on ER (tCO2)",
            label="Effect on ER",
            kind="tco2",
            get=lambda f: f.effect_tco2,
            unit=lambda _: "tCO2",
            width=16,
            share=0.09,
        ),
        Column(
            key="tco2",
            title="Tonnes at stake (tCO2)",
            kind="tco2",
            get=lambda f: f.tco2,
            width=16,
            media=NOT_PDF,
        ),
        Column(key="summary", title="Finding", get=lambda f: f.summary, width=80, share=0.42),
        Column(
            key="evidence",
            title="Evidence",
            get=lambda f: (
                [e.key for e in f.evidence[:12]]
                + ([f"and {len(f.evidence) - 12} more"] if len(f.evidence) > 12 else [])
            ),
            width=40,
            share=0.14,
        ),
    ),
)


@dataclass(frozen=True)
class EvidenceLine:
    """One link of a finding to its evidence."""

    finding: Finding
    evidence: Evidence


FINDING_EVIDENCE = Table[EvidenceLine](
    id="finding_evidence",
    title="Evidence behind the findings",
    sheet="Evidence",
    empty="No evidence links (no findings).",
    rows=lambda r: [EvidenceLine(f, e) for f in r.findings for e in f.evidence],
    all_columns=(
        Column(key="finding", title="Finding", get=lambda x: x.finding.id, width=8, share=0.08),
        Column(key="kind", title="Kind", get=lambda x: x.evidence.kind, width=12, share=0.1),
        Column(key="key", title="Key", get=lambda x: x.evidence.key, width=36, share=0.3),
        Column(key="role", title="Role", get=lambda x: x.evidence.role, width=24, share=0.18),
        Column(key="time", title="Time (UTC)", get=lambda x: x.evidence.time, width=22, share=0.16),
        Column(
            key="value",
            title="Value",
            kind="value",
            get=lambda x: x.evidence.value,
            unit=lambda x: x.evidence.unit or "",
            width=16,
            share=0.18,
        ),
        Column(key="unit", title="Unit", get=lambda x: x.evidence.unit, width=9, media=NOT_PDF),
    ),
)

MESSAGES = Table[Message](
    id="messages",
    title="Messages",
    sheet="Messages",
    empty="No messages.",
    rows=lambda r: r.messages,
    all_columns=(
        Column(key="severity", title="Severity", get=lambda f: f.severity, width=10, share=0.08),
        Column(key="symbol", title="Parameter", get=lambda f: f.symbol, width=12, share=0.08),
        Column(
            key="monitoring_point",
            title="Monitoring point No.",
            label="Point No.",
            get=lambda f: f.monitoring_point,
            width=14,
            share=0.08,
        ),
        Column(key="message", title="Message", get=lambda f: f.message, width=90, share=0.76),
    ),
)


# --- the inputs of each step -------------------------------------------------------------


def _point_columns(share: float) -> tuple[Column[Any], Column[Any]]:
    """The parameter and monitoring point a row of a point's inputs belongs to (rows with
    a ``point``: PointInputs)."""
    return (
        Column(
            key="symbol", title="Parameter", get=lambda x: x.point.symbol, width=12, share=share
        ),
        Column(
            key="monitoring_point",
            title="Monitoring point No.",
            label="Point No.",
            get=lambda x: x.point.monitoring_point,
            width=14,
            share=share,
        ),
    )


@dataclass(frozen=True)
class PointReading:
    """A reading a monitoring point's figure rests on."""

    point: PointInputs
    reading: ReadingRef


REGISTER_READINGS = Table[PointReading](
    id="register_readings",
    title="Register readings behind each total (bracketing the period, resets, rollovers)",
    sheet="Register readings",
    empty="No register readings (no cumulative meters).",
    rows=lambda r: [PointReading(p, x) for p in r.point_inputs for x in p.readings],
    all_columns=(
        *_point_columns(0.09),
        Column(key="key", title="Reading", get=lambda x: x.reading.key, width=36, share=0.27),
        Column(key="time", title="Time (UTC)", get=lambda x: x.reading.time, width=22, share=0.17),
        Column(
            key="value",
            title="Register value",
            kind="value",
            get=lambda x: x.reading.value,
            unit=lambda x: x.reading.unit,
            width=18,
            share=0.2,
        ),
        Column(key="unit", title="Unit", get=lambda x: x.reading.unit, width=9, media=NOT_PDF),
        Column(key="role", title="Role", get=lambda x: x.reading.role, width=20, share=0.18),
    ),
)


@dataclass(frozen=True)
class PointDay:
    """A monitoring point's subtotal over one UTC day."""

    point: PointInputs
    day: DailySubtotal


DAILY_SUBTOTALS = Table[PointDay](
    id="daily_subtotals",
    title="Daily subtotals per monitoring point (before calibration and gap corrections)",
    sheet="Daily subtotals",
    empty="No monitored series.",
    rows=lambda r: [PointDay(p, d) for p in r.point_inputs for d in p.daily],
    all_columns=(
        *_point_columns(0.12),
        Column(key="device", title="Device", get=lambda x: x.point.device, width=18, share=0.16),
        Column(
            key="day", title="Day (UTC)", get=lambda x: x.day.day.isoformat(), width=12, share=0.12
        ),
        Column(
            key="aggregate",
            title="Aggregate",
            get=lambda x: "mean" if x.point.aggregate == "mean" else "amount",
            width=10,
            share=0.1,
        ),
        Column(
            key="value",
            title="Subtotal",
            kind="value",
            get=lambda x: x.day.value,
            unit=lambda x: x.point.unit,
            width=18,
            share=0.2,
        ),
        Column(key="unit", title="Unit", get=lambda x: x.point.unit, width=12, media=NOT_PDF),
        Column(
            key="readings",
            title="Readings",
            kind="integer",
            get=lambda x: x.day.readings,
            width=10,
            share=0.18,
        ),
    ),
)

PARAMETER_INPUTS = Table[ParameterInput](
    id="parameter_values",
    title="Fixed values used (plan and methodology table)",
    sheet="Parameter values",
    empty="No fixed values.",
    rows=lambda r: r.parameter_inputs,
    all_columns=(
        Column(key="symbol", title="Parameter", get=lambda x: x.symbol, width=14, share=0.12),
        Column(
            key="value", title="Value", kind="value", get=lambda x: x.value, width=14, share=0.12
        ),
        Column(key="unit", title="Unit", get=lambda x: x.unit, width=14, share=0.12),
        Column(key="source", title="Source", get=lambda x: x.source, width=60, share=0.36),
        Column(key="version", title="Version", get=lambda x: x.version, width=36, share=0.18),
        Column(key="status", title="Status", get=lambda x: x.status, width=12, share=0.1),
    ),
)

EVENTS = Table[EventRow](
    id="events",
    title="Data-quality events",
    sheet="Events",
    empty="No data-quality events.",
    rows=lambda r: r.events,
    all_columns=(
        Column(
            key="time", title="Time (UTC)", kind="time", get=lambda e: e.time, width=22, share=0.14
        ),
        Column(key="device", title="Device", get=lambda e: e.device, width=18, share=0.12),
        Column(key="quantity", title="Quantity", get=lambda e: e.quantity, width=18, share=0.12),
        Column(key="kind", title="Kind", get=lambda e: e.kind, width=16, share=0.1),
        # Machines read the object as JSON; people read its fields.
        Column(key="detail", title="Detail", get=lambda e: detail_json(e.detail), media=CSV),
        Column(
            key="detail",
            title="Detail",
            get=lambda e: detail_text(e.detail),
            width=80,
            share=0.52,
            media=ALL - CSV,
        ),
    ),
)

#: The tables after the summary, charts and totals, in every format's order.
DETAILS: tuple[ReportTable, ...] = (
    GAPS,
    CORRECTIONS,
    CROSS_CHECKS,
    FINDINGS,
    FINDING_EVIDENCE,
    MESSAGES,
    PARAMETER_INPUTS,
    REGISTER_READINGS,
    DAILY_SUBTOTALS,
    EVENTS,
)
