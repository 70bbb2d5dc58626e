"""The monitoring report as a PDF (matplotlib's PdfPages), A4 landscape.

Pages, in order:

1. summary: project, methodology, period, RE / PE / ER (unrounded and rounded), credit
   allocation, hashes; then the MRS parameter table and the calculation steps (continued
   on further pages when they do not fit);
2. one page per chart series (see :mod:`verification.render.charts`);
3. tables: gaps, corrections, cross-checks, findings, data-quality events.

Every page carries a header (project, period) and a footer (inputs_sha256, page i of n).
Determinism: the document info has no ``CreationDate`` and the producer is fixed by the
matplotlib version; everything drawn is a function of the report.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from functools import lru_cache

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.textpath import TextToPath

from verification.render import ChartSeries
from verification.render.charts import chart_figure, mpl_context, ordered_series
from verification.render.tables import CALCULATION, DETAILS, PARAMETERS, Heading, ReportTable
from verification.render.text import (
    checkpoint_label,
    document_title,
    fmt_num,
    methodology_label,
    methodology_version,
    period_label,
    period_utc_label,
    plan_label,
    project_label,
)
from verification.report_model import Report

PAGE = (11.69, 8.27)  # A4 landscape, inches
LEFT, RIGHT = 0.04, 0.96
TOP, BOTTOM = 0.925, 0.065
TABLE_FONT = 7.0
BODY_FONT = 8.5
FONT_FAMILY = "DejaVu Sans"
#: Line pitch and first baseline below a block's top, in font sizes.
LINE_EM, ASCENT_EM = 1.3, 1.0
#: Space between a table cell's text and its column edge, in points.
CELL_PAD_PT = 2.5
#: Longest a table cell may wrap to; longer text is cut with an ellipsis (the CSV, XLSX
#: and JSON carry it whole).
MAX_CELL_LINES = 8
#: Smallest font a table cell shrinks to so that a number, an instant or an id keeps to
#: one line rather than wrapping (a verifier misreads "2026-12-06 / 23:59" or a number
#: split over two lines); only what is wider than this at its column wraps.
MIN_CELL_FONT = 5.0

_TEXT_TO_PATH = TextToPath()


def _em(fontsize: float) -> float:
    """One font size as a fraction of the page height."""
    return fontsize / 72 / PAGE[1]


def _line_height(fontsize: float) -> float:
    """Pitch of text lines as a fraction of the page height."""
    return LINE_EM * _em(fontsize)


@lru_cache(maxsize=8192)
def _text_width(text: str, fontsize: float, bold: bool) -> float:
    """Width of a line of text in points, from the font's own metrics (the same font
    files the PDF embeds), so wrapped text fits its column whatever the characters."""
    prop = FontProperties(family=FONT_FAMILY, size=fontsize, weight="bold" if bold else "normal")
    width, _, _ = _TEXT_TO_PATH.get_text_width_height_descent(text, prop, ismath=False)
    return float(width)


def _wrap(text: str, width_pt: float, fontsize: float, bold: bool = False) -> list[str]:
    """Greedy word wrap to ``width_pt``; a word wider than the column (a hash, a long
    id) is broken between characters. At most MAX_CELL_LINES lines."""

    def fits(line: str) -> bool:
        return _text_width(line, fontsize, bold) <= width_pt

    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        current = ""
        for word in paragraph.split():
            candidate = f"{current} {word}" if current else word
            if fits(candidate):
                current = candidate
                continue
            if current:
                lines.append(current)
            while len(word) > 1 and not fits(word):
                # Longest prefix that fits (at least one character), by bisection.
                lo, hi = 1, len(word) - 1
                while lo < hi:
                    mid = (lo + hi + 1) // 2
                    lo, hi = (mid, hi) if fits(word[:mid]) else (lo, mid - 1)
                lines.append(word[:lo])
                word = word[lo:]
            current = word
        lines.append(current)
    if len(lines) > MAX_CELL_LINES:
        last = lines[MAX_CELL_LINES - 1]
        while last and not fits(last + "…"):
            last = last[:-1]
        lines = [*lines[: MAX_CELL_LINES - 1], last + "…"]
    return lines


def _draw_lines(
    fig: Figure,
    x: float,
    top: float,
    lines: Sequence[str],
    fontsize: float,
    *,
    ha: str = "left",
    color: str = "black",
    weight: str = "normal",
    italic: bool = False,
) -> None:
    """Draw lines of text below ``top``, one Text per line on computed baselines.

    Baselines are placed explicitly because matplotlib's ``va="top"`` puts a line's
    baseline in a place that depends on the line's own descenders, which makes a row of
    cells ("G1", "EG_i,p") visibly ragged.
    """
    for k, line in enumerate(lines):
        y = top - ASCENT_EM * _em(fontsize) - k * _line_height(fontsize)
        fig.text(
            x,
            y,
            line,
            fontsize=fontsize,
            ha=ha,
            va="baseline",
            color=color,
            fontweight=weight,
            fontstyle="italic" if italic else "normal",
        )


def _points(fraction_of_width: float) -> float:
    return fraction_of_width * PAGE[0] * 72


def _cell_width(column: Heading) -> float:
    """Room for a table cell's text in points: the column less its padding."""
    return _points(column.share * (RIGHT - LEFT)) - 2 * CELL_PAD_PT


