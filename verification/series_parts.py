"""One monitoring point's readings as the resolver uses them: per device (a replaced
meter and its successor are two parts), with the amounts, rates and gaps of each series
kind. Pure, vectorised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from core import quantities
from core.plans.schema import Device
from core.quantities import Kind
from core.times import HOUR_MS
from core.units import UnitError, conversion
from persistence.stores.timeseries import SeriesArrays
from verification import aggregation as agg


def is_amount(spec: quantities.QuantitySpec, kind: Kind, unit: str) -> bool:
    try:
        amount_factor(spec, kind, unit)
    except UnitError:
        return False
    return True


def amount_factor(spec: quantities.QuantitySpec, kind: Kind, unit: str) -> float:
    """Canonical amount (or rate × hour for instant rates) to the parameter's unit."""
    source = f"({spec.canonical_unit})*hour" if kind == Kind.INSTANT else spec.canonical_unit
    affine = conversion(source, unit)
    if affine.offset:
        raise UnitError("not_an_amount", f"{unit} is not an amount")
    return affine.scale


def rated_kw(device: Device) -> float | None:
    """The most electrical power a device's meter can see, kW, from its nameplate: its
    rated power, or a chiller's cooling capacity over its rated COP, or its capacity."""
    plate = device.nameplate
    if "rated_kw" in plate:
        return plate["rated_kw"]
    if "capacity_kw" in plate:
        cop = plate.get("rated_cop")
        return plate["capacity_kw"] / cop if cop else plate["capacity_kw"]
    return None


def rated_rate(spec: quantities.QuantitySpec, device: Device) -> float | None:
    """The largest rate a device can measure, per hour in the quantity's canonical unit
    (per-hour amount for registers and totals, the value itself for a rate), from its
    nameplate: electrical power for energy, the design flow for gas."""
    per_hour_unit = (
        spec.canonical_unit
        if spec.default_kind == Kind.INSTANT
        else (f"({spec.canonical_unit})/hour")
    )
    for rate, unit in (
        (rated_kw(device), "kW"),
        (device.nameplate.get("design_flow_nm3_h"), "Nm3/hour"),
    ):
        if rate is None:
            continue
        try:
            return conversion(unit, per_hour_unit)(rate)
        except UnitError:
            continue
    return None


def spread(edges: NDArray[np.float64], a: float, b: float, per_ms: float) -> NDArray[np.float64]:
    """Per step: per_ms × the step's overlap with [a, b) in ms."""
    lo = np.maximum(edges[:-1], a)
    hi = np.minimum(edges[1:], b)
    overlap_ms: NDArray[np.float64] = np.clip(hi - lo, 0.0, None)
    return overlap_ms * per_ms


def interval_gaps(
    parts: list[PointSeries], start_ms: float, end_ms: float, tolerance_ms: float
) -> list[tuple[int, int]]:
    """Uncovered stretches of an interval series: time no reading's interval covers."""
    spans = [(pt.starts, pt.times) for pt in parts if pt.times.size]
    if not spans:
        return [(int(start_ms), int(end_ms))]
    s = np.concatenate([x[0] for x in spans])
    e = np.concatenate([x[1] for x in spans])
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    reach = np.maximum.accumulate(e)
    holes_a = np.concatenate(([-np.inf], reach))
    holes_b = np.concatenate((s, [np.inf]))
    lo = np.maximum(holes_a, start_ms)
    hi = np.minimum(holes_b, end_ms)
    keep = (hi - lo) > tolerance_ms
    return [(int(a), int(b)) for a, b in zip(lo[keep], hi[keep], strict=True)]


class _RegisterRule(NamedTuple):
    """How a register is read: a period boundary inside a gap (``BoundaryRule``), a drop
    across a gap as a reset (strict), only new highs counted (envelope)."""

    boundary: agg.BoundaryRule
    strict: bool
    envelope: bool


