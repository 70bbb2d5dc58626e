"""How one monitoring point's amount is measured, and the amount itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from core import quantities
from core.plans.schema import MonitoringPoint
from core.times import HOUR_MS
from verification.aggregation import BoundaryRule
from verification.series_parts import spread


class Amount(NamedTuple):
    """An amount over the period in the methodology's unit, and per step on its grid."""

    total: float
    steps: NDArray[np.float64] | None

    def plus(self, other: Amount) -> Amount:
        """Both added up (steps where both have them; otherwise this one's)."""
        steps = self.steps
        if steps is not None and other.steps is not None:
            steps = steps + other.steps
        return Amount(self.total + other.total, steps)


@dataclass(frozen=True)
class Metering:
    """One monitoring point of a parameter and the rules its amount is read by."""

    index: int  # the point's place among the parameter's points (to undo a correction)
    point: MonitoringPoint
    spec: quantities.QuantitySpec
    factor: float  # canonical amount (or rate × hour) to the methodology's unit
    max_gap: float  # ms without a reading beyond which the series is in a gap
    edges: NDArray[np.float64] | None  # the methodology's grid, when it works per step
    boundary: BoundaryRule  # a register's period boundary inside a gap

    def spread(self, a: float, b: float, rate: float) -> NDArray[np.float64] | None:
        """Per step, a rate (canonical unit per hour) over [a, b) in the methodology's
        unit; None off the grid."""
        if self.edges is None:
            return None
        return spread(self.edges, a, b, rate * self.factor / HOUR_MS)


def add_steps(
    steps: NDArray[np.float64] | None, more: NDArray[np.float64] | None
) -> NDArray[np.float64] | None:
    """Per-step amounts added up, either side possibly absent."""
    if more is None:
        return steps
    return more if steps is None else steps + more
