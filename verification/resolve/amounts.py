"""Option C amounts (totals and per-step amounts): each meter's part read by the
register rules and calibrated, then the gaps substituted by the plan's rule set."""

from __future__ import annotations

from core.quantities import Kind
from core.times import HOUR_MS
from verification.resolve.calibrate import calibrate_amount
from verification.resolve.context import Context
from verification.resolve.metering import Amount, Metering, add_steps
from verification.resolve.record import Adjustment, GapSpan, Notes, undo_point
from verification.resolve.registers import register_corrections
from verification.resolve.series_gaps import FoundGap
from verification.resolve.substitution import substitute, whole_gap_note
from verification.series_parts import PointSeries


def point_amount(
    ctx: Context, m: Metering, kind: Kind, parts: list[PointSeries], gaps: list[FoundGap]
) -> tuple[Amount, Notes]:
    """Amount in the methodology's unit over the period (and per step on a grid): each
    meter's part, cleaned and calibrated, then the gaps substituted. Per step, the
    total is the sum of the steps."""
    amount = Amount(0.0, None)
    notes = Notes()
    for pt in parts:
        part, part_notes = _part(ctx, m, kind, pt)
        amount = Amount(amount.total + part.total, add_steps(amount.steps, part.steps))
        notes += part_notes
    for gap in gaps:
        amount, gap_notes = _gap(ctx, m, parts, gap, amount)
        notes += gap_notes
    if amount.steps is not None:
        amount = Amount(float(amount.steps.sum()), amount.steps)
    return amount, notes


def _part(ctx: Context, m: Metering, kind: Kind, pt: PointSeries) -> tuple[Amount, Notes]:
    """One meter's amount: read by the register rules (disclosed one by one), then
    calibrated."""
    total, steps = pt.amount(ctx.start_ms, ctx.end_ms, m.max_gap, m.edges, m.boundary)
    amount = Amount(total * m.factor, steps * m.factor if steps is not None else None)
    notes = Notes()
    if kind == Kind.CUMULATIVE:
        extra, notes = register_corrections(ctx, m, pt, amount.total)
        amount = amount.plus(extra)
    amount, calibrated = calibrate_amount(ctx, m, pt, amount)
    return amount, notes + calibrated


def _gap(
    ctx: Context, m: Metering, parts: list[PointSeries], gap: FoundGap, amount: Amount
) -> tuple[Amount, Notes]:
    """A gap recorded, and substituted by the plan's rule (a gap correction), unless a
    register bridges it: its rise across the gap is measured."""
    (a, b), (wa, wb), bridged = gap
    device = parts[-1].device.id
    if bridged:
        span = GapSpan(
            m.point.id,
            device,
            a,
            b,
            "register_bridged",
            "the register's rise across the gap is measured; it is spread evenly over the gap",
        )
        return amount, Notes(gaps=(span,))
    sub = substitute(ctx, wa, wb, parts, m.spec)
    added = sub.rate * (b - a) / HOUR_MS * m.factor
    notes = Notes(
        gaps=(GapSpan(m.point.id, device, a, b, sub.rule, whole_gap_note(sub.note, a, b, wa, wb)),)
    )
    if added == 0.0:
        return amount, notes
    delta_steps = m.spread(a, b, sub.rate)
    steps = amount.steps
    if steps is not None and delta_steps is not None:
        steps = steps + delta_steps
    correction = Adjustment(
        "gap", m.point.id, a, b, sub.rule, sub.note, added, undo_point(m.index, added, delta_steps)
    )
    return Amount(amount.total + added, steps), notes + Notes(adjustments=(correction,))
