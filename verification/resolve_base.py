"""What every parameter resolver shares: the period, the plan, and the recording of rows,
gaps and corrections (each correction with an ``undo`` so the engine can price it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from core.plans.schema import Device, MonitoringPlan, MonitoringPoint, Parameter
from core.times import HOUR_MS, format_ms
from core.units import UnitError, conversion
from verification.calibration import Effect
from verification.gaps import GapRuleSet
from verification.inputs import MARGIN, ReportInputs
from verification.model import Grid, Resolved, Symbol
from verification.parameters import ParameterTable
from verification.report_model import Correction, CrossCheck, Finding, Gap, ParameterRow

#: A series is in a gap when no reading arrived for longer than this many expected
#: intervals (jitter and a missed message or two are not gaps).
GAP_FACTOR = 2.5
#: Samples the gap rules may look at around a gap (the California bands use 72 h).
SUBSTITUTION_WINDOW_MS = 7 * 24 * HOUR_MS
#: Data loaded beyond each end of a period (see ``verification.inputs.MARGIN``).
MARGIN_MS = MARGIN.total_seconds() * 1000.0

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


def iso(ms: float) -> str:
    return format_ms(int(ms))


def undo_point(index: int, delta: float, delta_steps: NDArray[np.float64] | None) -> Undo:
    def undo(r: Resolved) -> Resolved:
        points = list(r.points)
        p = points[index]
        steps = p.steps
        if steps is not None and delta_steps is not None:
            steps = steps - delta_steps
        points[index] = replace(p, value=p.value - delta, steps=steps)
        return replace(r, points=points)

    return undo


def undo_steps(index: int, where: NDArray[np.bool_], before: NDArray[np.float64]) -> Undo:
    """Put back a point's per-step values where a substitution changed them (NaN where
    there was no value: not 0, which would read as a measured zero)."""

    def undo(r: Resolved) -> Resolved:
        points = list(r.points)
        p = points[index]
        if p.steps is None:
            return r
        points[index] = replace(p, steps=np.where(where, before, p.steps))
        return replace(r, points=points)

    return undo


class ResolverBase:
    """Resolves one plan parameter (all its monitoring points) over the period."""

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
        # Values are computed in the methodology's unit, whatever unit the plan wrote.
        self.unit = self._methodology_unit()
        # a share of time is reported as such, whatever its evidence is measured in
        self.row_unit = "dimensionless" if sym.aggregate == "share" else self.unit
        # The California table is for methane flow and fraction only.
        self.rules = rules if sym.california else inputs.rules.conservative

    def _methodology_unit(self) -> str:
        """The unit the methodology computes this parameter in: its own, or an accepted
        alternative with the plan unit's dimension (shares: the plan's, as only the
        evidence's threshold matters)."""
        if self.sym.aggregate == "share":
            return self.param.unit
        for unit in (self.sym.unit, *self.sym.alt_units):
            if unit == self.param.unit:
                return unit
            try:
                conversion(self.param.unit, unit)
            except UnitError:
                continue
            return unit
        raise ValueError(
            f"{self.param.symbol}: the plan's unit {self.param.unit!r} cannot be converted to "
            f"the methodology's {self.sym.unit!r}"
        )

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
                unit=self.row_unit,
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
                    start=iso(start_ms),
                    end=iso(end_ms),
                    rule=rule,
                    note=note,
                    delta=delta,
                    unit=self.unit,
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
                start=iso(a),
                end=iso(b),
                hours=round((b - a) / HOUR_MS, 6),
                rule=rule,
                note=note,
            )
        )

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
        self._device(device_id)  # raises for a device not in the plan
        return self.plan.lineage(device_id)
