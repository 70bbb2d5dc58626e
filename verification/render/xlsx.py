"""The monitoring report as an XLSX workbook laid out like the JCM Monitoring Report Sheet.

Sheets:

- ``MRS_input``: a title block (project, host country, methodology, monitoring period,
  plan, ``inputs_sha256``) above the MRS input table, one row per parameter
  (:data:`verification.render.tables.PARAMETERS`);
- ``MRS_calc``: the calculation steps (label, formula, value, unit), then RE, PE, ER
  (unrounded and rounded) and the credit allocation;
- ``Gaps``, ``Corrections``, ``Cross-checks``, ``Findings``, ``Events``: one table each
  (:data:`verification.render.tables.DETAILS`).

Determinism: openpyxl stamps the save time into ``docProps/core.xml`` and the zip entry
headers. The workbook is written with openpyxl's ``ExcelWriter`` (``Workbook.save`` would
overwrite ``modified`` with the clock) and every timestamp is set to the period's end date
at 00:00 UTC, so the same report gives the same bytes.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.cell.cell import Cell as XlCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from verification.render.formulas import (
    ExtraInput,
    FormulaModel,
    allocation_formulas,
    formula_model,
    rounding_formula,
)
from verification.render.tables import (
    CALCULATION,
    DETAILS,
    NUMBER_FORMATS,
    PARAMETERS,
    Cell,
    Heading,
    ReportTable,
)
from verification.render.text import (
    checkpoint_label,
    document_title,
    methodology_label,
    methodology_version,
    parse_utc,
    period_label,
    plan_label,
    project_label,
)
from verification.report_model import Report

# Number formats of the totals and the credit allocation; the tables' come with them.
NUM_TCO2 = NUMBER_FORMATS["tco2"]
NUM_INT = "#,##0"
NUM_PCT = "0.00%"
NUM_TIME = NUMBER_FORMATS["time"]

_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="1F4E79")
_LABEL_FONT = Font(bold=True)
_TITLE_FONT = Font(bold=True, size=14)
_SECTION_FONT = Font(bold=True, size=12)
_TOTAL_FILL = PatternFill("solid", fgColor="DDEBF7")
_THIN = Side(style="thin", color="A6A6A6")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP_TOP = Alignment(wrap_text=True, vertical="top")
_HEADER_ALIGN = Alignment(wrap_text=True, vertical="center", horizontal="center")

#: Row of the MRS input table's header on the ``MRS_input`` sheet (data follows it).
MRS_HEADER_ROW = 12


def _put(ws: Worksheet, row: int, column: int, value: Cell) -> XlCell:
    """Write one cell; text always stays text.

    openpyxl would store a string starting with "=" as a formula (a formula written in
    a note must not be evaluated), and refuses control characters, which a device's
    event detail may carry.
    """
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell = ws.cell(row=row, column=column, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
    return cell


def _header(ws: Worksheet, row: int, columns: Sequence[Heading], first: int = 1) -> None:
    """A table's header row from column ``first``; it also sets the columns' widths."""
    for col, column in enumerate(columns, start=first):
        cell = _put(ws, row, col, column.header("xlsx"))
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.alignment = _HEADER_ALIGN
        cell.border = _BORDER
        ws.column_dimensions[get_column_letter(col)].width = column.width


def _formats(columns: Sequence[Heading]) -> dict[int, str]:
    """The number formats of a table's columns, by column number."""
    return {i: c.number_format for i, c in enumerate(columns, start=1) if c.number_format}


def _data_row(
    ws: Worksheet,
    row: int,
    values: Sequence[Cell],
    formats: dict[int, str] | None = None,
) -> None:
    for col, value in enumerate(values, start=1):
        cell = _put(ws, row, col, value)
        cell.alignment = _WRAP_TOP
        cell.border = _BORDER
        if formats and col in formats:
            cell.number_format = formats[col]


def _table_sheet(wb: Workbook, table: ReportTable, report: Report) -> Worksheet:
    """A sheet holding one table: header in row 1 (frozen), data below, or the table's
    ``empty`` sentence."""
    ws = wb.create_sheet(table.sheet)
    columns = table.columns("xlsx")
    _header(ws, 1, columns)
    formats = _formats(columns)
    rows = table.values(report, "xlsx")
    for r, values in enumerate(rows, start=2):
        _data_row(ws, r, values, formats)
    if rows:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(rows) + 1}"
    else:
        # Say so explicitly: an empty sheet could be read as "not checked".
        _put(ws, 2, 1, table.empty).font = Font(italic=True)
    ws.freeze_panes = "A2"
    return ws


