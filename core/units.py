"""The one pint unit registry of jcm-mrv, and cached affine conversions.

pint is used at the edges only: a unit string is parsed once per (unit, quantity,
conditions) and reduced to an affine rule ``canonical = raw * scale + offset``.
The gateway's hot path then costs a dict lookup and a multiply (pint itself is
~100 µs per conversion, see shared/machine-notes.md).

Gas amounts: ``Nm3`` (0 °C, 101.325 kPa) and ``scf`` (60 °F, 14.696 psia) are defined
as *amounts of substance* so that a normal volume never mixes with an actual volume
(``m3``); scf → Nm3 then comes out right (1 scf = 0.026 791 Nm3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import pint

R_J_PER_MOL_K = 8.314462618
NORMAL_TEMPERATURE_K = 273.15
NORMAL_PRESSURE_KPA = 101.325
SCF_TEMPERATURE_K = 273.15 + (60 - 32) * 5 / 9  # 60 °F
SCF_PRESSURE_PA = 14.696 * 6894.757293168361  # 14.696 psia

ureg: pint.UnitRegistry[float] = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
Quantity = ureg.Quantity

_DEFINITIONS = [
    # One normal cubic metre of gas: n = PV/RT at 0 °C and 101.325 kPa (≈ 44.615 mol).
    f"Nm3 = {NORMAL_PRESSURE_KPA * 1000.0 / (R_J_PER_MOL_K * NORMAL_TEMPERATURE_K)!r} * mol",
    # One standard cubic foot (US, 60 °F and 14.696 psia).
    f"scf = {SCF_PRESSURE_PA * 0.028316846592 / (R_J_PER_MOL_K * SCF_TEMPERATURE_K)!r} * mol",
    "Mscf = 1000 * scf",
    "MMscf = 1000000 * scf",
    "SCFM = scf / minute",
    "SCFH = scf / hour",
    "MMBtu = 1e6 * Btu",
    "therm_US = 100000 * Btu",
    # Gauge pressures: absolute = gauge + one standard atmosphere, unless the device's
    # record states its own atmosphere (see GAUGE_UNITS and conversion()).
    "psig = 6894.757293168361 * pascal; offset: 101325",
    "barg = 100000 * pascal; offset: 101325",
    "kPag = 1000 * pascal; offset: 101325",
    # CO2-equivalent mass is its own dimension so that tCO2 never mixes with plain tonnes.
    "gCO2 = [co2_mass]",
    "tCO2 = 1e6 * gCO2",
    "tCO2e = tCO2",
    "kgCO2 = 1000 * gCO2",
]
for _definition in _DEFINITIONS:
    ureg.define(_definition)

#: Gauge pressure units and the factor from the unit to kPa.
GAUGE_UNITS: dict[str, float] = {"psig": 6.894757293168361, "barg": 100.0, "kPag": 1.0}

# Spellings seen on real meters and data loggers that pint does not read as meant.
_ALIASES: dict[str, str] = {
    "kwh": "kWh",
    "mwh": "MWh",
    "gwh": "GWh",
    "wh": "Wh",
    "kw": "kW",
    "mw": "MW",
    "w": "W",
    "kvarh": "kWh",  # never reached: reactive energy has no quantity; kept out below
    "w/m2": "W/m**2",
    "w/m^2": "W/m**2",
    "w/m²": "W/m**2",
    "m3": "m**3",
    "m^3": "m**3",
    "m³": "m**3",
    "nm3": "Nm3",
    "nm^3": "Nm3",
    "nm³": "Nm3",
    "m3/h": "m**3/hour",
    "m^3/h": "m**3/hour",
    "m³/h": "m**3/hour",
    "nm3/h": "Nm3/hour",
    "nm^3/h": "Nm3/hour",
    "nm³/h": "Nm3/hour",
    "ft3": "ft**3",
    "ft^3": "ft**3",
    "cf": "ft**3",
    "cfm": "ft**3/minute",
    "acfm": "ft**3/minute",
    "scf": "scf",
    "scfm": "SCFM",
    "scfh": "SCFH",
    "mscf": "Mscf",
    "mmscf": "MMscf",
    "mmbtu": "MMBtu",
    "°c": "degC",
    "degc": "degC",
    "celsius": "degC",
    "°f": "degF",
    "degf": "degF",
    "fahrenheit": "degF",
    "k": "kelvin",
    "psia": "psi",
    "psig": "psig",
    "barg": "barg",
    "kpag": "kPag",
    "kpa": "kPa",
    "kpaa": "kPa",
    "bara": "bar",
    "%": "percent",
    "pct": "percent",
    "ppm": "ppm",
    "l": "liter",
    "ltr": "liter",
    "litre": "liter",
    "litres": "liter",
    "gal": "gallon",
    "t": "tonne",
    "gj": "GJ",
    "mj": "MJ",
    "1": "dimensionless",
    "": "dimensionless",
    "bool": "dimensionless",
    "tco2": "tCO2",
    "tco2e": "tCO2e",
}
_ALIASES.pop("kvarh")


class UnitError(ValueError):
    """A unit that cannot be read, or has the wrong dimension for its quantity."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def normalise_unit(unit: str) -> str:
    """Map a meter's spelling of a unit onto a pint expression."""
    stripped = unit.strip()
    return _ALIASES.get(stripped.lower(), stripped)


