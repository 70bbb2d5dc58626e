"""Text for people, the same in every format: numbers and the monitoring period."""

from __future__ import annotations

import math

from verification.report_model import Report


def fmt_num(value: float | None, decimals: int = 6) -> str:
    """A number for people: thousands separators, at most ``decimals`` decimals, trailing
    zeros dropped (``100.25``, ``48,797.16``, ``0.533``); ``None`` becomes an em dash."""
    if value is None:
        return "—"
    if not math.isfinite(value):
        return str(value)
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    # -0.0000001 would otherwise show as "-0".
    return "0" if text in ("-0", "") else text


def period_label(report: Report) -> str:
    """The monitoring period as the MRS writes it: inclusive dates, plus its number."""
    p = report.period
    label = f"{p.start.isoformat()} – {p.end.isoformat()}"
    return label if p.number is None else f"{label} (No. {p.number})"


def document_title(report: Report) -> str:
    """The document's title (PDF and XLSX properties, HTML ``<title>``)."""
    return f"Monitoring report {report.project.id} {period_label(report)}"


def project_label(report: Report) -> str:
    return f"{report.project.name} ({report.project.id})"


def methodology_version(report: Report) -> str:
    m = report.methodology
    return f"{m.id} version {m.version}"


def methodology_label(report: Report) -> str:
    return f"{methodology_version(report)}: {report.methodology.title}"


def period_utc_label(report: Report, end_note: str = "end exclusive") -> str:
    """The period's instants in UTC; the end is the first instant after the period."""
    return f"{report.period.start_utc} to {report.period.end_utc} ({end_note})"


def plan_label(report: Report) -> str:
    return f"version {report.project.plan_version}, sha256 {report.project.plan_sha256}"


def checkpoint_label(report: Report) -> str:
    """The signed state of the project's audit chain the report was computed at."""
    c = report.checkpoint
    if c is None:
        return "none (computed without the installation's key)"
    return f"link {c.length}, head sha256 {c.head}, signed {c.time.isoformat()} with key {c.key_id}"


def findings_label(report: Report) -> str:
    """The findings' headline: counts by severity and the net tonnes they moved."""
    h = report.findings_headline
    return (
        f"{h.material} material, {h.minor} minor; net {fmt_num(h.net_tco2, 3)} tCO2 moved "
        f"(material above {h.threshold_pct:g} % of ER = {fmt_num(h.threshold_tco2, 3)} tCO2)"
    )