@dataclass
class _Cells:
    """Where the workbook's inputs and calculation steps are: the :class:`Refs` the
    formula models write their formulas with."""

    params: list[tuple[str, str | None, str]] = field(default_factory=list)
    extras: dict[str, str] = field(default_factory=dict)
    steps: dict[str, str] = field(default_factory=dict)

    def input(self, symbol: str, point: str | None = None) -> str:
        for s, p, cell in self.params:
            if s == symbol and (point is None or p == point):
                return cell
        raise KeyError(f"the report has no parameter row {symbol} {point or ''}")

    def inputs(self, symbol: str) -> list[str]:
        return [cell for s, _, cell in self.params if s == symbol]

    def extra(self, symbol: str) -> str:
        return self.extras[symbol]

    def step(self, label: str) -> str | None:
        return self.steps.get(label)


def _value_column() -> int:
    """The MRS input table's value column ("Estimated values"), from 1."""
    titles = PARAMETERS.headers("xlsx")
    return titles.index("Estimated values") + 1


def _block(ws: Worksheet, report: Report, last_col: str) -> None:
    """The title block above the MRS input table; the period's instants as real dates."""
    _put(ws, 1, 1, "Monitoring Report Sheet: input").font = _TITLE_FONT
    block: list[tuple[str, str]] = [
        ("Project", project_label(report)),
        ("Host country", report.project.host_country),
        ("Methodology", methodology_label(report)),
        ("Monitoring period", period_label(report)),
        ("Period (UTC)", ""),
        ("Monitoring plan", plan_label(report)),
        ("Audit checkpoint", checkpoint_label(report)),
        ("Report inputs_sha256", report.inputs_sha256),
        ("Software", report.software),
    ]
    assert len(block) + 2 < MRS_HEADER_ROW
    for r, (label, value) in enumerate(block, start=2):
        _put(ws, r, 1, label).font = _LABEL_FONT
        if label == "Period (UTC)":
            _period_instants(ws, r, report)
            continue
        _put(ws, r, 2, value)
        # The values are long (hashes): let them run over the table's width.
        ws.merge_cells(f"B{r}:{last_col}{r}")


def _period_instants(ws: Worksheet, row: int, report: Report) -> None:
    """Start and (exclusive) end of the period as date-times a spreadsheet computes with."""
    _put(ws, row, 2, parse_utc(report.period.start_utc)).number_format = NUM_TIME
    _put(ws, row, 3, "to (exclusive)")
    _put(ws, row, 4, parse_utc(report.period.end_utc)).number_format = NUM_TIME


def _input_sheet(wb: Workbook, report: Report, extras: Sequence[ExtraInput]) -> _Cells:
    """The ``MRS_input`` sheet: the title block, the MRS input table and, below it, the
    calculation's other inputs; returns where each input's value is."""
    ws = wb.active
    assert ws is not None  # a new Workbook always has one sheet
    ws.title = "MRS_input"
    columns = PARAMETERS.columns("xlsx")
    last_col = get_column_letter(len(columns))
    _block(ws, report, last_col)

    _header(ws, MRS_HEADER_ROW, columns)
    ws.row_dimensions[MRS_HEADER_ROW].height = 32
    formats = _formats(columns)
    value_col = get_column_letter(_value_column())
    cells = _Cells()
    rows = PARAMETERS.values(report, "xlsx")
    for r, (values, param) in enumerate(
        zip(rows, report.parameters, strict=True), start=MRS_HEADER_ROW + 1
    ):
        _data_row(ws, r, values, formats)
        cells.params.append((param.symbol, param.monitoring_point, f"MRS_input!${value_col}${r}"))
    end = MRS_HEADER_ROW + len(rows)
    if rows:
        ws.auto_filter.ref = f"A{MRS_HEADER_ROW}:{last_col}{end}"
    ws.freeze_panes = f"A{MRS_HEADER_ROW + 1}"
    if extras:
        _extras(ws, report, extras, end + 2, cells)
    return cells


