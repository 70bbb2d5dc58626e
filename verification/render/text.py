"""Text for people, the same in every format: numbers and the monitoring period."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime

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


def parse_utc(text: str) -> datetime:
    """An ISO 8601 instant from the report as a naive UTC datetime (naive input is taken
    as UTC, as the report writes every instant in UTC); spreadsheets and charts take
    naive date-times."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def fmt_time(text: str) -> str:
    """An instant for people: ``2026-12-06 23:59:00`` (UTC, to the second; the JSON keeps
    the milliseconds). A string that is not an instant is shown as it is."""
    try:
        return parse_utc(text).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text


def detail_json(detail: Mapping[str, object]) -> str:
    """An event's detail as one compact JSON object (CSV), keys sorted."""
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _detail_value(key: str, value: object) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float) and key.endswith("_ms"):
        # epoch milliseconds: say when, in the report's time zone
        try:
            moment = datetime.fromtimestamp(value / 1000, tz=UTC).replace(tzinfo=None)
        except (OverflowError, OSError, ValueError):  # not a time after all
            return str(value)
        return f"{value} ({moment:%Y-%m-%d %H:%M:%S})"
    if isinstance(value, int | float):
        return fmt_num(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def detail_text(detail: Mapping[str, object]) -> str:
    """An event's detail for people: ``key: value`` fields, in key order; epoch
    milliseconds also as a UTC time."""
    return "; ".join(f"{k}: {_detail_value(k, detail[k])}" for k in sorted(detail))
