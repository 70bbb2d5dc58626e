"""Conservative substitution for missing data (methodologies.md, "Missing data").

The plan picks a rule set (``project.gap_rules``): ``conservative`` (the default: a gap in
a parameter that raises reference emissions counts zero) or ``california`` for methane
flow and fraction while the destruction device is shown operating. This slice implements
the California rule's short and long ends; the 6 h – 7 day confidence-limit bands come
next, with their limits in versioned data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

SHORT_GAP_H = 6.0  # below: mean of the 4 h before and after
LONG_GAP_H = 7 * 24.0  # above: no credit for the gap


@dataclass(frozen=True)
class Substitution:
    value: float  # substituted total for the gap (rate unit x hours)
    rule: Literal["mean_before_after", "no_credit", "not_covered"]
    note: str


def california_substitute(
    gap_hours: float, before_rates: ArrayLike, after_rates: ArrayLike
) -> Substitution:
    """Substitute a gap in an hourly methane flow (or fraction) series.

    gap_hours: length of the gap, h; before_rates / after_rates: the hourly values of the
    4 h before and after it (rate unit per hour, e.g. Nm3/h).
    Hand-checked case 5: 3 h with 50, 52, 48, 50 before and 46, 50, 54, 50 after -> 150.
    """
    if gap_hours <= 0:
        raise ValueError("gap_hours must be positive")
    if gap_hours > LONG_GAP_H:
        return Substitution(0.0, "no_credit", f"gap of {gap_hours:.0f} h > 7 days: no credit")
    if gap_hours < SHORT_GAP_H:
        around = np.concatenate([np.asarray(before_rates, float), np.asarray(after_rates, float)])
        if around.size == 0:
            return Substitution(0.0, "not_covered", "no data around the gap: counted zero")
        mean = float(np.mean(around))
        return Substitution(
            mean * gap_hours,
            "mean_before_after",
            f"{gap_hours:g} h x mean {mean:g} of the {around.size} h before and after",
        )
    return Substitution(
        0.0,
        "not_covered",
        f"gap of {gap_hours:g} h: the 90/95 % confidence-limit bands are not implemented "
        "yet; counted zero (conservative)",
    )
