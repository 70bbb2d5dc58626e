"""Comparing a recalculated MRS workbook with the JSON report it was rendered from."""

from __future__ import annotations

import io
import math

from openpyxl import load_workbook

from tests.support.libreoffice import Value
from verification.report_model import Report


def close(a: Value, b: float) -> bool:
    """Equal to the report's figure to float noise (a spreadsheet and Python may differ
    in the last bits)."""
    return isinstance(a, int | float) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def label_rows(sheet: dict[str, Value], column: str = "B") -> dict[str, int]:
    """Row numbers by the label in ``column``."""
    out: dict[str, int] = {}
    for coordinate, value in sheet.items():
        if coordinate[0] == column and coordinate[1:].isdigit() and isinstance(value, str):
            out.setdefault(value, int(coordinate[1:]))
    return out


def calc_formulas(xlsx: bytes) -> dict[str, str]:
    """Every formula cell of the calculation sheet, unevaluated."""
    ws = load_workbook(io.BytesIO(xlsx))["MRS_calc"]
    return {
        c.coordinate: str(c.value)
        for row in ws.iter_rows()
        for c in row
        if c.data_type == "f" and c.column_letter in "CD"
    }


def assert_workbook_equals_report(
    report: Report, calc: dict[str, Value], formulas: dict[str, str]
) -> None:
    """Every calculation step, total and allocated credit of the recalculated ``calc``
    sheet is a formula (in ``formulas``, the unevaluated workbook's) whose result equals
    the report's figure, and the workbook's own check column says yes throughout."""
    rows = label_rows(calc)
    for step in report.calculation:
        r = rows[step.label]
        # every step is a formula over the inputs, not a pasted number
        assert f"D{r}" in formulas, step.label
        if step.value is not None:
            assert close(calc[f"D{r}"], step.value), (step.label, calc[f"D{r}"], step.value)
    er = report.emission_reductions_tco2
    totals = {
        "Reference emissions RE_p": report.reference_emissions_tco2,
        "Project emissions PE_p": report.project_emissions_tco2,
        "Emission reductions ER_p (unrounded)": er.unrounded,
    }
    for label, value in totals.items():
        assert f"D{rows[label]}" in formulas and close(calc[f"D{rows[label]}"], value), label
    rounded = rows["Emission reductions ER_p (rounded)"]
    assert f"D{rounded}" in formulas and calc[f"D{rounded}"] == er.value
    a = report.credit_allocation
    parties = (
        [] if a is None else [(report.project.host_country, a.partner_country), ("Japan", a.japan)]
    )
    for party, credits in parties:
        assert f"C{rows[party]}" in formulas and calc[f"C{rows[party]}"] == credits, party
    # the workbook's own check column agrees on every line
    checks = [v for k, v in calc.items() if k[0] == "G" and k[1:].isdigit() and v in ("yes", "no")]
    assert checks and set(checks) == {"yes"}