def _atomic(column: Heading) -> bool:
    """Cells that must not wrap within a line: numbers and instants."""
    return column.kind != "text"


def cell_layout(text: str, column: Heading, header: bool = False) -> tuple[list[str], float]:
    """A table cell's lines and font size. Each of its paragraphs keeps to one line
    when the column is numeric or an instant, and each word stays whole, at the table's
    font or smaller down to MIN_CELL_FONT; only text that does not fit even then wraps
    (by words, and a word wider than the column between characters)."""
    width = _cell_width(column)
    paragraphs = text.splitlines() or [""]
    units = paragraphs if _atomic(column) and not header else text.split()
    widest = max((_text_width(u, TABLE_FONT, header) for u in units), default=0.0)
    size = TABLE_FONT
    if widest > width:
        size = max(MIN_CELL_FONT, TABLE_FONT * width / widest)
        # a glyph's advance does not scale exactly with the size: settle on one that fits
        while size > MIN_CELL_FONT and max(_text_width(u, size, header) for u in units) > width:
            size = max(MIN_CELL_FONT, size - 0.1)
    return _wrap(text, width, size, header), size


class _Pages:
    """Lays text blocks and tables out top to bottom, starting new pages as needed."""

    def __init__(self) -> None:
        self.figures: list[Figure] = []
        self.y = BOTTOM  # forces a page at the first draw

    @property
    def fig(self) -> Figure:
        return self.figures[-1]

    def new_page(self) -> None:
        fig = Figure(figsize=PAGE)
        FigureCanvasAgg(fig)
        self.figures.append(fig)
        self.y = TOP

    def _room(self, height: float) -> bool:
        return self.y - height >= BOTTOM

    def title(self, text: str, size: float = 15.0) -> None:
        if not self._room(_line_height(size) * 2):
            self.new_page()
        _draw_lines(self.fig, LEFT, self.y, [text], size, weight="bold")
        self.y -= _line_height(size) * 1.2

    def heading(self, text: str, keep_with: float = 0.0) -> None:
        """A section heading, moved to a new page if it would end up alone at the bottom."""
        size = 11.0
        if not self._room(_line_height(size) * 1.6 + keep_with):
            self.new_page()
        self.y -= _line_height(size) * 0.4
        _draw_lines(self.fig, LEFT, self.y, [text], size, weight="bold")
        self.y -= _line_height(size) * 1.2

    def fields(self, rows: Sequence[tuple[str, str]], label_width: float = 0.17) -> None:
        """Label / value lines (the summary block)."""
        value_x = LEFT + label_width * (RIGHT - LEFT)
        for label, value in rows:
            lines = _wrap(value, _points(RIGHT - value_x), BODY_FONT)
            height = _line_height(BODY_FONT) * len(lines)
            if not self._room(height):
                self.new_page()
            _draw_lines(self.fig, LEFT, self.y, [label], BODY_FONT, weight="bold")
            _draw_lines(self.fig, value_x, self.y, lines, BODY_FONT)
            self.y -= height

    def note(self, text: str) -> None:
        if not self._room(_line_height(BODY_FONT)):
            self.new_page()
        _draw_lines(self.fig, LEFT, self.y, [text], BODY_FONT, italic=True)
        self.y -= _line_height(BODY_FONT) * 1.2

    def _row(self, columns: Sequence[Heading], cells: Sequence[str], header: bool) -> float:
        """Draw one table row at the current position; returns its height."""
        lh = _line_height(TABLE_FONT)
        pad_x = CELL_PAD_PT / 72 / PAGE[0]
        laid = [
            cell_layout(text, column, header) for text, column in zip(cells, columns, strict=True)
        ]
        height = self._height(laid)
        if header:
            self.fig.add_artist(
                Rectangle(
                    (LEFT, self.y - height),
                    RIGHT - LEFT,
                    height,
                    transform=self.fig.transFigure,
                    facecolor="#1f4e79",
                    edgecolor="none",
                )
            )
        x = LEFT
        top = self.y - lh * 0.1
        color, weight = ("white", "bold") if header else ("black", "normal")
        for column, (lines, size) in zip(columns, laid, strict=True):
            w = column.share * (RIGHT - LEFT)
            right = column.numeric
            _draw_lines(
                self.fig,
                x + w - pad_x if right else x + pad_x,
                top,
                lines,
                size,
                ha="right" if right else "left",
                color=color,
                weight=weight,
            )
            x += w
        return height

    @staticmethod
    def _height(laid: Sequence[tuple[list[str], float]]) -> float:
        """A row's height: its tallest cell's lines (each at its own size) and padding."""
        lh = _line_height(TABLE_FONT)
        return max(_line_height(size) * len(lines) for lines, size in laid) + lh * 0.35

    def _row_height(self, columns: Sequence[Heading], cells: Sequence[str]) -> float:
        return self._height(
            [cell_layout(text, column) for text, column in zip(cells, columns, strict=True)]
        )

    def table(self, table: ReportTable, report: Report) -> None:
        """A table under a heading; rows never split, the header repeats on a new page."""
        columns = table.columns("pdf")
        header = table.headers("pdf")
        rows = table.texts(report, "pdf")
        self.heading(table.title, keep_with=_line_height(TABLE_FONT) * 5)
        if not rows:
            self.note(table.empty)
            return
        self.y -= self._row(columns, header, header=True)
        for row in rows:
            if not self._room(self._row_height(columns, row)):
                self.new_page()
                self.heading(f"{table.title} (continued)")
                self.y -= self._row(columns, header, header=True)
            self.y -= self._row(columns, row, header=False)
            self.fig.add_artist(
                Line2D(
                    [LEFT, RIGHT],
                    [self.y, self.y],
                    transform=self.fig.transFigure,
                    linewidth=0.3,
                    color="#a6a6a6",
                )
            )


