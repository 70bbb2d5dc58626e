"""The monitoring report as one self-contained HTML page.

Sections: summary, parameters (the MRS input table), calculation, one inline SVG chart
per series (gaps shaded red, corrections orange, see :mod:`verification.render.charts`),
gaps, corrections, cross-checks, findings, data-quality events. No scripts, no external
style sheets, fonts or images: the page is complete on its own and prints as is.

Determinism: the SVGs carry no date (``metadata={"Date": None}``) and their element ids
come from a fixed ``svg.hashsalt``; each chart's ids are then prefixed with the chart's
number so that several SVGs can live in one document without clashing ids.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from html import escape

from verification.render import (
    MRS_COLUMNS,
    ChartSeries,
    fmt_num,
    mrs_display_row,
    ordered_series,
    period_label,
)
from verification.render.charts import chart_caption, chart_figure, mpl_context
from verification.report_model import Report

_STYLE = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; font-size: 13px;
       color: #1a1a1a; margin: 24px auto; max-width: 1200px; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin-top: 28px; border-bottom: 2px solid #1f4e79; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th { background: #1f4e79; color: #fff; text-align: left; vertical-align: bottom; }
th, td { border: 1px solid #a6a6a6; padding: 3px 6px; vertical-align: top; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
table.summary th { background: #ddebf7; color: #1a1a1a; width: 22%; }
tr.result td { font-weight: bold; background: #ddebf7; }
td.hash { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; word-break: break-all; }
figure { margin: 16px 0; page-break-inside: avoid; }
figure svg { width: 100%; height: auto; }
figcaption { font-size: 12px; color: #404040; }
.legend-gap { color: #d62728; font-weight: bold; }
.legend-correction { color: #e06a00; font-weight: bold; }
p.none { font-style: italic; color: #595959; }
footer { margin-top: 32px; font-size: 11px; color: #595959; }
"""

_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(href="#|url\(#)([^")]+)')


