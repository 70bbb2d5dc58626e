"""Rounding of emission reductions per period (methodologies.md: JCM rounds down to whole
tCO2, intermediate values unrounded — unconfirmed, so the rule comes from the table)."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

# Float noise such as 599.9999999999999 for an exact 600 must not lose a tonne.
_EPSILON = 1e-9


def round_tco2(value_tco2: float, rule: Literal["floor", "half_up", "none"]) -> float:
    """Round a period's emission reductions (tCO2) by the methodology's rule."""
    if rule == "none":
        return value_tco2
    if rule == "floor":
        return float(math.floor(value_tco2 + _EPSILON))
    return float(Decimal(repr(value_tco2)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
