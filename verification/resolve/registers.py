"""What the register rules did to a meter's amount, disclosed and priced one rule at a
time, and the reset of a register that raises project emissions substituted."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from core.times import HOUR_MS
from verification import aggregation as agg
from verification.report_model import Message
from verification.resolve.context import Context
from verification.resolve.metering import Amount, Metering, add_steps
from verification.resolve.record import Adjustment, Notes, iso, undo_point
from verification.resolve.substitution import substitute
from verification.series_parts import PointSeries


class RegisterRule(NamedTuple):
    """A register rule, as the options it reads the register with; each is priced
    against the reading before it."""

    name: str
    boundary: agg.BoundaryRule
    strict: bool | None  # a drop across a gap is a reset (None: when counting least)
    envelope: bool | None  # only new highs count (None: when counting least)
    note: str


def register_corrections(
    ctx: Context, m: Metering, pt: PointSeries, amount: float
) -> tuple[Amount, Notes]:
    """Disclose (and price) what the register rules did to this meter's amount, one
    rule at a time from the plain reading (boundaries interpolated, drops across gaps
    read as rollovers where they look like one, every rise counted): spikes set aside,
    only new highs counted, a boundary inside a gap, a drop across a gap read as a
    reset. Resets of a parameter that raises project emissions are substituted
    (returned: the amount and steps to add)."""
    notes = _disclosed(ctx, m, pt, amount)
    if not (pt.resets and ctx.effect == "raises_project"):
        return Amount(0.0, None), notes
    extra, substituted = _resets_substituted(ctx, m, pt)
    return extra, notes + substituted


def _rules(m: Metering, pt: PointSeries) -> list[RegisterRule]:
    """The rules in the order they are priced (counting least: all four)."""
    low = m.boundary == "low"
    device = pt.device.id
    rules = []
    if low:
        rules.append(
            RegisterRule(
                "glitch_set_aside",
                "interpolate",
                False,
                False,
                f"{device}: {pt.glitch_times.size} register reading(s) jumped above "
                "the register and fell back (mis-scaled?) and are set aside",
            )
        )
        rules.append(
            RegisterRule(
                "only_new_highs_counted",
                "interpolate",
                False,
                True,
                f"{device}: the register fell without rolling over (a reset, or a "
                "failed read stored as 0); its climb back to its previous high is not "
                "counted again",
            )
        )
    side = "none of it" if low else "all of it"
    rules.append(
        RegisterRule(
            "boundary_in_gap",
            m.boundary,
            False,
            None,
            f"{device}: a period boundary falls inside a gap between two readings, "
            f"so the rise across it cannot be split: {side} is counted in this period "
            "(conservative), instead of a linear split",
        )
    )
    if low:
        rules.append(
            RegisterRule(
                "drop_across_gap_is_reset",
                m.boundary,
                True,
                None,
                f"{device}: the register fell across a gap in its readings; with "
                "readings missing a rollover cannot be told from a reset, so it counts "
                "as a reset (conservative)",
            )
        )
    return rules


def _disclosed(ctx: Context, m: Metering, pt: PointSeries, amount: float) -> Notes:
    """Each rule that changed the amount: a register correction of the change (and a
    warning naming the spikes set aside)."""
    span = (ctx.start_ms, ctx.end_ms, m.max_gap, m.edges)
    previous = pt.amount(*span, raw=True, strict=False, envelope=False)
    notes = Notes()
    for rule in _rules(m, pt):
        current = pt.amount(*span, rule.boundary, strict=rule.strict, envelope=rule.envelope)
        delta = (current[0] - previous[0]) * m.factor
        d_steps = (
            (current[1] - previous[1]) * m.factor
            if current[1] is not None and previous[1] is not None
            else None
        )
        previous = current
        if abs(delta) <= 1e-12 * max(1.0, abs(amount)):
            continue
        note = rule.note
        findings: tuple[Message, ...] = ()
        if rule.name == "glitch_set_aside":
            when = ", ".join(iso(t) for t in pt.glitch_times[:5])
            note += f": {when}" + (" and more" if pt.glitch_times.size > 5 else "")
            findings = (ctx.message("warning", note, m.point.id),)
        correction = Adjustment(
            "register",
            m.point.id,
            ctx.start_ms,
            ctx.end_ms,
            rule.name,
            note,
            delta,
            undo_point(m.index, delta, d_steps),
        )
        notes += Notes(messages=findings, adjustments=(correction,))
    return notes


def _resets_substituted(ctx: Context, m: Metering, pt: PointSeries) -> tuple[Amount, Notes]:
    """The interval of a reset is unknown: for project emissions, the most the meter
    shows around it (the plan's gap rule), never zero."""
    _, _, reset = agg.unwrap_register(pt.values, pt.device.register_max)
    extra = Amount(0.0, None)
    adjustments = []
    for k in np.flatnonzero(reset):
        wa, wb = float(pt.times[k]), float(pt.times[k + 1])
        a, b = max(wa, ctx.start_ms), min(wb, ctx.end_ms)
        if b <= a:
            continue
        sub = substitute(ctx, wa, wb, [pt], m.spec)
        add = sub.rate * (b - a) / HOUR_MS * m.factor
        d_steps = m.spread(a, b, sub.rate)
        extra = Amount(extra.total + add, add_steps(extra.steps, d_steps))
        adjustments.append(
            Adjustment(
                "register",
                m.point.id,
                a,
                b,
                "reset_substituted",
                f"{pt.device.id}: the register was reset; the interval's amount is "
                f"unknown: {sub.note}",
                add,
                undo_point(m.index, add, d_steps),
            )
        )
    return extra, Notes(adjustments=tuple(adjustments))
