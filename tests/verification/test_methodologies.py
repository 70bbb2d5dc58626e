"""The hand-checked cases of shared/methodologies.md on the pure methodology functions
and the versioned parameter tables. (Issue 3 adds the same cases through the real path:
plan -> readings in the store -> report.)"""

from __future__ import annotations

import pytest

from core.units import to_canonical
from verification.calibration import conservative_factor
from verification.methodologies import chiller, methane, solar_pv
from verification.parameters import load_table
from verification.rounding import round_tco2

PV = load_table("PV-power-generation", "1.0")
CH = load_table("chiller-energy-saving", "1.0")
CH4 = load_table("methane-recovery-destruction", "1.0")


def test_case_1_solar_grid():
    re = solar_pv.reference_emissions_tco2([120.000, 80.500], PV.value("EF_grid"))
    er = solar_pv.emission_reductions_tco2(re)
    assert re == pytest.approx(100.25)
    assert round_tco2(er, PV.rounding) == 100


def test_case_2_solar_captive_diesel_and_the_wrong_factor():
    er = solar_pv.emission_reductions_tco2(
        solar_pv.reference_emissions_tco2([150.0], PV.value("EF_diesel"))
    )
    assert er == pytest.approx(79.95)
    assert round_tco2(er, PV.rounding) == 79
    # the CDM small-scale default of 0.8 is not the JCM figure: it would credit 120
    assert round_tco2(solar_pv.reference_emissions_tco2([150.0], 0.8), "floor") == 120


def test_case_3_chiller():
    ef = CH.value("EF_elec")
    re = chiller.reference_emissions_tco2(347.2, 6.20, CH.value("COP_RE"), ef)
    pe = chiller.project_emissions_tco2(347.2, ef)
    assert re == pytest.approx(313.111, abs=5e-4)
    assert pe == pytest.approx(277.760)
    assert round_tco2(re - pe, CH.rounding) == 35


def test_chiller_cop_brought_to_standard_conditions():
    # rated at the standard conditions themselves: unchanged
    assert chiller.cop_at_standard_conditions(6.2, 37.0, 7.0) == pytest.approx(6.2)
    # rated with a smaller lift (32/7 °C): the standard-condition COP is lower
    assert chiller.cop_at_standard_conditions(6.2, 32.0, 7.0) == pytest.approx(6.2 * 28 / 33)


def test_case_4_gas_through_a_flare():
    flow_m3 = to_canonical(100.0, "ft**3/minute", "m**3/hour") * 24  # 24 h at 100 cfm
    assert flow_m3 == pytest.approx(4077.63, abs=0.01)
    v_n = float(methane.normal_volume_nm3(flow_m3, 20.0, 101.325))
    assert v_n == pytest.approx(3799.43, abs=0.01)
    kg = float(methane.methane_mass_kg(v_n, 0.55, CH4.value("D_CH4")))
    assert kg == pytest.approx(1496.22, abs=0.01)
    eta = methane.enclosed_flare_efficiency(
        [850.0], CH4.value("eta_enclosed_flare"), CH4.value("T_enclosed_min")
    )
    destroyed_t = methane.methane_destroyed_t([kg], eta)
    assert destroyed_t == pytest.approx(1.34660, abs=1e-5)
    er = methane.emission_reductions_tco2e(destroyed_t, CH4.value("GWP_CH4"))
    assert er == pytest.approx(33.665, abs=1e-3)  # "33.66" in the case, unrounded 33.665


def test_flare_without_evidence_destroys_nothing():
    cold = methane.enclosed_flare_efficiency([450.0, 501.0], 0.9, 500.0)
    assert list(cold) == [0.0, 0.9]
    assert list(methane.open_flare_efficiency([0, 1], 0.5)) == [0.0, 0.5]
    # project emissions of the flare: the methane that was not destroyed, in CO2e
    assert methane.flare_project_emissions_tco2e([1000.0, 1000.0], cold, 25) == pytest.approx(
        25 * (1000 + 100) / 1000
    )


def test_case_6_late_calibration_within_tolerance():
    late = 300.0 * conservative_factor(0.2, "raises_reference")
    assert late == pytest.approx(299.4)
    er = solar_pv.reference_emissions_tco2([late, 900.0], 0.5)
    assert er == pytest.approx(599.7)
    assert round_tco2(er, PV.rounding) == 599
    assert conservative_factor(0.2, "raises_project") == pytest.approx(1.002)


def test_rounding_rules():
    assert round_tco2(599.9999999999999, "floor") == 600  # float noise must not cost a tonne
    assert round_tco2(99.5, "half_up") == 100
    assert round_tco2(99.5, "none") == 99.5


def test_every_table_loads_and_names_its_sources():
    for table in (PV, CH, CH4):
        for name, p in table.parameters.items():
            assert p.source and p.unit, name
    with pytest.raises(FileNotFoundError, match="known"):
        load_table("PV-power-generation", "9.9")
    with pytest.raises(KeyError, match="has no parameter"):
        PV.value("EF_nonsense")
