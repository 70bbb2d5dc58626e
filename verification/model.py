"""The values that pass between the engine and the methodology modules.

A methodology module declares the symbols it uses (``Symbol``) and computes emissions
from ``Values``: each plan parameter resolved over the period, per monitoring point, with
per-step arrays when the methodology works step by step (methane: minute by minute).
Everything here is plain data in the parameter's unit; no I/O.
"""

from __future__ import annotations

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
    # table key naming it, or a number).
    threshold: str | float | None = None


@dataclass
class PointValue:
    """One monitoring point's contribution to a parameter (parameter unit)."""

    monitoring_point: str | None
    device: str | None
    value: float
    steps: NDArray[np.float64] | None = None  # per step (aggregate steps/share)
    completeness: float = 1.0  # share of the period with data (1 for option A)
    readings: int = 0


@dataclass
class Resolved:
    """A parameter's value over the period, with where it came from."""

    symbol: str
    unit: str
    option: Literal["A", "B", "C"]
    source: str
    method: str
    points: list[PointValue] = field(default_factory=list)

    @property
    def value(self) -> float:
        """Total over points (totals) or the first point's value (a single value)."""
        return float(sum(p.value for p in self.points))

    def steps(self) -> NDArray[np.float64] | None:
        arrays = [p.steps for p in self.points if p.steps is not None]
        return np.sum(arrays, axis=0) if arrays else None


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

    @property
    def widths_ms(self) -> NDArray[np.float64]:
        return np.diff(self.edges_ms)


def number(table_or_value: str | float | None, table: Mapping[str, float]) -> float:
    if table_or_value is None:
        raise ValueError("no threshold")
    if isinstance(table_or_value, str):
        return table[table_or_value]
    return float(table_or_value)
