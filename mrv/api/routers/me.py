"""The caller: what its token grants."""

from fastapi import APIRouter

from mrv.api.deps import Caller
from mrv.api.errors import AUTH, errors
from mrv.api.schemas import Me

router = APIRouter(tags=["me"])


@router.get("/v1/me", operation_id="me-read", responses=errors(*AUTH))
def me(who: Caller) -> Me:
    """What this token is: its role, its projects and its label (for a field token, the
    person: the author the field app puts on entries)."""
    return Me(role=who.role, projects=list(who.projects), label=who.label)
