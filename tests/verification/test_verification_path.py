"""The six hand-checked cases of methodologies.md through the real path: plan ->
readings imported through the gateway's pipeline into the SQLite store (and entries into
the relational store) -> inputs loaded -> report built, as ``mrv report`` does."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from tests.support.paths import PLANS, SOLAR_PLAN
from tests.support.reporting import ProjectUnderTest, ms

D = date.fromisoformat


@pytest.fixture
def project(tmp_path):
    made: list[ProjectUnderTest] = []

    def make(plan_text: str) -> ProjectUnderTest:
        p = ProjectUnderTest(tmp_path / f"p{len(made)}", plan_text)
        made.append(p)
        return p

    for p in [tmp_path / f"p{i}" for i in range(4)]:
        p.mkdir()
    yield make
    for p in made:
        p.close()


def register(device: str, points: list[tuple[str, float]], unit: str = "kWh"):
    return [(t, device, "energy_export", v, unit) for t, v in points]


def test_case_1_solar_grid(project) -> None:
    p = project(SOLAR_PLAN.read_text())
    p.readings(
        register(
            "pv-a-meter",
            [
                ("2026-05-31T23:45:00Z", 1000),
                ("2026-06-01T00:15:00Z", 1000),
                ("2026-06-15T12:00:00Z", 60_000),
                ("2026-06-30T23:45:00Z", 121_000),
                ("2026-07-01T00:15:00Z", 121_000),
            ],
        )
        + register(
            "pv-b-meter",
            [
                ("2026-05-31T23:45:00Z", 500),
                ("2026-06-01T00:15:00Z", 500),
                ("2026-06-30T23:45:00Z", 81_000),
                ("2026-07-01T00:15:00Z", 81_000),
            ],
        )
    )
    r = p.report(D("2026-06-01"), D("2026-06-30"))
    rows = {(x.symbol, x.monitoring_point): x for x in r.parameters}
    assert rows[("EG_grid", "MP-A")].value == pytest.approx(120.0)
    assert rows[("EG_grid", "MP-B")].value == pytest.approx(80.5)
    assert rows[("EG_grid", "MP-A")].option == "C" and rows[("EF_grid", None)].option == "A"
    assert "interpolated" in rows[("EG_grid", "MP-A")].method
    assert r.reference_emissions_tco2 == pytest.approx(100.25)
    assert r.project_emissions_tco2 == 0
    assert (r.emission_reductions_tco2.value, r.emission_reductions_tco2.unrounded) == (
        100,
        pytest.approx(100.25),
    )
    assert r.credit_allocation is not None
    assert r.credit_allocation.partner_country + r.credit_allocation.japan == 100
    # the 11-day silences are bridged by the register, and disclosed
    assert {g.rule for g in r.gaps if g.monitoring_point == "MP-A"} == {"register_bridged"}
    # the island meter sent nothing: zero, disclosed, and its completeness says so
    assert rows[("EG_diesel", "MP-K")].value == 0 and rows[("EG_diesel", "MP-K")].completeness == 0
    assert any(g.monitoring_point == "MP-K" and g.rule == "zero_fill" for g in r.gaps)


def test_case_2_solar_captive_diesel(project) -> None:
    p = project(SOLAR_PLAN.read_text())
    p.readings(
        [
            ("2026-06-01T00:00:00Z", "pv-koh-meter", "energy_export", 10.0, "MWh"),
            ("2026-07-01T00:00:00Z", "pv-koh-meter", "energy_export", 160.0, "MWh"),
        ]
    )
    r = p.report(D("2026-06-01"), D("2026-06-30"))
    assert r.reference_emissions_tco2 == pytest.approx(79.95)
    assert r.emission_reductions_tco2.value == 79  # 120 with the CDM's 0.8
    ef = next(x for x in r.parameters if x.symbol == "EF_diesel")
    assert ef.value == 0.533 and "0.0726" in ef.source


CHILLER_CASE_3 = (PLANS / "chiller-efficiency.yaml").read_text()


def _chiller_case_3_plan() -> str:
    import yaml

    plan = yaml.safe_load(CHILLER_CASE_3)
    # case 3 gives COP_PJ already at standard conditions and no temperatures
    plan["parameters"] = [
        x for x in plan["parameters"] if x["symbol"] not in ("T_chw_out", "T_cw_out")
    ]
    for x in plan["parameters"]:
        if x["symbol"] == "COP_PJ":
            x["value"] = 6.20
    return yaml.safe_dump(plan, sort_keys=False)


def test_case_3_chiller(project) -> None:
    p = project(_chiller_case_3_plan())
    p.readings(
        [
            # the published MRS's year of a chiller, here April to November
            ("2026-04-01T00:00:00Z", "ch1-meter", "energy_consumed", 1000.0, "kWh"),
            ("2026-11-26T00:00:00Z", "ch1-meter", "energy_consumed", 348_200.0, "kWh"),
            ("2026-04-01T00:00:00Z", "ch2-meter", "energy_consumed", 5.0, "MWh"),
            ("2026-11-26T00:00:00Z", "ch2-meter", "energy_consumed", 5.0, "MWh"),
            ("2026-04-01T00:00:00Z", "ch3-meter", "energy_consumed", 7.0, "kWh"),
            ("2026-11-26T00:00:00Z", "ch3-meter", "energy_consumed", 7.0, "kWh"),
        ]
    )
    r = p.report(D("2026-04-01"), D("2026-11-25"))
    assert r.reference_emissions_tco2 == pytest.approx(313.111, abs=5e-4)
    assert r.project_emissions_tco2 == pytest.approx(277.760)
    assert r.emission_reductions_tco2.value == 35
    assert r.credit_allocation is not None and r.credit_allocation.japan in (17, 18)


GAS_PLAN = """
project:
  id: gas-case
  name: Hand-checked gas case
  host_country: Mexico
  methodology: {id: methane-recovery-destruction, version: "1.0"}
  crediting_period: {start: 2026-01-01, end: 2030-12-31}
  gap_rules: california
