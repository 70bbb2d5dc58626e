"""Option C: the project's own measurement. Each monitoring point's series, meter by
meter (a replaced meter and its successor), reduced as the methodology asks: a total,
a time-weighted mean, per-step values or a share of time; gaps found and substituted,
calibration lapses corrected, totals checked for plausibility."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from core import quantities
from core.plans.schema import MonitoringPoint
from core.quantities import Kind
from persistence.stores.timeseries import SeriesArrays
from verification.model import Combine, PointValue, Resolved
from verification.resolve.amounts import point_amount
from verification.resolve.calibrate import calibrate_means, calibration_text
from verification.resolve.context import GAP_FACTOR, Context
from verification.resolve.cross_check import cross_check_invoices
from verification.resolve.means import point_mean, point_share
from verification.resolve.metering import Metering
from verification.resolve.plausibility import plausible
from verification.resolve.record import Notes, Outcome, Part
from verification.resolve.series_gaps import FoundGap, find_gaps, uncovered_ms
from verification.series_parts import PointSeries, amount_factor, is_amount

_METHOD = {
    "total": "period total",
    "mean": "time-weighted mean",
    "steps": "per step",
    "share": "share of time",
}


def option_c(ctx: Context) -> Outcome:
    """Every monitoring point of the parameter, then the invoice cross-check."""
    resolved_points = [_point(ctx, index, point) for index, point in enumerate(ctx.points())]
    resolved = Resolved(
        ctx.symbol,
        ctx.unit,
        "C",
        "measured: " + ", ".join(ctx.param.monitoring_points),
        _METHOD[ctx.sym.aggregate],
        [value for value, _ in resolved_points],
        _combine(ctx),
    )
    parts = (*(part for _, part in resolved_points), Part(None, cross_check_invoices(ctx)))
    return Outcome(resolved, parts)


def _combine(ctx: Context) -> Combine:
    """Amounts at several points add up; redundant measurements of one thing (two
    analysers, two thermocouples, two pressure transmitters) take the conservative
    one, never their sum."""
    if ctx.sym.adds_up:
        return "sum"
    return "min" if ctx.lowers else "max"


def point_parts(
    ctx: Context, point: MonitoringPoint, spec: quantities.QuantitySpec
) -> list[PointSeries]:
    """The point's readings per device, oldest meter first, each cut where its
    successor's readings begin."""
    chain = ctx.chain(point.device)
    raw = [ctx.inputs.series.get((d.id, point.quantity), SeriesArrays.empty()) for d in chain]
    parts: list[PointSeries] = []
    for i, device in enumerate(chain):
        later = [r.times_ms[0] for r in raw[i + 1 :] if r.times_ms.size]
        parts.append(
            PointSeries.of(
                raw[i],
                spec.default_kind,
                device,
                ctx.start_ms,
                ctx.end_ms,
                until_ms=float(later[0]) if later else math.inf,
                set_aside_glitches=ctx.lowers,
            )
        )
    return parts


def _point(ctx: Context, index: int, point: MonitoringPoint) -> tuple[PointValue, Part]:
    """One monitoring point's value (and steps) and its row."""
    spec = quantities.CATALOGUE[point.quantity]
    parts = point_parts(ctx, point, spec)
    kind = next((pt.kind for pt in reversed(parts) if pt.times.size), spec.default_kind)
    max_gap = GAP_FACTOR * parts[-1].device.expected_interval_s * 1000.0
    gaps = find_gaps(ctx, parts, kind, max_gap)
    value, steps, method_notes, notes = _reduce(ctx, index, point, parts, spec, kind, max_gap, gaps)
    if ctx.sym.aggregate == "total":
        value, implausible = plausible(ctx, point, value, index=index)
        notes += implausible
    completeness, incomplete = _completeness(ctx, point, gaps)
    calibration = [calibration_text(ctx, pt.device) for pt in parts]
    chain_ids = [pt.device.id for pt in parts]
    readings = sum(pt.readings for pt in parts)
    row = ctx.row(
        point,
        None if math.isnan(value) else value,
        source=f"{point.device} {point.quantity}"
        + (f" ({', '.join(chain_ids)})" if len(chain_ids) > 1 else ""),
        method=_method_text(ctx, kind, method_notes),
        completeness=completeness,
        readings=readings,
        calibration="; ".join(text for text, _ in calibration),
    )
    notes += incomplete + Notes.total(status for _, status in calibration)
    point_value = PointValue(point.id, point.device, value, steps, completeness, readings)
    return point_value, Part(row, notes)


