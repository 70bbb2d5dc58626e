"""The immutable context every resolver step reads: one parameter over one period."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.plans.schema import Device, MonitoringPlan, MonitoringPoint, Parameter
from core.times import HOUR_MS
from core.units import UnitError, conversion
from verification.calibration import Effect
from verification.gaps import GapRuleSet
from verification.inputs import MARGIN, ReportInputs
from verification.model import Grid, Symbol
from verification.parameters import ParameterTable
from verification.report_model import Message, ParameterRow

#: A series is in a gap when no reading arrived for longer than this many expected
#: intervals (jitter and a missed message or two are not gaps).
GAP_FACTOR = 2.5
#: Samples the gap rules may look at around a gap (the California bands use 72 h).
SUBSTITUTION_WINDOW_MS = 7 * 24 * HOUR_MS
#: Data loaded beyond each end of a period (see ``verification.inputs.MARGIN``).
MARGIN_MS = MARGIN.total_seconds() * 1000.0

Severity = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class Context:
    """One plan parameter (``param``) as the methodology defines it (``sym``), over the
    inputs' period; ``unit`` is the unit the methodology computes it in."""

    inputs: ReportInputs
    table: ParameterTable
    gap_rules: GapRuleSet  # the plan's set for methane flow and fraction, else conservative
    grid: Grid | None
    param: Parameter
    sym: Symbol
    unit: str

    @classmethod
    def of(cls, inputs: ReportInputs, grid: Grid | None, param: Parameter, sym: Symbol) -> Context:
        book = inputs.rules
        # The California table is for methane flow and fraction only.
        rules = book.gap_rules if sym.california else book.conservative
        return cls(inputs, book.table, rules, grid, param, sym, methodology_unit(param, sym))

    @property
    def plan(self) -> MonitoringPlan:
        return self.inputs.plan

    @property
    def symbol(self) -> str:
        return self.param.symbol

    @property
    def effect(self) -> Effect:
        return self.sym.effect

    @property
    def lowers(self) -> bool:
        """Counting least is conservative (the parameter raises reference emissions)."""
        return self.sym.effect == "raises_reference"

    @property
    def start_ms(self) -> int:
        return self.inputs.start_ms

    @property
    def end_ms(self) -> int:
        return self.inputs.end_ms

    @property
    def period_ms(self) -> float:
        return float(self.end_ms - self.start_ms)

    @property
    def row_unit(self) -> str:
        # a share of time is reported as such, whatever its evidence is measured in
        return "dimensionless" if self.sym.aggregate == "share" else self.unit

    def message(self, severity: Severity, message: str, point: str | None = None) -> Message:
        return Message(
            severity=severity, symbol=self.symbol, monitoring_point=point, message=message
        )

    def row(
        self,
        point: MonitoringPoint | None,
        value: float | None,
        *,
        source: str,
        method: str,
        completeness: float,
        readings: int,
        calibration: str,
    ) -> ParameterRow:
        """The parameter table's row (its corrections are filled in when numbered)."""
        return ParameterRow(
            symbol=self.symbol,
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
            corrections=[],
        )

    def points(self) -> list[MonitoringPoint]:
        by_id = {m.id: m for m in self.plan.monitoring_points}
        return [by_id[i] for i in self.param.monitoring_points]

    def device(self, device_id: str) -> Device:
        device = self.plan.device(device_id)
        if device is None:
            raise ValueError(f"monitoring point device {device_id!r} is not in the plan")
        return device

    def chain(self, device_id: str) -> list[Device]:
        """The device and those it replaced, oldest first (meter replacements)."""
        self.device(device_id)  # raises for a device not in the plan
        return self.plan.lineage(device_id)


def methodology_unit(param: Parameter, sym: Symbol) -> str:
    """The unit the methodology computes a parameter in: its own, or an accepted
    alternative with the plan unit's dimension (shares: the plan's, as only the
    evidence's threshold matters)."""
    if sym.aggregate == "share":
        return param.unit
    for unit in (sym.unit, *sym.alt_units):
        if unit == param.unit:
            return unit
        try:
            conversion(param.unit, unit)
        except UnitError:
            continue
        return unit
    raise ValueError(
        f"{param.symbol}: the plan's unit {param.unit!r} cannot be converted to "
        f"the methodology's {sym.unit!r}"
    )
