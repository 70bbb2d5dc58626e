"""The audit chain, walked and checked against the stored entries and photos."""

from fastapi import APIRouter

from mrv.api.deps import ProjectId, SessionDep
from mrv.api.errors import PROJECT, errors
from mrv.api.schemas import AuditVerdict
from persistence import audit
from persistence.photos import changed_photos
from persistence.records import verify_entries

router = APIRouter(prefix="/v1/projects/{project}/audit", tags=["audit"])


@router.get("/verify", operation_id="audit-verify", responses=errors(*PROJECT))
def audit_verify(project: ProjectId, s: SessionDep) -> AuditVerdict:
    """Walk the whole audit hash chain, and check the project's entries against the
    hashes it recorded: intact, or the first broken link and every changed entry."""
    chain = audit.verify(s)
    checked, breaks = verify_entries(s, project)
    return AuditVerdict.of(chain, checked, breaks, changed_photos(s, project))