def _tco2(value: float) -> str:
    return f"{fmt_num(value, 3)} tCO2"


def _summary(report: Report, pages: _Pages) -> None:
    p, m, er = report.project, report.methodology, report.emission_reductions_tco2
    pages.new_page()
    pages.title("JCM monitoring report")
    fields = [
        ("Project", project_label(report)),
        ("Host country", p.host_country),
        ("Methodology", methodology_label(report)),
        ("Monitoring period", period_label(report)),
        ("Period (UTC)", period_utc_label(report)),
        ("Reference emissions", _tco2(report.reference_emissions_tco2)),
        ("Project emissions", _tco2(report.project_emissions_tco2)),
        ("Emission reductions", f"{_tco2(er.unrounded)} unrounded"),
        ("ER (rounded)", f"{fmt_num(er.value, 3)} tCO2 ({er.rounding})"),
    ]
    a = report.credit_allocation
    if a is None:
        fields.append(("Credit allocation", "not stated in the monitoring plan"))
    else:
        fields.append(
            (
                "Credit allocation",
                f"{p.host_country}: {a.partner_country:,} ({a.partner_country_share:.2%}); "
                f"Japan: {a.japan:,} ({a.japan_share:.2%}); rule: {a.rule}",
            )
        )
    fields += [
        ("Gap rules", m.gap_rules),
        ("Monitoring plan", plan_label(report)),
        ("Audit checkpoint", checkpoint_label(report)),
        ("Methodology table", f"sha256 {m.table_sha256}"),
        ("inputs_sha256", report.inputs_sha256),
        ("Software", report.software),
    ]
    pages.fields(fields)
    pages.table(PARAMETERS, report)
    pages.table(CALCULATION, report)


def _details(report: Report, pages: _Pages) -> None:
    pages.new_page()
    for table in DETAILS:
        pages.table(table, report)


def _frame(fig: Figure, report: Report, page: int, total: int) -> None:
    """Page header and footer."""
    lines = _wrap(
        f"{project_label(report)}: monitoring period {period_label(report)}",
        _points(RIGHT - LEFT),
        7.5,
    )
    # One line only: a very long project name is cut rather than run into the page.
    header = lines[0] + ("…" if len(lines) > 1 else "")
    fig.text(LEFT, 0.975, header, fontsize=7.5, color="#595959", va="top")
    fig.text(
        LEFT,
        0.025,
        f"inputs_sha256 {report.inputs_sha256}",
        fontsize=6.5,
        color="#595959",
        va="bottom",
    )
    fig.text(RIGHT, 0.025, f"page {page} of {total}", fontsize=7, color="#595959", ha="right")


def render_pdf(report: Report, series: Mapping[str, ChartSeries]) -> bytes:
    """Render the report as a PDF: summary and parameter table, one page per chart
    series, then the gap, correction, cross-check, finding and event tables."""
    charts = ordered_series(report, series)
    buffer = io.BytesIO()
    metadata = {
        "Title": document_title(report),
        "Subject": methodology_version(report),
        "Keywords": f"inputs_sha256={report.inputs_sha256}",
        "Creator": report.software,
        # None drops the clock time matplotlib would write (and SOURCE_DATE_EPOCH).
        "CreationDate": None,
    }
    with mpl_context(f"pdf-{report.inputs_sha256}"):
        summary, details = _Pages(), _Pages()
        _summary(report, summary)
        _details(report, details)
        total = len(summary.figures) + len(charts) + len(details.figures)
        with PdfPages(buffer, metadata=metadata) as pdf:
            page = 0
            for fig in summary.figures:
                page += 1
                _frame(fig, report, page, total)
                pdf.savefig(fig)
            for i, s in enumerate(charts, 1):
                page += 1
                # Built one at a time: only one chart's artists are alive at once.
                fig = chart_figure(
                    report,
                    s,
                    figsize=PAGE,
                    title_prefix=f"Chart {i} of {len(charts)}. ",
                    rect=(LEFT - 0.03, BOTTOM, RIGHT - LEFT + 0.06, TOP - BOTTOM),
                )
                _frame(fig, report, page, total)
                pdf.savefig(fig)
            for fig in details.figures:
                page += 1
                _frame(fig, report, page, total)
                pdf.savefig(fig)
    return buffer.getvalue()
