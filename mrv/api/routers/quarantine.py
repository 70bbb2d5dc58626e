"""Quarantined messages: listed with why, and released (re-processed) by operators."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import BigInteger, select

from gateway.processor import BatchProcessor
from gateway.release import release
from mrv.api.deps import Db, ProjectId, SessionDep, Store, actor, operator
from mrv.api.errors import JSON_BODY, PROJECT, errors, refuse
from mrv.api.schemas import QuarantineOut, Released, ReleaseIn, ReleaseOutcomeOut
from mrv.api.tokens import TokenInfo
from persistence.models import QuarantineEntry

router = APIRouter(prefix="/v1/projects/{project}/quarantine", tags=["quarantine"])


def _largest_id() -> int:
    """The largest id the quarantine table's id column holds: a 32-bit integer on
    PostgreSQL unless the column is a BIGINT."""
    column = QuarantineEntry.__table__.c.id
    return 2**63 - 1 if isinstance(column.type, BigInteger) else 2**31 - 1


@router.get("", operation_id="quarantine-list", responses=errors(*PROJECT))
def quarantine(
    project: ProjectId,
    s: SessionDep,
    status: Annotated[str | None, Query(pattern="^(open|released|resolved)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> list[QuarantineOut]:
    """Quarantined messages of the project: why, and which field; in id order, those
    past the id ``after`` (the last id of the page before) if given."""
    query = (
        select(QuarantineEntry)
        .where(QuarantineEntry.project_id == project)
        .order_by(QuarantineEntry.id)
        .limit(limit)
    )
    if after is not None:
        # past what the column holds there is nothing, and the store would refuse the number
        if after >= _largest_id():
            return []
        query = query.where(QuarantineEntry.id > after)
    if status:
        query = query.where(QuarantineEntry.status == status)
    return [QuarantineOut.of(q) for q in s.scalars(query)]


@router.post("/release", operation_id="quarantine-release", responses=errors(*PROJECT, *JSON_BODY))
def release_quarantine(
    project: ProjectId,
    who: Annotated[TokenInfo, Depends(operator("releasing quarantined messages"))],
    db: Db,
    store: Store,
    which: ReleaseIn,
) -> Released:
    """Re-process quarantined messages of the project (operators), e.g. after a device
    was registered: each is stored (released) or stays open with its new reason, so a
    release never drops anything. Each outcome is audited."""
    if not which.all and not which.ids:
        raise refuse(422, "give ids, or all: true", "ids")
    if which.all and which.ids:
        raise refuse(422, "give ids or all, not both", "all")
    processor = BatchProcessor(store, db, actor=actor(who))
    # An id past what the column holds names no message, as an unknown id names none;
    # asked for, the store would refuse the number itself.
    ids = None if which.all else [i for i in which.ids if i <= _largest_id()]
    outcomes = release(processor, ids, project=project, actor=actor(who))
    return Released(
        released=sum(o.released for o in outcomes),
        kept=sum(not o.released for o in outcomes),
        outcomes=[
            ReleaseOutcomeOut(id=o.id, released=o.released, message=o.message) for o in outcomes
        ],
    )
