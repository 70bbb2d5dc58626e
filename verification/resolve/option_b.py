"""Option B: the amount of a transaction, from field entries: invoices prorated to the
period, manual register reads, weighbridge tickets."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np

from core import quantities
from core.plans.schema import MonitoringPoint
from core.times import day_start_ms
from core.units import conversion
from persistence.stores.timeseries import SeriesArrays
from verification import aggregation as agg
from verification.inputs import Invoice, ManualRead, Ticket
from verification.model import PointValue, Resolved
from verification.resolve.calibrate import calibrate_amount, calibration_text
from verification.resolve.context import Context
from verification.resolve.cross_check import cross_check_invoices
from verification.resolve.metering import Amount, Metering
from verification.resolve.plausibility import plausible
from verification.resolve.record import (
    Adjustment,
    Flagged,
    Notes,
    Outcome,
    Part,
    iso,
    undo_point,
)
from verification.series_parts import PointSeries, amount_factor

#: Each day an invoice covers: its daily amount (methodology unit) and its number.
Daily = dict[date, list[tuple[float, str]]]


def option_b(ctx: Context) -> Outcome:
    entry_type = ctx.param.entry_type
    if entry_type == "fuel_invoice":
        return from_invoices(ctx)
    if entry_type == "meter_reading":
        return from_manual_reads(ctx)
    if entry_type == "weighbridge_ticket":
        return from_tickets(ctx)
    raise ValueError(f"{ctx.symbol}: option B from {entry_type} entries is not a value")


# -- invoices --


def from_invoices(ctx: Context) -> Outcome:
    """Σ invoiced amounts, each spread evenly over its days and prorated to the period;
    a day two invoices cover counts once (at the conservative rate)."""
    invoices, notes = _latest_invoices(ctx)
    daily, prorated, apportioned = _prorate(ctx, invoices)
    notes += apportioned
    shares, overlap = _days_counted_once(ctx, daily, prorated)
    notes += overlap + _coverage(ctx, daily)
    total, implausible = plausible(ctx, None, math.fsum(shares))
    notes += implausible
    used = [inv.number for inv in invoices]
    source = "invoices " + ", ".join(used) if used else "no invoices in the period"
    row = ctx.row(
        None,
        total,
        source=source,
        method="Σ invoiced amounts, prorated by days to the period (option B)",
        completeness=len(daily) / _period_days(ctx),
        readings=len(used),
        calibration="n/a (commercial records)",
    )
    resolved = Resolved(
        ctx.symbol, ctx.unit, "B", source, "invoices", [PointValue(None, None, total)]
    )
    cited = notes.citing(inv.id for inv in invoices)
    return Outcome(resolved, (Part(row, cited), Part(None, cross_check_invoices(ctx))))


def _period_days(ctx: Context) -> int:
    return (ctx.inputs.end - ctx.inputs.start).days + 1


def _latest_invoices(ctx: Context) -> tuple[list[Invoice], Notes]:
    """This parameter's invoices in the period, one per invoice number (the last
    recorded), by start; a warning for each number entered again."""
    start, end = ctx.inputs.start, ctx.inputs.end
    latest: dict[str, Invoice] = {}
    warnings = []
    flags = []
    for inv in sorted(ctx.inputs.invoices, key=lambda i: (i.recorded_ms, i.id)):
        if inv.parameter == ctx.symbol and not (inv.end < start or inv.start > end):
            if inv.number in latest:
                text = (
                    f"invoice {inv.number} was entered more than once; the last one "
                    "recorded is used"
                )
                warnings.append(ctx.message("warning", text))
                earlier = latest[inv.number].id
                flags.append(Flagged(None, (earlier,), "invoice_entered_again", text))
            latest[inv.number] = inv
    invoices = sorted(latest.values(), key=lambda i: (i.start, i.number))
    return invoices, Notes(messages=tuple(warnings), flagged=tuple(flags))


def _prorate(ctx: Context, invoices: list[Invoice]) -> tuple[Daily, list[float], Notes]:
    """Each invoice's days in the period at its daily rate; its share of the period
    (an apportionment correction when part of it lies outside)."""
    start, end = ctx.inputs.start, ctx.inputs.end
    daily: Daily = {}
    prorated: list[float] = []
    adjustments: list[Adjustment] = []
    for inv in invoices:
        days = (inv.end - inv.start).days + 1
        rate = conversion(inv.unit, ctx.unit)(inv.value) / days
        lo, hi = max(inv.start, start), min(inv.end, end)
        overlap = (hi - lo).days + 1
        for k in range(overlap):
            daily.setdefault(lo + timedelta(days=k), []).append((rate, inv.number))
        share = rate * overlap
        prorated.append(share)
        if overlap < days:
            delta = share - rate * days
            adjustments.append(
                Adjustment(
                    "apportionment",
                    None,
                    day_start_ms(lo),
                    day_start_ms(hi + timedelta(days=1)),
                    "prorated_by_days",
                    f"invoice {inv.number} covers {inv.start} to {inv.end}: "
                    f"{overlap} of its {days} days are in the period",
                    delta,
                    undo_point(0, delta, None),
                    (inv.id,),
                )
            )
    return daily, prorated, Notes(adjustments=tuple(adjustments))


def _days_counted_once(
    ctx: Context, daily: Daily, prorated: list[float]
) -> tuple[list[float], Notes]:
    """Each day's amount. A day two invoices both cover (a corrected invoice beside the
    original, bills sharing a read day) counts once, at the lower rate for reference
    emissions, the higher for project emissions."""
    pick = min if ctx.lowers else max
    shares = [pick(rates)[0] for _, rates in sorted(daily.items())]
    twice = sorted(d for d, rates in daily.items() if len(rates) > 1)
    if not twice:
        return shares, Notes()
    numbers = sorted({n for d in twice for _, n in daily[d]})
    delta = math.fsum(shares) - math.fsum(prorated)
    side = "lower" if ctx.lowers else "higher"
    message = (
        f"invoices {', '.join(numbers)} both cover {len(twice)} day(s) from "
        f"{twice[0]} to {twice[-1]}: each such day counts once, at the {side} rate"
    )
    once = Adjustment(
        "apportionment",
        None,
        day_start_ms(twice[0]),
        day_start_ms(twice[-1] + timedelta(days=1)),
        "overlapping_days_counted_once",
        message,
        delta,
        undo_point(0, delta, None),
    )
    return shares, Notes(messages=(ctx.message("warning", message),), adjustments=(once,))


def _coverage(ctx: Context, daily: Daily) -> Notes:
    """A warning when the invoices leave days of the period uncovered (they count zero)."""
    covered, period_days = len(daily), _period_days(ctx)
    if covered >= period_days:
        return Notes()
    uncovered = ctx.message(
        "warning",
        f"invoices cover {covered} of the period's {period_days} days; "
        "the uncovered days count zero",
    )
    return Notes(messages=(uncovered,))


# -- manual reads --


def from_manual_reads(ctx: Context) -> Outcome:
    """The rise of each read register over the period, a point per meter."""
    points = ctx.points()
    if not points:
        raise ValueError(f"{ctx.symbol}: option B meter reads need the monitoring points they read")
    values: list[PointValue] = []
    parts: list[Part] = []
    for point in points:
        value, part = _read_point(ctx, len(values), point)
        values.append(value)
        parts.append(part)
    resolved = Resolved(ctx.symbol, ctx.unit, "B", "manual meter reads", "reads", values)
    return Outcome(resolved, tuple(parts))


def _read_point(ctx: Context, index: int, point: MonitoringPoint) -> tuple[PointValue, Part]:
    """One meter read by hand. It is still a meter: mistyped reads are set aside like a
    logger's glitches, and its calibration and rating apply."""
    reads = sorted(
        (r for r in ctx.inputs.reads if (r.device, r.quantity) == (point.device, point.quantity)),
        key=lambda r: r.time_ms,
    )
    device = ctx.device(point.device)
    reads, notes = _one_read_per_time(ctx, point, reads)
    t = np.array([r.time_ms for r in reads], dtype=float)
    v = np.array([r.value for r in reads], dtype=float)
    detail = agg.cumulative_total(t, v, ctx.start_ms, ctx.end_ms, device.register_max)
    spec = quantities.CATALOGUE[point.quantity]
    factor = amount_factor(spec, spec.default_kind, ctx.unit)
    series = SeriesArrays(t.astype(np.int64), v, np.full(t.size, np.nan))
    part = PointSeries.of(
        series, spec.default_kind, device, ctx.start_ms, ctx.end_ms, set_aside_glitches=ctx.lowers
    )
    value = part.amount(ctx.start_ms, ctx.end_ms, math.inf, None, "interpolate")[0] * factor
    notes += _mistyped(ctx, point, part, reads)
    metering = Metering(index, point, spec, factor, math.inf, None, "interpolate")
    (value, _), calibrated = calibrate_amount(ctx, metering, part, Amount(value, None))
    value, implausible = plausible(ctx, point, value, index=index)
    calibration, status = calibration_text(ctx, device)
    covered = detail.start_covered and detail.end_covered
    row = ctx.row(
        point,
        value,
        source=f"manual reads of {point.device} ({len(reads)})",
        method="difference of manual register reads (option B)" + _read_notes(detail),
        completeness=1.0 if covered else 0.0,
        readings=detail.readings,
        calibration=calibration,
    )
    point_value = PointValue(point.id, point.device, value, readings=detail.readings)
    notes = (notes + calibrated + implausible + status).citing(r.id for r in reads)
    return point_value, Part(row, notes)


