"""Render a monitoring :class:`~verification.report_model.Report` to JSON, CSV, XLSX, PDF
or HTML.

Every renderer is a pure function of the report (and, for PDF and HTML, of the chart
series): nothing depends on the clock, the host or dictionary order, so the same report
gives the same bytes. The format modules are imported lazily by :func:`render` so that a
CSV or JSON export never pays for importing matplotlib or openpyxl.

The report's tables are declared once, in :mod:`verification.render.tables`, and every
format renders that declaration; :class:`ChartSeries` is what the PDF and HTML chart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from verification.render.formats import FORMATS, Format
from verification.render.tables import MRS_COLUMNS
from verification.report_model import Report

__all__ = ["FORMATS", "MRS_COLUMNS", "ChartSeries", "Format", "render"]


@dataclass(frozen=True, eq=False)
class ChartSeries:
    """One monitored series to chart: ``values`` (in ``unit``, the parameter's unit) at
    ``times_ms`` (Unix epoch milliseconds, UTC). With ``daily`` the values are amounts per
    UTC day (``times_ms`` the days' starts, NaN for a day without data; see
    :mod:`verification.render.daily`), drawn as one bar per day; otherwise samples.

    ``eq=False`` keeps identity equality and hashing: the generated ``__eq__`` would
    compare numpy arrays element-wise and fail. The arrays are stored as read-only views
    so a frozen series really cannot change under a renderer.
    """

    monitoring_point: str
    symbol: str
    unit: str
    times_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    daily: bool = False

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
