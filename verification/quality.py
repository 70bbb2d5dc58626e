"""Data-quality rules on a resolved parameter: calibration lapses and errors corrected
in the conservative direction, plausibility (unit slips), meter-against-invoice checks."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
from numpy.typing import NDArray

from core import quantities
from core.plans.schema import Device, MonitoringPoint
from core.quantities import Kind
from core.times import HOUR_MS, day_start_ms
from core.units import UnitError, conversion
from persistence.stores.timeseries import SeriesArrays
from verification.aggregation import BoundaryRule
from verification.calibration import CalibrationWindow, calibration_windows
from verification.inputs import Invoice
from verification.report_model import CrossCheck, Finding
from verification.resolve_base import ResolverBase, iso, undo_point
from verification.series_parts import PointSeries, amount_factor, rated_kw

#: How far over its rated power a meter's mean may go before it is implausible.
PLAUSIBLE_OVERLOAD = 1.2


def overlaps(w: CalibrationWindow, start: date, end: date) -> bool:
    return w.start <= end and (w.end is None or w.end > start)


class Quality(ResolverBase):
    def _calibrate(
        self,
        index: int,
        point: MonitoringPoint,
        pt: PointSeries,
        amount: float,
        steps: NDArray[np.float64] | None,
        factor: float,
        edges: NDArray[np.float64] | None,
        max_gap: float = math.inf,
        rule: BoundaryRule = "interpolate",
    ) -> tuple[list[str], float, NDArray[np.float64] | None]:
        """One meter's amount (and steps) corrected inside its calibration windows; the
        corrections, the corrected amount and steps. A window's amount is measured by the
        same rules (gaps, boundaries) as the amount counted, so the correction applies to
        exactly what was counted."""
        cids: list[str] = []
        for w in self._windows(pt.device):
            a, b = self._window_span(w)
            if b <= a:
                continue
            delta_steps = None
            if steps is not None and edges is not None:
                inside = self._inside(edges, a, b)
                delta_steps = np.where(inside, steps * (w.factor - 1.0), 0.0)
                delta = float(delta_steps.sum())
                steps = steps + delta_steps
            else:
                measured, _ = pt.amount(a, b, max_gap, None, rule)
                delta = max(measured, 0.0) * factor * (w.factor - 1.0)
            if delta == 0.0:
                continue
            amount += delta
            cids.append(
                self._correction(
                    "calibration",
                    point,
                    a,
                    b,
                    w.rule,
                    f"{pt.device.id}: {w.note} (× {w.factor:g})",
                    delta,
                    undo_point(index, delta, delta_steps),
                )
            )
        return cids, amount, steps

    def _calibrate_means(
        self,
        index: int,
        point: MonitoringPoint,
        parts: list[PointSeries],
        spec: quantities.QuantitySpec,
        kind: Kind,
        steps: NDArray[np.float64] | None,
    ) -> list[str]:
        """Per-step fractions (the methane fraction) corrected in place inside each
        meter's calibration windows. A percentage error means nothing for a temperature in
        °C or a pressure, whose tolerances are absolute: those are left as measured."""
        if steps is None or self.grid is None or self.unit != "dimensionless":
            return []
        edges = self.grid.edges_ms
        cids: list[str] = []
        for i, pt in enumerate(parts):
            # each meter's windows apply to the time it measured
            lo = pt.first_ms if i else -math.inf
            hi = parts[i + 1].first_ms if i + 1 < len(parts) else math.inf
            for w in self._windows(pt.device):
                a, b = self._window_span(w)
                a, b = max(a, lo), min(b, hi)
                if b <= a:
                    continue
                inside = self._inside(edges, a, b)
                delta_steps = np.where(inside & np.isfinite(steps), steps * (w.factor - 1.0), 0.0)
                if not delta_steps.any():
                    continue
                steps += delta_steps
                cids.append(
                    self._correction(
                        "calibration",
                        point,
                        a,
                        b,
                        w.rule,
                        f"{pt.device.id}: {w.note} (× {w.factor:g})",
                        float(np.sum(delta_steps * np.diff(edges)) / self.period_ms),
                        undo_point(index, 0.0, delta_steps),
                    )
                )
        return cids

    def _window_span(self, w: CalibrationWindow) -> tuple[float, float]:
        a = max(self.start_ms, day_start_ms(w.start))
        b = min(self.end_ms, day_start_ms(w.end) if w.end else self.end_ms)
        return a, b

    @staticmethod
    def _inside(edges: NDArray[np.float64], a: float, b: float) -> NDArray[np.bool_]:
        mids = (edges[:-1] + edges[1:]) / 2
        return (mids >= a) & (mids < b)

    def _windows(self, device: Device) -> list[CalibrationWindow]:
        if device.calibration is None:
            return []
        records = self.inputs.calibrations.get(device.id, ())
        tolerance = device.max_permissible_error_pct or self.table.default_meter_tolerance_pct
        return calibration_windows(
            records, device.calibration.interval_months, tolerance, self.effect, device.installed
        )

    def _calibration_text(self, device: Device) -> str:
        records = sorted(self.inputs.calibrations.get(device.id, ()), key=lambda r: r.date)
        if device.calibration is None:
            self.out.findings.append(
                Finding(
                    severity="warning",
                    symbol=self.param.symbol,
                    monitoring_point=None,
                    message=f"{device.id} has no calibration interval in the plan: its "
                    "calibration status cannot be checked",
                )
            )
            return f"{device.id}: no calibration interval in the plan"
        if not records:
            return f"{device.id}: no calibration on record (tolerance applied, see corrections)"
        last = [r for r in records if r.date < self.inputs.end + timedelta(days=1)]
        rec = last[-1] if last else records[0]
        tol = device.max_permissible_error_pct or self.table.default_meter_tolerance_pct
        lapses = [
            w for w in self._windows(device) if overlaps(w, self.inputs.start, self.inputs.end)
        ]
        status = "; ".join(f"{w.rule} from {w.start}" for w in lapses) or "in date"
        cert = f" ({rec.certificate})" if rec.certificate else ""
        return (
            f"{device.id}: calibrated {rec.date}{cert}, every {device.calibration.interval_months} "
            f"months, tolerance {tol:g} %: {status}"
        )

    def _power_bound_kw(self, point: MonitoringPoint | None) -> tuple[float, str]:
        """The most mean power the parameter's meters can show, kW, and where that comes
        from: their rated power (the point's meters, or for a value from invoices every
        energy meter of the plan), else the table's one-site limit."""
        if point is not None:
            rated = [r for d in self._chain(point.device) if (r := rated_kw(d))]
            if rated:
                return max(rated), f"{point.device}'s rated {max(rated):,.0f} kW"
        else:
            total = math.fsum(
                r
                for d in self.plan.devices
                if any(q.startswith("energy_") for q in d.quantities) and (r := rated_kw(d))
            )
            if total > 0:
                return total, f"the plan's meters, rated {total:,.0f} kW together"
        limit = self.table.max_site_power_kw
        return limit, f"the {limit / 1000:,.0f} MW one site can draw"

    def _plausible(
        self, point: MonitoringPoint | None, total: float, cids: list[str], index: int = 0
    ) -> float:
        """Flag a total that implies more mean power than its meters are rated for (a unit
        slip such as kWh entered as MWh); one that would raise reference emissions is
        then not counted."""
        try:
            kwh = conversion(self.unit, "kWh")(total)
        except UnitError:
            return total
        hours = self.period_ms / HOUR_MS
        mean_kw = kwh / hours if hours else 0.0
        bound, why = self._power_bound_kw(point)
        # a meter may run a little over its rating; a unit slip is a factor of 1000
        if mean_kw <= PLAUSIBLE_OVERLOAD * bound:
            return total
        where = f" at {point.id}" if point else ""
        message = (
            f"{self.param.symbol}{where} = {total:,.3f} {self.unit} implies a mean of "
            f"{mean_kw:,.0f} kW over the period, more than {why}: a unit slip "
            "(kWh entered as MWh?) or a faulty meter"
        )
        if self.effect == "raises_reference":
            cids.append(
                self._correction(
                    "plausibility",
                    point,
                    self.start_ms,
                    self.end_ms,
                    "implausible_excluded",
                    message + "; not counted until corrected",
                    -total,
                    undo_point(index, -total, None),
                )
            )
            self.out.findings.append(
                Finding(
                    severity="error",
                    symbol=self.param.symbol,
                    monitoring_point=point.id if point else None,
                    message=message,
                )
            )
            return 0.0
        self.out.findings.append(
            Finding(
                severity="error",
                symbol=self.param.symbol,
                monitoring_point=point.id if point else None,
                message=message + "; kept, as it raises project emissions",
            )
        )
        return total

    def _cross_check_invoices(self) -> None:
        """Meter against invoices where both cover the same monitoring point."""
        points = {m.id: m for m in self.plan.monitoring_points}
        mine = set(self.param.monitoring_points) if self.param.option == "C" else None
        invoices = [
            i
            for i in self.inputs.invoices
            if i.monitoring_point
            and (
                i.monitoring_point in mine if mine is not None else i.parameter == self.param.symbol
            )
            and not (i.end < self.inputs.start or i.start > self.inputs.end)
        ]
        by_point: dict[str, list[Invoice]] = {}
        for inv in invoices:
            by_point.setdefault(inv.monitoring_point or "", []).append(inv)
        for point_id, group in sorted(by_point.items()):
            point = points.get(point_id)
            if point is None:
                continue
            lo = max(min(i.start for i in group), self.inputs.start)
            hi = min(max(i.end for i in group), self.inputs.end)
            a, b = day_start_ms(lo), day_start_ms(hi + timedelta(days=1))
            spec = quantities.CATALOGUE[point.quantity]
            meter = 0.0
            for device in self._chain(point.device):
                series = self.inputs.series.get((device.id, point.quantity), SeriesArrays.empty())
                pt = PointSeries.of(series, spec.default_kind, device, a, b)
                amount, _ = pt.amount(a, b, math.inf, None)
                meter += amount * amount_factor(spec, pt.kind, self.unit)
            parts = []
            for inv in sorted(group, key=lambda i: (i.start, i.number, i.id)):
                days = (inv.end - inv.start).days + 1
                overlap = (min(inv.end, hi) - max(inv.start, lo)).days + 1
                parts.append(conversion(inv.unit, self.unit)(inv.value) * overlap / days)
            invoiced = math.fsum(parts)
            diff = (meter - invoiced) / invoiced * 100 if invoiced else math.inf
            used = (
                "meter (option C, the plan's choice)"
                if self.param.option == "C"
                else "invoices (option B, the plan's choice)"
            )
            note = f"the meter reads {diff:+.3f} % against the invoices"
            if abs(diff) > 1.0:
                note += "; beyond 1 %: check the meter, its unit and the invoices"
                self.out.findings.append(
                    Finding(
                        severity="warning",
                        symbol=self.param.symbol,
                        monitoring_point=point_id,
                        message=note,
                    )
                )
            self.out.cross_checks.append(
                CrossCheck(
                    symbol=self.param.symbol,
                    monitoring_point=point_id,
                    start=iso(a),
                    end=iso(b),
                    meter_value=meter,
                    invoice_value=invoiced,
                    unit=self.unit,
                    difference_pct=round(diff, 6) if math.isfinite(diff) else 1e308,
                    invoices=[i.number for i in sorted(group, key=lambda i: i.number)],
                    used=used,
                    note=note,
                )
            )
