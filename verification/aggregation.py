"""Period totals from stored series, vectorised (numpy), no I/O.

Cumulative registers: the total over [start, end) is the rise of the register between
the two boundaries. The register value at a boundary is interpolated linearly between the
two readings that bracket it (and the result says so); a rollover adds the register's
span back; a reset contributes nothing for the interval it happened in (the energy of that
interval is unknown, and counting none of it is the conservative choice for a parameter
that raises reference emissions; the gap rules decide what replaces it). Because every
total is a difference of one monotone curve, two adjacent periods add up to exactly the
whole period.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from core.registers import is_rollover, wrapped_increment


@dataclass(frozen=True)
class CumulativeTotal:
    total: float  # in the register's canonical unit
    start_interpolated: bool  # the start boundary lies between two readings
    end_interpolated: bool
    start_covered: bool  # a reading at or before the start exists
    end_covered: bool  # a reading at or after the end exists
    rollovers: int  # inside the period
    resets: int  # inside the period (their intervals count zero)
    readings: int  # readings used (the bracketing ones included)
    start_in_gap: bool = False  # the boundary fell inside a gap: the conservative rule
    end_in_gap: bool = False  # applied instead of interpolation


#: Where a period boundary falls inside a gap between two register readings, the rise
#: across the gap cannot be split honestly. "low" gives the period none of it (for a
#: parameter that raises reference emissions), "high" all of it (one that raises project
#: emissions); "interpolate" splits it linearly. Inside ordinary spacing it is always
#: interpolated.
BoundaryRule = Literal["interpolate", "low", "high"]


def _conservative_boundaries(
    t: NDArray[np.float64],
    curve: NDArray[np.float64],
    start_ms: float,
    end_ms: float,
    max_gap_ms: float | None,
    rule: BoundaryRule,
) -> tuple[NDArray[np.float64], NDArray[np.float64], bool, bool]:
    """The curve with a point added at each boundary that falls inside a gap, holding the
    value the rule gives it; and whether each boundary did."""
    if rule == "interpolate" or max_gap_ms is None or t.size < 2:
        return t, curve, False, False
    ks = np.searchsorted(t, [start_ms, end_ms], side="right") - 1
    in_gap = [
        bool(0 <= k < t.size - 1 and t[k] < b and t[k + 1] - t[k] > max_gap_ms)
        for k, b in zip(ks, (start_ms, end_ms), strict=True)
    ]
    if not any(in_gap):
        return t, curve, False, False
    ks_start, ks_end = int(ks[0]), int(ks[1])
    values: list[float] = []
    times: list[float] = []
    if in_gap[0]:
        k = ks_start
        same = in_gap[1] and ks_end == k
        low = curve[k] if same else curve[k + 1]
        times.append(start_ms)
        values.append(float(low if rule == "low" else curve[k]))
    if in_gap[1]:
        k = ks_end
        times.append(end_ms)
        values.append(float(curve[k] if rule == "low" else curve[k + 1]))
    at = np.searchsorted(t, times, side="right")
    return (
        np.insert(t, at, times),
        np.insert(curve, at, values),
        in_gap[0],
        in_gap[1],
    )


def unwrap_register(
    values: ArrayLike,
    register_max: float | None,
    *,
    times_ms: ArrayLike | None = None,
    rollover_gap_ms: float | None = None,
    envelope: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The register's rise as one monotone curve (starting at 0), with masks of the
    steps that were rollovers and resets.

    values: register readings in time order (canonical unit).
    register_max: the largest value the register shows, from the plan (None: unknown,
        every decrease is a reset).
    times_ms, rollover_gap_ms: when given, a decrease across a gap longer than
        rollover_gap_ms is a reset, never a rollover: with readings missing, a reset and
        a rollover look alike, and counting the wrapped rise would credit what may not
        have been generated (used for parameters that raise reference emissions).
    envelope: count a rise only where the register passes its highest value so far
        (rollovers added back): after a drop that is not a rollover (a reset, or a
        failed read stored as 0) the climb back to the old high is not counted again.
        The conservative reading for a parameter that raises reference emissions; and
        removing readings can never raise it.
    """
    v = np.asarray(values, dtype=float)
    steps = np.diff(v)
    falling = steps < 0
    if register_max is not None:
        wrapped = wrapped_increment(v[:-1], v[1:], register_max)
        rollover = is_rollover(v[:-1], v[1:], register_max)
        if times_ms is not None and rollover_gap_ms is not None:
            rollover &= np.diff(np.asarray(times_ms, dtype=float)) <= rollover_gap_ms
    else:
        wrapped = np.zeros_like(steps)
        rollover = np.zeros_like(falling)
    reset = falling & ~rollover
    if envelope:
        high, _ = _running_high(v, rollover, register_max)
        return high - high[0], rollover, reset
    rise = np.where(rollover, wrapped, np.where(reset, 0.0, steps))
    curve = np.concatenate(([0.0], np.cumsum(rise)))
    return curve, rollover, reset


