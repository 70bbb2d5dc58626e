"""Gaps in a monitoring point's series, found over all the data loaded so that each gap
is judged by its whole length, whichever period it is reported in."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from core.quantities import Kind
from verification import aggregation as agg
from verification.resolve.context import MARGIN_MS, Context
from verification.series_parts import PointSeries, interval_gaps


class FoundGap(NamedTuple):
    """A gap overlapping the period: its part inside the period, the whole gap (ms), and
    whether a register bridges it (one meter has readings on both sides, no reset)."""

    inside: tuple[int, int]
    whole: tuple[int, int]
    bridged: bool


def find_gaps(ctx: Context, parts: list[PointSeries], kind: Kind, max_gap: float) -> list[FoundGap]:
    """Gaps overlapping the period, found over the period and the margin beyond it.
    With nothing after it (or before it), a gap's length is unknown: it counts as
    reaching past the data loaded, the conservative reading."""
    lo = ctx.start_ms - MARGIN_MS
    hi = ctx.end_ms + MARGIN_MS
    if kind == Kind.INTERVAL:
        tolerance = 0.5 * parts[-1].device.expected_interval_s * 1000
        whole = interval_gaps(parts, lo, hi, tolerance)
    else:
        # each part is in time order already: a stable sort of sorted runs is linear
        times = np.sort(np.concatenate([pt.times for pt in parts]), kind="stable")
        whole = agg.gap_intervals(times, lo, hi, max_gap)
    found = []
    for a, b in whole:
        inside = (max(a, ctx.start_ms), min(b, ctx.end_ms))
        if inside[1] <= inside[0]:
            continue
        bridged = kind == Kind.CUMULATIVE and any(
            pt.covers(a, b) and not pt.resets_within(a, b) for pt in parts
        )
        found.append(FoundGap(inside, (a, b), bridged))
    return found


def uncovered_ms(gaps: list[FoundGap]) -> int:
    """Time inside the period no data covers (a bridged gap is covered)."""
    return sum(b - a for (a, b), _, bridged in gaps if not bridged)
