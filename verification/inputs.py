"""From the stores to the methodology functions: series as arrays, parameters per plan.

This is the I/O edge of verification: the functions in ``methodologies`` and
``aggregation`` stay pure; this module reads the time-series store and the plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mrv import quantities
from mrv.plans.schema import MonitoringPlan, Parameter
from mrv.stores.timeseries import TimeSeriesStore
from mrv.units import conversion
from verification.aggregation import CumulativeTotal, cumulative_total


def load_series(
    store: TimeSeriesStore, project: str, device: str, quantity: str, start_ms: int, end_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """Times (ms) and canonical values of one series over [start_ms, end_ms], with the
    readings just outside each boundary (needed to interpolate the boundary values)."""
    before, _ = store.neighbours(project, device, quantity, start_ms)
    _, after = store.neighbours(project, device, quantity, end_ms - 1)
    rows = store.query(project, device=device, quantity=quantity, start_ms=start_ms, end_ms=end_ms)
    times = [before.time_ms] if before else []
    values = [before.value] if before else []
    for row in rows:
        times.append(row.time_ms)
        values.append(row.value)
    if after is not None and (not times or after.time_ms > times[-1]):
        times.append(after.time_ms)
        values.append(after.value)
    return np.asarray(times, dtype=np.int64), np.asarray(values, dtype=float)


@dataclass(frozen=True)
class PointTotal:
    monitoring_point: str
    device: str
    quantity: str
    total: float  # in the parameter's unit
    detail: CumulativeTotal


@dataclass(frozen=True)
class ParameterValue:
    symbol: str
    value: float
    unit: str
    option: str
    source: str
    points: list[PointTotal] = field(default_factory=list)


def option_c_total(
    store: TimeSeriesStore, plan: MonitoringPlan, parameter: Parameter, start_ms: int, end_ms: int
) -> ParameterValue:
    """Σ over the parameter's monitoring points of each register's rise in the period, in
    the parameter's unit (e.g. kWh registers summed as MWh)."""
    if parameter.option != "C":
        raise ValueError(f"{parameter.symbol} is option {parameter.option}, not C")
    points_by_id = {p.id: p for p in plan.monitoring_points}
    totals: list[PointTotal] = []
    for point_id in parameter.monitoring_points:
        point = points_by_id[point_id]
        spec = quantities.CATALOGUE[point.quantity]
        if spec.default_kind != quantities.Kind.CUMULATIVE:
            raise NotImplementedError(f"{point.quantity}: only cumulative registers so far")
        device = plan.device(point.device)
        assert device is not None  # the plan was validated
        times, values = load_series(
            store, plan.project.id, point.device, point.quantity, start_ms, end_ms
        )
        detail = cumulative_total(times, values, start_ms, end_ms, device.register_max)
        to_unit = conversion(spec.canonical_unit, parameter.unit)
        totals.append(
            PointTotal(point_id, point.device, point.quantity, to_unit(detail.total), detail)
        )
    return ParameterValue(
        parameter.symbol,
        sum(t.total for t in totals),
        parameter.unit,
        "C",
        "measured: " + ", ".join(parameter.monitoring_points),
        totals,
    )


def option_a_value(parameter: Parameter) -> ParameterValue:
    if parameter.option != "A" or parameter.value is None:
        raise ValueError(f"{parameter.symbol} is not an option A value")
    return ParameterValue(
        parameter.symbol, parameter.value, parameter.unit, "A", parameter.source or ""
    )
