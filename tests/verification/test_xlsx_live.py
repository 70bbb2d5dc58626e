"""The XLSX is a live workbook: LibreOffice recalculates it and every formula's result
equals the JSON report; an edited input moves the result as the methodology says.

Reports come through the real path (the example plans, readings imported through the
gateway's pipeline, the report built as ``mrv report`` does), one scenario per
methodology variant the formulas cover: solar PV (grid and captive diesel), chillers
with rating temperatures fixed (option A) or monitored per unit (one unit silent), the
landfill example (enclosed flare, efficiency from the plan, blower electricity) and gas in
actual m3 to a flare and an engine (efficiencies from the methodology's table).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

import pytest
import yaml
from openpyxl import load_workbook

from tests.support.libreoffice import Value, recalculated_values
from tests.support.paths import PLANS, SOLAR_PLAN
from tests.support.reporting import ProjectUnderTest, ms
from tests.support.workbook import assert_workbook_equals_report, calc_formulas, label_rows
from tests.verification.test_verification_path import GAS_PLAN
from verification.methodologies import chiller
from verification.render import render
from verification.render.xlsx import MRS_HEADER_ROW
from verification.report_model import Report

D = date.fromisoformat
DAY = D("2026-05-01")
T0 = ms("2026-05-01T00:00:00Z")
MINUTE = 60_000


def _registers(device: str, quantity: str, step_ms: int, rate: Callable[[int], float]) -> list:
    """A cumulative register read every ``step_ms`` from an hour before the day to an hour
    after it, rising by ``rate(k)`` per step (canonical unit)."""
    rows, value = [], 1000.0
    for k in range(-3_600_000 // step_ms, (86_400_000 + 3_600_000) // step_ms + 1):
        value += rate(k)
        rows.append((T0 + k * step_ms, device, quantity, round(value, 6), ""))
    return rows


def _solar(p: ProjectUnderTest) -> None:
    quarter = 900_000

    def sun(peak: float) -> Callable[[int], float]:
        return lambda k: peak * max(0.0, math.sin(math.pi * ((k % 96) - 24) / 48))

    rows = _registers("pv-a-meter", "energy_export", quarter, sun(120.0))
    # Factory B's logger is off from 10:00 to 13:00: a gap inside the day.
    rows += [
        r
        for r in _registers("pv-b-meter", "energy_export", quarter, sun(80.0))
        if not T0 + 10 * 3_600_000 < r[0] < T0 + 13 * 3_600_000
    ]
    rows += _registers("pv-koh-meter", "energy_export", quarter, sun(25.0))
    p.readings([(t, d, q, v, "kWh") for t, d, q, v, _ in rows])


def _chiller_meters() -> list:
    rows: list = []
    for meter, kw in (("ch1-meter", 310.0), ("ch2-meter", 280.0), ("ch3-meter", 45.0)):
        rows += [
            (t, d, q, v, "kWh")
            for t, d, q, v, _ in _registers(
                meter, "energy_consumed", 300_000, lambda k, kw=kw: kw / 12
            )
        ]
    return rows


def _chiller(p: ProjectUnderTest) -> None:
    p.readings(_chiller_meters())


def _chiller_monitored_plan() -> str:
    plan = yaml.safe_load((PLANS / "chiller-efficiency.yaml").read_text())
    monitored = {
        "T_chw_out": ["MP-T1chw", "MP-T2chw", "MP-T3chw"],
        "T_cw_out": ["MP-T1cw", "MP-T2cw", "MP-T3cw"],
    }
    for x in plan["parameters"]:
        if x["symbol"] in monitored:
            x.pop("value"), x.pop("source")
            x.update(option="C", monitoring_points=monitored[x["symbol"]])
    return yaml.safe_dump(plan, sort_keys=False)


def _chiller_monitored(p: ProjectUnderTest) -> None:
    rows = _chiller_meters()
    for temps, chw, cw in (("ch1-temps", 6.5, 34.0), ("ch2-temps", 7.2, 36.1)):
        for k in range(-12, 289 + 12):  # chiller 3's controller sent nothing
            t = T0 + k * 300_000
            rows += [
                (t, temps, "chilled_water_temperature", chw + 0.1 * (k % 5), "degC"),
                (t, temps, "cooling_water_temperature", cw - 0.2 * (k % 3), "degC"),
            ]
    p.readings(rows)


def _landfill(p: ProjectUnderTest) -> None:
    rows = [
        (t, d, q, v, "Nm3")
        for t, d, q, v, _ in _registers(
            "lfg-flowmeter", "gas_volume_normal", MINUTE, lambda k: 9.0 + (k % 7)
        )
    ]
    rows += [
        (t, "blower-meter", "energy_consumed", v, "kWh")
        for t, _, _, v, _ in _registers("blower-meter", "energy_consumed", 300_000, lambda k: 3.5)
    ]
    for k in range(-60, 24 * 60 + 61):
        t = T0 + k * MINUTE
        out = 300 <= k < 330  # the flare is out for half an hour
        rows += [
            (t, "ch4-analyser", "ch4_fraction", 0.50 + 0.01 * (k % 5), ""),
            (t, "gas-tt", "gas_temperature", 31.0, "degC"),
            (t, "gas-pt", "gas_pressure", 100.9, "kPa"),
            (t, "flare-tc", "flare_temperature", 420.0 if out else 860.0, "degC"),
            (t, "flare-scanner", "flame_detected", 0.0 if out else 1.0, ""),
        ]
    p.readings(rows)


def _engine_plan() -> str:
    plan = yaml.safe_load(GAS_PLAN)
    plan["devices"] += [
        {
            "id": "fe",
            "site": "s",
            "type": "flow_meter",
            "serial": "FE1",
            "quantities": ["gas_volume"],
            "register_max": 1e9,
            "max_permissible_error_pct": 1.0,
        },
        {
            "id": "gen",
            "site": "s",
            "type": "generator_meter",
            "serial": "G1",
            "quantities": ["power"],
            "max_permissible_error_pct": 0.5,
        },
    ]
    plan["monitoring_points"] += [
        {"id": "MP-VE", "device": "fe", "quantity": "gas_volume"},
        {"id": "MP-GEN", "device": "gen", "quantity": "power"},
    ]
    plan["parameters"] += [
        {"symbol": "LFG_engine", "unit": "m**3", "option": "C", "monitoring_points": ["MP-VE"]},
        {"symbol": "engine_on", "unit": "kW", "option": "C", "monitoring_points": ["MP-GEN"]},
    ]
    return yaml.safe_dump(plan, sort_keys=False)


def _engine(p: ProjectUnderTest) -> None:
    rows: list = []
    for m in range(-2, 24 * 60 + 3):
        t = T0 + m * MINUTE
        rows += [
            (t, "fm", "gas_volume", 5000.0 + 100.0 * m, "ft3"),
            (t, "tt", "gas_temperature", 20.0 + (m % 4), "degC"),
            (t, "pt", "gas_pressure", 101.325, "kPa"),
            (t, "an", "ch4_fraction", 55.0, "%"),
            (t, "tc", "flare_temperature", 870.0, "degC"),
            (t, "fe", "gas_volume", 60.0 * m + 1000.0, "ft3"),
            (t, "gen", "power", 800.0 if 0 <= m < 720 else 0.0, "kW"),
        ]
    p.readings(rows)


SCENARIOS: dict[str, tuple[Callable[[], str], Callable[[ProjectUnderTest], None]]] = {
    "solar": (SOLAR_PLAN.read_text, _solar),
    "chiller": ((PLANS / "chiller-efficiency.yaml").read_text, _chiller),
    "chiller-monitored": (_chiller_monitored_plan, _chiller_monitored),
    "landfill": ((PLANS / "landfill-gas-flare.yaml").read_text, _landfill),
    "gas-engine": (_engine_plan, _engine),
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Report]]:
    """Each scenario's report, built once per module."""
    made: dict[str, Report] = {}

    def get(name: str) -> Report:
        if name not in made:
            plan, feed = SCENARIOS[name]
            p = ProjectUnderTest(tmp_path_factory.mktemp(name), plan())
            try:
                feed(p)
                made[name] = p.report(DAY, DAY)
            finally:
                p.close()
        return made[name]

    yield get


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_recalculated_workbook_equals_the_report(name, reports, tmp_path):
    report = reports(name)
    xlsx = render(report, "xlsx")
    calc = recalculated_values(xlsx, tmp_path)["MRS_calc"]
    assert_workbook_equals_report(report, calc, calc_formulas(xlsx))


