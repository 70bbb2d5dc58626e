"""Which unit a simulated device reports each quantity in, and the conversion to it.

Real meters disagree about units; the gateway must accept any unit of the right
dimension (SPEC section 4). A device's ``nameplate`` flags choose odd but valid units:

  energy_unit_mwh = 1        energies in MWh (a utility meter's display), not kWh
  power_unit_w = 1           power in W
  temperature_unit_degf = 1  temperatures in °F (a US-built controller)
  pressure_unit_psig = 1     gas pressure in psig, relative to the device's stated
                             ``atmosphere_kpa`` (one standard atmosphere if none)
  fraction_unit_percent = 1  methane fraction in %
  volume_unit_scf = 1        normal gas in standard cubic feet (60 °F, 14.696 psia): scf, SCFM
  volume_unit_ref_m3 = 1     normal gas as plain m³ at the meter's own reference_conditions
"""

from __future__ import annotations

from core import quantities
from core.plans.schema import Device
from core.units import Affine, ReferenceConditions, UnitError, conversion

_DEFAULT_UNITS: dict[str, str] = {
    "energy_export": "kWh",
    "energy_import": "kWh",
    "energy_consumed": "kWh",
    "power": "kW",
    "irradiance": "W/m^2",
    "gas_volume": "m3",
    "gas_volume_normal": "Nm3",
    "gas_flow": "m3/h",
    "gas_flow_normal": "Nm3/h",
    "ch4_fraction": "1",
    "gas_temperature": "degC",
    "gas_pressure": "kPa",
    "flare_temperature": "degC",
    "flame_detected": "1",
    "cooling_energy": "kWh",
    "heat": "GJ",
    "fuel_volume": "L",
    "fuel_mass": "kg",
    "chilled_water_temperature": "degC",
    "cooling_water_temperature": "degC",
}

# A unit of the wrong dimension per quantity: the slips seen in the field (kW for kWh,
# a pressure unit on a temperature channel after a mis-configured Modbus map).
_WRONG_UNITS: dict[str, str] = {
    "energy_export": "kW",
    "energy_import": "kW",
    "energy_consumed": "kW",
    "cooling_energy": "kW",
    "power": "kWh",
    "irradiance": "kWh",
    "gas_volume": "kWh",
    "gas_volume_normal": "kg",
    "gas_flow": "m3",
    "gas_flow_normal": "Nm3",
    "ch4_fraction": "kg",
    "flame_detected": "V",
    "gas_pressure": "degC",
    "heat": "kW",
}
_WRONG_DEFAULT = "kPa"  # temperatures and anything else: a pressure unit

# Decimal places per reported unit: what a meter's register or a transmitter shows.
_DECIMALS: dict[str, int] = {
    "kWh": 3,
    "MWh": 6,
    "kW": 3,
    "W": 1,
    "W/m^2": 1,
    "Nm3": 3,
    "m3": 3,
    "scf": 1,
    "Nm3/h": 3,
    "m3/h": 3,
    "SCFM": 3,
    "degC": 2,
    "degF": 2,
    "kPa": 3,
    "psig": 4,
    "1": 4,
    "%": 2,
    "GJ": 4,
    "L": 2,
    "kg": 2,
}


def _flag(device: Device, name: str) -> bool:
    return device.nameplate.get(name, 0.0) > 0.0


def reported_unit(device: Device, quantity: str) -> str:
    """The unit this device reports ``quantity`` in."""
    if quantity in ("energy_export", "energy_import", "energy_consumed", "cooling_energy"):
        return "MWh" if _flag(device, "energy_unit_mwh") else "kWh"
    if quantity == "power" and _flag(device, "power_unit_w"):
        return "W"
    if quantity.endswith("temperature") and _flag(device, "temperature_unit_degf"):
        return "degF"
    if quantity == "gas_pressure" and _flag(device, "pressure_unit_psig"):
        return "psig"
    if quantity == "ch4_fraction" and _flag(device, "fraction_unit_percent"):
        return "%"
    if quantity in ("gas_volume_normal", "gas_flow_normal"):
        if _flag(device, "volume_unit_scf"):
            return "scf" if quantity == "gas_volume_normal" else "SCFM"
        if _flag(device, "volume_unit_ref_m3") and device.reference_conditions is not None:
            return "m3" if quantity == "gas_volume_normal" else "m3/h"
    return _DEFAULT_UNITS.get(quantity, "1")


def wrong_unit(quantity: str) -> str:
    return _WRONG_UNITS.get(quantity, _WRONG_DEFAULT)


def decimals(unit: str) -> int:
    return _DECIMALS.get(unit, 4)


def reference_of(device: Device) -> ReferenceConditions | None:
    ref = device.reference_conditions
    return ref.conditions() if ref is not None else None


def to_canonical_rule(device: Device, quantity: str, unit: str) -> Affine:
    """The gateway's rule for this device's unit (raises UnitError if it has none)."""
    spec = quantities.get(quantity)
    if spec is None:
        raise UnitError("quantity_unknown", f"unknown quantity {quantity!r}")
    return conversion(
        unit,
        spec.canonical_unit,
        atmosphere_kpa=device.atmosphere_kpa,
        reference=reference_of(device),
    )


def from_canonical(device: Device, quantity: str, unit: str, value: float) -> float:
    """Express a canonical value in the device's unit (inverse of the gateway's rule)."""
    rule = to_canonical_rule(device, quantity, unit)
    return (value - rule.offset) / rule.scale
