"""Conservative corrections for calibration lapses (methodologies.md, monitoring rules)."""

from __future__ import annotations

from typing import Literal

#: Which way a parameter moves emission reductions: a parameter that raises reference
#: emissions is corrected down, one that raises project emissions is corrected up.
Effect = Literal["raises_reference", "raises_project"]


def conservative_factor(error_pct: float, effect: Effect) -> float:
    """The factor that moves a measured value against the project by ``error_pct``.

    error_pct: the meter's maximum permissible error (late calibration within tolerance)
        or the error found (beyond tolerance), in percent, >= 0.
    Example (hand-checked case 6): 0.2 % on an export meter -> 0.998.
    """
    if error_pct < 0:
        raise ValueError("error_pct is a magnitude in percent (>= 0)")
    share = error_pct / 100.0
    return 1.0 - share if effect == "raises_reference" else 1.0 + share
