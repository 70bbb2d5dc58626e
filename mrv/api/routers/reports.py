"""Monitoring reports for a period, issued (and audited) in each of the report formats."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from core.windows import range_problems
from mrv.api.deps import Caller, ProjectId, SessionDep, State, actor
from mrv.api.errors import PROJECT, errors, refuse
from persistence.keys import installation_key
from verification.render import formats
from verification.reporting import issue_report

router = APIRouter(prefix="/v1/projects/{project}/reports", tags=["reports"])
MAX_DAYS = 3660  # ten years


def _schema(fmt: formats.Format) -> dict[str, str]:
    if fmt == "json":
        return {"type": "object", "description": "the report (schema_version 2)"}
    if fmt in formats.BINARY:
        return {"type": "string", "format": "binary"}
    return {"type": "string"}


CONTENT = {formats.MEDIA_TYPES[f]: {"schema": _schema(f)} for f in formats.FORMATS}
ISSUED = {
    "description": "The report as a file (Content-Disposition: attachment); the "
    "X-Inputs-SHA256 header is the hash of its inputs.",
    "content": CONTENT,
}


@router.get(
    "",
    operation_id="reports-issue",
    response_class=Response,
    responses=errors(*PROJECT, also={200: ISSUED}),
)
def report(
    project: ProjectId,
    who: Caller,
    state: State,
    s: SessionDep,
    start: Annotated[date, Query(description="first day, YYYY-MM-DD")],
    end: Annotated[date, Query(description="last day (inclusive), YYYY-MM-DD")],
    format: Annotated[formats.Format, Query()] = "json",
) -> Response:
    """The monitoring report for the days ``start`` to ``end`` in one of the formats;
    issuing it is audited. Two are computed at a time per worker; others wait. The days
    lie between 2000-01-01 and the end of next year (``core.windows``)."""
    if wrong := range_problems(start, end):
        raise refuse(422, wrong[0][1], wrong[0][0])
    if end < start:
        raise refuse(422, "must not be before start", "end")
    if (end - start).days > MAX_DAYS:
        raise refuse(422, "a report covers at most ten years", "end")
    try:
        with state.report_slots:
            key = installation_key(state.settings.home)
            issued = issue_report(
                s, state.store, project, start, end, format, actor=actor(who), key=key
            )
    except ValueError as exc:
        raise refuse(422, str(exc)) from None
    name = f"{project}_{start}_{end}.{formats.EXTENSIONS[format]}"
    return Response(
        issued.content,
        media_type=formats.MEDIA_TYPES[format],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Inputs-SHA256": issued.report.inputs_sha256,
        },
    )
