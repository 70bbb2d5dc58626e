"""Gaps in a monitoring point's series, found over all the data loaded so that each gap
is judged by its whole length, whichever period it is reported in.

How far the engine looks past the period: the report loads 11 days either side
(``verification.inputs.MARGIN``). A gap that starts inside the period is credited only if
it ends within 7 days (the California table's last band), and the gap rules then look at
up to 7 days around it (``SUBSTITUTION_WINDOW_MS``); one day more tells a gap that reaches
past what is loaded from one that ends inside it.

Honest ends: a gap is a gap only where data are missing inside the period. Past the last
reading (or before the first) nothing is known, so an open end, a stretch with no reading
after it at all in the data loaded, is judged by its part inside the period: a device whose
last reading is within its normal spacing of the period end (``open_end_grace_ms``) has no
gap there, however far the look-ahead reaches. Its last stretch counts as measured up to
its last reading (a register held at its last value, a series not integrated beyond its
last sample). A longer silence before the end is a real gap; its length past the end is
unknown, so it counts as reaching past the data loaded (the conservative reading: over
7 days, no credit). When later data arrive, the report's inputs hash changes and the gap
is judged again by its whole length.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from core.quantities import Kind
from verification import aggregation as agg
from verification.resolve.context import GAP_FACTOR, MARGIN_MS, Context
from verification.series_parts import PointSeries, interval_gaps


class FoundGap(NamedTuple):
    """A gap overlapping the period: its part inside the period, the whole gap (ms), and
    whether a register bridges it (one meter has readings on both sides, no reset)."""

    inside: tuple[int, int]
    whole: tuple[int, int]
    bridged: bool


def open_end_grace_ms(kind: Kind, expected_interval_s: float) -> float:
    """How long before a period end (or after its start) a device's last (first) reading
    may be with nothing loaded beyond it, and the device still counts as reporting up to
    that end: the gap tolerance of its readings (2.5 expected intervals), or for interval
    totals one interval (the total that straddles the end, not arrived yet) and the half
    interval of jitter its gaps allow."""
    if kind == Kind.INTERVAL:
        return 1.5 * expected_interval_s * 1000.0
    return GAP_FACTOR * expected_interval_s * 1000.0


def _extent(parts: list[PointSeries], kind: Kind) -> tuple[float, float]:
    """The first and last instants the point's data describe (inf, -inf: none)."""
    with_data = [pt for pt in parts if pt.times.size]
    if not with_data:
        return np.inf, -np.inf
    firsts = [pt.starts if kind == Kind.INTERVAL else pt.times for pt in with_data]
    return (
        float(min(np.min(f) for f in firsts)),
        float(max(np.max(pt.times) for pt in with_data)),
    )


def find_gaps(ctx: Context, parts: list[PointSeries], kind: Kind, max_gap: float) -> list[FoundGap]:
    """Gaps overlapping the period, found over the period and the margin beyond it (see
    the module's note on open ends)."""
    lo = ctx.start_ms - MARGIN_MS
    hi = ctx.end_ms + MARGIN_MS
    if kind == Kind.INTERVAL:
        tolerance = 0.5 * parts[-1].device.expected_interval_s * 1000
        whole = interval_gaps(parts, lo, hi, tolerance)
    else:
        # each part is in time order already: a stable sort of sorted runs is linear
        times = np.sort(np.concatenate([pt.times for pt in parts]), kind="stable")
        whole = agg.gap_intervals(times, lo, hi, max_gap)
    first, last = _extent(parts, kind)
    grace = open_end_grace_ms(kind, parts[-1].device.expected_interval_s)
    found = []
    for a, b in whole:
        inside = (max(a, ctx.start_ms), min(b, ctx.end_ms))
        if inside[1] <= inside[0]:
            continue
        open_end = a >= last or b <= first  # nothing loaded beyond it
        if open_end and inside[1] - inside[0] <= grace:
            continue  # the device reported up to the period's end (or from its start)
        bridged = kind == Kind.CUMULATIVE and any(
            pt.covers(a, b) and not pt.resets_within(a, b) for pt in parts
        )
        found.append(FoundGap(inside, (a, b), bridged))
    return found


def uncovered_ms(gaps: list[FoundGap]) -> int:
    """Time inside the period no data covers (a bridged gap is covered)."""
    return sum(b - a for (a, b), _, bridged in gaps if not bridged)
