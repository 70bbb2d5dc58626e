"""What each step is computed from, for a verifier to redo it with a calculator or a
spreadsheet (issue 13, part 2).

Per option C monitoring point: a register's readings that bracket the period (and the
period's ends for each meter of a replacement chain) and each reset, rollover or
spike set aside inside it, with time, value and seq; per UTC day, the point's subtotal
read by the same rules as its period total (the days add up to the measured amount
before calibration and gap corrections, which the corrections table lists), or its
time-weighted mean. Per non-measured value: value, unit, source and version, from the
plan (option A) or the methodology's table (every entry, the chiller's TD_chw and TD_cw
included, whether or not the plan names it).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from core import quantities
from core.quantities import Kind
from core.times import DAY_MS, format_ms
from core.units import conversion
from persistence.stores.timeseries import SeriesArrays
from verification import aggregation as agg
from verification.inputs import ReportInputs
from verification.model import Grid, Symbol
from verification.report_model import DailySubtotal, ParameterInput, PointInputs, ReadingRef
from verification.resolve.context import GAP_FACTOR, Context
from verification.resolve.option_c import point_parts
from verification.series_parts import PointSeries, amount_factor, is_amount

#: Resets, rollovers and spikes listed per point at most (a failing meter can show
#: thousands; the rest are counted in the data-quality events).
MAX_EVENTS = 100


def point_inputs(inputs: ReportInputs, symbols: Mapping[str, Symbol]) -> list[PointInputs]:
    """Every option C monitoring point's inputs, in the methodology's symbol order."""
    table = inputs.rules.table
    grid = None
    if table.time_step_s is not None:
        grid = Grid.over(inputs.start_ms, inputs.end_ms, table.time_step_s * 1000)
    by_symbol = {p.symbol: p for p in inputs.plan.parameters}
    out: list[PointInputs] = []
    for symbol, sym in symbols.items():
        param = by_symbol.get(symbol)
        if param is None or param.option != "C" or param.option not in sym.options:
            continue
        ctx = Context.of(inputs, grid, param, sym)
        out += [_point(ctx, point_id) for point_id in param.monitoring_points]
    return out


def _point(ctx: Context, point_id: str) -> PointInputs:
    point = next(m for m in ctx.plan.monitoring_points if m.id == point_id)
    spec = quantities.CATALOGUE[point.quantity]
    parts = point_parts(ctx, point, spec)
    kind = next((pt.kind for pt in reversed(parts) if pt.times.size), spec.default_kind)
    readings: list[ReadingRef] = []
    if kind == Kind.CUMULATIVE:
        for pt in parts:
            raw = ctx.inputs.series.get((pt.device.id, point.quantity), SeriesArrays.empty())
            readings += _register_readings(ctx, pt, raw, point.quantity, spec.canonical_unit)
    return PointInputs(
        symbol=ctx.symbol,
        monitoring_point=point.id,
        device=point.device,
        series=kind.value,
        unit=ctx.row_unit,
        aggregate=ctx.sym.aggregate,
        readings=readings,
        daily=_daily(ctx, parts, spec, kind),
    )


def _seq(raw: SeriesArrays, t: float, v: float) -> int | None:
    """The seq of the stored reading at time t with value v (None: not known)."""
    if raw.seq is None:
        return None
    lo = np.searchsorted(raw.times_ms, t, side="left")
    hi = np.searchsorted(raw.times_ms, t, side="right")
    for k in range(int(lo), int(hi)):
        if raw.values[k] == v and raw.seq[k] >= 0:
            return int(raw.seq[k])
    return None


def _ref(
    raw: SeriesArrays, device: str, quantity: str, unit: str, t: float, v: float, role: str
) -> ReadingRef:
    seq = _seq(raw, t, v)
    return ReadingRef(
        key=f"{device}/{quantity}/{'?' if seq is None else seq}",
        device=device,
        quantity=quantity,
        seq=seq,
        time=format_ms(int(t)),
        value=float(v),
        unit=unit,
        role=role,
    )


def _register_readings(
    ctx: Context, pt: PointSeries, raw: SeriesArrays, quantity: str, unit: str
) -> list[ReadingRef]:
    """The readings that bracket the period's start and end, then each reset, rollover
    and spike set aside within it, in time order."""
    t, v = pt.times, pt.values
    if t.size == 0:
        return []
    picked: dict[int, str] = {}
    for edge, name in ((ctx.start_ms, "start"), (ctx.end_ms, "end")):
        k = int(np.searchsorted(t, edge, side="right")) - 1
        if k >= 0:
            picked.setdefault(k, f"at or before {name}")
        if k + 1 < t.size and t[k] != edge:
            picked.setdefault(k + 1, f"after {name}")
    _, rollover, reset = agg.unwrap_register(v, pt.device.register_max)
    inside = (t[1:] > ctx.start_ms) & (t[:-1] < ctx.end_ms)
    events = np.flatnonzero((rollover | reset) & inside)[:MAX_EVENTS]
    for k in events:
        what = "rollover" if rollover[k] else "reset"
        picked.setdefault(int(k), f"before {what}")
        picked[int(k) + 1] = what
    refs = [_ref(raw, pt.device.id, quantity, unit, t[k], v[k], picked[k]) for k in sorted(picked)]
    set_aside = [g for g in pt.glitch_times if ctx.start_ms <= g <= ctx.end_ms][:MAX_EVENTS]
    if set_aside and pt.raw_times is not None and pt.raw_values is not None:
        at = np.searchsorted(pt.raw_times, set_aside)
        refs += [
            _ref(raw, pt.device.id, quantity, unit, pt.raw_times[k], pt.raw_values[k], "set aside")
            for k in at
        ]
        refs.sort(key=lambda r: r.time)
    return refs


def _day_edges(ctx: Context) -> NDArray[np.float64]:
    return np.arange(ctx.start_ms, ctx.end_ms + 1, DAY_MS, dtype=float)


def _daily(
    ctx: Context, parts: list[PointSeries], spec: quantities.QuantitySpec, kind: Kind
) -> list[DailySubtotal]:
    """Per UTC day: the amount read by the period's rules, or the time-weighted mean."""
    if ctx.sym.aggregate == "share":
        return []  # a share of time is shown per step in its evidence series
    edges = _day_edges(ctx)
    max_gap = GAP_FACTOR * parts[-1].device.expected_interval_s * 1000.0
    if ctx.sym.aggregate != "mean" and is_amount(spec, kind, ctx.unit):
        factor = amount_factor(spec, kind, ctx.unit)
        boundary: agg.BoundaryRule = "low" if ctx.lowers else "high"
        values = np.zeros(edges.size - 1)
        for pt in parts:
            _, steps = pt.amount(ctx.start_ms, ctx.end_ms, max_gap, edges, boundary)
            if steps is not None:
                values = values + steps * factor
    else:
        t = np.concatenate([pt.times for pt in parts])
        v = np.concatenate([pt.values for pt in parts])
        order = np.argsort(t, kind="stable")
        area, cov = agg.instant_steps(t[order], v[order], edges, max_gap_ms=max_gap)
        to_unit = conversion(spec.canonical_unit, ctx.unit)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(cov > 0, area / cov, np.nan)
        values = to_unit.scale * mean + to_unit.offset
    counts = _readings_per_day(parts, edges)
    days = [
        ctx.inputs.start.fromordinal(ctx.inputs.start.toordinal() + k)
        for k in range(edges.size - 1)
    ]
    return [
        DailySubtotal(day=d, value=float(x) if np.isfinite(x) else None, readings=int(n))
        for d, x, n in zip(days, values, counts, strict=True)
    ]


def _readings_per_day(parts: list[PointSeries], edges: NDArray[np.float64]) -> NDArray[np.int64]:
    """Readings timed in each day [start, next start)."""
    t = np.sort(np.concatenate([pt.times for pt in parts]))
    at = np.searchsorted(t, edges, side="left")
    return np.diff(at).astype(np.int64)


def parameter_inputs(inputs: ReportInputs) -> list[ParameterInput]:
    """The plan's fixed values (option A), then every entry of the methodology's table."""
    plan, table = inputs.plan, inputs.rules.table
    out = [
        ParameterInput(
            symbol=p.symbol,
            value=p.value,
            unit=p.unit,
            source=p.source or "the monitoring plan",
            version=f"plan version {plan.plan_version}",
            status="plan",
        )
        for p in plan.parameters
        if p.option == "A" and p.value is not None
    ]
    out += [
        ParameterInput(
            symbol=name,
            value=entry.value,
            unit=entry.unit,
            source=entry.source,
            version=f"{table.methodology} table version {table.version}",
            status=entry.status,
        )
        for name, entry in table.parameters.items()
    ]
    return out
