"""Methane recovery and destruction (methodology id ``methane-recovery-destruction``).

V_n = V × (P / 101.325 kPa) × (273.15 K / T)                 (dry basis)
CH4_captured = Σ_t V_n,t × w_CH4,t × ρ_CH4 / 1000             [t]
CH4_destroyed = Σ_device CH4_sent × η_device
PE_flare = GWP_CH4 × Σ_m TM_RG,m × (1 − η_flare,m) / 1000     [tCO2e]
ER_p = GWP_CH4 × CH4_destroyed − PE_other
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from core.units import NORMAL_PRESSURE_KPA, NORMAL_TEMPERATURE_K
from verification.model import CalcStep, Calculation, Symbol, Values
from verification.parameters import ParameterTable

METHODOLOGY = "methane-recovery-destruction"


def normal_volume_nm3(
    volume_m3: ArrayLike, temperature_c: ArrayLike, pressure_kpa: ArrayLike
) -> NDArray[np.float64]:
    """V_n = V × (P / 101.325) × (273.15 / T): actual m³ at T (°C), P (kPa absolute) to Nm³."""
    v = np.asarray(volume_m3, dtype=float)
    t_k = np.asarray(temperature_c, dtype=float) + NORMAL_TEMPERATURE_K
    p = np.asarray(pressure_kpa, dtype=float)
    return v * (p / NORMAL_PRESSURE_KPA) * (NORMAL_TEMPERATURE_K / t_k)


def methane_mass_kg(
    normal_volume: ArrayLike, ch4_fraction: ArrayLike, density_kg_per_nm3: float
) -> NDArray[np.float64]:
    """TM = V_n × w_CH4 × ρ_CH4 (kg per interval), ρ_CH4 = 0.716 kg/Nm³ at 0 °C, 1 atm."""
    mass: NDArray[np.float64] = (
        np.asarray(normal_volume, dtype=float)
        * np.asarray(ch4_fraction, dtype=float)
        * (density_kg_per_nm3)
    )
    return mass


def enclosed_flare_efficiency(
    exhaust_temperature_c: ArrayLike, default_efficiency: float, minimum_temperature_c: float
) -> NDArray[np.float64]:
    """η per interval: the default (0.9) while the exhaust is above the minimum (500 °C),
    else 0 (CDM flaring tool)."""
    t = np.asarray(exhaust_temperature_c, dtype=float)
    return np.where(t > minimum_temperature_c, default_efficiency, 0.0)


def open_flare_efficiency(
    flame_detected: ArrayLike, default_efficiency: float
) -> NDArray[np.float64]:
    """η per interval: the default (0.5) while a flame is detected, else 0."""
    return np.where(np.asarray(flame_detected, dtype=float) >= 0.5, default_efficiency, 0.0)


def methane_destroyed_t(methane_sent_kg: ArrayLike, efficiency: ArrayLike) -> float:
    """CH4_destroyed = Σ_m TM_m × η_m / 1000 (t)."""
    return float(np.sum(np.asarray(methane_sent_kg) * np.asarray(efficiency)) / 1000.0)


def flare_project_emissions_tco2e(
    methane_sent_kg: ArrayLike, efficiency: ArrayLike, gwp_ch4: float
) -> float:
    """PE_flare = GWP_CH4 × Σ_m TM_RG,m × (1 − η_m) / 1000."""
    sent = np.asarray(methane_sent_kg, dtype=float)
    return float(gwp_ch4 * np.sum(sent * (1.0 - np.asarray(efficiency))) / 1000.0)


def emission_reductions_tco2e(
    methane_destroyed: float, gwp_ch4: float, other_project_emissions_tco2: float = 0.0
) -> float:
    """ER_p = GWP_CH4 × CH4_destroyed − PE_other."""
    return gwp_ch4 * methane_destroyed - other_project_emissions_tco2


SYMBOLS: dict[str, Symbol] = {
    "LFG_flare": Symbol(
        "Gas sent to the flare per step (Nm3, or actual m3 normalised with T_LFG and P_LFG)",
        "Nm3",
        "raises_reference",
        "steps",
        False,
        options="C",
        alt_units=("m**3",),
        california=True,
        additive=True,
    ),
    "LFG_engine": Symbol(
        "Gas sent to engines or generators per step (Nm3, or actual m3 normalised)",
        "Nm3",
        "raises_reference",
        "steps",
        False,
        options="C",
        alt_units=("m**3",),
        california=True,
        additive=True,
    ),
    "engine_on": Symbol(
        "Share of each step the engines are shown generating (output above the minimum)",
        "dimensionless",
        "raises_reference",
        "share",
        False,
        threshold="P_engine_min",
        options="C",
    ),
    "eta_engine": Symbol(
        "Methane destruction efficiency of the engines while operating",
        "dimensionless",
        "raises_reference",
        required=False,
        options="A",
        only_with="LFG_engine",
    ),
    "w_CH4": Symbol(
        "Methane fraction of the gas, per step",
        "dimensionless",
        "raises_reference",
        "steps",
        california=True,
    ),
    "T_LFG": Symbol(
        "Gas temperature at the flow meter", "degC", "raises_project", "steps", False, options="AC"
    ),
    "P_LFG": Symbol(
        "Gas pressure at the flow meter, absolute",
        "kPa",
        "raises_reference",
        "steps",
        False,
        options="AC",
    ),
    "T_flare": Symbol(
        "Share of each step the enclosed flare's exhaust was above the minimum temperature",
        "dimensionless",
        "raises_reference",
        "share",
        False,
        threshold="T_enclosed_min",
        options="C",
    ),
    "flame": Symbol(
        "Share of each step a flame was detected",
        "dimensionless",
        "raises_reference",
        "share",
        False,
        threshold=0.5,
        options="C",
    ),
    "eta_flare": Symbol(
        "Flare efficiency while operating",
        "dimensionless",
        "raises_reference",
        required=False,
        options="A",
        only_with="LFG_flare",
    ),
    "D_CH4": Symbol(
        "Methane density at 0 °C, 101.325 kPa", "kg/Nm3", "raises_reference", options="A"
    ),
    "GWP_CH4": Symbol(
        "Global warming potential of methane", "tCO2e/t", "raises_reference", options="A"
    ),
    "EC_PJ": Symbol(
        "Electricity used by the system", "MWh", "raises_project", required=False, options="BC"
    ),
    "EF_elec": Symbol(
        "CO2 emission factor of grid electricity",
        "tCO2/MWh",
        "raises_project",
        required=False,
        options="A",
    ),
}


def calculate(values: Values, table: ParameterTable) -> Calculation:
    """Minute by minute (the table's time step), for each destination d (flare, engine):
    V_n,d,m = LFG_d,m (Nm3; actual m3 × P_m/101.325 × 273.15/(T_m + 273.15) when the
    meter measures actual volume), TM_d,m = V_n,d,m × w_CH4,m × D_CH4,
    η_d,m = η_d × the share of the minute d is shown operating (an enclosed flare by its
    exhaust above the minimum, and its flame where a scanner is monitored; an open flare by
    its flame; an engine by its electrical output; no evidence, no destruction),
    RE_p = GWP × Σ_d,m TM_d,m / 1000, PE_d = GWP × Σ_m TM_d,m (1 − η_d,m) / 1000,
    PE_elec = EC_PJ × EF_elec, ER_p = RE_p − Σ_d PE_d − PE_elec.
    """
    if "LFG_flare" not in values and "LFG_engine" not in values:
        raise ValueError("the plan monitors neither LFG_flare nor LFG_engine")
    w = values["w_CH4"].steps()
    if w is None:
        raise ValueError("w_CH4 must be monitored step by step")
    gas = _Gas(w, values["D_CH4"].value, values["GWP_CH4"].value)
    steps: list[CalcStep] = []
    reference = project = 0.0
    for symbol, name in (("LFG_flare", ""), ("LFG_engine", " (engine)")):
        if symbol not in values:
            continue
        re, pe, destination_steps = _destination(values, table, symbol, name, gas)
        steps += destination_steps
        reference += re
        project += pe
    steps.append(CalcStep("RE_p", f"{gas.gwp} × Σ TM / 1000", reference, "tCO2e"))
    if "EC_PJ" in values:
        electricity = _electricity(values)
        steps.append(electricity)
        project += electricity.value
    steps.append(CalcStep("PE_p", "Σ PE (undestroyed methane, electricity)", project, "tCO2e"))
    return Calculation(reference, project, tuple(steps))


class _Gas(NamedTuple):
    """What every destination's methane shares: w_CH4 per step (dimensionless),
    D_CH4 (kg/Nm3) and GWP_CH4 (tCO2e/t CH4)."""

    w_ch4: NDArray[np.float64]
    density_kg_per_nm3: float
    gwp: float


def _destination(
    values: Values,
    table: ParameterTable,
    symbol: str,
    name: str,
    gas: _Gas,
) -> tuple[float, float, list[CalcStep]]:
    """One destination d (flare or engine): RE_d = GWP × Σ_m TM_d,m / 1000 and
    PE_d = GWP × Σ_m TM_d,m × (1 − η_d,m) / 1000 (tCO2e), with TM_d,m = V_n,d,m × w_CH4,m
    × D_CH4 (kg) and η_d,m = η_d × the share of minute m it is shown operating; with
    its calculation steps."""
    density, gwp = gas.density_kg_per_nm3, gas.gwp
    volume, steps = _normal_volume(values, symbol, name)
    mass = methane_mass_kg(volume, np.nan_to_num(gas.w_ch4), density)
    steps.append(
        CalcStep(f"Σ TM{name}", f"Σ_m V_n,m × w_CH4,m × {density}", float(mass.sum()), "kg CH4")
    )
    eta_default, share, device = _efficiency(values, table, symbol, volume.size)
    eta = eta_default * share
    destroyed = methane_destroyed_t(mass, eta)
    steps.append(
        CalcStep(
            f"operating share{name}",
            f"{device}: minutes shown operating / minutes",
            float(share.mean()) if share.size else 0.0,
            "dimensionless",
        )
    )
    steps.append(
        CalcStep(
            f"CH4_destroyed{name}", f"Σ_m TM_m × {eta_default} × share_m / 1000", destroyed, "t CH4"
        )
    )
    pe = flare_project_emissions_tco2e(mass, eta, gwp)
    label = "PE_flare" if symbol == "LFG_flare" else "PE_engine"
    steps.append(CalcStep(label, f"{gwp} × Σ_m TM_m × (1 − η_m) / 1000", pe, "tCO2e"))
    return gwp * float(mass.sum()) / 1000.0, pe, steps


def _electricity(values: Values) -> CalcStep:
    """PE_elec = EC_PJ × EF_elec (tCO2): the electricity the gas system uses."""
    if "EF_elec" not in values:
        raise ValueError("EC_PJ is monitored but EF_elec is missing")
    ec_mwh, ef = values["EC_PJ"].value, values["EF_elec"].value
    return CalcStep("PE_elec", f"{ec_mwh:.6f} × {ef}", ec_mwh * ef, "tCO2")


def _normal_volume(
    values: Values, symbol: str, name: str
) -> tuple[NDArray[np.float64], list[CalcStep]]:
    """V_n,m = V_m × (P_m / 101.325) × (273.15 / (T_m + 273.15)): the gas sent per step,
    in Nm3 (normalised with T_LFG and P_LFG when measured as actual volume), with its
    calculation steps."""
    lfg = values[symbol]
    volume = lfg.steps()
    if volume is None:
        raise ValueError(f"{symbol} must be monitored step by step")
    steps = [CalcStep(f"Σ {symbol}", "Σ_m LFG_m", float(volume.sum()), lfg.unit)]
    if lfg.unit == "Nm3":
        return volume, steps
    t, p = values.get("T_LFG"), values.get("P_LFG")
    t_steps = t.steps() if t else None
    p_steps = p.steps() if p else None
    if t_steps is None or p_steps is None:
        raise ValueError(f"{symbol} is in {lfg.unit}: T_LFG and P_LFG are needed to normalise it")
    known = np.isfinite(t_steps) & np.isfinite(p_steps)
    normal = np.where(
        known,
        normal_volume_nm3(volume, np.nan_to_num(t_steps), np.nan_to_num(p_steps, nan=0.0)),
        0.0,
    )
    steps.append(
        CalcStep(
            f"Σ V_n{name}",
            "Σ_m V_m × (P_m / 101.325) × (273.15 / (T_m + 273.15))",
            float(normal.sum()),
            "Nm3",
        )
    )
    return normal, steps


def _efficiency(
    values: Values, table: ParameterTable, symbol: str, n: int
) -> tuple[float, NDArray[np.float64], str]:
    """The destination's efficiency while operating, its per-step operating share, and
    its name."""
    if symbol == "LFG_engine":
        eta = values["eta_engine"].value if "eta_engine" in values else table.value("eta_engine")
        return eta, _operating_share(values, n, ("engine_on",)), "engine"
    if "T_flare" in values:
        eta = (
            values["eta_flare"].value
            if "eta_flare" in values
            else table.value("eta_enclosed_flare")
        )
        return eta, _operating_share(values, n, ("T_flare", "flame")), "enclosed flare"
    eta = values["eta_flare"].value if "eta_flare" in values else table.value("eta_open_flare")
    return eta, _operating_share(values, n, ("flame",)), "open flare"


def _operating_share(values: Values, n: int, evidence: tuple[str, ...]) -> NDArray[np.float64]:
    """Per step, the share shown operating by every evidence series monitored (the lower
    bound of their joint truth: max(0, Σ shares − (k − 1)), never the optimistic minimum)."""
    shares = [values[s].steps() for s in evidence if s in values]
    present = [s for s in shares if s is not None]
    if not present:
        return np.zeros(n)
    share: NDArray[np.float64] = np.clip(np.sum(present, axis=0) - (len(present) - 1), 0.0, 1.0)
    return share