sites: [{id: s, name: Flare site}]
devices:
  - {id: fm, site: s, type: flow_meter, serial: FM1, max_permissible_error_pct: 1.0, quantities: [gas_volume], register_max: 1.0e9}
  - {id: tt, site: s, type: tt, serial: TT1, max_permissible_error_pct: 1.0, quantities: [gas_temperature]}
  - {id: pt, site: s, type: pt, serial: PT1, max_permissible_error_pct: 1.0, quantities: [gas_pressure]}
  - {id: an, site: s, type: analyser, serial: AN1, max_permissible_error_pct: 1.0, quantities: [ch4_fraction]}
  - {id: tc, site: s, type: thermocouple, serial: TC1, max_permissible_error_pct: 1.0, quantities: [flare_temperature]}
monitoring_points:
  - {id: MP-V, device: fm, quantity: gas_volume}
  - {id: MP-T, device: tt, quantity: gas_temperature}
  - {id: MP-P, device: pt, quantity: gas_pressure}
  - {id: MP-CH4, device: an, quantity: ch4_fraction}
  - {id: MP-TF, device: tc, quantity: flare_temperature}
parameters:
  - {symbol: LFG_flare, unit: m**3, option: C, monitoring_points: [MP-V]}
  - {symbol: T_LFG, unit: degC, option: C, monitoring_points: [MP-T]}
  - {symbol: P_LFG, unit: kPa, option: C, monitoring_points: [MP-P]}
  - {symbol: w_CH4, unit: dimensionless, option: C, monitoring_points: [MP-CH4]}
  - {symbol: T_flare, unit: degC, option: C, monitoring_points: [MP-TF]}
