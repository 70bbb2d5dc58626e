"""Data-quality events the gateway recorded (reset, rollover, conflict, arrival_gap)."""

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from mrv.api.deps import ProjectId, SessionDep
from mrv.api.errors import PROJECT, errors
from mrv.api.schemas import EventOut
from persistence.models import Event

router = APIRouter(prefix="/v1/projects/{project}/events", tags=["events"])


@router.get("", operation_id="events-list", responses=errors(*PROJECT))
def events(
    project: ProjectId,
    s: SessionDep,
    kind: Annotated[str | None, Query(max_length=32, pattern="^[a-z_]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EventOut]:
    """Data-quality events (reset, rollover, conflict, arrival_gap) in time order."""
    query = (
        select(Event)
        .where(Event.project_id == project)
        .order_by(Event.time_ms, Event.id)
        .limit(limit)
    )
    if kind:
        query = query.where(Event.kind == kind)
    return [EventOut.of(e) for e in s.scalars(query)]
