"""Daily increments of a monitored series, for the report's charts (pure numpy).

A verifier reads what a meter counted each day, not the register's running total: a
cumulative register becomes the sum of its rises per UTC day (a rollover counts the
wrapped rise, a reset or a replacement counts nothing, never negative energy), interval
totals are summed per day, and a day without data has no value (NaN), so that the chart
shows the gap where it is. A rise across a silence longer than ``BRIDGE_FACTOR`` typical
reading intervals is left out of the bars: it would pile days of energy onto the day the
meter came back; the report's gaps table and the chart's gap shading show that span.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from core.registers import is_rollover, wrapped_increment

DAY_MS = 86_400_000

#: A rise between readings further apart than this many typical intervals spans a gap.
BRIDGE_FACTOR = 1.5


def day_starts_ms(start_ms: int, end_ms: int) -> npt.NDArray[np.int64]:
    """The start of every UTC day that overlaps [start_ms, end_ms), epoch milliseconds."""
    first = start_ms // DAY_MS * DAY_MS
    return np.arange(first, max(end_ms, first + 1), DAY_MS, dtype=np.int64)


def _per_day(
    days: npt.NDArray[np.int64], at_ms: npt.NDArray[np.int64], amounts: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Sum ``amounts`` by the UTC day of ``at_ms``; NaN for a day with none."""
    out = np.full(days.size, np.nan)
    index = (at_ms - days[0]) // DAY_MS
    inside = (index >= 0) & (index < days.size)
    if np.any(inside):
        totals = np.bincount(index[inside], weights=amounts[inside], minlength=days.size)
        counted = np.bincount(index[inside], minlength=days.size) > 0
        out[counted] = totals[counted]
    return out


def register_rises(
    times_ms: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    register_max: float | None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Each rise of a cumulative register (canonical unit) at the time of the reading that
    ends it; rises across a silence (see the module docstring) are dropped."""
    if times_ms.size < 2:
        return np.empty(0, np.int64), np.empty(0)
    order = np.argsort(times_ms, kind="stable")
    t, v = times_ms[order], values[order]
    rise = np.diff(v)
    if register_max is not None:
        wrapped = is_rollover(v[:-1], v[1:], register_max)
        rise = np.where(wrapped, wrapped_increment(v[:-1], v[1:], register_max), rise)
    rise = np.where(rise < 0, 0.0, rise)  # a reset counts nothing
    step = np.diff(t)
    positive = step[step > 0]
    typical = float(np.median(positive)) if positive.size else 0.0
    kept = step <= BRIDGE_FACTOR * typical
    return t[1:][kept], rise[kept]


def daily_increments(
    times_ms: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    interval_s: npt.NDArray[np.float64],
    *,
    cumulative: bool,
    register_max: float | None,
    start_ms: int,
    end_ms: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(day starts, amount per day) over [start_ms, end_ms): interval totals (finite
    ``interval_s``) summed by the day their interval ends, and for a cumulative register
    its rises (:func:`register_rises`); NaN for a day with no data."""
    days = day_starts_ms(start_ms, end_ms)
    t = np.asarray(times_ms, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    interval = np.isfinite(np.asarray(interval_s, dtype=np.float64))
    at, amounts = t[interval], v[interval]
    if cumulative:
        rise_at, rises = register_rises(t[~interval], v[~interval], register_max)
        at, amounts = np.concatenate((at, rise_at)), np.concatenate((amounts, rises))
    # an amount is stamped at the end of what it counts: one at the period's start
    # counted before it, one at its (exclusive) end closes its last day
    inside = (at > start_ms) & (at <= end_ms)
    return days, _per_day(days, at[inside] - 1, amounts[inside])
