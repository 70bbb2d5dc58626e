"""Energy saving by high-efficiency chillers (methodology id ``chiller-energy-saving``).

RE_p = Σ_i EC_PJ,i,p × (COP_PJ,i / COP_RE,i) × EF_elec
PE_p = Σ_i EC_PJ,i,p × EF_elec
ER_p = RE_p − PE_p
"""

from __future__ import annotations

import math

from verification.model import CalcStep, Calculation, Resolved, Symbol, Values
from verification.parameters import ParameterTable

METHODOLOGY = "chiller-energy-saving"


def cop_at_standard_conditions(
    cop_rated: float,
    t_cw_out_c: float,
    t_chw_out_c: float,
    *,
    td_chw_k: float = 1.5,
    td_cw_k: float = 1.5,
    t_cw_std_c: float = 37.0,
    t_chw_std_c: float = 7.0,
) -> float:
    """COP_PJ,tc = COP_PJ × (T_cw,out − T_chw,out + TD_chw + TD_cw)
                             / (T_cw,std − T_chw,std + TD_chw + TD_cw).

    cop_rated: the unit's rated COP at its rating conditions (dimensionless).
    t_cw_out_c, t_chw_out_c: cooling- and chilled-water outlet temperatures of the rating, °C.
    td_*_k: temperature differences, K; t_*_std_c: standard conditions, °C.
    """
    numerator = t_cw_out_c - t_chw_out_c + td_chw_k + td_cw_k
    denominator = t_cw_std_c - t_chw_std_c + td_chw_k + td_cw_k
    if numerator <= 0 or denominator <= 0:
        raise ValueError("the temperature lift must be positive")
    return cop_rated * numerator / denominator


def reference_emissions_tco2(
    ec_pj_mwh: float, cop_pj: float, cop_re: float, ef_elec_tco2_per_mwh: float
) -> float:
    """RE_i,p = EC_PJ,i,p × (COP_PJ,i / COP_RE,i) × EF_elec (one unit i)."""
    if cop_re <= 0 or cop_pj <= 0:
        raise ValueError("COPs must be positive")
    return ec_pj_mwh * (cop_pj / cop_re) * ef_elec_tco2_per_mwh


def project_emissions_tco2(ec_pj_mwh: float, ef_elec_tco2_per_mwh: float) -> float:
    """PE_i,p = EC_PJ,i,p × EF_elec (one unit i)."""
    return ec_pj_mwh * ef_elec_tco2_per_mwh


SYMBOLS: dict[str, Symbol] = {
    # More electricity through a better chiller raises RE more than PE (COP_PJ > COP_RE),
    # so a gap in EC_PJ counted zero is the conservative choice.
    "EC_PJ": Symbol(
        "Electricity consumed by project unit i", "MWh", "raises_reference", options="BC"
    ),
    "COP_PJ": Symbol(
        "Rated COP of the project units", "dimensionless", "raises_reference", options="A"
    ),
    "COP_RE": Symbol(
        "Reference COP (methodology table)", "dimensionless", "raises_project", options="A"
    ),
    "EF_elec": Symbol(
        "CO2 emission factor of grid electricity", "tCO2/MWh", "raises_reference", options="A"
    ),
    "T_chw_out": Symbol(
        "Chilled water outlet temperature of unit i",
        "degC",
        "raises_project",
        "mean",
        False,
        options="AC",
    ),
    "T_cw_out": Symbol(
        "Cooling water outlet temperature of unit i",
        "degC",
        "raises_reference",
        "mean",
        False,
        options="AC",
    ),
}


