"""One call from a project and a period to a rendered monitoring report (CLI and API).

Loads the inputs (I/O), builds the report (pure), renders it and records the report in
the audit chain, so a verifier can later prove which report was issued from which inputs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from core.plans.schema import MonitoringPlan
from core.quantities import CATALOGUE, Kind
from core.units import UnitError, conversion
from persistence import audit
from persistence.audit import Subject
from persistence.evidence import checkpoint_of
from persistence.stores.timeseries import TimeSeriesStore
from verification.engine import build_report
from verification.inputs import ReportInputs
from verification.loading import load_inputs
from verification.model import Progress
from verification.render import ChartSeries, render
from verification.render.daily import daily_increments
from verification.render.formats import Format
from verification.report_model import Report


@dataclass(frozen=True)
class Issued:
    report: Report
    content: bytes
    content_sha256: str


def chart_series(inputs: ReportInputs) -> dict[str, object]:
    """Each monitored point's readings inside the period, in its parameter's unit."""

    plan = inputs.plan
    points = {p.id: p for p in plan.monitoring_points}
    out: dict[str, object] = {}
    for param in plan.parameters:
        for point_id in param.monitoring_points:
            point = points[point_id]
            series = inputs.series.get((point.device, point.quantity))
            if series is None:
                continue
            spec = CATALOGUE[point.quantity]
            try:
                to_unit = conversion(spec.canonical_unit, param.unit)
                unit = param.unit
            except UnitError:  # e.g. a flow shown for a volume parameter
                to_unit, unit = (
                    conversion(spec.canonical_unit, spec.canonical_unit),
                    spec.canonical_unit,
                )
            values = to_unit.scale * series.values + to_unit.offset
            cumulative = spec.default_kind is Kind.CUMULATIVE
            if cumulative or np.isfinite(series.interval_s).any():
                # amounts: what the meter counted per day, never its running register
                register_max = plan_device_max(plan, point.device)
                days, per_day = daily_increments(
                    series.times_ms,
                    values,
                    series.interval_s,
                    cumulative=cumulative,
                    register_max=None if register_max is None else to_unit.scale * register_max,
                    start_ms=inputs.start_ms,
                    end_ms=inputs.end_ms,
                )
                out[point_id] = ChartSeries(point_id, param.symbol, unit, days, per_day, daily=True)
                continue
            inside = (series.times_ms >= inputs.start_ms) & (series.times_ms < inputs.end_ms)
            out[point_id] = ChartSeries(
                monitoring_point=point_id,
                symbol=param.symbol,
                unit=unit,
                times_ms=series.times_ms[inside],
                values=values[inside],
            )
    return out


def plan_device_max(plan: MonitoringPlan, device_id: str) -> float | None:
    """The register size of a plan's device (canonical unit), if the plan states one."""
    return next((d.register_max for d in plan.devices if d.id == device_id), None)


def issue_report(
    session: Session,
    store: TimeSeriesStore,
    project_id: str,
    start: date,
    end: date,
    fmt: Format,
    *,
    actor: str,
    progress: Progress | None = None,
    key: Ed25519PrivateKey | None = None,
) -> Issued:
    """Compute the report from the stores, render it and record its issue in the
    project's chain. With the installation's ``key`` the report embeds a signed
    checkpoint of the chain as it was read (the same transaction as the inputs)."""
    if progress:
        progress("loading readings", 0.0)
    inputs = load_inputs(session, store, project_id, start, end)
    checkpoint = checkpoint_of(session, project_id, key) if key is not None else None
    report = build_report(inputs, progress=progress).model_copy(update={"checkpoint": checkpoint})
    if progress:
        progress(f"rendering {fmt}", 0.9)
    series = chart_series(inputs) if fmt in ("pdf", "html") else None
    content = render(report, fmt, series)  # type: ignore[arg-type]
    digest = hashlib.sha256(content).hexdigest()
    # The reads above began the session's transaction; the audit link commits it.
    audit.append(
        session,
        action="report.issued",
        actor=actor,
        project_id=project_id,
        subject=Subject("report", digest[:32]),
        body={
            "start": start.isoformat(),
            "end": end.isoformat(),
            "format": fmt,
            "inputs_sha256": report.inputs_sha256,
            "content_sha256": digest,
            "emission_reductions_tco2": report.emission_reductions_tco2.value,
            "checkpoint_length": checkpoint.length if checkpoint else None,
        },
    )
    session.commit()
    return Issued(report, content, digest)