@lru_cache(maxsize=4096)
def parse_unit(unit: str) -> pint.Unit:
    """Parse a unit string once (cached); raise UnitError if pint cannot read it.

    A control or invisible character (``"kWh\\x00"``, a zero-width space) is refused
    although pint would skip it: the raw unit is stored as sent, and text that prints
    the same as ``kWh`` but is not must not pass as it (PostgreSQL cannot even hold a
    NUL)."""
    if not unit.isprintable():
        raise UnitError("unit_unknown", f"unit {unit!r} has a control or invisible character")
    expression = normalise_unit(unit)
    try:
        parsed = ureg.parse_units(expression)
    except Exception as exc:  # pint raises several unrelated exception types
        raise UnitError("unit_unknown", f"unknown unit {unit!r}") from exc
    return parsed


@dataclass(frozen=True, slots=True)
class Affine:
    """``canonical = raw * scale + offset``."""

    scale: float
    offset: float

    def __call__(self, raw: float) -> float:
        return raw * self.scale + self.offset


@dataclass(frozen=True, slots=True)
class ReferenceConditions:
    """The temperature and absolute pressure a gas meter corrects its volume to."""

    temperature_c: float = 0.0
    pressure_kpa: float = NORMAL_PRESSURE_KPA

    def to_normal_factor(self) -> float:
        """Nm3 per m3 at these conditions (ideal gas, dry basis)."""
        return (self.pressure_kpa / NORMAL_PRESSURE_KPA) * (
            NORMAL_TEMPERATURE_K / (self.temperature_c + NORMAL_TEMPERATURE_K)
        )


@lru_cache(maxsize=8192)
def conversion(
    unit: str,
    canonical_unit: str,
    *,
    atmosphere_kpa: float | None = None,
    reference: ReferenceConditions | None = None,
) -> Affine:
    """The affine rule from ``unit`` to ``canonical_unit``, computed once with pint.

    atmosphere_kpa: the device's stated atmospheric pressure (kPa), used for gauge units
        (psig, barg, kPag) instead of one standard atmosphere.
    reference: for a normal-volume quantity (canonical Nm3 or Nm3/h) reported in a plain
        volume unit (m3, ft3), the meter's reference conditions; the volume is then
        brought to 0 °C and 101.325 kPa.
    """
    source = parse_unit(unit)
    target = parse_unit(canonical_unit)
    if reference is not None and source.dimensionality != target.dimensionality:
        # m3 at the meter's reference conditions -> Nm3: V_n = V (P/P0) (T0/T)
        # One m3 at reference conditions counts as one Nm3 before the P/T correction.
        volume_like = source * ureg.Nm3 / ureg.m**3
        if volume_like.dimensionality == target.dimensionality:
            base = Quantity(1.0, volume_like).to(target).magnitude
            return Affine(scale=base * reference.to_normal_factor(), offset=0.0)
    if source.dimensionality != target.dimensionality:
        raise UnitError(
            "unit_dimension",
            f"unit {unit!r} is {_dimension_name(source)}, expected {_dimension_name(target)}"
            f" ({canonical_unit})",
        )
    zero = Quantity(0.0, source).to(target).magnitude
    one = Quantity(1.0, source).to(target).magnitude
    scale, offset = float(one - zero), float(zero)
    expression = normalise_unit(unit)
    if atmosphere_kpa is not None and expression in GAUGE_UNITS:
        to_kpa = Quantity(1.0, ureg.kPa).to(target).magnitude
        offset = float(atmosphere_kpa * to_kpa)
    if not (math.isfinite(scale) and math.isfinite(offset)) or scale == 0.0:
        raise UnitError("unit_unknown", f"unit {unit!r} has no usable conversion")
    return Affine(scale=scale, offset=offset)


def _dimension_name(unit: pint.Unit) -> str:
    dims = unit.dimensionality
    return "dimensionless" if not dims else str(dims)


def to_canonical(value: float, unit: str, canonical_unit: str) -> float:
    """Convenience for the edges: convert one value (uses the cached rule)."""
    return conversion(unit, canonical_unit)(value)