def _running_high(
    v: NDArray[np.float64], rollover: NDArray[np.bool_], register_max: float | None
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """The register's highest value so far (rollovers added back), and which readings
    stand at it."""
    wraps = np.concatenate(([0.0], np.cumsum(rollover))) * (register_max or 0.0)
    unrolled = v + wraps
    high = np.maximum.accumulate(unrolled)
    return high, unrolled >= high


def register_curve(
    times_ms: NDArray[np.float64],
    values: ArrayLike,
    register_max: float | None,
    *,
    rollover_gap_ms: float | None = None,
    envelope: bool = False,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_]]:
    """The register's rise as a curve over time (``unwrap_register``): its times, values,
    and the rollover and reset masks of every step.

    Counting only new highs (``envelope``), a reading below the register's high so far
    says nothing of when the climb past the old high happened: anywhere between the last
    reading at the old high and the first reading above it. The curve keeps only the
    readings at the high, so that rise is spread over that whole stretch, and a period
    boundary inside it, when it is longer than a gap, gets the boundary rule (a reset or a
    failed read stored as 0 can then not move an earlier rise into a later period)."""
    v = np.asarray(values, dtype=float)
    curve, rollover, reset = unwrap_register(
        v, register_max, times_ms=times_ms, rollover_gap_ms=rollover_gap_ms, envelope=envelope
    )
    if not envelope or not reset.any():
        return times_ms, curve, rollover, reset
    _, at_high = _running_high(v, rollover, register_max)
    return times_ms[at_high], curve[at_high], rollover, reset


def cumulative_total(
    times_ms: ArrayLike,
    values: ArrayLike,
    start_ms: int,
    end_ms: int,
    register_max: float | None,
    *,
    max_gap_ms: float | None = None,
    boundary: BoundaryRule = "interpolate",
    rollover_gap_ms: float | None = None,
    envelope: bool = False,
) -> CumulativeTotal:
    """Σ of a cumulative register over [start_ms, end_ms), boundaries interpolated (or,
    inside a gap longer than max_gap_ms, set by the ``boundary`` rule).

    times_ms: reading times (epoch ms), ascending; values: register readings (canonical
    unit). Outside the readings the curve is held flat (no extrapolation): an uncovered
    boundary is reported, and the period gets no energy it has no readings for.
    """
    t = np.asarray(times_ms, dtype=float)
    if t.size == 0 or end_ms <= start_ms:
        return CumulativeTotal(0.0, False, False, False, False, 0, 0, 0)
    if np.any(np.diff(t) < 0):
        raise ValueError("times_ms must be in ascending order")
    tc, curve, rollover, reset = register_curve(
        t, values, register_max, rollover_gap_ms=rollover_gap_ms, envelope=envelope
    )
    tb, cb, start_gap, end_gap = _conservative_boundaries(
        tc, curve, start_ms, end_ms, max_gap_ms, boundary
    )
    at_start, at_end = np.interp([start_ms, end_ms], tb, cb)
    step_end_times = t[1:]
    inside = (step_end_times > start_ms) & (t[:-1] < end_ms)
    used = (t >= start_ms) & (t <= end_ms)
    first_in = np.searchsorted(t, start_ms, side="left")
    last_in = np.searchsorted(t, end_ms, side="right") - 1
    readings = (
        int(used.sum())
        + int(first_in > 0 and t[first_in - 1] < start_ms)
        + int(last_in < t.size - 1 and t[last_in + 1] > end_ms)
    )
    return CumulativeTotal(
        total=float(at_end - at_start),
        start_interpolated=bool(t[0] < start_ms and not np.any(t == start_ms) and t[-1] > start_ms),
        end_interpolated=bool(t[0] < end_ms and not np.any(t == end_ms) and t[-1] > end_ms),
        start_covered=bool(t[0] <= start_ms),
        end_covered=bool(t[-1] >= end_ms),
        rollovers=int(np.sum(rollover & inside)),
        resets=int(np.sum(reset & inside)),
        readings=readings,
        start_in_gap=start_gap,
        end_in_gap=end_gap,
    )


@dataclass(frozen=True)
class InstantIntegral:
    total: float  # ∫ rate dt over the covered time, in (rate unit × time_unit)
    covered_ms: int  # time inside the period between samples no further apart than max_gap
    gaps: list[tuple[int, int]]  # (from_ms, to_ms) inside the period longer than max_gap


