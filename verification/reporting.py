"""One call from a project and a period to a rendered monitoring report (CLI and API).

Loads the inputs (I/O), builds the report (pure), renders it and records the report in
the audit chain, so a verifier can later prove which report was issued from which inputs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from core.quantities import CATALOGUE
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
            inside = (series.times_ms >= inputs.start_ms) & (series.times_ms < inputs.end_ms)
            canonical = CATALOGUE[point.quantity].canonical_unit
            try:
                to_unit = conversion(canonical, param.unit)
                unit = param.unit
            except UnitError:  # e.g. a flow shown for a volume parameter
                to_unit, unit = conversion(canonical, canonical), canonical
            out[point_id] = ChartSeries(
                monitoring_point=point_id,
                symbol=param.symbol,
                unit=unit,
                times_ms=series.times_ms[inside],
                values=to_unit.scale * series.values[inside] + to_unit.offset,
            )
    return out


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