def _mistyped(
    ctx: Context, point: MonitoringPoint, part: PointSeries, reads: list[ManualRead]
) -> Notes:
    """A warning for the reads set aside as out of line with those around them, and
    those reads flagged."""
    if not part.glitch_times.size:
        return Notes()
    text = (
        f"{point.device}: {part.glitch_times.size} manual read(s) out of line with "
        "the reads around them (mistyped?) set aside"
    )
    glitches = set(part.glitch_times.tolist())
    ids = tuple(r.id for r in reads if float(r.time_ms) in glitches)
    flag = Flagged(point.id, ids, "manual_read_out_of_line", text)
    return Notes(messages=(ctx.message("warning", text),), flagged=(flag,))


def _read_notes(detail: agg.CumulativeTotal) -> str:
    """What the method text says about the reads bracketing the period."""
    notes = []
    if not (detail.start_covered and detail.end_covered):
        notes.append("no read on both sides of the period: only the span read counts")
    if detail.start_interpolated or detail.end_interpolated:
        notes.append("boundary values interpolated between the two nearest reads")
    return "; " + "; ".join(notes) if notes else ""


def _one_read_per_time(
    ctx: Context, point: MonitoringPoint, reads: list[ManualRead]
) -> tuple[list[ManualRead], Notes]:
    """Two reads of one meter at the same time with different values (one mistyped,
    then entered again): the conservative one counts, and the clash is an error."""
    by_time: dict[int, list[ManualRead]] = {}
    for r in reads:
        by_time.setdefault(r.time_ms, []).append(r)
    pick = min if ctx.lowers else max
    kept: list[ManualRead] = []
    errors = []
    flags = []
    for time_ms, group in sorted(by_time.items()):
        values = sorted({r.value for r in group})
        if len(values) > 1:
            text = (
                f"{point.device}: {len(group)} manual reads at {iso(time_ms)} disagree "
                f"({', '.join(f'{x:g}' for x in values)}); the "
                + ("lower" if ctx.lowers else "higher")
                + " counts until one is withdrawn"
            )
            errors.append(ctx.message("error", text))
            ids = tuple(sorted(r.id for r in group))
            flags.append(Flagged(point.id, ids, "manual_reads_disagree", text))
        kept.append(pick(sorted(group, key=lambda r: r.id), key=lambda r: r.value))
    return kept, Notes(messages=tuple(errors), flagged=tuple(flags))


