"""The projects a token may see."""

from fastapi import APIRouter
from sqlalchemy import select

from mrv.api.deps import Caller, SessionDep
from mrv.api.errors import AUTH, errors
from mrv.api.schemas import ProjectOut
from persistence.models import Project

router = APIRouter(tags=["projects"])


@router.get("/v1/projects", operation_id="projects-list", responses=errors(*AUTH))
def projects(who: Caller, s: SessionDep) -> list[ProjectOut]:
    rows = s.scalars(select(Project).order_by(Project.id))
    return [
        ProjectOut(id=p.id, name=p.name, methodology=f"{p.methodology_id} {p.methodology_version}")
        for p in rows
        if who.may_see(p.id)
    ]