def integrate_instant(
    times_ms: ArrayLike,
    rates: ArrayLike,
    start_ms: int,
    end_ms: int,
    *,
    max_gap_ms: float,
    time_unit_ms: int = 3_600_000,
) -> InstantIntegral:
    """∫ rate dt over [start_ms, end_ms) by the trapezoidal rule, never across a gap.

    rates: samples of a rate (e.g. Nm3/h) at times_ms (ascending); time_unit_ms: the rate's
    time unit (an hour by default), so Nm3/h integrates to Nm3. Two samples further apart
    than max_gap_ms (e.g. three times the plan's expected interval) bound a gap: it counts
    zero here (the conservative default for a parameter that raises reference emissions)
    and is returned for the gap rules to substitute and for the report to disclose. Time
    before the first or after the last sample counts zero too and is a gap when longer
    than max_gap_ms. Rates at the boundaries are interpolated, so adjacent periods add up.
    """
    t = np.asarray(times_ms, dtype=float)
    r = np.asarray(rates, dtype=float)
    if np.any(np.diff(t) < 0):
        raise ValueError("times_ms must be in ascending order")
    gaps: list[tuple[int, int]] = []
    if t.size == 0:
        if end_ms > start_ms:
            gaps.append((start_ms, end_ms))
        return InstantIntegral(0.0, 0, gaps)
    t0, t1, r0, r1 = t[:-1], t[1:], r[:-1], r[1:]
    s = np.maximum(t0, start_ms)
    e = np.minimum(t1, end_ms)
    overlaps = e > s
    joined = (t1 - t0) <= max_gap_ms
    span = np.where(t1 > t0, t1 - t0, 1.0)
    rs = r0 + (r1 - r0) * (s - t0) / span
    re = r0 + (r1 - r0) * (e - t0) / span
    use = overlaps & joined
    area = np.sum(np.where(use, (rs + re) / 2.0 * (e - s), 0.0))
    covered = int(np.sum(np.where(use, e - s, 0.0)))
    head = (start_ms, int(min(t[0], end_ms)))
    if head[1] - head[0] > max_gap_ms:
        gaps.append(head)
    gaps.extend(
        (int(a), int(b)) for a, b in zip(s[overlaps & ~joined], e[overlaps & ~joined], strict=True)
    )
    tail = (int(max(t[-1], start_ms)), end_ms)
    if tail[1] - tail[0] > max_gap_ms:
        gaps.append(tail)
    return InstantIntegral(float(area / time_unit_ms), covered, gaps)


def gap_intervals(
    times_ms: ArrayLike, start_ms: float, end_ms: float, max_gap_ms: float
) -> list[tuple[int, int]]:
    """Stretches of [start_ms, end_ms) with no reading for longer than max_gap_ms.

    A gap runs from the last reading before it to the first after it, clipped to the
    period; the time before the first and after the last reading is a gap when longer
    than max_gap_ms. Gaps that end before the period or start after it are not listed.
    """
    t = np.asarray(times_ms, dtype=float)
    if end_ms <= start_ms:
        return []
    if t.size == 0:
        return [(int(start_ms), int(end_ms))]
    edges = np.concatenate(([-np.inf], t, [np.inf]))
    a, b = edges[:-1], edges[1:]
    s = np.maximum(a, start_ms)
    e = np.minimum(b, end_ms)
    # Between two readings the whole silence decides; at the open ends only the part
    # inside the period can, since nothing is known beyond it.
    interior = np.isfinite(a) & np.isfinite(b)
    long = np.where(interior, (b - a) > max_gap_ms, (e - s) > max_gap_ms)
    keep = long & (e > s)
    return [(int(lo), int(hi)) for lo, hi in zip(s[keep], e[keep], strict=True)]


def cumulative_steps(
    times_ms: ArrayLike,
    values: ArrayLike,
    edges_ms: ArrayLike,
    register_max: float | None,
    *,
    max_gap_ms: float | None = None,
    boundary: BoundaryRule = "interpolate",
    rollover_gap_ms: float | None = None,
    envelope: bool = False,
) -> NDArray[np.float64]:
    """The register's rise within each step between consecutive edges (canonical unit).

    Same curve as ``cumulative_total`` (boundaries interpolated, rollovers added back,
    resets counted zero, flat outside the readings), so the steps add up to the total.
    """
    t = np.asarray(times_ms, dtype=float)
    edges = np.asarray(edges_ms, dtype=float)
    if t.size == 0:
        return np.zeros(max(edges.size - 1, 0))
    t, curve, _, _ = register_curve(
        t, values, register_max, rollover_gap_ms=rollover_gap_ms, envelope=envelope
    )
    t, curve, _, _ = _conservative_boundaries(t, curve, edges[0], edges[-1], max_gap_ms, boundary)
    return np.diff(np.interp(edges, t, curve))