"""


def test_case_4_gas_normalised_and_flared(project) -> None:
    """100 ft3/min at 20 °C and 1 atm for 24 h, 55 % CH4, enclosed flare at 90 %."""
    p = project(GAS_PLAN)
    t0 = ms("2026-03-10T00:00:00Z")
    minutes = np.arange(-2, 24 * 60 + 3)
    rows = []
    for m in minutes:
        t = int(t0 + m * 60_000)
        rows += [
            (t, "fm", "gas_volume", 5000.0 + 100.0 * m, "ft3"),
            (t, "tt", "gas_temperature", 20.0, "degC"),
            (t, "pt", "gas_pressure", 101.325, "kPa"),
            (t, "an", "ch4_fraction", 55.0, "%"),
            (t, "tc", "flare_temperature", 870.0, "degC"),
        ]
    p.readings(rows)
    r = p.report(D("2026-03-10"), D("2026-03-10"))
    calc = {c.label: c.value for c in r.calculation}
    assert calc["Σ LFG_flare"] == pytest.approx(4077.63, abs=0.01)
    assert calc["Σ V_n"] == pytest.approx(3799.43, abs=0.01)
    assert calc["Σ TM"] == pytest.approx(1496.22, abs=0.01)
    assert calc["CH4_destroyed"] == pytest.approx(1.34660, abs=1e-5)
    assert r.emission_reductions_tco2.unrounded == pytest.approx(33.665, abs=1e-3)
    assert r.emission_reductions_tco2.value == 33
    assert r.gaps == []


CASE_5_PLAN = """
project:
  id: gap-case
  name: Hand-checked gap case
  host_country: Mexico
  methodology: {id: methane-recovery-destruction, version: "1.0"}
  crediting_period: {start: 2026-01-01, end: 2030-12-31}
  gap_rules: california
sites: [{id: s, name: Flare site}]
devices:
  - {id: fm, site: s, type: flow_meter, serial: FM1, max_permissible_error_pct: 1.0, quantities: [gas_volume_normal], expected_interval_s: 3600,
     register_max: 1.0e9, reference_conditions: {temperature_c: 0.0, pressure_kpa: 101.325}}
  - {id: an, site: s, type: analyser, serial: AN1, max_permissible_error_pct: 1.0, quantities: [ch4_fraction], expected_interval_s: 3600}
  - {id: tc, site: s, type: thermocouple, serial: TC1, max_permissible_error_pct: 1.0, quantities: [flare_temperature], expected_interval_s: 3600}
monitoring_points:
  - {id: MP-V, device: fm, quantity: gas_volume_normal}
  - {id: MP-CH4, device: an, quantity: ch4_fraction}
  - {id: MP-TF, device: tc, quantity: flare_temperature}
parameters:
  - {symbol: LFG_flare, unit: Nm3, option: C, monitoring_points: [MP-V]}
  - {symbol: w_CH4, unit: dimensionless, option: C, monitoring_points: [MP-CH4]}
  - {symbol: T_flare, unit: degC, option: C, monitoring_points: [MP-TF]}
