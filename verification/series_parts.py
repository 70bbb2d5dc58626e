"""One monitoring point's readings as the resolver uses them: per device (a replaced
meter and its successor are two parts), with the amounts, rates and gaps of each series
kind. Pure, vectorised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mrv import quantities
from mrv.plans.schema import Device
from mrv.quantities import Kind
from mrv.stores.timeseries import SeriesArrays
from mrv.units import UnitError, conversion
from verification import aggregation as agg

HOUR_MS = 3_600_000.0


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


def spread(edges: NDArray[np.float64], a: float, b: float, per_ms: float) -> NDArray[np.float64]:
    """Per step: per_ms × the step's overlap with [a, b) in ms."""
    lo = np.maximum(edges[:-1], a)
    hi = np.minimum(edges[1:], b)
    return np.clip(hi - lo, 0.0, None) * per_ms


def interval_gaps(
    parts: list[PointSeries], start_ms: int, end_ms: int, tolerance_ms: float
) -> list[tuple[int, int]]:
    """Uncovered stretches of an interval series: time no reading's interval covers."""
    spans = [(pt.starts, pt.times) for pt in parts if pt.times.size]
    if not spans:
        return [(start_ms, end_ms)]
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


@dataclass
class PointSeries:
    """One device's readings of a monitoring point (canonical unit)."""

    device: Device
    kind: Kind
    times: NDArray[np.float64]
    values: NDArray[np.float64]
    starts: NDArray[np.float64]  # interval series: where each interval begins
    readings: int
    rollovers: int = 0
    resets: int = 0

    @classmethod
    def of(
        cls, series: SeriesArrays, default: Kind, device: Device, start_ms: int, end_ms: int
    ) -> PointSeries:
        t = series.times_ms.astype(float)
        v = series.values
        interval = series.interval_s
        is_interval = np.isfinite(interval)
        kind = Kind.INTERVAL if is_interval.any() else default
        if kind == Kind.INTERVAL:
            # Neighbours fetched for interpolation carry no interval: not needed here.
            t, v, interval = t[is_interval], v[is_interval], interval[is_interval]
        starts = t - np.nan_to_num(interval) * 1000.0
        inside = int(np.sum((t >= start_ms) & (t <= end_ms)))
        part = cls(device, kind, t, v, starts, inside)
        if kind == Kind.CUMULATIVE and t.size:
            detail = agg.cumulative_total(t, v, start_ms, end_ms, device.register_max)
            part.rollovers, part.resets = detail.rollovers, detail.resets
        return part

    def amount(
        self,
        start_ms: float,
        end_ms: float,
        max_gap: float,
        edges: NDArray[np.float64] | None,
        boundary: agg.BoundaryRule = "interpolate",
    ) -> tuple[float, NDArray[np.float64] | None]:
        """The canonical amount over [start, end) and per step (rate × hours for instants).

        boundary: for registers, what a period boundary inside a gap gets (see
        ``aggregation.BoundaryRule``)."""
        if self.times.size == 0:
            return 0.0, (np.zeros(edges.size - 1) if edges is not None else None)
        if self.kind == Kind.CUMULATIVE:
            register_max = self.device.register_max
            gap = None if math.isinf(max_gap) else max_gap
            detail = agg.cumulative_total(
                self.times,
                self.values,
                int(start_ms),
                int(end_ms),
                register_max,
                max_gap_ms=gap,
                boundary=boundary,
            )
            steps = (
                agg.cumulative_steps(
                    self.times, self.values, edges, register_max, max_gap_ms=gap, boundary=boundary
                )
                if edges is not None
                else None
            )
            return detail.total, steps
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

    def rate_times(self) -> NDArray[np.float64]:
        return self.times

    def rates(self, kind: Kind) -> NDArray[np.float64]:
        """Per-hour rates for the gap rules: samples as they are; interval totals per hour;
        register rises per hour between consecutive readings."""
        if self.kind == Kind.INTERVAL:
            hours = (self.times - self.starts) / HOUR_MS
            return np.where(hours > 0, self.values / np.where(hours > 0, hours, 1.0), 0.0)
        if self.kind == Kind.CUMULATIVE:
            if self.times.size < 2:
                return np.zeros(self.times.size)
            curve, _, _ = agg.unwrap_register(self.values, self.device.register_max)
            dt = np.diff(self.times) / HOUR_MS
            rate = np.diff(curve) / np.where(dt > 0, dt, 1.0)
            return np.concatenate((rate[:1], rate))
        return self.values