def test_the_check_is_not_fooled_by_values(reports, tmp_path):
    """The comparison fails on a workbook whose steps are pasted values, and LibreOffice
    really recomputes (a formula result read back from openpyxl's own file is empty)."""
    report = reports("solar")
    xlsx = render(report, "xlsx")
    unevaluated = load_workbook(io.BytesIO(xlsx), data_only=True)["MRS_calc"]
    assert unevaluated["D7"].value is None  # no cached values: only a real recalculation
    pasted = report.model_copy(
        update={"methodology": report.methodology.model_copy(update={"id": "unknown"})}
    )
    values_only = render(pasted, "xlsx")
    calc = recalculated_values(values_only, tmp_path)["MRS_calc"]
    with pytest.raises(AssertionError):
        assert_workbook_equals_report(report, calc, calc_formulas(values_only))
    assert "no spreadsheet formulas for methodology unknown" in str(calc["B3"])


def _edit(xlsx: bytes, symbol: str, value: float, point: str | None = None) -> bytes:
    """The workbook with one input of the MRS input table (or of the other inputs below
    it) changed, as a verifier would in a spreadsheet."""
    book = load_workbook(io.BytesIO(xlsx))
    ws = book["MRS_input"]
    for row in range(MRS_HEADER_ROW + 1, ws.max_row + 1):
        if ws.cell(row, 3).value == symbol and (point is None or ws.cell(row, 2).value == point):
            ws.cell(row, 5).value = value
            break
    else:
        raise AssertionError(f"no input {symbol} {point}")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _totals(calc: dict[str, Value]) -> dict[str, Any]:
    rows = label_rows(calc)
    return {
        label: calc[f"D{rows[label]}"]
        for label in (
            "Reference emissions RE_p",
            "Project emissions PE_p",
            "Emission reductions ER_p (unrounded)",
            "Emission reductions ER_p (rounded)",
        )
    }


