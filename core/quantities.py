"""The quantity catalogue: every quantity a device or a field entry may report.

Each quantity has one canonical unit (what the stores hold, as plain floats), a
default kind and a plausible range in the canonical unit. A value outside the range
is quarantined: it is far more likely a unit slip or a broken sensor than a fact.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """How a reading relates to time (SPEC section 3)."""

    CUMULATIVE = "cumulative"  # a register that only rises (energy meter kWh counter)
    INTERVAL = "interval"  # a total over the interval ending at the reading's time
    INSTANT = "instant"  # a sample


@dataclass(frozen=True, slots=True)
class QuantitySpec:
    name: str
    canonical_unit: str
    default_kind: Kind
    minimum: float
    maximum: float
    description: str

    def in_range(self, value: float) -> bool:
        return self.minimum <= value <= self.maximum


_E12 = 1e12  # a register can hold up to a terawatt-hour; anything above is a slip

CATALOGUE: dict[str, QuantitySpec] = {
    q.name: q
    for q in [
        # electricity
        QuantitySpec("energy_export", "kWh", Kind.CUMULATIVE, 0.0, _E12, "electricity exported"),
        QuantitySpec("energy_import", "kWh", Kind.CUMULATIVE, 0.0, _E12, "electricity imported"),
        QuantitySpec("energy_consumed", "kWh", Kind.CUMULATIVE, 0.0, _E12, "electricity used"),
        QuantitySpec("power", "kW", Kind.INSTANT, -1e6, 1e6, "active power"),
        QuantitySpec(
            "irradiance", "W/m**2", Kind.INSTANT, 0.0, 2000.0, "plane-of-array irradiance"
        ),
        # gas
        QuantitySpec("gas_volume", "m**3", Kind.CUMULATIVE, 0.0, _E12, "gas volume, actual"),
        QuantitySpec(
            "gas_volume_normal", "Nm3", Kind.CUMULATIVE, 0.0, _E12, "gas at 0 °C, 101.325 kPa"
        ),
        QuantitySpec("gas_flow", "m**3/hour", Kind.INSTANT, 0.0, 1e6, "gas flow, actual"),
        QuantitySpec(
            "gas_flow_normal", "Nm3/hour", Kind.INSTANT, 0.0, 1e6, "gas flow at 0 °C, 101.325 kPa"
        ),
        QuantitySpec("ch4_fraction", "dimensionless", Kind.INSTANT, 0.0, 1.0, "methane fraction"),
        QuantitySpec("gas_temperature", "degC", Kind.INSTANT, -60.0, 200.0, "gas temperature"),
        QuantitySpec("gas_pressure", "kPa", Kind.INSTANT, 0.0, 2000.0, "gas pressure, absolute"),
        QuantitySpec("flare_temperature", "degC", Kind.INSTANT, -60.0, 2000.0, "flare exhaust"),
        QuantitySpec("flame_detected", "dimensionless", Kind.INSTANT, 0.0, 1.0, "flame 0/1"),
        # thermal and fuel
        QuantitySpec("cooling_energy", "kWh", Kind.CUMULATIVE, 0.0, _E12, "cooling, thermal"),
        QuantitySpec("heat", "GJ", Kind.CUMULATIVE, 0.0, _E12, "heat"),
        QuantitySpec("fuel_volume", "liter", Kind.CUMULATIVE, 0.0, _E12, "fuel volume"),
        QuantitySpec("fuel_mass", "kg", Kind.CUMULATIVE, 0.0, _E12, "fuel mass"),
        # temperatures a chiller's COP is brought to standard conditions with
        QuantitySpec("chilled_water_temperature", "degC", Kind.INSTANT, -20.0, 40.0, "CHW out"),
        QuantitySpec("cooling_water_temperature", "degC", Kind.INSTANT, -20.0, 80.0, "CW out"),
    ]
}


def get(name: str) -> QuantitySpec | None:
    return CATALOGUE.get(name)