@dataclass
class PointSeries:
    """One device's readings of a monitoring point (canonical unit), cleaned: register
    glitches and readings after the successor meter took over are set aside (and
    counted), overlapping interval totals counted once."""

    device: Device
    kind: Kind
    times: NDArray[np.float64]
    values: NDArray[np.float64]
    starts: NDArray[np.float64]  # interval series: where each interval begins
    readings: int
    rollovers: int = 0
    resets: int = 0
    glitch_times: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    raw_values: NDArray[np.float64] | None = None  # before glitches were set aside
    raw_times: NDArray[np.float64] | None = None
    overlapping: int = 0  # readings dropped: after the successor's first, or double intervals

    @classmethod
    def of(
        cls,
        series: SeriesArrays,
        default: Kind,
        device: Device,
        start_ms: int,
        end_ms: int,
        *,
        until_ms: float = math.inf,
        set_aside_glitches: bool = True,
    ) -> PointSeries:
        """until_ms: the successor meter's first reading; this meter's later readings
        would count the same time twice. set_aside_glitches: register readings out of
        line with their neighbours are set aside (they count less; for a parameter that
        raises project emissions they are kept, and a reset is substituted instead)."""
        t = series.times_ms.astype(float)
        v = series.values
        interval = series.interval_s
        is_interval = np.isfinite(interval)
        kind = Kind.INTERVAL if is_interval.any() else default
        if kind == Kind.INTERVAL:
            # Neighbours fetched for interpolation carry no interval: not needed here.
            t, v, interval = t[is_interval], v[is_interval], interval[is_interval]
        keep = t <= until_ms if kind == Kind.CUMULATIVE else t < until_ms
        dropped = int(np.sum(~keep))
        t, v, interval = t[keep], v[keep], interval[keep]
        starts = t - np.nan_to_num(interval) * 1000.0
        if kind == Kind.INTERVAL and t.size:
            # Two totals for the same time (a logger re-export with other seqs) count once;
            # a few milliseconds of clock jitter between neighbours is not a double.
            reach = np.concatenate(([-np.inf], np.maximum.accumulate(t)[:-1]))
            overlap = np.clip(reach - starts, 0.0, None)
            single = overlap <= 0.5 * (t - starts)
            dropped += int(np.sum(~single))
            starts = np.maximum(starts, reach)
            t, v, starts = t[single], v[single], starts[single]
        part = cls(device, kind, t, v, starts, 0, overlapping=dropped)
        if kind == Kind.CUMULATIVE and t.size:
            glitch = agg.register_glitches(t, v, device.register_max)
            if set_aside_glitches and glitch.any():
                part.raw_times, part.raw_values = t, v
                part.glitch_times = t[glitch]
                part.times, part.values = t[~glitch], v[~glitch]
            detail = agg.cumulative_total(
                part.times, part.values, start_ms, end_ms, device.register_max
            )
            part.rollovers, part.resets = detail.rollovers, detail.resets
        part.readings = int(np.sum((part.times >= start_ms) & (part.times <= end_ms)))
        return part

    @property
    def first_ms(self) -> float:
        return float(self.times[0]) if self.times.size else math.inf

    def resets_within(self, a: float, b: float) -> bool:
        """A reset (not a rollover) between readings inside [a, b]: the register's rise
        across it is not measured."""
        if self.kind != Kind.CUMULATIVE or self.times.size < 2:
            return False
        _, _, reset = agg.unwrap_register(self.values, self.device.register_max)
        ends = self.times[1:]
        return bool(np.any(reset & (ends > a) & (self.times[:-1] < b)))

    def covers(self, a: float, b: float) -> bool:
        """A reading at or before a and one at or after b: a register measures [a, b)."""
        return bool(self.times.size and self.times[0] <= a and self.times[-1] >= b)

    def amount(
        self,
        start_ms: float,
        end_ms: float,
        max_gap: float,
        edges: NDArray[np.float64] | None,
        boundary: agg.BoundaryRule = "interpolate",
        *,
        raw: bool = False,
        strict: bool | None = None,
        envelope: bool | None = None,
    ) -> tuple[float, NDArray[np.float64] | None]:
        """The canonical amount over [start, end) and per step (rate × hours for instants).

        boundary: for registers, what a period boundary inside a gap gets (see
        ``aggregation.BoundaryRule``); raw: with the glitches left in (to price them);
        strict: a drop across a gap is a reset, not a rollover (default: when counting
        least)."""
        times, values = self.times, self.values
        if raw and self.raw_times is not None and self.raw_values is not None:
            times, values = self.raw_times, self.raw_values
        if times.size == 0:
            return 0.0, (np.zeros(edges.size - 1) if edges is not None else None)
        if self.kind == Kind.CUMULATIVE:
            # Counting least (boundary "low"), a drop across a gap is a reset and only new
            # highs count (see aggregation.unwrap_register).
            rule = _RegisterRule(
                boundary,
                boundary == "low" if strict is None else strict,
                boundary == "low" if envelope is None else envelope,
            )
            return self._register_amount(times, values, start_ms, end_ms, max_gap, edges, rule)
        if self.kind == Kind.INTERVAL:
            t, curve = self._interval_curve()
            total = float(np.diff(np.interp([start_ms, end_ms], t, curve))[0])
            steps = np.diff(np.interp(edges, t, curve)) if edges is not None else None
            return total, steps
        whole = agg.integrate_instant(
            self.times, self.values, int(start_ms), int(end_ms), max_gap_ms=max_gap
        )
        steps = None
        if edges is not None:
            area, _ = agg.instant_steps(self.times, self.values, edges, max_gap_ms=max_gap)
            steps = area / HOUR_MS
        return whole.total, steps

    def _register_amount(
        self,
        times: NDArray[np.float64],
        values: NDArray[np.float64],
        start_ms: float,
        end_ms: float,
        max_gap: float,
        edges: NDArray[np.float64] | None,
        rule: _RegisterRule,
    ) -> tuple[float, NDArray[np.float64] | None]:
        """A register's rise over [start, end) and per step, read by ``rule``."""
        register_max = self.device.register_max
        gap = None if math.isinf(max_gap) else max_gap
        rollover_gap = gap if rule.strict else None
        detail = agg.cumulative_total(
            times,
            values,
            int(start_ms),
            int(end_ms),
            register_max,
            max_gap_ms=gap,
            boundary=rule.boundary,
            rollover_gap_ms=rollover_gap,
            envelope=rule.envelope,
        )
        if edges is None:
            return detail.total, None
        steps = agg.cumulative_steps(
            times,
            values,
            edges,
            register_max,
            max_gap_ms=gap,
            boundary=rule.boundary,
            rollover_gap_ms=rollover_gap,
            envelope=rule.envelope,
        )
        return detail.total, steps

    def _interval_curve(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Interval totals as one rising curve: each total spread evenly over its interval."""
        n = self.times.size
        t = np.empty(2 * n)
        t[0::2], t[1::2] = self.starts, self.times
        rise = np.empty(2 * n)
        rise[0::2], rise[1::2] = 0.0, self.values
        curve = np.cumsum(rise)
        order = np.argsort(t, kind="stable")
        return t[order], np.maximum.accumulate(curve[order])

    def rates(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Per-hour rates for the gap rules, each at the middle of the time it describes:
        samples as they are; interval totals per hour at their interval's middle;
        register rises per hour between consecutive readings, at their middle."""
        if self.kind == Kind.INTERVAL:
            hours = (self.times - self.starts) / HOUR_MS
            rate = np.where(hours > 0, self.values / np.where(hours > 0, hours, 1.0), 0.0)
            return (self.starts + self.times) / 2.0, rate
        if self.kind == Kind.CUMULATIVE:
            if self.times.size < 2:
                return np.empty(0), np.empty(0)
            curve, _, reset = agg.unwrap_register(self.values, self.device.register_max)
            dt = np.diff(self.times) / HOUR_MS
            rate = np.diff(curve) / np.where(dt > 0, dt, 1.0)
            mids = (self.times[:-1] + self.times[1:]) / 2.0
            # the interval of a reset says nothing about the rate
            return mids[~reset], rate[~reset]
        return self.times, self.values
