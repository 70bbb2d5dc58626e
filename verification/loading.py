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

from core.entries import (
    FuelInvoice,
    MeterReading,
    WeighbridgeTicket,
    canonical_value,
    validate_body,
)
from core.plans.schema import MonitoringPlan
from core.times import day_start_ms, format_ms, to_ms
from persistence.models import Event, Project, QuarantineEntry
from persistence.records import (
    StoredEntry,
    UnreadableEntry,
    calibration_records,
    list_periods,
    readable_entries,
    stored_plan,
)
from persistence.stores.timeseries import SeriesArrays, TimeSeriesStore
from verification import __version__
from verification.gaps import gap_rules_sha256
from verification.inputs import (
    MARGIN,
    EntryRef,
    EventIn,
    Invoice,
    ManualRead,
    QuarantineIn,
    ReportInputs,
    Ticket,
    UnusableIn,
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
    readable, unreadable = readable_entries(session, project_id)
    entries = _entries(readable, plan)
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
        calibrations=calibration_records(session, project_id, plan, readable),
        events=_events(session, project_id, start, end),
        quarantine=_quarantine(session, project_id, start),
        entries={ref.id: ref for ref in map(_ref, readable)},
        unusable=[*map(_unreadable, unreadable), *entries.unusable],
        period_number=number,
        software=__version__,
        rulebook=load_rulebook(plan),
    )


class _Entries(NamedTuple):
    """The project's field entries that carry values, by kind, and those that do not
    fit the plan (any more: the plan may have changed since they were recorded)."""

    invoices: list[Invoice]
    reads: list[ManualRead]
    tickets: list[Ticket]
    unusable: list[UnusableIn]


def _ref(entry: StoredEntry) -> EntryRef:
    return EntryRef(str(entry.id), entry.revision, entry.type, tuple(entry.body.photos))


def _unreadable(entry: UnreadableEntry) -> UnusableIn:
    photos = entry.body.get("photos")
    hashes = tuple(h for h in photos if isinstance(h, str)) if isinstance(photos, list) else ()
    return UnusableIn(
        "entry",
        f"{entry.id}@r{entry.revision}",
        f"{entry.type} entry",
        f"its stored body no longer parses: {entry.reason}",
        hashes,
    )


def _misfit(entry: StoredEntry, plan: MonitoringPlan) -> UnusableIn | None:
    """An entry that no longer fits the plan (a device or parameter since removed, a
    unit it no longer converts): checked as when it was recorded, against its own
    recording time so that the result never depends on when the report is made."""
    problems = validate_body(entry.body, plan, now=entry.recorded_at)
    if not problems:
        return None
    ref = _ref(entry)
    reason = "; ".join(str(p) for p in problems[:3])
    return UnusableIn("entry", ref.key, f"{entry.type} entry", reason, ref.photos)


def _entries(readable: list[StoredEntry], plan: MonitoringPlan) -> _Entries:
    """Invoices, manual register reads (canonical unit) and weighbridge tickets."""
    out = _Entries([], [], [], [])
    for entry in readable:
        body = entry.body
        if isinstance(body, FuelInvoice | MeterReading) and (misfit := _misfit(entry, plan)):
            out.unusable.append(misfit)
            continue
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


def _quarantine(session: Session, project_id: str, start: date) -> list[QuarantineIn]:
    """The project's quarantine rows still open, received from the period's start on: a
    row's own time is when it arrived, and a device's backfill of the period can arrive
    any time after it, so each may hold data of the period."""
    lo = day_start_ms(start)
    query = (
        select(QuarantineEntry)
        .where(QuarantineEntry.project_id == project_id, QuarantineEntry.status == "open")
        .order_by(QuarantineEntry.id)
    )
    # the time compared in Python: SQLite keeps it naive, PostgreSQL aware
    return [
        QuarantineIn(
            id=q.id,
            device=q.device_id,
            reason=q.reason,
            detail=q.detail[:200],
            received=format_ms(received),
            seq=q.seq,
            elements=q.elements,
        )
        for q in session.scalars(query)
        if (received := to_ms(q.received_at)) >= lo
    ]
