"""Each parameter a methodology uses, resolved over a period with its data quality.

Option A values come from the plan (or, when the plan is silent, the methodology's
table); option B from field entries (``option_b``); option C from the monitored series
(here). For option C every gap in a series is found against the device's expected
interval and substituted by the plan's rule set, and calibration lapses, unit slips and
invoice cross-checks are handled by ``quality``. Each substitution and correction is
recorded with an ``undo`` so the engine can price it in tCO2.

Pure: works on ``ReportInputs`` and returns data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from mrv import quantities
from mrv.plans.schema import MonitoringPoint
from mrv.quantities import Kind
from mrv.stores.timeseries import SeriesArrays
from mrv.units import conversion
from verification import aggregation as agg
from verification.gaps import Substitution, load_gap_rules, substitute_gap
from verification.inputs import ReportInputs
from verification.model import Grid, PointValue, Progress, Resolved, Symbol
from verification.option_b import OptionB
from verification.parameters import ParameterTable
from verification.report_model import Finding, ParameterRow
from verification.resolve_base import (
    GAP_FACTOR,
    HOUR_MS,
    SUBSTITUTION_WINDOW_MS,
    Applied,
    Resolution,
    iso,
    undo_point,
)
from verification.series_parts import PointSeries, amount_factor, interval_gaps, is_amount, spread

__all__ = ["Applied", "Resolution", "resolve_all"]


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
    for i, (symbol, sym) in enumerate(symbols.items()):
        param = by_symbol.get(symbol)
        if progress:
            # resolving is most of a report's work (loading is before, pricing after)
            progress(f"resolving {symbol}", 0.1 + 0.7 * i / len(symbols))
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


class _Resolver(OptionB):
    """Resolves one plan parameter: option A here, B in ``OptionB``, C below."""

    def resolve(self) -> Resolved:
        p = self.param
        if p.option == "A":
            return self._option_a()
        if p.option == "B":
            return self._option_b()
        return self._option_c()

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
        parts: list[PointSeries] = []
        for device in chain:
            series = self.inputs.series.get((device.id, point.quantity), SeriesArrays.empty())
            part = PointSeries.of(series, spec.default_kind, device, self.start_ms, self.end_ms)
            parts.append(part)
            readings += part.readings
        # A replaced meter's silence after its removal is not a gap of the point: the
        # gaps are those of the chain as a whole.
        all_t = np.sort(np.concatenate([pt.times for pt in parts])) if parts else np.empty(0)
        max_gap = GAP_FACTOR * chain[-1].expected_interval_s * 1000.0
        kind = parts[-1].kind if parts else spec.default_kind
        if kind == Kind.INTERVAL:
            gaps = interval_gaps(
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

    def _amount(
        self,
        index: int,
        point: MonitoringPoint,
        parts: list[PointSeries],
        spec: quantities.QuantitySpec,
        kind: Kind,
        max_gap: float,
        gaps: list[tuple[int, int]],
        notes: list[str],
        all_t: NDArray[np.float64],
    ) -> tuple[float, NDArray[np.float64] | None, list[str]]:
        """Amount in the parameter's unit over the period (and per step on a grid)."""
        mean_steps = self.sym.aggregate == "steps" and not is_amount(spec, kind, self.param.unit)
        if mean_steps:
            value, mean_steps_arr = self._mean(parts, spec, max_gap, point, gaps, notes)
            cal, _ = self._calibrate(index, point, parts, spec, kind, mean_steps_arr)
            return value, mean_steps_arr, cal
        factor = amount_factor(spec, kind, self.param.unit)
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
                            undo_point(index, delta, d_steps),
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
                delta_steps = spread(edges, a, b, sub.rate * factor / HOUR_MS)
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
                        undo_point(index, amount, delta_steps),
                    )
                )
        return total, steps, cids

    def _substitute(self, a: float, b: float, parts: list[PointSeries], kind: Kind) -> Substitution:
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
                f"{self.param.symbol}: no conservative value for the gap {iso(a)} to {iso(b)}: "
                f"{exc}"
            ) from None

    def _mean(
        self,
        parts: list[PointSeries],
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
                overlap = spread(edges, a, b, 1.0)
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
        parts: list[PointSeries],
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
