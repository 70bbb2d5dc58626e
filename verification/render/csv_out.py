"""The monitoring report as one CSV file.

Sections follow one another, each introduced by a marker row (``# parameters``) and a
header row, separated by a blank row: report header, parameters (the MRS input table),
calculation, totals, gaps, corrections, cross-checks, findings, events (the tables as
:mod:`verification.render.tables` declares them, headed by their ``key`` s). Numbers are
written with Python's shortest round-trip ``repr`` so the CSV carries the same values as
the JSON, and lines end in ``\\n`` on every platform.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from verification.render.tables import CALCULATION, DETAILS, PARAMETERS, Cell, ReportTable
from verification.report_model import Report


def _cell(value: Cell) -> str:
    # bool is an int: keep it readable rather than "True"/"1".
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


class _Sections:
    """Writes marker row, header row and data rows per section."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\n")
        self.first = True

    def section(self, name: str, header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> None:
        if not self.first:
            self.writer.writerow([])
        self.first = False
        self.writer.writerow([f"# {name}"])
        self.writer.writerow(header)
        for row in rows:
            self.writer.writerow([_cell(v) for v in row])

    def table(self, table: ReportTable, report: Report) -> None:
        self.section(table.id, table.headers("csv"), table.values(report, "csv"))


def _header_rows(report: Report) -> list[tuple[str, Cell]]:
    p, m, period = report.project, report.methodology, report.period
    return [
        ("schema_version", report.schema_version),
        ("project_id", p.id),
        ("project_name", p.name),
        ("host_country", p.host_country),
        ("plan_version", p.plan_version),
        ("plan_sha256", p.plan_sha256),
        ("methodology_id", m.id),
        ("methodology_version", m.version),
        ("methodology_title", m.title),
        ("methodology_table_sha256", m.table_sha256),
        ("gap_rules", m.gap_rules),
        ("period_number", period.number),
        ("period_start", period.start.isoformat()),
        ("period_end", period.end.isoformat()),
        ("period_start_utc", period.start_utc),
        ("period_end_utc", period.end_utc),
        ("software", report.software),
        ("inputs_sha256", report.inputs_sha256),
        *_checkpoint_rows(report),
    ]


def _checkpoint_rows(report: Report) -> list[tuple[str, Cell]]:
    c = report.checkpoint
    if c is None:
        return []
    return [
        ("checkpoint_length", c.length),
        ("checkpoint_head", c.head),
        ("checkpoint_time", c.time.isoformat()),
        ("checkpoint_key_id", c.key_id),
        ("checkpoint_signature", c.signature),
    ]


def _totals_rows(report: Report) -> list[tuple[Cell, ...]]:
    er = report.emission_reductions_tco2
    rows: list[tuple[Cell, ...]] = [
        ("reference_emissions", report.reference_emissions_tco2, "tCO2", "RE_p, unrounded"),
        ("project_emissions", report.project_emissions_tco2, "tCO2", "PE_p, unrounded"),
        ("emission_reductions_unrounded", er.unrounded, "tCO2", "ER_p = RE_p - PE_p"),
        ("emission_reductions", er.value, "tCO2", f"rounded: {er.rounding}"),
    ]
    a = report.credit_allocation
    if a is None:
        rows.append(("credit_allocation", None, "", "not stated in the monitoring plan"))
    else:
        host = report.project.host_country
        rows += [
            ("credits_partner_country", a.partner_country, "tCO2", host),
            ("credits_japan", a.japan, "tCO2", "Japan"),
            ("share_partner_country", a.partner_country_share, "", host),
            ("share_japan", a.japan_share, "", "Japan"),
            ("allocation_rule", None, "", a.rule),
        ]
    return rows


def render_csv(report: Report) -> bytes:
    """Render the whole report as one sectioned CSV (UTF-8, ``\\n`` line endings)."""
    out = _Sections()
    out.section("report", ("field", "value"), _header_rows(report))
    out.table(PARAMETERS, report)
    out.table(CALCULATION, report)
    out.section("totals", ("item", "value", "unit", "note"), _totals_rows(report))
    for table in DETAILS:
        out.table(table, report)
    return out.buffer.getvalue().encode("utf-8")