def _e(value: object) -> str:
    return escape("" if value is None else str(value))


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    numeric: Sequence[int] = (),
    empty: str = "None.",
) -> str:
    """An HTML table of escaped text; ``numeric`` column indexes are right-aligned, and
    an empty table becomes the ``empty`` sentence."""
    if not rows:
        return f'<p class="none">{_e(empty)}</p>\n'
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    out = ["<table>", f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            cls = ' class="num"' if i in numeric else ""
            cells.append(f"<td{cls}>{_e(cell)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out) + "\n"


def _inline_svg(svg: str, prefix: str) -> str:
    """matplotlib's SVG document as an element for inlining: without the XML prolog and
    with every id (and reference to one) prefixed, since ids are page-global in HTML and
    matplotlib reuses glyph ids such as ``DejaVuSans-30`` in every chart."""
    svg = svg[svg.index("<svg") :]
    svg = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', svg)
    return _REF.sub(lambda m: f"{m.group(1)}{prefix}{m.group(2)}", svg)


def _charts(report: Report, series: Mapping[str, ChartSeries]) -> str:
    charts = ordered_series(report, series)
    if not charts:
        return '<p class="none">No series were supplied for charting.</p>\n'
    parts = [
        '<p>Shading: <span class="legend-gap">red = data gap</span>, '
        '<span class="legend-correction">orange = correction</span> '
        "(labelled with its id). Lines break where readings are missing.</p>"
    ]
    with mpl_context(f"html-{report.inputs_sha256}"):
        for i, s in enumerate(charts, 1):
            fig = chart_figure(report, s)
            buffer = io.StringIO()
            fig.savefig(buffer, format="svg", metadata={"Date": None})
            svg = _inline_svg(buffer.getvalue(), f"c{i}-")
            caption = f"Chart {i}. {s.monitoring_point}: {s.symbol} [{s.unit}]; " + chart_caption(
                report, s
            )
            parts.append(
                f'<figure id="chart-{i}">\n{svg}\n<figcaption>{_e(caption)}</figcaption>\n</figure>'
            )
    return "\n".join(parts) + "\n"


def _summary(report: Report) -> str:
    p, m, er = report.project, report.methodology, report.emission_reductions_tco2
    rows: list[tuple[str, str, str]] = [
        ("Project", f"{p.name} ({p.id})", ""),
        ("Host country", p.host_country, ""),
        ("Methodology", f"{m.id} version {m.version}: {m.title}", ""),
        ("Monitoring period", period_label(report), ""),
        ("Period (UTC)", f"{report.period.start_utc} to {report.period.end_utc} (end excl.)", ""),
        ("Reference emissions RE_p", f"{fmt_num(report.reference_emissions_tco2, 3)} tCO2", ""),
        ("Project emissions PE_p", f"{fmt_num(report.project_emissions_tco2, 3)} tCO2", ""),
        ("Emission reductions ER_p (unrounded)", f"{fmt_num(er.unrounded, 3)} tCO2", ""),
        (
            "Emission reductions ER_p (rounded)",
            f"{fmt_num(er.value, 3)} tCO2 ({er.rounding})",
            "result",
        ),
    ]
    a = report.credit_allocation
    if a is None:
        rows.append(("Credit allocation", "not stated in the monitoring plan", ""))
    else:
        rows += [
            (
                f"Credits to {p.host_country}",
                f"{a.partner_country:,} ({a.partner_country_share:.2%})",
                "",
            ),
            ("Credits to Japan", f"{a.japan:,} ({a.japan_share:.2%})", ""),
            ("Allocation rule", a.rule, ""),
        ]
    rows += [
        ("Gap rules", m.gap_rules, ""),
        ("Monitoring plan", f"version {p.plan_version}, sha256 {p.plan_sha256}", "hash"),
        ("Methodology table sha256", m.table_sha256, "hash"),
        ("inputs_sha256", report.inputs_sha256, "hash"),
        ("Software", report.software, ""),
    ]
    out = ['<table class="summary"><tbody>']
    for label, value, kind in rows:
        tr = ' class="result"' if kind == "result" else ""
        td = ' class="hash"' if kind == "hash" else ""
        out.append(f"<tr{tr}><th>{_e(label)}</th><td{td}>{_e(value)}</td></tr>")
    out.append("</tbody></table>")
    return "\n".join(out) + "\n"


def render_html(report: Report, series: Mapping[str, ChartSeries]) -> bytes:
    """Render the report as a self-contained HTML page (UTF-8) with inline SVG charts."""
    title = f"Monitoring report {report.project.id} {period_label(report)}"
    body: list[str] = [
        f"<h1>JCM monitoring report: {_e(report.project.name)}</h1>",
        f"<p>{_e(period_label(report))}</p>",
        '<section id="summary"><h2>Summary</h2>',
        _summary(report),
        "</section>",
        '<section id="parameters"><h2>Parameters (Monitoring Report Sheet input)</h2>',
        _table(
            MRS_COLUMNS[1:],  # the period is the same for every row and stated above
            [mrs_display_row(r) for r in report.parameters],
            numeric=(3,),
            empty="No parameters.",
        ),
        "</section>",
        '<section id="calculation"><h2>Calculation</h2>',
        _table(
            ("Step", "Calculation", "Formula", "Value", "Unit"),
            [
                (str(i), c.label, c.formula, fmt_num(c.value), c.unit)
                for i, c in enumerate(report.calculation, 1)
            ],
            numeric=(0, 3),
            empty="No calculation steps.",
        ),
        "</section>",
        '<section id="charts"><h2>Monitored series</h2>',
        _charts(report, series),
        "</section>",
        '<section id="gaps"><h2>Data gaps</h2>',
        _table(
            (
                "Id",
                "Parameter",
                "Point No.",
                "Device",
                "Start (UTC)",
                "End (UTC)",
                "Hours",
                "Rule applied",
                "Note",
            ),
            [
                (
                    g.id,
                    g.symbol,
                    g.monitoring_point,
                    g.device,
                    g.start,
                    g.end,
                    fmt_num(g.hours, 2),
                    g.rule,
                    g.note,
                )
                for g in report.gaps
            ],
            numeric=(6,),
            empty="No data gaps in the monitoring period.",
        ),
        "</section>",
        '<section id="corrections"><h2>Corrections</h2>',
        _table(
            (
                "Id",
                "Kind",
                "Parameter",
                "Point No.",
                "Start (UTC)",
                "End (UTC)",
                "Change",
                "Unit",
                "Effect on ER (tCO2)",
                "Rule applied",
                "Note",
            ),
            [
                (
                    c.id,
                    c.kind,
                    c.symbol,
                    c.monitoring_point or "",
                    c.start,
                    c.end,
                    fmt_num(c.delta),
                    c.unit,
                    fmt_num(c.effect_tco2),
                    c.rule,
                    c.note,
                )
                for c in report.corrections
            ],
            numeric=(6, 8),
            empty="No corrections applied.",
        ),
        "</section>",
        '<section id="cross-checks"><h2>Cross-checks (meter against invoices)</h2>',
        _table(
            (
                "Parameter",
                "Point No.",
                "Start (UTC)",
                "End (UTC)",
                "Meter",
                "Invoices",
                "Unit",
                "Difference (%)",
                "Used",
                "Invoice ids",
                "Note",
            ),
            [
                (
                    x.symbol,
                    x.monitoring_point,
                    x.start,
                    x.end,
                    fmt_num(x.meter_value),
                    fmt_num(x.invoice_value),
                    x.unit,
                    fmt_num(x.difference_pct, 4),
                    x.used,
                    ", ".join(x.invoices),
                    x.note,
                )
                for x in report.cross_checks
            ],
            numeric=(4, 5, 7),
            empty="No cross-checks in the monitoring period.",
        ),
        "</section>",
        '<section id="findings"><h2>Findings</h2>',
        _table(
            ("Severity", "Parameter", "Point No.", "Message"),
            [(f.severity, f.symbol, f.monitoring_point or "", f.message) for f in report.findings],
            empty="No findings.",
        ),
        "</section>",
        '<section id="events"><h2>Data-quality events</h2>',
        _table(
            ("Time (UTC)", "Device", "Quantity", "Kind", "Detail"),
            [(e.time, e.device, e.quantity, e.kind, e.detail) for e in report.events],
            empty="No data-quality events.",
        ),
        "</section>",
        f"<footer>{_e(report.software)}; inputs_sha256 {_e(report.inputs_sha256)}</footer>",
    ]
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
    return page.encode("utf-8")