def test_editing_the_grid_factor_moves_solar_reductions(reports, tmp_path):
    report = reports("solar")
    eg_grid = sum(
        r.value or 0.0 for r in report.parameters if r.symbol == "EG_grid"
    )  # MWh, both factories
    diesel = next(c.value for c in report.calculation if c.label == "RE (EG_diesel)")
    assert diesel is not None
    calc = recalculated_values(_edit(render(report, "xlsx"), "EF_grid", 0.61), tmp_path)
    t = _totals(calc["MRS_calc"])
    expected = eg_grid * 0.61 + diesel  # RE_p = Σ EG_grid × EF_grid + Σ EG_diesel × EF_diesel
    assert math.isclose(t["Emission reductions ER_p (unrounded)"], expected, rel_tol=1e-9)
    assert t["Emission reductions ER_p (rounded)"] == math.floor(expected)
    assert t["Emission reductions ER_p (rounded)"] != report.emission_reductions_tco2.value


def test_editing_a_chiller_meter_and_the_reference_cop(reports, tmp_path):
    report = reports("chiller")
    xlsx = _edit(render(report, "xlsx"), "COP_RE", 5.2)
    xlsx = _edit(xlsx, "EC_PJ", 12.5, point="MP-2")
    t = _totals(recalculated_values(xlsx, tmp_path)["MRS_calc"])
    ec = {r.monitoring_point: r.value or 0.0 for r in report.parameters if r.symbol == "EC_PJ"}
    ec["MP-2"] = 12.5
    cop = chiller.cop_at_standard_conditions(6.28, 35.0, 6.7)  # the plan's rating
    re = sum(chiller.reference_emissions_tco2(e, cop, 5.2, 0.8) for e in ec.values())
    pe = sum(chiller.project_emissions_tco2(e, 0.8) for e in ec.values())
    assert math.isclose(t["Reference emissions RE_p"], re, rel_tol=1e-9)
    assert math.isclose(t["Project emissions PE_p"], pe, rel_tol=1e-9)
    assert t["Emission reductions ER_p (rounded)"] == math.floor(re - pe)


def _with_constants(report: Report, version: str, **values: float) -> Report:
    """The report with some of the methodology table's constants it carries changed (and
    its table version one no file here has): what the workbook reads must be these."""
    carried = [
        i.model_copy(update={"value": values[i.symbol]})
        if i.symbol in values and i.status != "plan"
        else i
        for i in report.parameter_inputs
    ]
    methodology = report.methodology.model_copy(update={"version": version})
    return report.model_copy(update={"parameter_inputs": carried, "methodology": methodology})


