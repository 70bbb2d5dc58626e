"""Cumulative-register checks: a decrease is a rollover or a reset (pure functions).

A register only rises. When a reading is below the one before it, either the register
wrapped past its maximum (a rollover: the energy in between is ``max - prev + new``) or it
was reset or replaced (possible tampering: flagged, and the verification module never
turns it into negative energy).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: A wrap is believed only if the implied increment is below this share of the register.
ROLLOVER_MAX_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class Decrease:
    time_ms: int
    kind: str  # "rollover" | "reset"
    previous_time_ms: int
    previous_value: float
    value: float
    implied_increment: float | None  # canonical unit; None for a reset


def wrapped_increment(
    previous: npt.ArrayLike, value: npt.ArrayLike, register_max: float
) -> npt.NDArray[np.float64]:
    """The rise across a wrap past ``register_max``: ``max − previous + value``."""
    rise: npt.NDArray[np.float64] = (register_max - np.asarray(previous, dtype=float)) + np.asarray(
        value, dtype=float
    )
    return rise


def is_rollover(
    previous: npt.ArrayLike, value: npt.ArrayLike, register_max: float
) -> npt.NDArray[np.bool_]:
    """Whether each step from ``previous`` to ``value`` is a rollover: a decrease from a
    value the register can show, whose implied rise (:func:`wrapped_increment`) is at
    most ``ROLLOVER_MAX_SHARE`` of the register. Element-wise over arrays (the
    verification engine), or on two numbers (the gateway).

    register_max: the largest value the register shows (canonical unit), from the plan.
    """
    p, v = np.asarray(previous, dtype=float), np.asarray(value, dtype=float)
    wrapped = wrapped_increment(p, v, register_max)
    return (
        (v < p)
        & (p <= register_max)
        & (wrapped >= 0)
        & (wrapped <= ROLLOVER_MAX_SHARE * register_max)
    )


def classify_decrease(
    previous_value: float, value: float, register_max: float | None
) -> tuple[str, float | None]:
    """Decide whether a decrease from ``previous_value`` to ``value`` is a rollover.

    register_max: the largest value the register shows (canonical unit), from the plan.
    Returns ("rollover", increment) or ("reset", None).
    """
    if register_max is not None and bool(is_rollover(previous_value, value, register_max)):
        return "rollover", float(wrapped_increment(previous_value, value, register_max))
    return "reset", None


def find_decreases(
    points: Sequence[tuple[int, float]],
    register_max: float | None,
) -> list[Decrease]:
    """All decreases in a time-ordered sequence of (time_ms, value) register readings."""
    found: list[Decrease] = []
    for (t0, v0), (t1, v1) in itertools.pairwise(points):
        if v1 < v0:
            kind, increment = classify_decrease(v0, v1, register_max)
            found.append(Decrease(t1, kind, t0, v0, v1, increment))
    return found
