"""The monitoring report as a data package: a zip of one CSV file per table, described
by a ``datapackage.json`` (Frictionless Data Package, tabular).

Files: ``report.csv`` (one row: the report's identity, plan, methodology, period,
inputs hash and checkpoint), ``totals.csv`` (the emission reductions and the credit
allocation, one figure per row), then one file per table that
:mod:`verification.render.tables` declares (every module-level :class:`Table` there, in
its order, headed by the columns' ``key`` s, typed by their ``data_type``): a table
declared there is a file here with no change to this module.

Each file is tidy: one header row, then one row per item; numbers are plain numbers,
written with Python's shortest round-trip ``repr`` so the CSV carries the same values as
the JSON; times are RFC 3339 and days ISO dates; a missing value is an empty cell (the
package declares it); lines end in ``\\n``. The zip is the same bytes for the same report
(fixed member order, times and permissions).
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from verification.render import tables
from verification.render.tables import Cell, DataType, ReportTable
from verification.report_model import Report

#: Every zip member's time: a fixed one, so that the same report gives the same bytes.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
PROFILE = "tabular-data-package"
UNIT_HEADERS = ("unit", "Units")


def _cell(value: Cell) -> str:
    # bool is an int: keep it readable rather than "True"/"1".
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


@dataclass(frozen=True)
class Field:
    """A column of a file: its header, type, unit (when the same on every row) and
    meaning, as the data package describes it."""

    name: str
    type: DataType
    title: str | None = None
    unit: str | None = None
    description: str | None = None

    def descriptor(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.title and self.title != self.name:
            out["title"] = self.title
        text = self.description
        if self.unit:
            out["unit"] = self.unit  # our property: Table Schema has none for units
            text = f"{text} In {self.unit}." if text else f"In {self.unit}."
        if text:
            out["description"] = text
        return out


@dataclass(frozen=True)
class Resource:
    """One file of the package: a name, its fields and its rows."""

    name: str
    title: str
    fields: tuple[Field, ...]
    rows: list[tuple[Cell, ...]]
    empty: str | None = None  # what an empty file means (it could be read as unchecked)

    def csv(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([f.name for f in self.fields])
        writer.writerows([_cell(v) for v in row] for row in self.rows)
        return out.getvalue().encode("utf-8")

    def descriptor(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "title": self.title}
        if self.empty and not self.rows:
            out["description"] = self.empty
        return out | {
            "path": f"{self.name}.csv",
            "profile": "tabular-data-resource",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "dialect": {"delimiter": ",", "lineTerminator": "\n", "header": True},
            "schema": {"fields": [f.descriptor() for f in self.fields], "missingValues": [""]},
        }


def declared_tables() -> list[ReportTable]:
    """Every table :mod:`verification.render.tables` declares: in the order every format
    shows them (parameters, calculation, the details), then any other it declares."""
    shown: list[ReportTable] = [tables.PARAMETERS, tables.CALCULATION, *tables.DETAILS]
    others = [
        t
        for t in vars(tables).values()
        if isinstance(t, tables.Table) and all(t is not s for s in shown)
    ]
    return shown + others


def _table_fields(table: ReportTable) -> tuple[Field, ...]:
    columns = table.columns("csv")
    headers = [c.header("csv") for c in columns]
    unit_column = next((h for h in headers if h in UNIT_HEADERS), None)
    fields = []
    for column, header in zip(columns, headers, strict=True):
        description = column.description
        unit = column.unit_name
        if column.data_type == "number" and not unit and not description and unit_column:
            description = f"In the unit of column {unit_column}."
        if column.data_type == "datetime" and not description:
            description = "RFC 3339, UTC."
        fields.append(Field(header, column.data_type, column.title, unit, description))
    return tuple(fields)


def _table_resource(table: ReportTable, report: Report) -> Resource:
    rows = table.values(report, "csv")
    return Resource(table.id, table.title, _table_fields(table), rows, table.empty)


# --- the report's own rows ------------------------------------------------------------

_REPORT_FIELDS = (
    Field("schema_version", "string"),
    Field("project_id", "string"),
    Field("project_name", "string"),
    Field("host_country", "string"),
    Field("plan_version", "integer"),
    Field("plan_sha256", "string", description="SHA-256 of the parsed monitoring plan."),
    Field("methodology_id", "string"),
    Field("methodology_version", "string"),
    Field("methodology_title", "string"),
    Field("methodology_table_sha256", "string"),
    Field("gap_rules", "string"),
    Field("period_number", "integer"),
    Field("period_start", "date", description="First day of the period."),
    Field("period_end", "date", description="Last day of the period (inclusive)."),
    Field("period_start_utc", "datetime", description="The period's first instant, UTC."),
    Field("period_end_utc", "datetime", description="The instant after the period, UTC."),
    Field("software", "string"),
    Field("inputs_sha256", "string", description="Hash of the report's inputs."),
    Field(
        "creditable",
        "boolean",
        description="False: the period is outside the crediting period (see findings).",
    ),
    Field("checkpoint_length", "integer", description="Links in the signed audit chain."),
    Field("checkpoint_head", "string"),
    Field("checkpoint_time", "datetime"),
    Field("checkpoint_key_id", "string"),
    Field("checkpoint_signature", "string"),
)


def _report_row(report: Report) -> tuple[Cell, ...]:
    p, m, period, c = report.project, report.methodology, report.period, report.checkpoint
    checkpoint: tuple[Cell, ...] = (
        (c.length, c.head, c.time.isoformat(), c.key_id, c.signature) if c else (None,) * 5
    )
    return (
        report.schema_version,
        p.id,
        p.name,
        p.host_country,
        p.plan_version,
        p.plan_sha256,
        m.id,
        m.version,
        m.title,
        m.table_sha256,
        m.gap_rules,
        period.number,
        period.start.isoformat(),
        period.end.isoformat(),
        period.start_utc,
        period.end_utc,
        report.software,
        report.inputs_sha256,
        report.emission_reductions_tco2.creditable,
        *checkpoint,
    )


_TOTALS_FIELDS = (
    Field("item", "string"),
    Field("value", "number", description="In the unit of column unit."),
    Field("unit", "string"),
    Field("note", "string"),
)


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


def resources(report: Report) -> list[Resource]:
    """The package's files, in order: report, totals, then the declared tables."""
    return [
        Resource("report", "Monitoring report", _REPORT_FIELDS, [_report_row(report)]),
        Resource("totals", "Emission reductions and credits", _TOTALS_FIELDS, _totals_rows(report)),
        *(_table_resource(t, report) for t in declared_tables()),
    ]


def _package_name(report: Report) -> str:
    """A Data Package name: lower case letters, digits and ``-._``."""
    period = report.period
    raw = f"jcm-mrv-report-{report.project.id}-{period.start}-{period.end}"
    return re.sub(r"[^a-z0-9._-]+", "-", raw.lower())


def datapackage(report: Report, files: Sequence[Resource]) -> dict[str, Any]:
    return {
        "profile": PROFILE,
        "name": _package_name(report),
        "title": f"Monitoring report: {report.project.name}, "
        f"{report.period.start} to {report.period.end}",
        "description": f"jcm-mrv monitoring report, schema version {report.schema_version}; "
        f"inputs SHA-256 {report.inputs_sha256}. The same figures as the report's JSON.",
        "resources": [r.descriptor() for r in files],
    }


def _zip(members: Iterable[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, on every platform: the same bytes everywhere
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return out.getvalue()


def render_csv(report: Report) -> bytes:
    """The report as a zip of CSV files with their ``datapackage.json``."""
    files = resources(report)
    package = json.dumps(datapackage(report, files), indent=2, ensure_ascii=False) + "\n"
    members = [("datapackage.json", package.encode("utf-8"))]
    members += [(f"{r.name}.csv", r.csv()) for r in files]
    return _zip(members)
