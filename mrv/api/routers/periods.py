"""Monitoring periods: listed, and defined one after another by operators."""

from typing import Annotated

from fastapi import APIRouter, Depends

from mrv.api.deps import ProjectId, SessionDep, actor, operator
from mrv.api.errors import JSON_BODY, PROJECT, committed, errors
from mrv.api.routers.params import CHECKED_PROJECT
from mrv.api.schemas import PeriodIn, PeriodOut
from mrv.api.tokens import TokenInfo
from persistence.records import define_period, list_periods

router = APIRouter(
    prefix="/v1/projects/{project}/periods", tags=["periods"], dependencies=CHECKED_PROJECT
)


@router.get("", operation_id="periods-list", responses=errors(*PROJECT))
def periods(project: ProjectId, s: SessionDep) -> list[PeriodOut]:
    return [PeriodOut.of(p) for p in list_periods(s, project)]


@router.post(
    "", status_code=201, operation_id="periods-define", responses=errors(*PROJECT, *JSON_BODY)
)
def new_period(
    project: ProjectId,
    who: Annotated[TokenInfo, Depends(operator("defining monitoring periods"))],
    s: SessionDep,
    period: PeriodIn,
) -> PeriodOut:
    """Define the next monitoring period (operators): contiguous with the previous one,
    inside the crediting period; audited."""
    with committed(s):
        row = define_period(s, project, period.start, period.end, actor=actor(who))
    return PeriodOut.of(row)
