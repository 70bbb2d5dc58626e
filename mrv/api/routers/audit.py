"""A project's evidence: its audit chain walked, and every object it covers recomputed."""

from fastapi import APIRouter

from mrv.api.deps import ProjectId, SessionDep, Store
from mrv.api.errors import PROJECT, errors
from mrv.api.routers.params import CHECKED_PROJECT
from mrv.api.schemas import AuditVerdict
from persistence.evidence import verify_project

router = APIRouter(
    prefix="/v1/projects/{project}/audit", tags=["audit"], dependencies=CHECKED_PROJECT
)


@router.get("/verify", operation_id="audit-verify", responses=errors(*PROJECT))
def audit_verify(project: ProjectId, s: SessionDep, store: Store) -> AuditVerdict:
    """Walk the project's audit chain and recompute what each link states from the data
    as stored (entry revisions, plans, devices, periods, tokens, photos, readings):
    intact, or the first broken link and every changed, missing or unlinked object."""
    return AuditVerdict.of(verify_project(s, store, project))
