"""The values that pass between the engine and the methodology modules.

A methodology module declares the symbols it uses (``Symbol``) and computes emissions
from ``Values``: each plan parameter resolved over the period, per monitoring point, with
per-step arrays when the methodology works step by step (methane: minute by minute).
Everything here is plain data in the parameter's unit; no I/O.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from verification.calibration import Effect

#: How the engine reduces a monitored series for the methodology:
#: total — the amount over the period (registers, interval totals, or a rate integrated);
#: mean — the time-weighted mean over the covered time (temperatures);
#: steps — per-step values on the methodology's time grid (amount or mean per step);
#: share — per step, the share of time the evidence shows true (flame, exhaust hot).
Aggregate = Literal["total", "mean", "steps", "share"]


@dataclass(frozen=True)
class Symbol:
    """A parameter a methodology uses, as the methodology defines it."""

    description: str
    unit: str
    effect: Effect  # which way the parameter moves emission reductions
    aggregate: Aggregate = "total"
    required: bool = True
    # "share" parameters: a sample counts as true when value > threshold (a parameter
    # table key naming it, compared in that entry's unit, or a number in ``unit``).
    threshold: str | float | None = None
    # The monitoring options the methodology allows (a measured quantity cannot be
    # replaced by a fixed estimate).
    options: str = "ABC"
    # Other units the methodology accepts, each meaning something else (gas as actual m3
    # rather than Nm3, normalised with T and P).
    alt_units: tuple[str, ...] = ()
    # The California-style gap table applies to this parameter (methane flow and
    # fraction) when the plan chooses it; every other parameter keeps the conservative set.
    california: bool = False
    # A default from the methodology's table is only relevant with this parameter (an
    # engine's efficiency needs gas sent to an engine).
    only_with: str | None = None
    # Its monitoring points add up (gas through two headers). Otherwise several points
    # measure one thing (two analysers, two pressure transmitters on one stream) and the
    # conservative one counts. None: amounts over the period add up, per-step values not.
    additive: bool | None = None

    @property
    def adds_up(self) -> bool:
        return self.additive if self.additive is not None else self.aggregate == "total"


@dataclass(frozen=True)
class PointValue:
    """One monitoring point's contribution to a parameter (parameter unit)."""

    monitoring_point: str | None
    device: str | None
    value: float
    steps: NDArray[np.float64] | None = None  # per step (aggregate steps/share)
    completeness: float = 1.0  # share of the period with data (1 for option A)
    readings: int = 0


#: How a parameter's monitoring points combine: amounts add up (two meters on two
#: feeders); redundant measurements of one thing (two analysers on one gas stream, two
#: thermocouples on one flare) take the conservative one, never their sum.
Combine = Literal["sum", "min", "max"]


@dataclass(frozen=True)
class Resolved:
    """A parameter's value over the period (in the methodology's unit), with where it
    came from."""

    symbol: str
    unit: str
    option: Literal["A", "B", "C"]
    source: str
    method: str
    points: list[PointValue] = field(default_factory=list)
    combine: Combine = "sum"

    @property
    def value(self) -> float:
        values = [p.value for p in self.points]
        if not values:
            return 0.0
        if self.combine == "sum":
            return math.fsum(values)
        return float(min(values) if self.combine == "min" else max(values))

    def steps(self) -> NDArray[np.float64] | None:
        arrays = [p.steps for p in self.points if p.steps is not None]
        if not arrays:
            return None
        if self.combine == "sum":
            total: NDArray[np.float64] = np.sum(arrays, axis=0)
            return total
        stacked = np.vstack(arrays)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a step no point has data for
            pick: NDArray[np.float64] = (
                np.nanmin(stacked, axis=0) if self.combine == "min" else np.nanmax(stacked, axis=0)
            )
        return pick


Values = Mapping[str, Resolved]

#: Told what a long report is doing and how far along it is (0..1).
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class CalcStep:
    """One line of the calculation sheet: what was computed, how, and the result."""

    label: str
    formula: str
    value: float
    unit: str


@dataclass(frozen=True)
class Calculation:
    reference_tco2: float
    project_tco2: float
    steps: tuple[CalcStep, ...]

    @property
    def reductions_tco2(self) -> float:
        return self.reference_tco2 - self.project_tco2


@dataclass(frozen=True)
class Grid:
    """The methodology's time grid over a period: steps of step_ms anchored at the epoch
    (so adjacent periods share their steps), clipped to the period."""

    edges_ms: NDArray[np.float64]

    @classmethod
    def over(cls, start_ms: int, end_ms: int, step_ms: int) -> Grid:
        first = (start_ms // step_ms + 1) * step_ms
        inner = np.arange(first, end_ms, step_ms, dtype=float)
        return cls(np.concatenate(([float(start_ms)], inner, [float(end_ms)])))
