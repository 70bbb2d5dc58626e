"""Each parameter a methodology uses, resolved over a period with its data quality.

Option A values come from the plan (or, when the plan is silent, the methodology's
table); option B from field entries (invoices, manual meter reads, weighbridge tickets);
option C from the monitored series. For option C every gap in a series is found against
the device's expected interval, substituted by the plan's rule set, and every
calibration lapse corrected in the conservative direction. Each substitution and
correction is returned with an ``undo`` so the engine can price it in tCO2.

Pure: works on ``ReportInputs`` and returns data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np
from numpy.typing import NDArray

from mrv import quantities
from mrv.plans.schema import Device, MonitoringPlan, MonitoringPoint, Parameter
from mrv.quantities import Kind
from mrv.stores.timeseries import SeriesArrays
from mrv.units import UnitError, conversion
from mrv.wire import format_time, time_from_ms
from verification import aggregation as agg
from verification.calibration import CalibrationWindow, Effect, calibration_windows
from verification.gaps import GapRuleSet, Substitution, load_gap_rules, substitute_gap
from verification.inputs import Invoice, ReportInputs, day_start_ms
from verification.model import Grid, PointValue, Resolved, Symbol
from verification.parameters import ParameterTable
from verification.report_model import Correction, CrossCheck, Finding, Gap, ParameterRow

#: A series is in a gap when no reading arrived for longer than this many expected
#: intervals (jitter and a missed message or two are not gaps).
GAP_FACTOR = 2.5
HOUR_MS = 3_600_000.0
#: Samples the gap rules may look at around a gap (the California bands use 72 h).
SUBSTITUTION_WINDOW_MS = 7 * 24 * HOUR_MS

Progress = Callable[[str], None]
Undo = Callable[[Resolved], Resolved]


@dataclass(frozen=True)
class Applied:
    correction: Correction
    symbol: str
    undo: Undo


@dataclass
class Resolution:
    values: dict[str, Resolved] = field(default_factory=dict)
    rows: list[ParameterRow] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    corrections: list[Applied] = field(default_factory=list)
    cross_checks: list[CrossCheck] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def resolve_all(
    inputs: ReportInputs,
    symbols: Mapping[str, Symbol],
    table: ParameterTable,
    progress: Progress | None = None,
) -> Resolution:
    plan = inputs.plan
    by_symbol = {p.symbol: p for p in plan.parameters}
    out = Resolution()
    grid = None
    if table.time_step_s is not None:
        grid = Grid.over(inputs.start_ms, inputs.end_ms, table.time_step_s * 1000)
    rules = load_gap_rules(plan.project.gap_rules)
    for symbol, sym in symbols.items():
        param = by_symbol.get(symbol)
        if progress:
            progress(symbol)
        if param is None:
            if symbol in table.parameters:
                out.values[symbol] = _from_table(symbol, sym, table, out)
            elif sym.required:
                raise ValueError(
                    f"{plan.project.methodology.id} needs {symbol} ({sym.description}); "
                    "the plan and the methodology table have none"
                )
            continue
        resolver = _Resolver(inputs, table, rules, grid, param, sym, out)
        out.values[symbol] = resolver.resolve()
    for param in plan.parameters:
        if param.symbol not in symbols:
            out.findings.append(
                Finding(
                    severity="info",
                    symbol=param.symbol,
                    monitoring_point=None,
                    message=f"{param.symbol} is in the plan but not used by "
                    f"{plan.project.methodology.id}",
                )
            )
    return out


def _from_table(symbol: str, sym: Symbol, table: ParameterTable, out: Resolution) -> Resolved:
    entry = table.parameters[symbol]
    source = f"methodology table {table.methodology} {table.version}: {entry.source}"
    out.rows.append(
        ParameterRow(
            symbol=symbol,
            description=sym.description,
            monitoring_point=None,
            device=None,
            value=entry.value,
            unit=entry.unit,
            option="A",
            source=source,
            method=f"default value ({entry.status})",
            frequency="fixed ex ante",
            completeness=1.0,
            readings=0,
            calibration="n/a",
            corrections=[],
        )
    )
    return Resolved(
        symbol, entry.unit, "A", source, "default", [PointValue(None, None, entry.value)]
    )


def _iso(ms: float) -> str:
    return format_time(time_from_ms(int(ms)))


def _undo_point(index: int, delta: float, delta_steps: NDArray[np.float64] | None) -> Undo:
    def undo(r: Resolved) -> Resolved:
        points = list(r.points)
        p = points[index]
        steps = p.steps
        if steps is not None and delta_steps is not None:
            steps = steps - delta_steps
        points[index] = replace(p, value=p.value - delta, steps=steps)
        return replace(r, points=points)

    return undo


class _Resolver:
    """Resolves one plan parameter (all its monitoring points)."""

    def __init__(
        self,
        inputs: ReportInputs,
        table: ParameterTable,
        rules: GapRuleSet,
        grid: Grid | None,
        param: Parameter,
        sym: Symbol,
        out: Resolution,
    ) -> None:
        self.inputs, self.table, self.rules, self.grid = inputs, table, rules, grid
        self.param, self.sym, self.out = param, sym, out
        self.plan: MonitoringPlan = inputs.plan
        self.start_ms, self.end_ms = inputs.start_ms, inputs.end_ms
        self.period_ms = float(self.end_ms - self.start_ms)
        self.effect: Effect = sym.effect

    # -- entry point --

    def resolve(self) -> Resolved:
        p = self.param
        if p.option == "A":
            return self._option_a()
        if p.option == "B":
            return self._option_b()
        return self._option_c()

    def _row(
        self,
        point: MonitoringPoint | None,
        value: float | None,
        *,
        source: str,
        method: str,
        completeness: float,
        readings: int,
        calibration: str,
        corrections: list[str],
    ) -> None:
        self.out.rows.append(
            ParameterRow(
                symbol=self.param.symbol,
                description=self.param.description or self.sym.description,
                monitoring_point=point.id if point else None,
                device=point.device if point else None,
                value=value,
                unit=self.param.unit,
                option=self.param.option,
                source=source,
                method=method,
                frequency=self.param.frequency,
                completeness=round(completeness, 6),
                readings=readings,
                calibration=calibration,
                corrections=corrections,
            )
        )

    def _correction(
        self,
        kind: str,
        point: MonitoringPoint | None,
        start_ms: float,
        end_ms: float,
        rule: str,
        note: str,
        delta: float,
        undo: Undo,
    ) -> str:
        cid = f"C{len(self.out.corrections) + 1}"
        self.out.corrections.append(
            Applied(
                Correction(
                    id=cid,
                    kind=kind,  # type: ignore[arg-type]
                    symbol=self.param.symbol,
                    monitoring_point=point.id if point else None,
                    start=_iso(start_ms),
                    end=_iso(end_ms),
                    rule=rule,
                    note=note,
                    delta=delta,
                    unit=self.param.unit,
                    effect_tco2=0.0,
                ),
                self.param.symbol,
                undo,
            )
        )
        return cid

    def _gap(
        self, point: MonitoringPoint, device: str, a: float, b: float, rule: str, note: str
    ) -> None:
        self.out.gaps.append(
            Gap(
                id=f"G{len(self.out.gaps) + 1}",
                symbol=self.param.symbol,
                monitoring_point=point.id,
                device=device,
                start=_iso(a),
                end=_iso(b),
                hours=round((b - a) / HOUR_MS, 6),
                rule=rule,
                note=note,
            )
        )

    # -- option A --

    def _option_a(self) -> Resolved:
        p = self.param
        assert p.value is not None and p.source
        table_entry = self.table.parameters.get(p.symbol)
        if table_entry is not None and not math.isclose(table_entry.value, p.value, rel_tol=1e-9):
            self.out.findings.append(
                Finding(
                    severity="warning",
                    symbol=p.symbol,
                    monitoring_point=None,
                    message=f"the plan's {p.symbol} = {p.value:g} differs from the methodology "
                    f"table's {table_entry.value:g} ({table_entry.source}); the plan's is used",
                )
            )
        self._row(
            None,
            p.value,
            source=p.source,
            method="fixed ex ante (option A)",
            completeness=1.0,
            readings=0,
            calibration="n/a",
            corrections=[],
        )
        return Resolved(p.symbol, p.unit, "A", p.source, "fixed", [PointValue(None, None, p.value)])

    # -- option B --

    def _option_b(self) -> Resolved:
        p = self.param
        if p.entry_type == "fuel_invoice":
            return self._from_invoices()
        if p.entry_type == "meter_reading":
            return self._from_manual_reads()
        if p.entry_type == "weighbridge_ticket":
            return self._from_tickets()
        raise ValueError(f"{p.symbol}: option B from {p.entry_type} entries is not a value")

    def _from_invoices(self) -> Resolved:
        p = self.param
        start, end = self.inputs.start, self.inputs.end
        used: list[str] = []
        total = 0.0
        covered: set[date] = set()
        applied: list[str] = []
        for inv in sorted(self.inputs.invoices, key=lambda i: (i.start, i.number)):
            if inv.parameter != p.symbol or inv.end < start or inv.start > end:
                continue
            days = (inv.end - inv.start).days + 1
            lo, hi = max(inv.start, start), min(inv.end, end)
            overlap = (hi - lo).days + 1
            value = conversion(inv.unit, p.unit)(inv.value)
            share = value * overlap / days
            total += share
            used.append(inv.number)
            covered.update(lo + timedelta(days=k) for k in range(overlap))
            if overlap < days:
                applied.append(
                    self._correction(
                        "apportionment",
                        None,
                        day_start_ms(lo),
                        day_start_ms(hi + timedelta(days=1)),
                        "prorated_by_days",
                        f"invoice {inv.number} covers {inv.start} to {inv.end}: "
                        f"{overlap} of its {days} days are in the period",
                        share - value,
                        _undo_point(0, share - value, None),
                    )
                )
        period_days = (end - start).days + 1
        completeness = len(covered) / period_days
        if completeness < 1:
            self.out.findings.append(
                Finding(
                    severity="warning",
                    symbol=p.symbol,
                    monitoring_point=None,
                    message=f"invoices cover {len(covered)} of the period's {period_days} days; "
                    "the uncovered days count zero",
                )
            )
        source = "invoices " + ", ".join(used) if used else "no invoices in the period"
        total = self._plausible(None, total, applied)
        self._row(
            None,
            total,
            source=source,
            method="Σ invoiced amounts, prorated by days to the period (option B)",
            completeness=completeness,
            readings=len(used),
            calibration="n/a (commercial records)",
            corrections=applied,
        )
        self._cross_check_invoices()
        return Resolved(p.symbol, p.unit, "B", source, "invoices", [PointValue(None, None, total)])

    def _from_manual_reads(self) -> Resolved:
        p = self.param
        points = self._points()
        if not points:
            raise ValueError(
                f"{p.symbol}: option B meter reads need the monitoring points they read"
            )
        values: list[PointValue] = []
        for point in points:
            reads = sorted(
                (
                    r
                    for r in self.inputs.reads
                    if (r.device, r.quantity) == (point.device, point.quantity)
                ),
                key=lambda r: r.time_ms,
            )
            t = np.array([r.time_ms for r in reads], dtype=float)
            v = np.array([r.value for r in reads], dtype=float)
            device = self._device(point.device)
            detail = agg.cumulative_total(t, v, self.start_ms, self.end_ms, device.register_max)
            spec = quantities.CATALOGUE[point.quantity]
            value = conversion(spec.canonical_unit, p.unit)(detail.total)
            notes = []
            if not (detail.start_covered and detail.end_covered):
                notes.append("no read on both sides of the period: only the span read counts")
            if detail.start_interpolated or detail.end_interpolated:
                notes.append("boundary values interpolated between the two nearest reads")
            self._row(
                point,
                value,
                source=f"manual reads of {point.device} ({len(reads)})",
                method="difference of manual register reads (option B)"
                + ("; " + "; ".join(notes) if notes else ""),
                completeness=1.0 if detail.start_covered and detail.end_covered else 0.0,
                readings=detail.readings,
                calibration=self._calibration_text(device),
                corrections=[],
            )
            values.append(PointValue(point.id, point.device, value, readings=detail.readings))
        return Resolved(p.symbol, p.unit, "B", "manual meter reads", "reads", values)

    def _from_tickets(self) -> Resolved:
        p = self.param
        tickets = [t for t in self.inputs.tickets if self.start_ms <= t.time_ms < self.end_ms]
        total = sum(conversion(t.unit, p.unit)(t.value) for t in tickets)
        source = "weighbridge tickets " + ", ".join(t.number for t in tickets)
        self._row(
            None,
            total,
            source=source,
            method="Σ net masses on weighbridge tickets (option B)",
            completeness=1.0,
            readings=len(tickets),
            calibration="weighbridge certificate (see entries)",
            corrections=[],
        )
        return Resolved(p.symbol, p.unit, "B", source, "tickets", [PointValue(None, None, total)])

    # -- option C --

    def _points(self) -> list[MonitoringPoint]:
        by_id = {m.id: m for m in self.plan.monitoring_points}
        return [by_id[i] for i in self.param.monitoring_points]

    def _device(self, device_id: str) -> Device:
        device = self.plan.device(device_id)
        if device is None:
            raise ValueError(f"monitoring point device {device_id!r} is not in the plan")
        return device

    def _chain(self, device_id: str) -> list[Device]:
        """The device and those it replaced, oldest first (meter replacements)."""
        chain = [self._device(device_id)]
        seen = {device_id}
        while chain[0].replaces and chain[0].replaces not in seen:
            seen.add(chain[0].replaces)
            chain.insert(0, self._device(chain[0].replaces))
        return chain

    def _option_c(self) -> Resolved:
        points = []
        for index, point in enumerate(self._points()):
            points.append(self._point(index, point))
        self._cross_check_invoices()
        method = {
            "total": "period total",
            "mean": "time-weighted mean",
            "steps": "per step",
            "share": "share of time",
        }
        return Resolved(
            self.param.symbol,
            self.param.unit,
            "C",
            "measured: " + ", ".join(self.param.monitoring_points),
            method[self.sym.aggregate],
            points,
        )

    def _point(self, index: int, point: MonitoringPoint) -> PointValue:
        spec = quantities.CATALOGUE[point.quantity]
        chain = self._chain(point.device)
        agg_kind = self.sym.aggregate
        total = 0.0
        steps: NDArray[np.float64] | None = None
        readings = 0
        uncovered_ms = 0.0
        correction_ids: list[str] = []
        notes: list[str] = []
        parts: list[_Part] = []
        for device in chain:
            series = self.inputs.series.get((device.id, point.quantity), SeriesArrays.empty())
            part = _Part.of(series, spec.default_kind, device, self.start_ms, self.end_ms)
            parts.append(part)
            readings += part.readings
        # A replaced meter's silence after its removal is not a gap of the point: the
        # gaps are those of the chain as a whole.
        all_t = np.sort(np.concatenate([pt.times for pt in parts])) if parts else np.empty(0)
        max_gap = GAP_FACTOR * chain[-1].expected_interval_s * 1000.0
        kind = parts[-1].kind if parts else spec.default_kind
        if kind == Kind.INTERVAL:
            gaps = _interval_gaps(
                parts, self.start_ms, self.end_ms, 0.5 * chain[-1].expected_interval_s * 1000
            )
        else:
            gaps = agg.gap_intervals(all_t, self.start_ms, self.end_ms, max_gap)
        for a, b in gaps:
            uncovered_ms += b - a
        completeness = 1.0 - uncovered_ms / self.period_ms if self.period_ms else 0.0

        if agg_kind == "mean":
            value, steps = self._mean(parts, spec, max_gap, point, gaps, notes)
        elif agg_kind == "share":
            value, steps = self._share(parts, spec, max_gap, point, gaps)
        else:
            value, steps, cids = self._amount(
                index, point, parts, spec, kind, max_gap, gaps, notes, all_t
            )
            correction_ids.extend(cids)
            total = value
        if agg_kind in ("total", "steps") and kind == Kind.CUMULATIVE:
            for pt in parts:
                if pt.rollovers:
                    notes.append(
                        f"{pt.rollovers} register rollover(s) added back on {pt.device.id}"
                    )
        if agg_kind == "total":
            checked = self._plausible(point, total, correction_ids, index=index)
            value = checked
        self._row(
            point,
            None if value is None or (isinstance(value, float) and math.isnan(value)) else value,
            source=f"{point.device} {point.quantity} ({', '.join(d.id for d in chain)})"
            if len(chain) > 1
            else f"{point.device} {point.quantity}",
            method=self._method_text(kind, notes),
            completeness=max(completeness, 0.0),
            readings=readings,
            calibration="; ".join(self._calibration_text(d) for d in chain),
            corrections=correction_ids,
        )
        return PointValue(
            point.id,
            point.device,
            value if value is not None else math.nan,
            steps,
            max(completeness, 0.0),
            readings,
        )

    def _method_text(self, kind: Kind, notes: list[str]) -> str:
        base = {
            Kind.CUMULATIVE: "register rise between the readings bracketing the period, "
            "boundary values interpolated",
            Kind.INTERVAL: "Σ interval totals, those straddling a boundary prorated",
            Kind.INSTANT: "samples integrated over time (trapezoidal), never across a gap",
        }[kind]
        if self.sym.aggregate == "mean":
            base = "time-weighted mean of the samples over the covered time"
        elif self.sym.aggregate == "share":
            base = "share of time both neighbouring samples show the condition"
        if self.sym.aggregate == "steps":
            base += f"; per {self.table.time_step_s} s step"
        return base + ("; " + "; ".join(notes) if notes else "")

    # -- amounts (totals and per-step amounts) --

    def _amount(
        self,
        index: int,
        point: MonitoringPoint,
        parts: list[_Part],
        spec: quantities.QuantitySpec,
        kind: Kind,
        max_gap: float,
        gaps: list[tuple[int, int]],
        notes: list[str],
        all_t: NDArray[np.float64],
    ) -> tuple[float, NDArray[np.float64] | None, list[str]]:
        """Amount in the parameter's unit over the period (and per step on a grid)."""
        mean_steps = self.sym.aggregate == "steps" and not _is_amount(spec, kind, self.param.unit)
        if mean_steps:
            value, mean_steps_arr = self._mean(parts, spec, max_gap, point, gaps, notes)
            cal, _ = self._calibrate(index, point, parts, spec, kind, mean_steps_arr)
            return value, mean_steps_arr, cal
        factor = _amount_factor(spec, kind, self.param.unit)
        edges = (
            self.grid.edges_ms
            if (self.grid is not None and self.sym.aggregate == "steps")
            else None
        )
        total = 0.0
        steps: NDArray[np.float64] | None = None
        resets = 0
        rule: agg.BoundaryRule = "low" if self.effect == "raises_reference" else "high"
        cids: list[str] = []
        for pt in parts:
            t_total, t_steps = pt.amount(self.start_ms, self.end_ms, max_gap, edges, rule)
            if kind == Kind.CUMULATIVE:
                plain, plain_steps = pt.amount(self.start_ms, self.end_ms, max_gap, edges)
                if plain != t_total:
                    delta = (t_total - plain) * factor
                    d_steps = (
                        (t_steps - plain_steps) * factor
                        if t_steps is not None and plain_steps is not None
                        else None
                    )
                    cids.append(
                        self._correction(
                            "register",
                            point,
                            self.start_ms,
                            self.end_ms,
                            "boundary_in_gap",
                            f"{pt.device.id}: a period boundary falls inside a gap between two "
                            "readings, so the rise across it cannot be split: "
                            + (
                                "none of it is counted in this period"
                                if rule == "low"
                                else "all of it is counted in this period"
                            )
                            + " (conservative), instead of a linear split",
                            delta,
                            _undo_point(index, delta, d_steps),
                        )
                    )
            total += t_total * factor
            if t_steps is not None:
                steps = t_steps * factor if steps is None else steps + t_steps * factor
            resets += pt.resets
        if resets:
            cids.append(
                self._correction(
                    "register",
                    point,
                    self.start_ms,
                    self.end_ms,
                    "reset_not_counted",
                    f"{resets} register reset(s): the amount in each reset's interval is "
                    "unknown and counts zero",
                    0.0,
                    lambda r: r,
                )
            )
        cal_ids, cal_delta = self._calibrate(index, point, parts, spec, kind, steps)
        cids += cal_ids
        if steps is None:
            total += cal_delta
        else:
            total = float(steps.sum())
        for a, b in gaps:
            bridged = all_t.size > 0 and all_t[0] <= a and all_t[-1] >= b
            if kind == Kind.CUMULATIVE and bridged:
                self._gap(
                    point,
                    parts[-1].device.id,
                    a,
                    b,
                    "register_bridged",
                    "the register's rise across the gap is measured; it is spread evenly "
                    "over the gap",
                )
                continue
            sub = self._substitute(a, b, parts, kind)
            amount = sub.rate * (b - a) / HOUR_MS * factor
            delta_steps = None
            if edges is not None:
                delta_steps = _spread(edges, a, b, sub.rate * factor / HOUR_MS)
            self._gap(point, parts[-1].device.id, a, b, sub.rule, sub.note)
            if amount != 0.0:
                total += amount
                if steps is not None and delta_steps is not None:
                    steps = steps + delta_steps
                cids.append(
                    self._correction(
                        "gap",
                        point,
                        a,
                        b,
                        sub.rule,
                        sub.note,
                        amount,
                        _undo_point(index, amount, delta_steps),
                    )
                )
        return total, steps, cids

    def _substitute(self, a: float, b: float, parts: list[_Part], kind: Kind) -> Substitution:
        t = np.concatenate([pt.rate_times() for pt in parts])
        v = np.concatenate([pt.rates(kind) for pt in parts])
        order = np.argsort(t, kind="stable")
        return self._sub(a, b, t[order], v[order])

    def _sub(
        self, a: float, b: float, t: NDArray[np.float64], v: NDArray[np.float64]
    ) -> Substitution:
        """The plan's rule for the gap [a, b), from the samples within a fixed window
        around it: the same whichever period the gap is reported in, since every report
        loads more than this window beyond its ends."""
        lo, hi = np.searchsorted(t, [a - SUBSTITUTION_WINDOW_MS, b + SUBSTITUTION_WINDOW_MS])
        try:
            return substitute_gap(
                self.rules, int(a), int(b), t[lo:hi], v[lo:hi], effect=self.effect
            )
        except ValueError as exc:
            raise ValueError(
                f"{self.param.symbol}: no conservative value for the gap {_iso(a)} to {_iso(b)}: "
                f"{exc}"
            ) from None

    def _calibrate(
        self,
        index: int,
        point: MonitoringPoint,
        parts: list[_Part],
        spec: quantities.QuantitySpec,
        kind: Kind,
        steps: NDArray[np.float64] | None,
    ) -> tuple[list[str], float]:
        """Correct the measured amount (or per-step values, in place) inside calibration
        windows; return the corrections and the total change of the amount."""
        cids: list[str] = []
        total_delta = 0.0
        # A percentage error is meaningful for amounts and fractions, not for a
        # temperature in °C or a pressure (their tolerances are absolute).
        if not _is_amount(spec, kind, self.param.unit) and self.param.unit != "dimensionless":
            return cids, total_delta
        factor = (
            _amount_factor(spec, kind, self.param.unit) if self.sym.aggregate == "total" else 1.0
        )
        for pt in parts:
            for w in self._windows(pt.device):
                a = max(self.start_ms, day_start_ms(w.start))
                b = min(self.end_ms, day_start_ms(w.end) if w.end else self.end_ms)
                if b <= a:
                    continue
                delta_steps = None
                if steps is not None and self.grid is not None:
                    mids = (self.grid.edges_ms[:-1] + self.grid.edges_ms[1:]) / 2
                    inside = (mids >= a) & (mids < b)
                    delta_steps = np.where(inside, steps * (w.factor - 1.0), 0.0)
                    if self.sym.aggregate == "steps" and not _is_amount(
                        spec, kind, self.param.unit
                    ):
                        delta = 0.0  # a per-step mean: its period value is informative only
                    else:
                        delta = float(delta_steps.sum())
                    steps += delta_steps
                else:
                    measured, _ = pt.amount(a, b, math.inf, None)
                    delta = measured * factor * (w.factor - 1.0)
                if delta == 0.0 and (delta_steps is None or not delta_steps.any()):
                    continue
                cids.append(
                    self._correction(
                        "calibration",
                        point,
                        a,
                        b,
                        w.rule,
                        f"{pt.device.id}: {w.note} (× {w.factor:g})",
                        delta,
                        _undo_point(index, delta, delta_steps),
                    )
                )
                total_delta += delta
        return cids, total_delta

    def _windows(self, device: Device) -> list[CalibrationWindow]:
        records = self.inputs.calibrations.get(device.id, ())
        if device.calibration is None or not records:
            return []
        tolerance = device.max_permissible_error_pct or self.table.default_meter_tolerance_pct
        return calibration_windows(
            records, device.calibration.interval_months, tolerance, self.effect
        )

    def _calibration_text(self, device: Device) -> str:
        records = sorted(self.inputs.calibrations.get(device.id, ()), key=lambda r: r.date)
        if device.calibration is None:
            return f"{device.id}: no calibration interval in the plan"
        if not records:
            return f"{device.id}: no calibration on record"
        last = [r for r in records if r.date < self.inputs.end + timedelta(days=1)]
        rec = last[-1] if last else records[0]
        tol = device.max_permissible_error_pct or self.table.default_meter_tolerance_pct
        lapses = [
            w for w in self._windows(device) if _overlaps(w, self.inputs.start, self.inputs.end)
        ]
        status = "; ".join(f"{w.rule} from {w.start}" for w in lapses) or "in date"
        cert = f" ({rec.certificate})" if rec.certificate else ""
        return (
            f"{device.id}: calibrated {rec.date}{cert}, every {device.calibration.interval_months} "
            f"months, tolerance {tol:g} %: {status}"
        )

    # -- means and shares --

    def _mean(
        self,
        parts: list[_Part],
        spec: quantities.QuantitySpec,
        max_gap: float,
        point: MonitoringPoint,
        gaps: list[tuple[int, int]],
        notes: list[str],
    ) -> tuple[float, NDArray[np.float64] | None]:
        to_unit = conversion(spec.canonical_unit, self.param.unit)
        t = np.concatenate([pt.times for pt in parts])
        v = np.concatenate([pt.values for pt in parts])
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        whole = agg.integrate_instant(
            t, v, self.start_ms, self.end_ms, max_gap_ms=max_gap, time_unit_ms=1
        )
        mean = whole.total / whole.covered_ms if whole.covered_ms else math.nan
        steps = None
        if self.sym.aggregate == "steps" and self.grid is not None:
            edges = self.grid.edges_ms
            area, cov = agg.instant_steps(t, v, edges, max_gap_ms=max_gap)
            fill_area = np.zeros_like(area)
            fill_cov = np.zeros_like(cov)
            for a, b in gaps:
                sub = self._sub(a, b, t, v)
                self._gap(point, point.device, a, b, sub.rule, sub.note)
                overlap = _spread(edges, a, b, 1.0)
                fill_area += overlap * sub.rate
                fill_cov += overlap
            denom = cov + fill_cov
            with np.errstate(invalid="ignore", divide="ignore"):
                raw = np.where(denom > 0, (area + fill_area) / denom, np.nan)
            steps = np.asarray(to_unit.scale * raw + to_unit.offset, dtype=float)
            if fill_cov.any():
                notes.append("gaps substituted by the plan's rule set (see gaps)")
        else:
            for a, b in gaps:
                self._gap(
                    point,
                    point.device,
                    a,
                    b,
                    "mean_of_covered_time",
                    "the mean is taken over the time with data; the gap is not filled",
                )
        return (to_unit(mean) if not math.isnan(mean) else math.nan), steps

    def _share(
        self,
        parts: list[_Part],
        spec: quantities.QuantitySpec,
        max_gap: float,
        point: MonitoringPoint,
        gaps: list[tuple[int, int]],
    ) -> tuple[float, NDArray[np.float64] | None]:
        threshold = self.sym.threshold
        limit = (
            self.table.value(threshold) if isinstance(threshold, str) else float(threshold or 0.5)
        )
        to_unit = conversion(spec.canonical_unit, self.param.unit)
        t = np.concatenate([pt.times for pt in parts])
        v = to_unit.scale * np.concatenate([pt.values for pt in parts]) + to_unit.offset
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        for a, b in gaps:
            self._gap(
                point,
                point.device,
                a,
                b,
                "no_evidence",
                "no evidence that the destruction device operated: no destruction counted",
            )
        if self.grid is None:
            edges = np.array([self.start_ms, self.end_ms], dtype=float)
        else:
            edges = self.grid.edges_ms
        share = agg.share_true_steps(t, v > limit, edges, max_gap_ms=max_gap)
        widths = np.diff(edges)
        overall = float(np.sum(share * widths) / np.sum(widths)) if widths.size else 0.0
        return overall, share if self.grid is not None else None

    # -- plausibility and cross-checks --

    def _plausible(
        self, point: MonitoringPoint | None, total: float, cids: list[str], index: int = 0
    ) -> float:
        """Flag a total that implies more mean power than one site can draw (a unit slip);
        one that would raise reference emissions is then not counted."""
        try:
            kwh = conversion(self.param.unit, "kWh")(total)
        except UnitError:
            return total
        hours = self.period_ms / HOUR_MS
        mean_kw = kwh / hours if hours else 0.0
        if mean_kw <= self.table.max_site_power_kw:
            return total
        where = f" at {point.id}" if point else ""
        message = (
            f"{self.param.symbol}{where} = {total:,.3f} {self.param.unit} implies a mean of "
            f"{mean_kw / 1000:,.0f} MW over the period, more than one site can draw "
            f"({self.table.max_site_power_kw / 1000:,.0f} MW): a unit slip (kWh entered as MWh?)"
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
                    _undo_point(index, -total, None),
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
                pt = _Part.of(series, spec.default_kind, device, a, b)
                amount, _ = pt.amount(a, b, math.inf, None)
                meter += amount * _amount_factor(spec, pt.kind, self.param.unit)
            invoiced = 0.0
            for inv in group:
                days = (inv.end - inv.start).days + 1
                overlap = (min(inv.end, hi) - max(inv.start, lo)).days + 1
                invoiced += conversion(inv.unit, self.param.unit)(inv.value) * overlap / days
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
                    start=_iso(a),
                    end=_iso(b),
                    meter_value=meter,
                    invoice_value=invoiced,
                    unit=self.param.unit,
                    difference_pct=round(diff, 6) if math.isfinite(diff) else 1e308,
                    invoices=[i.number for i in sorted(group, key=lambda i: i.number)],
                    used=used,
                    note=note,
                )
            )


