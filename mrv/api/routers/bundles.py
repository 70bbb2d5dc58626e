"""Evidence bundles for verifiers: one monitoring period's evidence as a signed zip."""

from typing import Annotated

from fastapi import APIRouter, Path, Response

from mrv.api.deps import Caller, ProjectId, SessionDep, State
from mrv.api.errors import PROJECT, errors, refuse
from persistence.keys import installation_key
from verification.bundle import export_bundle

router = APIRouter(prefix="/v1/projects/{project}/periods/{number}/bundle", tags=["evidence"])
MAX_PERIOD = 10_000

BUNDLE = {
    "description": "The evidence bundle (zip): check it offline with mrv evidence verify.",
    "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
}


@router.get(
    "",
    operation_id="evidence-bundle",
    response_class=Response,
    responses=errors(*PROJECT, also={200: BUNDLE}),
)
def bundle(
    project: ProjectId,
    who: Caller,
    state: State,
    s: SessionDep,
    number: Annotated[int, Path(ge=1, le=MAX_PERIOD, description="as GET /periods lists it")],
) -> Response:
    """The period's plan, readings, entries with revisions, photos, quarantine, events,
    audit chain to a signed checkpoint and report, under a signed manifest (verifiers,
    operators and admins)."""
    if who.role == "field":
        raise refuse(403, "evidence bundles are for verifiers, operators and admins")
    try:
        with state.report_slots:
            data = export_bundle(
                s, state.store, project, number, installation_key(state.settings.home)
            )
    except LookupError as exc:
        raise refuse(404, str(exc), "number") from None
    name = f"{project}_period-{number}_evidence.zip"
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