def _extras(
    ws: Worksheet, report: Report, extras: Sequence[ExtraInput], row: int, cells: _Cells
) -> None:
    """The calculation's inputs that are not MRS parameter rows, in the same columns."""
    _put(ws, row, 1, "Other inputs of the calculation").font = _SECTION_FONT
    columns = PARAMETERS.columns("xlsx")
    _header(ws, row + 1, columns)
    titles = [c.title for c in columns]
    value_col = _value_column()
    for r, extra in enumerate(extras, start=row + 2):
        by_title: dict[str, Cell] = {
            "Monitoring period": period_label(report),
            "Parameters": extra.symbol,
            "Description of data": extra.description,
            "Estimated values": extra.value,
            "Units": extra.unit,
            "Monitoring option": extra.option,
            "Source of data": extra.source,
            "Measurement methods and procedures": extra.method,
        }
        _data_row(ws, r, [by_title.get(t) for t in titles], {value_col: NUMBER_FORMATS["value"]})
        cells.extras[extra.symbol] = f"MRS_input!${get_column_letter(value_col)}${r}"


#: The calculation sheet's columns after the table's: the engine's value beside the
#: workbook's, and whether they agree.
_CHECK_HEADERS = ("Report value", "Matches report")


def _check(ws: Worksheet, row: int, report_value: float | None, live: str) -> None:
    """The report's value in column F and, in G, whether the live value in ``live`` equals
    it (to float noise): an edited input shows here as a difference."""
    cell = _put(ws, row, 6, report_value)
    cell.number_format = NUMBER_FORMATS["value"]
    cell.border = _BORDER
    if report_value is None:
        return
    f = f"F{row}"
    _put_formula(ws, f"G{row}", f'=IF(ABS({live}-{f})<=1E-9*MAX(1,ABS({f})),"yes","no")')
    ws[f"G{row}"].border = _BORDER


def _calc_sheet(wb: Workbook, report: Report, model: FormulaModel | str, cells: _Cells) -> None:
    """The ``MRS_calc`` sheet: calculation steps (formulas over the inputs where the
    methodology has a formula model), emissions and reductions, allocation."""
    ws = wb.create_sheet("MRS_calc")
    _put(ws, 1, 1, "Monitoring Report Sheet: calculation").font = _TITLE_FONT
    _put(ws, 2, 1, "Monitoring period").font = _LABEL_FONT
    _put(ws, 2, 2, period_label(report))
    _put(ws, 3, 1, "Formulas").font = _LABEL_FONT
    _put(ws, 3, 2, _formula_note(model))
    header_row = 5
    columns = CALCULATION.columns("xlsx")
    _header(ws, header_row, columns)
    for col, title in enumerate(_CHECK_HEADERS, start=len(columns) + 1):
        _header(ws, header_row, [Heading(title=title, width=16)], first=col)
    formats = _formats(columns)
    value_col = get_column_letter(next(i for i, c in enumerate(columns, 1) if c.title == "Value"))
    first = header_row + 1
    for i, calc in enumerate(report.calculation):
        cells.steps.setdefault(calc.label, f"${value_col}${first + i}")
    formulas = model.formulas(cells) if isinstance(model, FormulaModel) else {}
    row = first
    for values, calc in zip(CALCULATION.values(report, "xlsx"), report.calculation, strict=True):
        _data_row(ws, row, values, formats)
        formula = formulas.get(calc.label)
        if formula is not None:
            _put_formula(ws, f"{value_col}{row}", formula)
        _check(ws, row, calc.value, f"{value_col}{row}")
        row += 1
    ws.freeze_panes = f"A{first}"
    live = isinstance(model, FormulaModel)
    row, issued = _totals(ws, report, row + 1, cells if live else None)
    _allocation(ws, report, row + 1, issued if live else None)


def _formula_note(model: FormulaModel | str) -> str:
    if isinstance(model, str):
        return model
    return (
        "The Value column recomputes from the MRS_input sheet (edit an input to see the "
        "result move); Report value is the engine's, as issued"
    )


def _put_formula(ws: Worksheet, coordinate: str, formula: str) -> None:
    cell = ws[coordinate]
    cell.value = formula
    cell.data_type = "f"