"""


def _hourly_case_5(p: ProjectUnderTest, missing: set[int], hours: int) -> None:
    """Hourly volumes (interval totals) with the hours in ``missing`` absent."""
    t0 = ms("2026-04-01T00:00:00Z")
    pattern = [50, 52, 48, 50, None, None, None, 46, 50, 54, 50]
    rows = []
    for h in range(hours):
        end = t0 + (h + 1) * 3_600_000
        if h not in missing:
            volume = pattern[h] if h < len(pattern) and pattern[h] is not None else 50
            rows.append((end, "fm", "gas_volume_normal", volume, "Nm3", "interval", 3600))
        rows.append((t0 + h * 3_600_000, "an", "ch4_fraction", 0.5, ""))
        rows.append((t0 + h * 3_600_000, "tc", "flare_temperature", 850.0, "degC"))
    rows.append((t0 + hours * 3_600_000, "an", "ch4_fraction", 0.5, ""))
    rows.append((t0 + hours * 3_600_000, "tc", "flare_temperature", 850.0, "degC"))
    p.readings(rows)


def test_case_5_short_gap_takes_the_mean_before_and_after(project) -> None:
    p = project(CASE_5_PLAN)
    _hourly_case_5(p, missing={4, 5, 6}, hours=24)
    r = p.report(D("2026-04-01"), D("2026-04-01"))
    gaps = [g for g in r.gaps if g.monitoring_point == "MP-V" and g.rule == "mean_before_after"]
    assert len(gaps) == 1 and gaps[0].hours == 3
    sub = next(c for c in r.corrections if c.rule == "mean_before_after")
    assert sub.delta == pytest.approx(150.0)
    assert sub.effect_tco2 > 0  # substituting adds credit, and says how much
    # 8 h around the gap (400 Nm3) and 13 h of 50 measured, plus 150 substituted
    calc = {c.label: c.value for c in r.calculation}
    assert calc["Σ LFG_flare"] == pytest.approx(400 + 13 * 50 + 150)


def test_case_5_ten_day_gap_gets_no_credit(project) -> None:
    p = project(CASE_5_PLAN)
    _hourly_case_5(p, missing=set(range(24, 24 + 240)), hours=24 + 240 + 24)
    r = p.report(D("2026-04-01"), D("2026-04-12"))
    gap = next(g for g in r.gaps if g.monitoring_point == "MP-V" and g.hours >= 240)
    assert gap.rule == "no_credit" and gap.hours == 240
    assert not any(c.rule == "no_credit" and c.delta != 0 for c in r.corrections)


CAL_PLAN_PATCH = {
    "max_permissible_error_pct": 0.2,
    "calibration": {"interval_months": 12, "last": "2024-07-01"},
}


def _solar_with_calibration() -> str:
    import yaml

    plan = yaml.safe_load(SOLAR_PLAN.read_text())
    plan["project"]["crediting_period"]["start"] = "2024-01-01"
    for d in plan["devices"]:
        if d["id"] == "pv-a-meter":
            d.update(CAL_PLAN_PATCH, installed="2024-07-01")  # its readings start in 2025
    return yaml.safe_dump(plan, sort_keys=False)


def test_case_6_late_calibration_within_tolerance(project) -> None:
    p = project(_solar_with_calibration())
    p.readings(
        register(
            "pv-a-meter",
            [
                ("2025-01-01T00:00:00Z", 0.0),
                ("2025-07-01T00:00:00Z", 500.0),  # due date
                ("2025-10-01T00:00:00Z", 800.0),  # calibrated: 300 MWh in the late window
                ("2026-01-01T00:00:00Z", 1200.0),
            ],
            unit="MWh",
        )
    )
    p.entry(
        "calibration_certificate",
        {
            "device": "pv-a-meter",
            "calibrated_on": "2025-10-01",
            "certificate": "CAL-2025-10-01",
            "result": "within_tolerance",
            "error_pct": 0.1,
        },
        "6f1d1c1e-0000-4000-8000-000000000006",
    )
    r = p.report(D("2025-01-01"), D("2025-12-31"))
    cal = [c for c in r.corrections if c.kind == "calibration"]
    assert [(c.rule, c.start[:10], c.end[:10]) for c in cal] == [
        ("calibration_late", "2025-07-01", "2025-10-01")
    ]
    assert cal[0].delta == pytest.approx(-0.6)  # 300 MWh x 0.2 %
    assert cal[0].effect_tco2 == pytest.approx(-0.3)
    assert r.reference_emissions_tco2 == pytest.approx(599.7)
    assert r.emission_reductions_tco2.value == 599
    row = next(x for x in r.parameters if x.monitoring_point == "MP-A")
    assert "calibration_late" in row.calibration and cal[0].id in row.corrections