def _completeness(
    ctx: Context, point: MonitoringPoint, gaps: list[FoundGap]
) -> tuple[float, Notes]:
    """The share of the period with data (a bridged gap counts as data); a warning
    below 90 %."""
    completeness = max(1.0 - uncovered_ms(gaps) / ctx.period_ms, 0.0) if ctx.period_ms else 0.0
    if completeness >= 0.9:
        return completeness, Notes()
    warning = ctx.message(
        "warning",
        f"{point.id} ({point.device}) has data for {completeness:.1%} of the period; see the gaps",
        point.id,
    )
    return completeness, Notes(messages=(warning,))


def _reduce(
    ctx: Context,
    index: int,
    point: MonitoringPoint,
    parts: list[PointSeries],
    spec: quantities.QuantitySpec,
    kind: Kind,
    max_gap: float,
    gaps: list[FoundGap],
) -> tuple[float, NDArray[np.float64] | None, list[str], Notes]:
    """The point's value and steps as the methodology aggregates it, with notes for the
    method text and what was recorded."""
    method_notes = _series_notes(parts)
    if ctx.sym.aggregate == "share":
        share, steps, notes = point_share(ctx, point, parts, spec, max_gap, gaps)
        return share, steps, method_notes, notes
    if ctx.sym.aggregate == "mean" or not is_amount(spec, kind, ctx.unit):
        mean, notes = point_mean(ctx, index, point, parts, spec, max_gap, gaps)
        steps, calibrated = calibrate_means(ctx, index, point, parts, mean.steps)
        if mean.note:
            method_notes.append(mean.note)
        return mean.value, steps, method_notes, notes + calibrated
    per_step = ctx.grid is not None and ctx.sym.aggregate == "steps"
    metering = Metering(
        index,
        point,
        spec,
        amount_factor(spec, kind, ctx.unit),
        max_gap,
        ctx.grid.edges_ms if ctx.grid is not None and per_step else None,
        "low" if ctx.lowers else "high",
    )
    amount, notes = point_amount(ctx, metering, kind, parts, gaps)
    return amount.total, amount.steps, method_notes, notes


def _series_notes(parts: list[PointSeries]) -> list[str]:
    """What cleaning the meters' series did, for the method text."""
    notes = []
    for pt in parts:
        if pt.overlapping:
            notes.append(
                f"{pt.overlapping} reading(s) of {pt.device.id} set aside: they cover time "
                "its successor meter or another reading already covers"
            )
        if pt.rollovers:
            notes.append(f"{pt.rollovers} register rollover(s) added back on {pt.device.id}")
    return notes


def _method_text(ctx: Context, kind: Kind, notes: list[str]) -> str:
    base = {
        Kind.CUMULATIVE: "register rise between the readings bracketing the period, "
        "boundary values interpolated",
        Kind.INTERVAL: "Σ interval totals, those straddling a boundary prorated",
        Kind.INSTANT: "samples integrated over time (trapezoidal), never across a gap",
    }[kind]
    if ctx.sym.aggregate == "mean":
        base = "time-weighted mean of the samples over the covered time"
    elif ctx.sym.aggregate == "share":
        base = "share of time both neighbouring samples show the condition"
    if ctx.sym.aggregate in ("steps", "share"):
        base += f"; per {ctx.table.time_step_s} s step"
    return base + ("; " + "; ".join(notes) if notes else "")
