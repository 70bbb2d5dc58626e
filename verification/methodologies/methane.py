"""Methane recovery and destruction (methodology id ``methane-recovery-destruction``).

V_n = V × (P / 101.325 kPa) × (273.15 K / T)                 (dry basis)
CH4_captured = Σ_t V_n,t × w_CH4,t × ρ_CH4 / 1000             [t]
CH4_destroyed = Σ_device CH4_sent × η_device
PE_flare = GWP_CH4 × Σ_m TM_RG,m × (1 − η_flare,m) / 1000     [tCO2e]
ER_p = GWP_CH4 × CH4_destroyed − PE_other
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mrv.units import NORMAL_PRESSURE_KPA, NORMAL_TEMPERATURE_K

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
    return (
        np.asarray(normal_volume, dtype=float)
        * np.asarray(ch4_fraction, dtype=float)
        * (density_kg_per_nm3)
    )


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
