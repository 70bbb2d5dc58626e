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
from collections.abc import Mapping
from html import escape

from verification.render import ChartSeries
from verification.render.charts import chart_caption, chart_figure, mpl_context, ordered_series
from verification.render.tables import CALCULATION, DETAILS, PARAMETERS, ReportTable
from verification.render.text import (
    checkpoint_label,
    document_title,
    findings_label,
    fmt_num,
    methodology_label,
    period_label,
    period_utc_label,
    plan_label,
    project_label,
)
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


def _table(table: ReportTable, report: Report) -> str:
    """One of the report's tables as a section: escaped text, numbers right-aligned, and
    an empty table as its ``empty`` sentence."""
    section = f'<section id="{table.id.replace("_", "-")}"><h2>{_e(table.title)}</h2>\n'
    rows = table.texts(report, "html")
    if not rows:
        return f'{section}<p class="none">{_e(table.empty)}</p>\n\n</section>'
    head = "".join(f"<th>{_e(h)}</th>" for h in table.headers("html"))
    cls = [' class="num"' if c.numeric else "" for c in table.columns("html")]
    out = ["<table>", f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for row in rows:
        cells = "".join(f"<td{c}>{_e(text)}</td>" for c, text in zip(cls, row, strict=True))
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table>")
    return section + "\n".join(out) + "\n\n</section>"


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
        ("Project", project_label(report), ""),
        ("Host country", p.host_country, ""),
        ("Methodology", methodology_label(report), ""),
        ("Monitoring period", period_label(report), ""),
        ("Period (UTC)", period_utc_label(report, "end excl."), ""),
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
        ("Findings", findings_label(report), "result" if report.findings_headline.material else ""),
        ("Gap rules", m.gap_rules, ""),
        ("Monitoring plan", plan_label(report), "hash"),
        ("Audit checkpoint", checkpoint_label(report), "hash"),
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
    title = document_title(report)
    body: list[str] = [
        f"<h1>JCM monitoring report: {_e(report.project.name)}</h1>",
        f"<p>{_e(period_label(report))}</p>",
        '<section id="summary"><h2>Summary</h2>',
        _summary(report),
        "</section>",
        _table(PARAMETERS, report),
        _table(CALCULATION, report),
        '<section id="charts"><h2>Monitored series</h2>',
        _charts(report, series),
        "</section>",
        *(_table(table, report) for table in DETAILS),
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