def _totals(ws: Worksheet, report: Report, row: int, cells: _Cells | None) -> tuple[int, str]:
    """RE, PE and ER (unrounded and rounded) from ``row`` on, as formulas over the steps
    when ``cells`` has them; returns the next free row and the rounded ER's cell."""
    _put(ws, row, 1, "Emissions and reductions").font = _SECTION_FONT
    row += 1
    er = report.emission_reductions_tco2
    re_cell, pe_cell = f"D{row}", f"D{row + 1}"
    step = cells.step if cells is not None else (lambda _label: None)
    re_step, pe_step = step("RE_p"), step("PE_p")
    totals: list[tuple[str, str, float, str | None]] = [
        (
            "Reference emissions RE_p",
            "unrounded",
            report.reference_emissions_tco2,
            f"={re_step}" if re_step else None,
        ),
        (
            "Project emissions PE_p",
            "unrounded",
            report.project_emissions_tco2,
            f"={pe_step}" if pe_step else None,
        ),
        (
            "Emission reductions ER_p (unrounded)",
            "RE_p - PE_p",
            er.unrounded,
            f"={re_cell}-{pe_cell}",
        ),
        ("Emission reductions ER_p (rounded)", er.rounding, er.value, None),
    ]
    for label, note, value, formula in totals:
        _data_row(ws, row, (None, label, note, value, "tCO2"), {4: NUM_TCO2})
        ws.cell(row=row, column=2).font = _LABEL_FONT
        live = cells is not None and (formula is not None or label.endswith("(rounded)"))
        if live:
            if formula is None:
                formula = rounding_formula(f"D{row - 1}", er.rounding)
            _put_formula(ws, f"D{row}", formula)
        _check(ws, row, value, f"D{row}")
        row += 1
    # The rounded ER is the figure that gets issued: make it stand out.
    for col in range(2, 6):
        ws.cell(row=row - 1, column=col).fill = _TOTAL_FILL
    return row, f"$D${row - 1}"


def _allocation(ws: Worksheet, report: Report, row: int, issued: str | None) -> None:
    """The credit allocation between the parties from ``row`` on; with ``issued`` (the
    rounded ER's cell) the credits are formulas over it and the shares."""
    _put(ws, row, 1, "Credit allocation").font = _SECTION_FONT
    row += 1
    a = report.credit_allocation
    if a is None:
        _put(ws, row, 2, "Not stated in the monitoring plan").font = Font(italic=True)
        return
    for col, name in enumerate(("Party", "Credits (tCO2)", "Share"), start=2):
        cell = _put(ws, row, col, name)
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.border = _BORDER
    row += 1
    parties: list[tuple[str, int, float]] = [
        (report.project.host_country, a.partner_country, a.partner_country_share),
        ("Japan", a.japan, a.japan_share),
    ]
    formulas = allocation_formulas(issued, f"$D${row}", f"$D${row + 1}") if issued else None
    for i, (name, credits, share) in enumerate(parties):
        _data_row(ws, row, (None, name, credits, share), {3: NUM_INT, 4: NUM_PCT})
        ws.cell(row=row, column=1).border = Border()
        if formulas:
            _put_formula(ws, f"C{row}", formulas[i])
            _check(ws, row, credits, f"C{row}")
        row += 1
    _data_row(ws, row, (None, "Total", a.partner_country + a.japan), {3: NUM_INT})
    if formulas:
        _put_formula(ws, f"C{row}", f"=C{row - 2}+C{row - 1}")
    ws.cell(row=row, column=1).border = Border()
    ws.cell(row=row, column=2).font = _LABEL_FONT
    row += 1
    _put(ws, row, 2, "Rule").font = _LABEL_FONT
    _put(ws, row, 3, a.rule).alignment = _WRAP_TOP


def _normalised_zip(data: bytes, stamp: datetime) -> bytes:
    """Rewrite the zip with fixed entry timestamps and attributes.

    ``ZipFile.writestr`` stamps entries with the clock and ``ZipFile.write`` (used by
    openpyxl for worksheets) with a temporary file's mtime; the creating system also
    depends on the platform. Entry order and contents are kept as written.
    """
    out = io.BytesIO()
    date_time = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 3  # Unix, on every platform
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def render_xlsx(report: Report) -> bytes:
    """Render the report as an XLSX workbook in the MRS layout (see the module docstring)."""
    wb = Workbook()
    model = formula_model(report)
    cells = _input_sheet(wb, report, model.extras if isinstance(model, FormulaModel) else [])
    _calc_sheet(wb, report, model, cells)
    for table in DETAILS:
        _table_sheet(wb, table, report)

    # A fixed, report-derived time instead of the clock: the period's (inclusive) end date
    # at 00:00 UTC. openpyxl treats these naive datetimes as UTC.
    stamp = datetime.combine(report.period.end, time())
    props = wb.properties
    props.created = stamp
    props.modified = stamp
    props.creator = report.software
    props.lastModifiedBy = report.software
    props.title = document_title(report)
    props.subject = methodology_version(report)
    props.identifier = report.inputs_sha256

    raw = io.BytesIO()
    # ExcelWriter.save() closes the archive; Workbook.save() is avoided because it resets
    # properties.modified to the current time.
    ExcelWriter(wb, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, allowZip64=True)).save()
    return _normalised_zip(raw.getvalue(), stamp)
