"""Plausibility: a total that implies more mean power than its meters are rated for is a
unit slip (a published MRS lists 42,826,880 "MWh" for one factory's grid import)."""

from __future__ import annotations

import math

from core.plans.schema import MonitoringPoint
from core.times import HOUR_MS
from core.units import UnitError, conversion
from verification.resolve.context import Context
from verification.resolve.record import Adjustment, Notes, undo_point
from verification.series_parts import rated_kw

#: How far over its rated power a meter's mean may go before it is implausible.
PLAUSIBLE_OVERLOAD = 1.2


def power_bound_kw(ctx: Context, point: MonitoringPoint | None) -> tuple[float, str]:
    """The most mean power the parameter's meters can show, kW, and where that comes
    from: their rated power (the point's meters, or for a value from invoices every
    energy meter of the plan), else the table's one-site limit."""
    if point is not None:
        rated = [r for d in ctx.chain(point.device) if (r := rated_kw(d))]
        if rated:
            return max(rated), f"{point.device}'s rated {max(rated):,.0f} kW"
    else:
        total = math.fsum(
            r
            for d in ctx.plan.devices
            if any(q.startswith("energy_") for q in d.quantities) and (r := rated_kw(d))
        )
        if total > 0:
            return total, f"the plan's meters, rated {total:,.0f} kW together"
    limit = ctx.table.max_site_power_kw
    return limit, f"the {limit / 1000:,.0f} MW one site can draw"


def plausible(
    ctx: Context, point: MonitoringPoint | None, total: float, index: int = 0
) -> tuple[float, Notes]:
    """The total as counted: flagged when it implies more mean power (kWh / h) than
    ``PLAUSIBLE_OVERLOAD`` × its meters' rating; one that would raise reference
    emissions is then not counted (set to 0, a correction of −total)."""
    try:
        kwh = conversion(ctx.unit, "kWh")(total)
    except UnitError:
        return total, Notes()
    hours = ctx.period_ms / HOUR_MS
    mean_kw = kwh / hours if hours else 0.0
    bound, why = power_bound_kw(ctx, point)
    # a meter may run a little over its rating; a unit slip is a factor of 1000
    if mean_kw <= PLAUSIBLE_OVERLOAD * bound:
        return total, Notes()
    where = f" at {point.id}" if point else ""
    message = (
        f"{ctx.symbol}{where} = {total:,.3f} {ctx.unit} implies a mean of "
        f"{mean_kw:,.0f} kW over the period, more than {why}: a unit slip "
        "(kWh entered as MWh?) or a faulty meter"
    )
    point_id = point.id if point else None
    if not ctx.lowers:
        kept = ctx.message("error", message + "; kept, as it raises project emissions", point_id)
        return total, Notes(messages=(kept,))
    excluded = Adjustment(
        "plausibility",
        point_id,
        ctx.start_ms,
        ctx.end_ms,
        "implausible_excluded",
        message + "; not counted until corrected",
        -total,
        undo_point(index, -total, None),
    )
    return 0.0, Notes(messages=(ctx.message("error", message, point_id),), adjustments=(excluded,))
