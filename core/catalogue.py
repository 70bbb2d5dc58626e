"""The reference data a client needs to build entry forms without the server's code:
each quantity with its canonical unit, plausible range and the units a person may pick,
and groups of units that convert into each other (for invoice and ticket amounts).

The field app caches this (``GET /v1/catalogue``) beside the plan, so its pickers and
inline range checks work offline and agree with the server's own checks.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from core import quantities
from core.units import UnitError, conversion

#: Units offered in pickers, in the spelling people write on forms, commonest first.
FIELD_UNITS: tuple[str, ...] = (
    "kWh", "MWh", "Wh", "GWh",
    "kW", "MW", "W",
    "W/m2",
    "m3", "Nm3", "scf", "Mscf", "ft3", "liter", "gallon",
    "m3/h", "Nm3/h", "SCFM", "SCFH", "cfm",
    "degC", "degF", "kelvin",
    "kPa", "psig", "barg", "bar", "psi",
    "percent", "ppm", "dimensionless",
    "kg", "tonne", "lb",
    "GJ", "MJ", "MMBtu",
)  # fmt: skip


def _converts(unit: str, target: str) -> bool:
    try:
        conversion(unit, target)
    except UnitError:
        return False
    return True


def unit_choices(canonical_unit: str) -> list[str]:
    """The picker's units for a quantity in ``canonical_unit``: the canonical one first."""
    found = [u for u in FIELD_UNITS if _converts(u, canonical_unit)]
    first = next((u for u in found if conversion(u, canonical_unit).scale == 1.0), None)
    return ([first] if first else []) + [u for u in found if u != first]


@cache
def catalogue() -> dict[str, Any]:
    groups: list[list[str]] = []
    for unit in FIELD_UNITS:
        group = next((g for g in groups if _converts(unit, g[0])), None)
        if group is None:
            groups.append([unit])
        else:
            group.append(unit)
    return {
        "quantities": [
            {
                "name": spec.name,
                "description": spec.description,
                "canonical_unit": spec.canonical_unit,
                "kind": str(spec.default_kind),
                "minimum": spec.minimum,
                "maximum": spec.maximum,
                "units": unit_choices(spec.canonical_unit),
                # value_in_canonical = scale * value + offset (before any correction for
                # a device's reference conditions, which the server applies)
                "to_canonical": {
                    u: [
                        conversion(u, spec.canonical_unit).scale,
                        conversion(u, spec.canonical_unit).offset,
                    ]
                    for u in unit_choices(spec.canonical_unit)
                },
            }
            for spec in quantities.CATALOGUE.values()
        ],
        "unit_groups": groups,
    }