def _overlaps(w: CalibrationWindow, start: date, end: date) -> bool:
    return w.start <= end and (w.end is None or w.end > start)


def _is_amount(spec: quantities.QuantitySpec, kind: Kind, unit: str) -> bool:
    try:
        _amount_factor(spec, kind, unit)
    except UnitError:
        return False
    return True


def _amount_factor(spec: quantities.QuantitySpec, kind: Kind, unit: str) -> float:
    """Canonical amount (or rate × hour for instant rates) to the parameter's unit."""
    source = f"({spec.canonical_unit})*hour" if kind == Kind.INSTANT else spec.canonical_unit
    affine = conversion(source, unit)
    if affine.offset:
        raise UnitError("not_an_amount", f"{unit} is not an amount")
    return affine.scale


def _spread(edges: NDArray[np.float64], a: float, b: float, per_ms: float) -> NDArray[np.float64]:
    """Per step: per_ms × the step's overlap with [a, b) in ms."""
    lo = np.maximum(edges[:-1], a)
    hi = np.minimum(edges[1:], b)
    return np.clip(hi - lo, 0.0, None) * per_ms


def _interval_gaps(
    parts: list[_Part], start_ms: int, end_ms: int, tolerance_ms: float
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
class _Part:
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
    ) -> _Part:
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


def events_text(detail: Mapping[str, object]) -> str:
    return json.dumps(detail, sort_keys=True, default=str)


__all__ = ["Applied", "Resolution", "Sequence", "resolve_all"]
