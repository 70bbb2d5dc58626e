"""Meter against invoices where both cover one monitoring point (a routine verifier
finding: an export meter's 48,797,160 kWh against 48,804,719 kWh invoiced). The report
shows both and says which was used and why."""

from __future__ import annotations

import math
from datetime import date, timedelta

from core import quantities
from core.plans.schema import MonitoringPoint
from core.times import day_start_ms
from core.units import conversion
from persistence.stores.timeseries import SeriesArrays
from verification.inputs import Invoice
from verification.report_model import CrossCheck, Message
from verification.resolve.context import Context
from verification.resolve.record import Notes, iso
from verification.series_parts import PointSeries, amount_factor

#: A meter further than this from its invoices (percent) is a warning.
CROSS_CHECK_TOLERANCE_PCT = 1.0


def cross_check_invoices(ctx: Context) -> Notes:
    """Each monitoring point with invoices in the period: the meter's amount against
    the invoices', over the days the invoices cover (option C: the parameter's points;
    option B: the invoices of this parameter that name a point)."""
    points = {m.id: m for m in ctx.plan.monitoring_points}
    by_point: dict[str, list[Invoice]] = {}
    for inv in _invoices(ctx):
        by_point.setdefault(inv.monitoring_point or "", []).append(inv)
    notes = Notes()
    for point_id, group in sorted(by_point.items()):
        point = points.get(point_id)
        if point is not None:
            notes += _check(ctx, point, group)
    return notes


def _invoices(ctx: Context) -> list[Invoice]:
    inputs = ctx.inputs
    mine = set(ctx.param.monitoring_points) if ctx.param.option == "C" else None
    return [
        i
        for i in inputs.invoices
        if i.monitoring_point
        and (i.monitoring_point in mine if mine is not None else i.parameter == ctx.symbol)
        and not (i.end < inputs.start or i.start > inputs.end)
    ]


def _meter(ctx: Context, point: MonitoringPoint, a: int, b: int) -> float:
    """What the point's meters (and those they replaced) measured in [a, b), in the
    parameter's unit: register rises, gaps not filled."""
    spec = quantities.CATALOGUE[point.quantity]
    meter = 0.0
    for device in ctx.chain(point.device):
        series = ctx.inputs.series.get((device.id, point.quantity), SeriesArrays.empty())
        pt = PointSeries.of(series, spec.default_kind, device, a, b)
        amount, _ = pt.amount(a, b, math.inf, None)
        meter += amount * amount_factor(spec, pt.kind, ctx.unit)
    return meter


def _invoiced(ctx: Context, group: list[Invoice], lo: date, hi: date) -> float:
    """The invoices' amounts prorated by days to [lo, hi], in the parameter's unit."""
    parts = []
    for inv in sorted(group, key=lambda i: (i.start, i.number, i.id)):
        days = (inv.end - inv.start).days + 1
        overlap = (min(inv.end, hi) - max(inv.start, lo)).days + 1
        parts.append(conversion(inv.unit, ctx.unit)(inv.value) * overlap / days)
    return math.fsum(parts)


def _check(ctx: Context, point: MonitoringPoint, group: list[Invoice]) -> Notes:
    inputs = ctx.inputs
    lo = max(min(i.start for i in group), inputs.start)
    hi = min(max(i.end for i in group), inputs.end)
    a, b = day_start_ms(lo), day_start_ms(hi + timedelta(days=1))
    meter = _meter(ctx, point, a, b)
    invoiced = _invoiced(ctx, group, lo, hi)
    diff = (meter - invoiced) / invoiced * 100 if invoiced else math.inf
    used = (
        "meter (option C, the plan's choice)"
        if ctx.param.option == "C"
        else "invoices (option B, the plan's choice)"
    )
    note = f"the meter reads {diff:+.3f} % against the invoices"
    messages: tuple[Message, ...] = ()
    if abs(diff) > CROSS_CHECK_TOLERANCE_PCT:
        note += (
            f"; beyond {CROSS_CHECK_TOLERANCE_PCT:g} %: check the meter, its unit and the invoices"
        )
        messages = (ctx.message("warning", note, point.id),)
    check = CrossCheck(
        symbol=ctx.symbol,
        monitoring_point=point.id,
        start=iso(a),
        end=iso(b),
        meter_value=meter,
        invoice_value=invoiced,
        unit=ctx.unit,
        difference_pct=round(diff, 6) if math.isfinite(diff) else 1e308,
        invoices=[i.number for i in sorted(group, key=lambda i: i.number)],
        used=used,
        note=note,
    )
    return Notes(messages=messages, cross_checks=(check,))
