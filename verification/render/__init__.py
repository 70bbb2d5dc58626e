"""Render a monitoring :class:`~verification.report_model.Report` to JSON, CSV, XLSX, PDF
or HTML.

Every renderer is a pure function of the report (and, for PDF and HTML, of the chart
series): nothing depends on the clock, the host or dictionary order, so the same report
gives the same bytes. The format modules are imported lazily by :func:`render` so that a
CSV or JSON export never pays for importing matplotlib or openpyxl.

This module also holds what the formats share: :class:`ChartSeries`, the columns of the
JCM Monitoring Report Sheet (MRS) input table and small formatting helpers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from verification.render.formats import FORMATS, Format
from verification.report_model import Correction, ParameterRow, Report

__all__ = [
    "FORMATS",
    "MRS_COLUMNS",
    "ChartSeries",
    "Format",
    "comments_text",
    "fmt_num",
    "method_text",
    "mrs_row",
    "ordered_series",
    "parse_utc",
    "period_label",
    "render",
]


@dataclass(frozen=True, eq=False)
class ChartSeries:
    """One monitored series to chart: ``values`` (in ``unit``, the parameter's unit) at
    ``times_ms`` (Unix epoch milliseconds, UTC).

    ``eq=False`` keeps identity equality and hashing: the generated ``__eq__`` would
    compare numpy arrays element-wise and fail. The arrays are stored as read-only views
    so a frozen series really cannot change under a renderer.
    """

    monitoring_point: str
    symbol: str
    unit: str
    times_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        times = np.asarray(self.times_ms, dtype=np.int64).view()
        values = np.asarray(self.values, dtype=np.float64).view()
        if times.ndim != 1 or values.ndim != 1:
            raise ValueError("ChartSeries: times_ms and values must be 1-D arrays")
        if times.shape != values.shape:
            raise ValueError(
                f"ChartSeries {self.monitoring_point}/{self.symbol}: "
                f"{times.size} times but {values.size} values"
            )
        times.flags.writeable = False
        values.flags.writeable = False
        object.__setattr__(self, "times_ms", times)
        object.__setattr__(self, "values", values)


def render(
    report: Report,
    fmt: Format,
    series: Mapping[str, ChartSeries] | None = None,
) -> bytes:
    """Render ``report`` in ``fmt``; ``series`` are charted by the PDF and HTML formats
    (one chart each) and ignored by the others."""
    charts = series or {}
    if fmt == "json":
        return report.to_json().encode()
    if fmt == "csv":
        from verification.render.csv_out import render_csv

        return render_csv(report)
    if fmt == "xlsx":
        from verification.render.xlsx import render_xlsx

        return render_xlsx(report)
    if fmt == "pdf":
        from verification.render.pdf import render_pdf

        return render_pdf(report, charts)
    if fmt == "html":
        from verification.render.html import render_html

        return render_html(report, charts)
    raise ValueError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")


# --- shared by the formats -------------------------------------------------------------

#: The MRS input table's columns, in the order of the JCM Monitoring Report Sheet.
MRS_COLUMNS: tuple[str, ...] = (
    "Monitoring period",
    "Monitoring point No.",
    "Parameters",
    "Description of data",
    "Estimated values",
    "Units",
    "Monitoring option",
    "Source of data",
    "Measurement methods and procedures",
    "Monitoring frequency",
    "Other comments",
)


def period_label(report: Report) -> str:
    """The monitoring period as the MRS writes it: inclusive dates, plus its number."""
    p = report.period
    label = f"{p.start.isoformat()} – {p.end.isoformat()}"
    return label if p.number is None else f"{label} (No. {p.number})"


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


def mrs_row(report: Report, row: ParameterRow) -> tuple[str | float | None, ...]:
    """One ParameterRow as the cells of the MRS input table (see :data:`MRS_COLUMNS`).

    The value stays a float (``None`` when no value could be established) so that
    spreadsheets get numbers; the other cells are text.
    """
    return (period_label(report), *mrs_row_cells(row))


def mrs_display_row(row: ParameterRow) -> tuple[str, ...]:
    """The MRS input cells for people (PDF, HTML): no period column (it heads the page),
    the value formatted."""
    cells = [str(c or "") for c in mrs_row_cells(row)]
    cells[3] = fmt_num(row.value)
    return tuple(cells)


def mrs_row_cells(row: ParameterRow) -> tuple[str | float | None, ...]:
    return (
        row.monitoring_point or "",
        row.symbol,
        row.description,
        row.value,
        row.unit,
        row.option,
        row.source,
        method_text(row),
        row.frequency or "",
        comments_text(row),
    )


def correction_cells(c: Correction) -> tuple[str | float | None, ...]:
    """A correction as table cells, numbers kept as numbers (CSV, XLSX)."""
    return (
        c.id,
        c.kind,
        c.symbol,
        c.monitoring_point,
        c.start,
        c.end,
        c.delta,
        c.unit,
        c.effect_tco2,
        c.rule,
        c.note,
    )


def fmt_num(value: float | None, decimals: int = 6) -> str:
    """A number for people: thousands separators, at most ``decimals`` decimals, trailing
    zeros dropped (``100.25``, ``48,797.16``, ``0.533``); ``None`` becomes an em dash."""
    if value is None:
        return "—"
    if not np.isfinite(value):
        return str(value)
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    # -0.0000001 would otherwise show as "-0".
    return "0" if text in ("-0", "") else text


def parse_utc(text: str) -> datetime:
    """An ISO 8601 instant from the report as a naive UTC datetime (naive input is taken
    as UTC, as the report writes every instant in UTC)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def ordered_series(report: Report, series: Mapping[str, ChartSeries]) -> list[ChartSeries]:
    """The series in a fixed order, whatever order the mapping was built in: first in the
    order their (point, symbol) appears in the parameter table, then by mapping key."""
    position: dict[tuple[str | None, str], int] = {}
    for i, row in enumerate(report.parameters):
        position.setdefault((row.monitoring_point, row.symbol), i)
    last = len(report.parameters)

    def key(item: tuple[str, ChartSeries]) -> tuple[int, str]:
        name, s = item
        return (position.get((s.monitoring_point, s.symbol), last), name)

    return [s for _, s in sorted(series.items(), key=key)]
