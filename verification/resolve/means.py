"""Option C means (temperatures, pressures, the methane fraction) and shares of time
(flame detected, exhaust hot), over the period and per step of the methodology's grid."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from core import quantities
from core.plans.schema import MonitoringPoint
from core.units import Affine, conversion
from verification import aggregation as agg
from verification.resolve.context import Context
from verification.resolve.record import Adjustment, GapSpan, Notes, undo_steps
from verification.resolve.series_gaps import FoundGap
from verification.resolve.substitution import substitute_samples, whole_gap_note
from verification.series_parts import PointSeries, spread


class Mean(NamedTuple):
    """A point's mean over the period (NaN without data), per step on the grid, and a
    note for the method text."""

    value: float
    steps: NDArray[np.float64] | None
    note: str | None


class Samples(NamedTuple):
    """A point's samples from all its meters, in time order (canonical unit)."""

    t: NDArray[np.float64]
    v: NDArray[np.float64]

    @classmethod
    def of(cls, parts: list[PointSeries]) -> Samples:
        t = np.concatenate([pt.times for pt in parts])
        v = np.concatenate([pt.values for pt in parts])
        order = np.argsort(t, kind="stable")
        return cls(t[order], v[order])


def point_mean(
    ctx: Context,
    index: int,
    point: MonitoringPoint,
    parts: list[PointSeries],
    spec: quantities.QuantitySpec,
    max_gap: float,
    gaps: list[FoundGap],
) -> tuple[Mean, Notes]:
    """The time-weighted mean over the covered time (gaps are not filled); per step,
    gaps substituted by the plan's rule and recorded as corrections."""
    to_unit = conversion(spec.canonical_unit, ctx.unit)
    s = Samples.of(parts)
    whole = agg.integrate_instant(
        s.t, s.v, ctx.start_ms, ctx.end_ms, max_gap_ms=max_gap, time_unit_ms=1
    )
    mean = whole.total / whole.covered_ms if whole.covered_ms else math.nan
    value = to_unit(mean) if not math.isnan(mean) else math.nan
    if ctx.sym.aggregate != "steps" or ctx.grid is None:
        spans = tuple(
            GapSpan(
                point.id,
                point.device,
                a,
                b,
                "mean_of_covered_time",
                "the mean is taken over the time with data; the gap is not filled",
            )
            for (a, b), _, _ in gaps
        )
        return Mean(value, None, None), Notes(gaps=spans)
    steps, notes = _step_means(ctx, index, point, parts, spec, max_gap, gaps, s, to_unit)
    note = None
    if np.isfinite(steps).any():
        edges = ctx.grid.edges_ms
        mean_steps = float(np.nansum(steps * np.diff(edges)) / ctx.period_ms)
        note = f"period mean of the steps {mean_steps:.6g} {ctx.unit}"
    return Mean(value, steps, note), notes


def _step_means(
    ctx: Context,
    index: int,
    point: MonitoringPoint,
    parts: list[PointSeries],
    spec: quantities.QuantitySpec,
    max_gap: float,
    gaps: list[FoundGap],
    s: Samples,
    to_unit: Affine,
) -> tuple[NDArray[np.float64], Notes]:
    """The mean of each step of the grid over its covered time, each gap filled with
    the plan's substitute (a gap correction where that changes a step)."""
    assert ctx.grid is not None
    edges = ctx.grid.edges_ms
    area, cov = agg.instant_steps(s.t, s.v, edges, max_gap_ms=max_gap)
    steps = _in_unit(area, cov, to_unit)
    notes = Notes()
    for (a, b), (wa, wb), _ in gaps:
        sub = substitute_samples(ctx, wa, wb, s.t, s.v, spec, parts[-1].device)
        note = whole_gap_note(sub.note, a, b, wa, wb)
        notes += Notes(gaps=(GapSpan(point.id, point.device, a, b, sub.rule, note),))
        overlap = spread(edges, a, b, 1.0)
        if not overlap.any():
            continue
        area = area + overlap * sub.rate
        cov = cov + overlap
        filled = _in_unit(area, cov, to_unit)
        changed = (overlap > 0) & ~np.isclose(np.nan_to_num(filled), np.nan_to_num(steps))
        before, steps = steps, filled
        if changed.any():
            delta = np.nan_to_num(filled) - np.nan_to_num(before)
            correction = Adjustment(
                "gap",
                point.id,
                a,
                b,
                sub.rule,
                sub.note,
                float(np.sum(delta * np.diff(edges)) / ctx.period_ms),
                undo_steps(index, changed, before),
            )
            notes += Notes(adjustments=(correction,))
    return steps, notes


def _in_unit(
    area: NDArray[np.float64], cov: NDArray[np.float64], to_unit: Affine
) -> NDArray[np.float64]:
    """Per step, area / covered time in the parameter's unit (NaN where uncovered)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        bare = np.where(cov > 0, area / cov, np.nan)
    return to_unit.scale * bare + to_unit.offset


def point_share(
    ctx: Context,
    point: MonitoringPoint,
    parts: list[PointSeries],
    spec: quantities.QuantitySpec,
    max_gap: float,
    gaps: list[FoundGap],
) -> tuple[float, NDArray[np.float64] | None, Notes]:
    """The share of time both neighbouring samples show the condition (value above the
    threshold), over the period and per step; a gap is no evidence of operation."""
    limit = threshold(ctx)
    to_unit = conversion(spec.canonical_unit, ctx.unit)
    s = Samples.of(parts)
    v = to_unit.scale * s.v + to_unit.offset
    spans = tuple(
        GapSpan(
            point.id,
            point.device,
            a,
            b,
            "no_evidence",
            "no evidence that the destruction device operated: no destruction counted",
        )
        for (a, b), _, _ in gaps
    )
    if ctx.grid is None:
        edges = np.array([ctx.start_ms, ctx.end_ms], dtype=float)
    else:
        edges = ctx.grid.edges_ms
    share = agg.share_true_steps(s.t, v > limit, edges, max_gap_ms=max_gap)
    widths = np.diff(edges)
    overall = float(np.sum(share * widths) / np.sum(widths)) if widths.size else 0.0
    return overall, share if ctx.grid is not None else None, Notes(gaps=spans)


def threshold(ctx: Context) -> float:
    """The share's threshold in this parameter's unit (a table entry is converted
    from its own unit: 500 °C stays 500 °C for a plan in °F)."""
    limit = ctx.sym.threshold
    if isinstance(limit, str):
        entry = ctx.table.parameters[limit]
        if entry.unit == ctx.unit:
            return entry.value
        return conversion(entry.unit, ctx.unit)(entry.value)
    return float(limit if limit is not None else 0.5)
