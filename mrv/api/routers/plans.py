"""A project's monitoring plan, now or at an earlier version."""

from typing import Annotated

import yaml
from fastapi import APIRouter, Query
from sqlalchemy import select

from core.plans.schema import MonitoringPlan
from mrv.api.deps import ProjectId, SessionDep
from mrv.api.errors import PROJECT, errors, refuse
from mrv.api.routers.params import CHECKED_PROJECT
from mrv.api.schemas import PlanOut, PlanVersionOut
from persistence.models import PlanRevision, Project

router = APIRouter(prefix="/v1/projects/{project}", tags=["plans"], dependencies=CHECKED_PROJECT)


@router.get("/plan", operation_id="plans-read", responses=errors(*PROJECT))
def plan(
    project: ProjectId,
    s: SessionDep,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> PlanOut:
    """The monitoring plan (the current one, or an earlier ``version``) with its hash and
    every version there has been; the field app caches it for offline forms."""
    revisions = list(
        s.scalars(
            select(PlanRevision).where(PlanRevision.project_id == project).order_by(PlanRevision.id)
        )
    )
    row = s.get(Project, project)
    assert row is not None  # project_of found it
    if version is None or version == row.plan_version:
        body, sha, number = row.plan, row.plan_sha256, row.plan_version
    else:
        # The latest load of that version (a plan may be reloaded unchanged in number).
        old = next((r for r in reversed(revisions) if r.plan_version == version), None)
        if old is None:
            raise refuse(404, f"no plan version {version}", "version")
        loaded = MonitoringPlan.model_validate(yaml.safe_load(old.source_text))
        body, sha, number = loaded.model_dump(mode="json"), old.plan_sha256, old.plan_version
    return PlanOut(
        version=number,
        sha256=sha,
        plan=body,
        versions=[
            PlanVersionOut(version=r.plan_version, sha256=r.plan_sha256, loaded_at=r.loaded_at)
            for r in revisions
        ],
    )
