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
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core import quantities
from core.plans.schema import Device, MonitoringPoint
from core.quantities import Kind
from core.times import HOUR_MS
from core.units import conversion
from persistence.stores.timeseries import SeriesArrays
from verification import aggregation as agg
from verification.gaps import Substitution, substitute_gap
from verification.inputs import ReportInputs
from verification.model import Combine, Grid, PointValue, Progress, Resolved, Symbol
from verification.option_b import OptionB
from verification.parameters import ParameterTable
from verification.report_model import Finding, ParameterRow
from verification.resolve_base import (
    GAP_FACTOR,
    MARGIN_MS,
    SUBSTITUTION_WINDOW_MS,
    Applied,
    Resolution,
    iso,
    undo_point,
    undo_steps,
)
from verification.series_parts import (
    PointSeries,
    amount_factor,
    interval_gaps,
    is_amount,
    rated_rate,
    spread,
)

__all__ = ["Applied", "Resolution", "resolve_all"]


def resolve_all(
    inputs: ReportInputs,
    symbols: Mapping[str, Symbol],
    progress: Progress | None = None,
) -> Resolution:
    plan = inputs.plan
    table = inputs.rules.table
    by_symbol = {p.symbol: p for p in plan.parameters}
    out = Resolution()
    grid = None
    if table.time_step_s is not None:
        grid = Grid.over(inputs.start_ms, inputs.end_ms, table.time_step_s * 1000)
    rules = inputs.rules.gap_rules
    for i, (symbol, sym) in enumerate(symbols.items()):
        param = by_symbol.get(symbol)
        if progress:
            # resolving is most of a report's work (loading is before, pricing after)
            progress(f"resolving {symbol}", 0.1 + 0.7 * i / len(symbols))
        if param is None:
            if sym.only_with is not None and sym.only_with not in by_symbol:
                continue
            if symbol in table.parameters:
                out.values[symbol] = _from_table(symbol, sym, table, out)
            elif sym.required:
                raise ValueError(
                    f"{plan.project.methodology.id} needs {symbol} ({sym.description}); "
                    "the plan and the methodology table have none"
                )
            continue
        if param.option not in sym.options:
            raise ValueError(
                f"{symbol}: the methodology allows option {' or '.join(sym.options)}, "
                f"the plan says {param.option}"
            )
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
            resolved = self._option_a()
        elif p.option == "B":
            resolved = self._option_b()
        else:
            return self._option_c()
        if self.sym.aggregate == "steps" and self.grid is not None:
            # a fixed or invoiced value (a lab analysis of the methane fraction) holds at
            # every step
            n = self.grid.edges_ms.size - 1
            for point in resolved.points:
                point.steps = np.full(n, point.value)
        return resolved

    def _option_a(self) -> Resolved:
        p = self.param
        assert p.value is not None and p.source
        value = p.value if p.unit == self.unit else conversion(p.unit, self.unit)(p.value)
        table_entry = self.table.parameters.get(p.symbol)
        if table_entry is not None and not math.isclose(table_entry.value, value, rel_tol=1e-9):
            self.out.findings.append(
                Finding(
                    severity="warning",
                    symbol=p.symbol,
                    monitoring_point=None,
                    message=f"the plan's {p.symbol} = {value:g} {self.unit} differs from the "
                    f"methodology table's {table_entry.value:g} ({table_entry.source}); the "
                    "plan's is used",
                )
            )
        self._row(
            None,
            value,
            source=p.source,
            method="fixed ex ante (option A)",
            completeness=1.0,
            readings=0,
            calibration="n/a",
            corrections=[],
        )
        return Resolved(
            p.symbol, self.unit, "A", p.source, "fixed", [PointValue(None, None, value)]
        )

    # -- option C --

    def _combine(self) -> Combine:
        """Amounts at several points add up; redundant measurements of one thing (two
        analysers, two thermocouples, two pressure transmitters) take the conservative
        one, never their sum."""
        if self.sym.adds_up:
            return "sum"
        return "min" if self.effect == "raises_reference" else "max"

    def _option_c(self) -> Resolved:
        points = [self._point(index, point) for index, point in enumerate(self._points())]
        self._cross_check_invoices()
        method = {
            "total": "period total",
            "mean": "time-weighted mean",
            "steps": "per step",
            "share": "share of time",
        }
        return Resolved(
            self.param.symbol,
            self.unit,
            "C",
            "measured: " + ", ".join(self.param.monitoring_points),
            method[self.sym.aggregate],
            points,
            self._combine(),
        )

    def _parts(self, point: MonitoringPoint, spec: quantities.QuantitySpec) -> list[PointSeries]:
        """The point's readings per device, oldest meter first, each cut where its
        successor's readings begin."""
        chain = self._chain(point.device)
        raw = [self.inputs.series.get((d.id, point.quantity), SeriesArrays.empty()) for d in chain]
        parts: list[PointSeries] = []
        for i, device in enumerate(chain):
            later = [r.times_ms[0] for r in raw[i + 1 :] if r.times_ms.size]
            parts.append(
                PointSeries.of(
                    raw[i],
                    spec.default_kind,
                    device,
                    self.start_ms,
                    self.end_ms,
                    until_ms=float(later[0]) if later else math.inf,
                    set_aside_glitches=self.effect == "raises_reference",
                )
            )
        return parts

    def _point(self, index: int, point: MonitoringPoint) -> PointValue:
        spec = quantities.CATALOGUE[point.quantity]
        parts = self._parts(point, spec)
        kind = next((pt.kind for pt in reversed(parts) if pt.times.size), spec.default_kind)
        device = parts[-1].device
        max_gap = GAP_FACTOR * device.expected_interval_s * 1000.0
        gaps = self._gaps(parts, kind, max_gap)
        correction_ids: list[str] = []
        notes: list[str] = []
        for pt in parts:
            if pt.overlapping:
                notes.append(
                    f"{pt.overlapping} reading(s) of {pt.device.id} set aside: they cover time "
                    "its successor meter or another reading already covers"
                )
            if pt.rollovers:
                notes.append(f"{pt.rollovers} register rollover(s) added back on {pt.device.id}")
        if self.sym.aggregate == "share":
            value, steps = self._share(parts, spec, max_gap, point, gaps)
        elif self.sym.aggregate == "mean" or not is_amount(spec, kind, self.unit):
            self._mean_corrections: list[str] = []
            value, steps = self._mean(index, parts, spec, max_gap, point, gaps, notes)
            correction_ids += self._mean_corrections
            correction_ids += self._calibrate_means(index, point, parts, spec, kind, steps)
        else:
            value, steps, cids = self._amount(index, point, parts, spec, kind, max_gap, gaps)
            correction_ids += cids
        if self.sym.aggregate == "total":
            value = self._plausible(point, value, correction_ids, index=index)
        uncovered = sum(b - a for (a, b), _, bridged in gaps if not bridged)
        completeness = max(1.0 - uncovered / self.period_ms, 0.0) if self.period_ms else 0.0
        if completeness < 0.9:
            self.out.findings.append(
                Finding(
                    severity="warning",
                    symbol=self.param.symbol,
                    monitoring_point=point.id,
                    message=f"{point.id} ({point.device}) has data for {completeness:.1%} of "
                    "the period; see the gaps",
                )
            )
        chain_ids = [pt.device.id for pt in parts]
        self._row(
            point,
            None if math.isnan(value) else value,
            source=f"{point.device} {point.quantity}"
            + (f" ({', '.join(chain_ids)})" if len(chain_ids) > 1 else ""),
            method=self._method_text(kind, notes),
            completeness=completeness,
            readings=sum(pt.readings for pt in parts),
            calibration="; ".join(self._calibration_text(pt.device) for pt in parts),
            corrections=correction_ids,
        )
        return PointValue(
            point.id, point.device, value, steps, completeness, sum(pt.readings for pt in parts)
        )

    def _gaps(
        self, parts: list[PointSeries], kind: Kind, max_gap: float
    ) -> list[tuple[tuple[int, int], tuple[int, int], bool]]:
        """Gaps overlapping the period: (inside the period, the whole gap, bridged).

        Found over all the data loaded (the period and a margin beyond it) so that a gap
        is judged by its whole length, whichever period it is reported in. A register
        bridges a gap when one meter has readings on both sides of it."""
        lo = self.start_ms - MARGIN_MS
        hi = self.end_ms + MARGIN_MS
        if kind == Kind.INTERVAL:
            tolerance = 0.5 * parts[-1].device.expected_interval_s * 1000
            whole = interval_gaps(parts, lo, hi, tolerance)
        else:
            # each part is in time order already: a stable sort of sorted runs is linear
            times = np.sort(np.concatenate([pt.times for pt in parts]), kind="stable")
            whole = agg.gap_intervals(times, lo, hi, max_gap)
        out = []
        for a, b in whole:
            clipped = (max(a, self.start_ms), min(b, self.end_ms))
            if clipped[1] <= clipped[0]:
                continue
            # With nothing after it (or before it), a gap's length is unknown: it counts
            # as reaching past the data loaded, the conservative reading.
            bridged = kind == Kind.CUMULATIVE and any(
                pt.covers(a, b) and not pt.resets_within(a, b) for pt in parts
            )
            out.append((clipped, (a, b), bridged))
        return out

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
        if self.sym.aggregate in ("steps", "share"):
            base += f"; per {self.table.time_step_s} s step"
        return base + ("; " + "; ".join(notes) if notes else "")

    # -- amounts (totals and per-step amounts) --

    def _amount(
        self,
        index: int,
        point: MonitoringPoint,
        parts: list[PointSeries],
        spec: quantities.QuantitySpec,
        kind: Kind,
        max_gap: float,
        gaps: list[tuple[tuple[int, int], tuple[int, int], bool]],
    ) -> tuple[float, NDArray[np.float64] | None, list[str]]:
        """Amount in the methodology's unit over the period (and per step on a grid):
        each meter's part, cleaned and calibrated, then the gaps substituted."""
        factor = amount_factor(spec, kind, self.unit)
        edges = (
            self.grid.edges_ms
            if (self.grid is not None and self.sym.aggregate == "steps")
            else None
        )
        rule: agg.BoundaryRule = "low" if self.effect == "raises_reference" else "high"
        total = 0.0
        steps: NDArray[np.float64] | None = None
        cids: list[str] = []
        for pt in parts:
            amount, part_steps = pt.amount(self.start_ms, self.end_ms, max_gap, edges, rule)
            amount *= factor
            if part_steps is not None:
                part_steps = part_steps * factor
            if kind == Kind.CUMULATIVE:
                reg_ids, extra, extra_steps = self._register_corrections(
                    index, point, pt, max_gap, edges, rule, factor, amount, part_steps, spec
                )
                cids += reg_ids
                amount += extra
                if part_steps is not None and extra_steps is not None:
                    part_steps = part_steps + extra_steps
            cal_ids, amount, part_steps = self._calibrate(
                index, point, pt, amount, part_steps, factor, edges, max_gap, rule
            )
            cids += cal_ids
            total += amount
            if part_steps is not None:
                steps = part_steps if steps is None else steps + part_steps
        for (a, b), (wa, wb), bridged in gaps:
            if bridged:
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
            sub = self._substitute(wa, wb, parts, spec)
            amount = sub.rate * (b - a) / HOUR_MS * factor
            self._gap(point, parts[-1].device.id, a, b, sub.rule, _whole(sub.note, a, b, wa, wb))
            if amount == 0.0:
                continue
            delta_steps = (
                spread(edges, a, b, sub.rate * factor / HOUR_MS) if edges is not None else None
            )
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
        if steps is not None:
            total = float(np.sum(steps))
        return total, steps, cids

    def _register_corrections(
        self,
        index: int,
        point: MonitoringPoint,
        pt: PointSeries,
        max_gap: float,
        edges: NDArray[np.float64] | None,
        rule: agg.BoundaryRule,
        factor: float,
        amount: float,
        steps: NDArray[np.float64] | None,
        spec: quantities.QuantitySpec,
    ) -> tuple[list[str], float, NDArray[np.float64] | None]:
        """Disclose (and price) what the register rules did to this meter's amount, one
        rule at a time from the plain reading (boundaries interpolated, drops across gaps
        read as rollovers where they look like one, every rise counted): spikes set
        aside, only new highs counted, a boundary inside a gap, a drop across a gap read
        as a reset. Resets of a parameter that raises project emissions are substituted
        (returned: the amount and steps to add)."""
        cids: list[str] = []
        low = rule == "low"
        span = (self.start_ms, self.end_ms, max_gap, edges)
        rules: list[tuple[str, dict[str, Any], str]] = []
        if low:
            rules.append(
                (
                    "glitch_set_aside",
                    {"raw": False, "boundary": "interpolate", "strict": False, "envelope": False},
                    f"{pt.device.id}: {pt.glitch_times.size} register reading(s) jumped above "
                    "the register and fell back (mis-scaled?) and are set aside",
                )
            )
            rules.append(
                (
                    "only_new_highs_counted",
                    {"boundary": "interpolate", "strict": False, "envelope": True},
                    f"{pt.device.id}: the register fell without rolling over (a reset, or a "
                    "failed read stored as 0); its climb back to its previous high is not "
                    "counted again",
                )
            )
        side = "none of it" if low else "all of it"
        rules.append(
            (
                "boundary_in_gap",
                {"boundary": rule, "strict": False},
                f"{pt.device.id}: a period boundary falls inside a gap between two readings, "
                f"so the rise across it cannot be split: {side} is counted in this period "
                "(conservative), instead of a linear split",
            )
        )
        if low:
            rules.append(
                (
                    "drop_across_gap_is_reset",
                    {"boundary": rule, "strict": True},
                    f"{pt.device.id}: the register fell across a gap in its readings; with "
                    "readings missing a rollover cannot be told from a reset, so it counts "
                    "as a reset (conservative)",
                )
            )
        previous = pt.amount(*span, raw=True, strict=False, envelope=False)
        for name, options, note in rules:
            current = pt.amount(*span, **options)
            delta = (current[0] - previous[0]) * factor
            d_steps = (
                (current[1] - previous[1]) * factor
                if current[1] is not None and previous[1] is not None
                else None
            )
            previous = current
            if abs(delta) <= 1e-12 * max(1.0, abs(amount)):
                continue
            if name == "glitch_set_aside":
                when = ", ".join(iso(t) for t in pt.glitch_times[:5])
                note += f": {when}" + (" and more" if pt.glitch_times.size > 5 else "")
                self.out.findings.append(
                    Finding(
                        severity="warning",
                        symbol=self.param.symbol,
                        monitoring_point=point.id,
                        message=note,
                    )
                )
            cids.append(
                self._correction(
                    "register",
                    point,
                    self.start_ms,
                    self.end_ms,
                    name,
                    note,
                    delta,
                    undo_point(index, delta, d_steps),
                )
            )
        extra = 0.0
        extra_steps: NDArray[np.float64] | None = None
        if pt.resets and self.effect == "raises_project":
            # the interval of a reset is unknown: for project emissions, the most the
            # meter shows around it (the plan's gap rule), never zero
            _, _, reset = agg.unwrap_register(pt.values, pt.device.register_max)
            for k in np.flatnonzero(reset):
                wa, wb = float(pt.times[k]), float(pt.times[k + 1])
                a, b = max(wa, self.start_ms), min(wb, self.end_ms)
                if b <= a:
                    continue
                sub = self._substitute(wa, wb, [pt], spec)
                add = sub.rate * (b - a) / HOUR_MS * factor
                d_steps = (
                    spread(edges, a, b, sub.rate * factor / HOUR_MS) if edges is not None else None
                )
                extra += add
                if d_steps is not None:
                    extra_steps = d_steps if extra_steps is None else extra_steps + d_steps
                cids.append(
                    self._correction(
                        "register",
                        point,
                        a,
                        b,
                        "reset_substituted",
                        f"{pt.device.id}: the register was reset; the interval's amount is "
                        f"unknown: {sub.note}",
                        add,
                        undo_point(index, add, d_steps),
                    )
                )
        return cids, extra, extra_steps

    def _substitute(
        self, a: float, b: float, parts: list[PointSeries], spec: quantities.QuantitySpec
    ) -> Substitution:
        rates = [pt.rates() for pt in parts]
        t = np.concatenate([r[0] for r in rates])
        v = np.concatenate([r[1] for r in rates])
        order = np.argsort(t, kind="stable")
        return self._sub(a, b, t[order], v[order], spec, parts[-1].device)

    def _sub(
        self,
        a: float,
        b: float,
        t: NDArray[np.float64],
        v: NDArray[np.float64],
        spec: quantities.QuantitySpec,
        device: Device,
    ) -> Substitution:
        """The rule for the whole gap [a, b), from the samples within a fixed window
        around it: the same whichever period the gap is reported in, since every report
        loads more than this window beyond its ends."""
        lo, hi = np.searchsorted(t, [a - SUBSTITUTION_WINDOW_MS, b + SUBSTITUTION_WINDOW_MS])
        try:
            return substitute_gap(
                self.rules, int(a), int(b), t[lo:hi], v[lo:hi], effect=self.effect
            )
        except ValueError:
            if self.effect != "raises_project":
                raise
        # Nothing measured around the gap of a parameter that raises project emissions:
        # the most the device can show (its rated power, or the quantity's range).
        ceiling = _ceiling_rate(spec, device)
        if ceiling is None:
            raise ValueError(
                f"{self.param.symbol}: no data around the gap {iso(a)} to {iso(b)} and no "
                f"rated capacity for {device.id}: no conservative value exists; give the "
                "device a nameplate rated_kw, or enter the value (option B)"
            )
        return substitute_gap(
            self.rules, int(a), int(b), t[:0], v[:0], effect=self.effect, default=ceiling
        )

    # -- means and shares --

    def _mean(
        self,
        index: int,
        parts: list[PointSeries],
        spec: quantities.QuantitySpec,
        max_gap: float,
        point: MonitoringPoint,
        gaps: list[tuple[tuple[int, int], tuple[int, int], bool]],
        notes: list[str],
    ) -> tuple[float, NDArray[np.float64] | None]:
        """The time-weighted mean over the period (and per step: gaps substituted by the
        plan's rule and recorded as corrections)."""
        to_unit = conversion(spec.canonical_unit, self.unit)
        t = np.concatenate([pt.times for pt in parts])
        v = np.concatenate([pt.values for pt in parts])
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        whole = agg.integrate_instant(
            t, v, self.start_ms, self.end_ms, max_gap_ms=max_gap, time_unit_ms=1
        )
        mean = whole.total / whole.covered_ms if whole.covered_ms else math.nan
        if self.sym.aggregate != "steps" or self.grid is None:
            for (a, b), _, _ in gaps:
                self._gap(
                    point,
                    point.device,
                    a,
                    b,
                    "mean_of_covered_time",
                    "the mean is taken over the time with data; the gap is not filled",
                )
            return (to_unit(mean) if not math.isnan(mean) else math.nan), None
        edges = self.grid.edges_ms
        area, cov = agg.instant_steps(t, v, edges, max_gap_ms=max_gap)
        with np.errstate(invalid="ignore", divide="ignore"):
            bare = np.where(cov > 0, area / cov, np.nan)
        steps = to_unit.scale * bare + to_unit.offset
        for (a, b), (wa, wb), _ in gaps:
            sub = self._sub(wa, wb, t, v, spec, parts[-1].device)
            self._gap(point, point.device, a, b, sub.rule, _whole(sub.note, a, b, wa, wb))
            overlap = spread(edges, a, b, 1.0)
            if not overlap.any():
                continue
            area = area + overlap * sub.rate
            cov = cov + overlap
            with np.errstate(invalid="ignore", divide="ignore"):
                filled = to_unit.scale * np.where(cov > 0, area / cov, np.nan) + to_unit.offset
            changed = (overlap > 0) & ~np.isclose(np.nan_to_num(filled), np.nan_to_num(steps))
            before = steps
            steps = filled
            if changed.any():
                delta = np.nan_to_num(filled) - np.nan_to_num(before)
                self._mean_corrections.append(
                    self._correction(
                        "gap",
                        point,
                        a,
                        b,
                        sub.rule,
                        sub.note,
                        float(np.sum(delta * np.diff(edges)) / self.period_ms),
                        undo_steps(index, changed, before),
                    )
                )
        if np.isfinite(steps).any():
            mean_steps = float(np.nansum(steps * np.diff(edges)) / self.period_ms)
            notes.append(f"period mean of the steps {mean_steps:.6g} {self.unit}")
        return (to_unit(mean) if not math.isnan(mean) else math.nan), steps

    def _share(
        self,
        parts: list[PointSeries],
        spec: quantities.QuantitySpec,
        max_gap: float,
        point: MonitoringPoint,
        gaps: list[tuple[tuple[int, int], tuple[int, int], bool]],
    ) -> tuple[float, NDArray[np.float64] | None]:
        limit = self._threshold()
        to_unit = conversion(spec.canonical_unit, self.unit)
        t = np.concatenate([pt.times for pt in parts])
        v = to_unit.scale * np.concatenate([pt.values for pt in parts]) + to_unit.offset
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        for (a, b), _, _ in gaps:
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

    def _threshold(self) -> float:
        """The share's threshold in this parameter's unit (a table entry is converted
        from its own unit: 500 °C stays 500 °C for a plan in °F)."""
        threshold = self.sym.threshold
        if isinstance(threshold, str):
            entry = self.table.parameters[threshold]
            if entry.unit == self.unit:
                return entry.value
            return conversion(entry.unit, self.unit)(entry.value)
        return float(threshold if threshold is not None else 0.5)


def _whole(note: str, a: float, b: float, wa: float, wb: float) -> str:
    if (a, b) == (wa, wb):
        return note
    return f"{note} (the gap runs from {iso(wa)} to {iso(wb)}; judged by its whole length)"


def _ceiling_rate(spec: quantities.QuantitySpec, device: Device) -> float | None:
    """The largest rate a device can show, per hour in the canonical unit: its rated
    power or design flow, else for a sample the quantity's range."""
    rated = rated_rate(spec, device)
    if rated is not None:
        return rated
    if spec.default_kind == Kind.INSTANT:
        return spec.maximum
    return None
