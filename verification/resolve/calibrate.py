"""Calibration lapses and errors, corrected in the conservative direction inside each
meter's calibration windows (``verification.calibration`` says where), and each meter's
calibration status for the report (methodologies.md, "Monitoring rules")."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
from numpy.typing import NDArray

from core.plans.schema import Device, MonitoringPoint
from core.times import day_start_ms
from verification.calibration import CalibrationWindow, calibration_windows
from verification.resolve.context import Context
from verification.resolve.metering import Amount, Metering
from verification.resolve.record import Adjustment, Notes, undo_point
from verification.series_parts import PointSeries


def overlaps(w: CalibrationWindow, start: date, end: date) -> bool:
    return w.start <= end and (w.end is None or w.end > start)


def windows(ctx: Context, device: Device) -> list[CalibrationWindow]:
    """Where this device's data must be corrected (none without a calibration interval)."""
    if device.calibration is None:
        return []
    records = ctx.inputs.calibrations.get(device.id, ())
    tolerance = device.max_permissible_error_pct or ctx.table.default_meter_tolerance_pct
    return calibration_windows(
        records, device.calibration.interval_months, tolerance, ctx.effect, device.installed
    )


def _span(ctx: Context, w: CalibrationWindow) -> tuple[float, float]:
    """The window inside the period, epoch ms."""
    a = max(ctx.start_ms, day_start_ms(w.start))
    b = min(ctx.end_ms, day_start_ms(w.end) if w.end else ctx.end_ms)
    return a, b


def _inside(edges: NDArray[np.float64], a: float, b: float) -> NDArray[np.bool_]:
    """The steps whose middle lies in [a, b)."""
    mids = (edges[:-1] + edges[1:]) / 2
    return (mids >= a) & (mids < b)


def _adjustment(
    point: MonitoringPoint,
    pt: PointSeries,
    w: CalibrationWindow,
    a: float,
    b: float,
    delta: float,
    undo: tuple[int, float, NDArray[np.float64] | None],
) -> Adjustment:
    """A calibration correction of ``delta`` over [a, b); ``undo``: point index, the
    delta and the per-step delta to take back."""
    return Adjustment(
        "calibration",
        point.id,
        a,
        b,
        w.rule,
        f"{pt.device.id}: {w.note} (× {w.factor:g})",
        delta,
        undo_point(*undo),
    )


def calibrate_amount(
    ctx: Context, m: Metering, pt: PointSeries, amount: Amount
) -> tuple[Amount, Notes]:
    """One meter's amount (and steps) corrected inside its calibration windows. A
    window's amount is measured by the same rules (gaps, boundaries) as the amount
    counted, so the correction applies to exactly what was counted."""
    total, steps = amount
    adjustments: list[Adjustment] = []
    for w in windows(ctx, pt.device):
        a, b = _span(ctx, w)
        if b <= a:
            continue
        delta_steps = None
        if steps is not None and m.edges is not None:
            delta_steps = np.where(_inside(m.edges, a, b), steps * (w.factor - 1.0), 0.0)
            delta = float(delta_steps.sum())
            steps = steps + delta_steps
        else:
            measured, _ = pt.amount(a, b, m.max_gap, None, m.boundary)
            delta = max(measured, 0.0) * m.factor * (w.factor - 1.0)
        if delta == 0.0:
            continue
        total += delta
        adjustments.append(_adjustment(m.point, pt, w, a, b, delta, (m.index, delta, delta_steps)))
    return Amount(total, steps), Notes(adjustments=tuple(adjustments))


def calibrate_means(
    ctx: Context,
    index: int,
    point: MonitoringPoint,
    parts: list[PointSeries],
    steps: NDArray[np.float64] | None,
) -> tuple[NDArray[np.float64] | None, Notes]:
    """Per-step fractions (the methane fraction) corrected inside each meter's
    calibration windows. A percentage error means nothing for a temperature in °C or a
    pressure, whose tolerances are absolute: those are left as measured."""
    if steps is None or ctx.grid is None or ctx.unit != "dimensionless":
        return steps, Notes()
    edges = ctx.grid.edges_ms
    adjustments: list[Adjustment] = []
    for i, pt in enumerate(parts):
        # each meter's windows apply to the time it measured
        lo = pt.first_ms if i else -math.inf
        hi = parts[i + 1].first_ms if i + 1 < len(parts) else math.inf
        for w in windows(ctx, pt.device):
            a, b = _span(ctx, w)
            a, b = max(a, lo), min(b, hi)
            if b <= a:
                continue
            inside = _inside(edges, a, b)
            delta_steps = np.where(inside & np.isfinite(steps), steps * (w.factor - 1.0), 0.0)
            if not delta_steps.any():
                continue
            steps = steps + delta_steps
            mean_delta = float(np.sum(delta_steps * np.diff(edges)) / ctx.period_ms)
            adjustments.append(
                _adjustment(point, pt, w, a, b, mean_delta, (index, 0.0, delta_steps))
            )
    return steps, Notes(adjustments=tuple(adjustments))


def calibration_text(ctx: Context, device: Device) -> tuple[str, Notes]:
    """The device's calibration status over the period, for the parameter table (and a
    warning when the plan gives it no calibration interval)."""
    records = sorted(ctx.inputs.calibrations.get(device.id, ()), key=lambda r: r.date)
    if device.calibration is None:
        warning = ctx.message(
            "warning",
            f"{device.id} has no calibration interval in the plan: its calibration status "
            "cannot be checked",
        )
        return f"{device.id}: no calibration interval in the plan", Notes(messages=(warning,))
    if not records:
        return (
            f"{device.id}: no calibration on record (tolerance applied, see corrections)",
            Notes(),
        )
    inputs = ctx.inputs
    last = [r for r in records if r.date < inputs.end + timedelta(days=1)]
    rec = last[-1] if last else records[0]
    tol = device.max_permissible_error_pct or ctx.table.default_meter_tolerance_pct
    lapses = [w for w in windows(ctx, device) if overlaps(w, inputs.start, inputs.end)]
    status = "; ".join(f"{w.rule} from {w.start}" for w in lapses) or "in date"
    cert = f" ({rec.certificate})" if rec.certificate else ""
    text = (
        f"{device.id}: calibrated {rec.date}{cert}, every {device.calibration.interval_months} "
        f"months, tolerance {tol:g} %: {status}"
    )
    return text, Notes()