# -- weighbridge tickets --


def from_tickets(ctx: Context) -> Outcome:
    """Σ net masses on the period's weighbridge tickets, each ticket number once."""
    in_period = [t for t in ctx.inputs.tickets if ctx.start_ms <= t.time_ms < ctx.end_ms]
    by_number: dict[str, Ticket] = {}
    warnings = []
    for t in sorted(in_period, key=lambda t: (t.time_ms, t.id)):
        if t.number in by_number:
            warnings.append(
                ctx.message("warning", f"weighbridge ticket {t.number} entered twice: once counted")
            )
        by_number.setdefault(t.number, t)
    tickets = sorted(by_number.values(), key=lambda t: (t.time_ms, t.id))
    total = math.fsum(conversion(t.unit, ctx.unit)(t.value) for t in tickets)
    source = "weighbridge tickets " + ", ".join(t.number for t in tickets)
    row = ctx.row(
        None,
        total,
        source=source,
        method="Σ net masses on weighbridge tickets (option B)",
        completeness=1.0,
        readings=len(tickets),
        calibration="weighbridge certificate (see entries)",
    )
    resolved = Resolved(
        ctx.symbol, ctx.unit, "B", source, "tickets", [PointValue(None, None, total)]
    )
    notes = Notes(messages=tuple(warnings)).citing(t.id for t in tickets)
    return Outcome(resolved, (Part(row, notes),))
