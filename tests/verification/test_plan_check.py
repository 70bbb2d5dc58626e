"""Plans checked against their methodology, and units honoured whatever the plan writes."""

from __future__ import annotations

from datetime import date

import pytest
import yaml

import tests.verification.test_verification_path as path
from tests.support.paths import SOLAR_PLAN
from tests.support.reporting import ProjectUnderTest
from verification.plan_check import validate_plan_text

SOLAR = yaml.safe_load(SOLAR_PLAN.read_text())


def problems_of(plan: dict) -> list[str]:
    _, problems = validate_plan_text(yaml.safe_dump(plan, sort_keys=False))
    return [f"{p.path}: {p.message}" for p in problems]


def edited(**changes: dict) -> dict:
    plan = yaml.safe_load(yaml.safe_dump(SOLAR))
    for symbol, change in changes.items():
        param = next(p for p in plan["parameters"] if p["symbol"] == symbol)
        param.update(change)
    return plan


def test_a_meter_counted_twice_is_refused() -> None:
    plan = edited(EG_diesel={"monitoring_points": ["MP-K", "MP-A"]})
    assert problems_of(plan) == [
        "parameters[1].monitoring_points[1]: 'MP-A' is already used by EG_grid: its meter "
        "would be counted twice"
    ]
    plan = yaml.safe_load(yaml.safe_dump(SOLAR))
    plan["monitoring_points"].append(
        {"id": "MP-A2", "device": "pv-a-meter", "quantity": "energy_export"}
    )
    assert "one meter, two monitoring points" in problems_of(plan)[0]


def test_a_measured_parameter_cannot_be_a_fixed_estimate() -> None:
    plan = edited(
        EG_grid={
            "option": "A",
            "value": 1500,
            "source": "ex-ante estimate",
            "monitoring_points": [],
        }
    )
    assert problems_of(plan) == [
        "parameters[0].option: PV-power-generation allows option B or C for EG_grid, not A"
    ]


def test_units_must_convert_to_the_methodologys() -> None:
    assert problems_of(edited(EF_grid={"unit": "kg"})) == [
        "parameters[2].unit: 'kg' does not convert to tCO2/MWh, the unit PV-power-generation "
        "uses for EF_grid"
    ]
    assert problems_of(edited(EF_grid={"unit": "kgCO2/kWh", "value": 0.5})) == []


def test_a_plan_in_other_units_gives_the_same_reductions(tmp_path) -> None:
    """EG in kWh and EF in kg/kWh: the methodology still computes in MWh and tCO2/MWh."""
    plan = edited(EG_grid={"unit": "kWh"}, EF_grid={"unit": "kgCO2/kWh"})
    p = ProjectUnderTest(tmp_path, yaml.safe_dump(plan))
    p.readings(
        [
            ("2026-06-01T00:00:00Z", "pv-a-meter", "energy_export", 0.0, "MWh"),
            ("2026-07-01T00:00:00Z", "pv-a-meter", "energy_export", 120.0, "MWh"),
        ]
    )
    r = p.report(date(2026, 6, 1), date(2026, 6, 30))
    row = next(x for x in r.parameters if x.monitoring_point == "MP-A")
    assert (row.value, row.unit) == (pytest.approx(120.0), "MWh")
    assert r.emission_reductions_tco2.unrounded == pytest.approx(60.0)
    p.close()


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        ({"w_CH4": "percent"}, "a fraction in %"),
        ({"LFG_flare": "ft**3"}, "gas in cubic feet"),
        ({"P_LFG": "bar", "T_LFG": "degF", "T_flare": "degF"}, "°F and bar"),
    ],
)
def test_gas_case_in_other_units(tmp_path, monkeypatch, edit: dict, why: str) -> None:
    """Hand-checked case 4 holds whatever units the plan's parameters are written in."""
    plan = yaml.safe_load(path.GAS_PLAN)
    for p in plan["parameters"]:
        if p["symbol"] in edit:
            p["unit"] = edit[p["symbol"]]
    monkeypatch.setattr(path, "GAS_PLAN", yaml.safe_dump(plan))

    def make(text: str) -> ProjectUnderTest:
        folder = tmp_path / "p"
        folder.mkdir(exist_ok=True)
        return ProjectUnderTest(folder, text)

    path.test_case_4_gas_normalised_and_flared(make)
