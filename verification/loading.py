"""The I/O edge of verification: read a project's inputs for one period from the stores.

Everything the pure engine needs is read here into ``ReportInputs``: the stored plan (and
its text's hash), each monitored series as numpy arrays (with a margin either side for
the gap rules), the field entries (option B values, calibration certificates), the
calibration records and the data-quality events.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import NamedTuple

from pydantic import JsonValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.entries import FuelInvoice, MeterReading, WeighbridgeTicket, canonical_value
from core.plans.schema import MonitoringPlan
from core.times import day_start_ms, to_ms
from persistence.models import Event, Project
from persistence.records import calibration_records, entries_for, list_periods, stored_plan
from persistence.stores.timeseries import SeriesArrays, TimeSeriesStore
from verification import __version__
from verification.gaps import gap_rules_sha256
from verification.inputs import (
    MARGIN,
    EventIn,
    Invoice,
    ManualRead,
    ReportInputs,
    Ticket,
    load_rulebook,
)
from verification.methodologies import methodology
from verification.parameters import table_sha256


def series_keys(plan: MonitoringPlan) -> list[tuple[str, str]]:
    """Every (device, quantity) the plan's parameters are measured at, with the devices
    each monitoring point's meter replaced."""
    points = {p.id: p for p in plan.monitoring_points}
    keys: set[tuple[str, str]] = set()
    for param in plan.parameters:
        for point_id in param.monitoring_points:
            point = points[point_id]
            keys.update((d.id, point.quantity) for d in plan.lineage(point.device))
    return sorted(keys)


def load_inputs(
    session: Session,
    store: TimeSeriesStore,
    project_id: str,
    start: date,
    end: date,
) -> ReportInputs:
    """Everything a report of ``project_id`` over [start, end] (inclusive) is computed
    from, read from the stores and the packaged versioned data."""
    plan = stored_plan(session, project_id)
    project = session.get(Project, project_id)
    assert project is not None
    methodology(plan.project.methodology.id)  # fail early on an unknown methodology
    lo = day_start_ms(start - MARGIN)
    hi = day_start_ms(end + timedelta(days=1) + MARGIN)  # end is inclusive
    series: dict[tuple[str, str], SeriesArrays] = {
        key: store.series(project_id, key[0], key[1], lo, hi) for key in series_keys(plan)
    }
    entries = _entries(session, project_id, plan)
    number = next(
        (p.number for p in list_periods(session, project_id) if (p.start, p.end) == (start, end)),
        None,
    )
    method = plan.project.methodology
    return ReportInputs(
        plan=plan,
        plan_sha256=project.plan_sha256,
        table_sha256=table_sha256(method.id, method.version),
        gap_rules_sha256=gap_rules_sha256(plan.project.gap_rules),
        start=start,
        end=end,
        series=series,
        invoices=entries.invoices,
        reads=entries.reads,
        tickets=entries.tickets,
        calibrations=calibration_records(session, project_id, plan),
        events=_events(session, project_id, start, end),
        period_number=number,
        software=__version__,
        rulebook=load_rulebook(plan),
    )


class _Entries(NamedTuple):
    """The project's field entries that carry values, by kind."""

    invoices: list[Invoice]
    reads: list[ManualRead]
    tickets: list[Ticket]


def _entries(session: Session, project_id: str, plan: MonitoringPlan) -> _Entries:
    """Invoices, manual register reads (canonical unit) and weighbridge tickets."""
    out = _Entries([], [], [])
    for entry in entries_for(session, project_id):
        body = entry.body
        if isinstance(body, FuelInvoice):
            out.invoices.append(
                Invoice(
                    str(entry.id),
                    body.invoice_number,
                    body.period_start,
                    body.period_end,
                    body.value,
                    body.unit,
                    body.parameter,
                    body.monitoring_point,
                    to_ms(entry.recorded_at),
                )
            )
        elif isinstance(body, MeterReading):
            # as the gateway converts: gas reference conditions, gauge atmosphere
            value = canonical_value(body, plan)
            out.reads.append(
                ManualRead(str(entry.id), body.device, body.quantity, to_ms(body.time), value)
            )
        elif isinstance(body, WeighbridgeTicket):
            mass = body.net_mass
            out.tickets.append(
                Ticket(str(entry.id), body.ticket_number, to_ms(body.time), mass.value, mass.unit)
            )
    return out


def _events(session: Session, project_id: str, start: date, end: date) -> list[EventIn]:
    """The data-quality events inside the period, in a stable order."""
    start_ms, end_ms = day_start_ms(start), day_start_ms(end) + 86_400_000
    query = (
        select(Event)
        .where(Event.project_id == project_id)
        .where(Event.time_ms >= start_ms, Event.time_ms < end_ms)
        .order_by(Event.time_ms, Event.device_id, Event.quantity, Event.kind, Event.id)
    )
    return [
        EventIn(
            e.time_ms,
            e.device_id,
            e.quantity,
            e.kind,
            event_detail(e.detail),
        )
        for e in session.scalars(query)
    ]


def event_detail(detail: object) -> dict[str, JsonValue]:
    """An event's detail as a plain JSON object (keys sorted), whatever the store's JSON
    column gave back: it stays an object in the report, never a JSON string inside
    JSON. Anything that is not an object is kept under ``value``."""
    plain = json.loads(json.dumps(detail, sort_keys=True, default=str))
    return plain if isinstance(plain, dict) else {"value": plain}