def calculate(values: Values, table: ParameterTable) -> Calculation:
    """RE_p = Σ_i EC_PJ,i,p × (COP_PJ,tc,i / COP_RE) × EF_elec; PE_p = Σ_i EC_PJ,i,p × EF_elec.

    T_chw_out and T_cw_out are the outlet temperatures the rated COP_PJ refers to: the
    manufacturer's rating conditions (option A, one value for all units) or, where a plan
    monitors them, each unit's mean (one point per unit, in the order of EC_PJ's points).
    Without them COP_PJ is taken as already at standard conditions.
    """
    ec = values["EC_PJ"].points
    cop_pj, cop_re, ef = (values[s].value for s in ("COP_PJ", "COP_RE", "EF_elec"))
    temperatures = _rating_temperatures(values, len(ec))
    steps: list[CalcStep] = []
    reference = project = 0.0
    for i, unit in enumerate(ec):
        name = unit.monitoring_point or f"unit {i + 1}"
        rating = (
            None
            if temperatures is None
            else tuple(t.points[min(i, len(t.points) - 1)].value for t in temperatures)
        )
        cop, cop_steps = _unit_cop(cop_pj, cop_re, unit.value, rating, table, name)
        re = reference_emissions_tco2(unit.value, cop, cop_re, ef)
        pe = project_emissions_tco2(unit.value, ef)
        steps += cop_steps
        steps.append(
            CalcStep(
                f"RE ({name})", f"{unit.value:.6f} × ({cop:.4f} / {cop_re}) × {ef}", re, "tCO2"
            )
        )
        steps.append(CalcStep(f"PE ({name})", f"{unit.value:.6f} × {ef}", pe, "tCO2"))
        reference += re
        project += pe
    steps.append(CalcStep("RE_p", "Σ_i RE_i", reference, "tCO2"))
    steps.append(CalcStep("PE_p", "Σ_i PE_i", project, "tCO2"))
    return Calculation(reference, project, tuple(steps))


def _rating_temperatures(values: Values, units: int) -> tuple[Resolved, Resolved] | None:
    """T_chw_out and T_cw_out (°C) when the plan has both: one value for every unit or
    one per unit."""
    t_chw, t_cw = values.get("T_chw_out"), values.get("T_cw_out")
    if t_chw is None or t_cw is None:
        return None
    for t in (t_chw, t_cw):
        if len(t.points) not in (1, units):
            raise ValueError(
                f"{t.symbol} needs one value (the rating conditions, option A) or one "
                "monitoring point per EC_PJ point"
            )
    return t_chw, t_cw


def _unit_cop(
    cop_pj: float,
    cop_re: float,
    ec_pj_mwh: float,
    rating: tuple[float, ...] | None,
    table: ParameterTable,
    name: str,
) -> tuple[float, list[CalcStep]]:
    """COP_PJ,tc of one unit (dimensionless) from its rating temperatures (T_chw_out,
    T_cw_out in °C; None: COP_PJ as rated), with its calculation step."""
    cop = cop_pj
    steps: list[CalcStep] = []
    if rating is not None:
        chw, cw = rating
        try:
            cop = cop_at_standard_conditions(
                cop_pj,
                cw,
                chw,
                td_chw_k=table.value("TD_chw"),
                td_cw_k=table.value("TD_cw"),
                t_cw_std_c=table.value("T_cw_std"),
                t_chw_std_c=table.value("T_chw_std"),
            )
        except ValueError:  # no lift: probes swapped or mislabelled; no credit
            cop = math.nan
        if not math.isnan(cop):
            formula = (
                f"{cop_pj} × ({cw:.3f} − {chw:.3f} + TD_chw + TD_cw) / "
                f"({table.value('T_cw_std')} − {table.value('T_chw_std')} + TD_chw + TD_cw)"
            )
            steps.append(CalcStep(f"COP_PJ,tc ({name})", formula, cop, "dimensionless"))
    if math.isnan(cop):
        # no temperatures for a unit that ran: its COP at standard conditions is
        # unknown, so it is credited nothing (its RE equals its PE)
        cop = cop_re if ec_pj_mwh else cop_pj
        steps.append(
            CalcStep(
                f"COP_PJ,tc ({name})",
                "no outlet temperatures in the period: COP_RE used (no credit)",
                cop,
                "dimensionless",
            )
        )
    return cop, steps