def _running_integral(
    t: NDArray[np.float64],
    y: NDArray[np.float64],
    joined: NDArray[np.bool_],
    at: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """∫ y dt and the covered time from t[0] up to each time in ``at`` (piecewise linear y,
    segments that are not ``joined`` count zero)."""
    seg_len = np.diff(t)
    seg_area = np.where(joined, (y[:-1] + y[1:]) / 2.0 * seg_len, 0.0)
    seg_cov = np.where(joined, seg_len, 0.0)
    area_at = np.concatenate(([0.0], np.cumsum(seg_area)))
    cov_at = np.concatenate(([0.0], np.cumsum(seg_cov)))
    x = np.clip(at, t[0], t[-1])
    k = np.clip(np.searchsorted(t, x, side="right") - 1, 0, max(t.size - 2, 0))
    if t.size == 1:
        return np.zeros_like(x), np.zeros_like(x)
    dx = x - t[k]
    span = np.where(seg_len[k] > 0, seg_len[k], 1.0)
    yx = y[k] + (y[k + 1] - y[k]) * dx / span
    partial_area = np.where(joined[k], (y[k] + yx) / 2.0 * dx, 0.0)
    partial_cov = np.where(joined[k], dx, 0.0)
    return area_at[k] + partial_area, cov_at[k] + partial_cov


def instant_steps(
    times_ms: ArrayLike, rates: ArrayLike, edges_ms: ArrayLike, *, max_gap_ms: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per step between consecutive edges: ∫ rate dt (rate unit × ms) and the covered time
    (ms), by the trapezoidal rule, never across a gap longer than max_gap_ms.

    The mean of the series over a step is integral / covered where covered > 0; the steps
    add up exactly to ``integrate_instant`` over the same span.
    """
    t = np.asarray(times_ms, dtype=float)
    y = np.asarray(rates, dtype=float)
    edges = np.asarray(edges_ms, dtype=float)
    n = max(edges.size - 1, 0)
    if t.size < 2:
        return np.zeros(n), np.zeros(n)
    joined = np.diff(t) <= max_gap_ms
    area, cov = _running_integral(t, y, joined, edges)
    return np.diff(area), np.diff(cov)


def share_true_steps(
    times_ms: ArrayLike, flags: ArrayLike, edges_ms: ArrayLike, *, max_gap_ms: float
) -> NDArray[np.float64]:
    """Per step, the share of its time shown true by the evidence: a stretch between two
    consecutive samples counts only when both samples are true and they are no further
    apart than max_gap_ms (the conservative reading of, e.g., a flare's flame scanner)."""
    t = np.asarray(times_ms, dtype=float)
    f = np.asarray(flags, dtype=bool)
    edges = np.asarray(edges_ms, dtype=float)
    n = max(edges.size - 1, 0)
    if t.size < 2:
        return np.zeros(n)
    joined = (np.diff(t) <= max_gap_ms) & f[:-1] & f[1:]
    _, cov = _running_integral(t, np.zeros_like(t), joined, edges)
    width = np.diff(edges)
    return np.diff(cov) / np.where(width > 0, width, 1.0)


def register_glitches(
    times_ms: ArrayLike,
    values: ArrayLike,
    register_max: float | None,
    *,
    max_spike_run: int = 3,
) -> NDArray[np.bool_]:
    """Register readings that are spikes: a run of at most ``max_spike_run`` readings
    that jumped above the register and fell back (a mis-scaled value), the reading after
    them back at or above the one before them. Counted, a spike would credit its height
    (a failed read stored as 0 is handled by counting only new highs, see
    ``unwrap_register(envelope=True)``). Loops over drops only, which are rare.
    """
    t = np.asarray(times_ms, dtype=float)
    v = np.asarray(values, dtype=float)
    glitch = np.zeros(v.size, dtype=bool)
    if v.size < 3 or t.size != v.size:
        return glitch
    _, rollover, _ = unwrap_register(v, register_max)
    drops = np.flatnonzero((np.diff(v) < 0) & ~rollover) + 1
    for m in (int(d) for d in drops):
        if glitch[m - 1]:
            continue
        behind = np.arange(m - 2, max(m - 2 - max_spike_run, -1), -1)
        base = behind[v[behind] <= v[m]]
        if base.size and np.all(v[base[0] + 1 : m] > v[m]):
            glitch[base[0] + 1 : m] = True
    return glitch