def test_the_chiller_constants_come_from_the_report(reports, tmp_path):
    """TD_chw, TD_cw and the standard temperatures are read from the report's
    parameter_inputs, not from a table file: with other values there (and a table
    version no file has) the workbook's temperature-corrected COPs follow them."""
    report = reports("chiller-monitored")
    constants = {"TD_chw": 2.5, "TD_cw": 1.0, "T_cw_std": 36.0, "T_chw_std": 7.0}
    changed = _with_constants(report, "9.9-not-here", **constants)
    xlsx = render(changed, "xlsx")
    inputs = load_workbook(io.BytesIO(xlsx))["MRS_input"]
    shown = {
        inputs.cell(row, 3).value: (inputs.cell(row, 5).value, inputs.cell(row, 8).value)
        for row in range(MRS_HEADER_ROW + 1, inputs.max_row + 1)
    }
    for name, value in constants.items():
        assert shown[name][0] == value, name
        assert "table version" in str(shown[name][1]), shown[name]
    calc = recalculated_values(xlsx, tmp_path)["MRS_calc"]
    rows = label_rows(calc)
    points = {r.symbol: [] for r in report.parameters}
    for r in report.parameters:
        points[r.symbol].append(r.value)
    cop_pj = points["COP_PJ"][0]
    checked = 0
    for i, (chw, cw) in enumerate(zip(points["T_chw_out"], points["T_cw_out"], strict=True)):
        label = f"COP_PJ,tc (MP-{i + 1})"
        if chw is None or cw is None or label not in rows:
            continue  # the unit whose controller sent nothing
        expected = chiller.cop_at_standard_conditions(
            cop_pj,
            cw,
            chw,
            td_chw_k=2.5,
            td_cw_k=1.0,
            t_cw_std_c=36.0,
            t_chw_std_c=7.0,
        )
        got = calc[f"D{rows[label]}"]
        assert math.isclose(got, expected, rel_tol=1e-9), (label, got, expected)
        engine = next(c.value for c in report.calculation if c.label == label)
        assert not math.isclose(got, engine, rel_tol=1e-6)  # the table's values differ
        checked += 1
    assert checked == 2


def test_a_report_without_a_constant_gets_values_not_formulas(reports, tmp_path):
    report = reports("chiller-monitored")
    without = report.model_copy(
        update={"parameter_inputs": [i for i in report.parameter_inputs if i.symbol != "TD_cw"]}
    )
    xlsx = render(without, "xlsx")
    calc = load_workbook(io.BytesIO(xlsx))["MRS_calc"]
    assert "does not carry the constant TD_cw" in str(calc["B3"].value)
    labels = label_rows({c.coordinate: c.value for row in calc.iter_rows() for c in row})
    cops = [row for label, row in labels.items() if label.startswith("COP_PJ,tc")]
    formulas = calc_formulas(xlsx)
    assert len(cops) == 3 and not [r for r in cops if f"D{r}" in formulas or f"C{r}" in formulas]
    # with the constant, the same rows are formulas
    assert all(f"D{r}" in calc_formulas(render(report, "xlsx")) for r in cops)


def test_editing_the_gwp_moves_methane_reductions(reports, tmp_path):
    report = reports("landfill")
    calc = {c.label: c.value for c in report.calculation}
    t = _totals(
        recalculated_values(_edit(render(report, "xlsx"), "GWP_CH4", 28.0), tmp_path)["MRS_calc"]
    )
    methane = (calc["RE_p"] or 0.0) - (calc["PE_flare"] or 0.0)  # GWP × CH4 destroyed
    electricity = calc["PE_elec"] or 0.0
    expected = methane * 28.0 / 25.0 - electricity
    assert math.isclose(t["Emission reductions ER_p (unrounded)"], expected, rel_tol=1e-9)
    assert t["Emission reductions ER_p (rounded)"] == math.floor(expected)


def test_workbook_dates_formats_and_frozen_headers(reports):
    report = reports("landfill")
    book = load_workbook(io.BytesIO(render(report, "xlsx")))
    ws = book["MRS_input"]
    period = {ws.cell(r, 1).value: r for r in range(2, MRS_HEADER_ROW)}["Period (UTC)"]
    assert ws.cell(period, 2).value == datetime(2026, 5, 1)
    assert ws.cell(period, 4).value == datetime(2026, 5, 2)
    assert ws.cell(period, 2).is_date and "yyyy" in ws.cell(period, 2).number_format
    assert ws.freeze_panes == f"A{MRS_HEADER_ROW + 1}"
    assert book["MRS_calc"].freeze_panes is not None
    for sheet in ("Gaps", "Corrections", "Events"):
        table = book[sheet]
        assert table.freeze_panes == "A2"
        header = [c.value for c in table[1]]
        for title in ("Start (UTC)", "End (UTC)", "Time (UTC)"):
            if title in header and table.max_row > 1 and table.cell(2, 2).value is not None:
                cell = table.cell(2, header.index(title) + 1)
                assert isinstance(cell.value, datetime) and cell.is_date, (sheet, title)
    # the event details are the event's fields, not a JSON string
    events = book["Events"]
    if events.max_row > 1 and report.events:
        detail = events.cell(2, 5).value
        assert not str(detail).startswith("{") and ": " in str(detail)
    # numbers carry number formats
    value_cell = ws.cell(MRS_HEADER_ROW + 1, 5)
    assert isinstance(value_cell.value, int | float) and value_cell.number_format != "General"
