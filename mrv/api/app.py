"""The FastAPI application: health, metrics, and (first slice of issue 4) projects and
monitoring reports for verifiers, every request authorised per role and project.

No ``from __future__ import annotations`` here: FastAPI reads the dependencies from the
annotations, and those name functions local to ``create_app``."""

from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any, cast

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mrv.api.tokens import TokenInfo, check_token
from mrv.config import Settings
from mrv.db import audit
from mrv.db.engine import Database
from mrv.db.models import Project

REQUESTS = Counter("mrv_api_requests_total", "API requests", ["route", "status"])
MEDIA = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "html": "text/html; charset=utf-8",
}

bearer = HTTPBearer(auto_error=False)


def create_app(settings: Settings) -> FastAPI:
    db = Database(settings.effective_database_url)
    app = FastAPI(
        title="jcm-mrv",
        description="Monitoring reports and evidence for JCM projects.",
        version="0.1.0",
    )

    def session() -> Iterator[Session]:
        with db.session() as s:
            yield s

    def caller(
        request: Request,
        s: Annotated[Session, Depends(session)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> TokenInfo:
        info = check_token(s, credentials.credentials) if credentials else None
        if info is None:
            raise HTTPException(401, "a valid bearer token is required (mrv token create)")
        return info

    def project_of(
        project: str,
        who: Annotated[TokenInfo, Depends(caller)],
        s: Annotated[Session, Depends(session)],
    ) -> str:
        if not who.may_see(project):
            audit.append(
                s,
                action="api.denied",
                actor=f"token:{who.id}",
                project_id=None,
                body={"project": project, "role": who.role},
            )
            s.commit()
            raise HTTPException(403, f"this token does not grant project {project!r}")
        if s.get(Project, project) is None:
            raise HTTPException(404, f"no project {project!r}")
        return project

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        route = request.scope.get("route")
        REQUESTS.labels(getattr(route, "path", "other"), str(response.status_code)).inc()
        return response

    @app.exception_handler(HTTPException)
    async def json_errors(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/projects")
    def projects(
        who: Annotated[TokenInfo, Depends(caller)], s: Annotated[Session, Depends(session)]
    ) -> list[dict[str, str]]:
        rows = s.scalars(select(Project).order_by(Project.id))
        return [
            {
                "id": p.id,
                "name": p.name,
                "methodology": f"{p.methodology_id} {p.methodology_version}",
            }
            for p in rows
            if who.may_see(p.id)
        ]

    @app.get("/v1/projects/{project}/reports")
    def report(
        project: Annotated[str, Depends(project_of)],
        who: Annotated[TokenInfo, Depends(caller)],
        s: Annotated[Session, Depends(session)],
        start: Annotated[date, Query(description="first day, YYYY-MM-DD")],
        end: Annotated[date, Query(description="last day (inclusive), YYYY-MM-DD")],
        format: Annotated[str, Query(pattern="^(json|csv|xlsx|pdf|html)$")] = "json",
    ) -> Response:
        from mrv.stores import open_timeseries
        from verification.reporting import Format, issue_report

        if end < start:
            raise HTTPException(422, "end: must not be before start")
        if (end - start).days > 3660:
            raise HTTPException(422, "end: a report covers at most ten years")
        store = open_timeseries(settings)
        try:
            issued = issue_report(
                s,
                store,
                project,
                start,
                end,
                cast(Format, format),
                actor=f"token:{who.id}",
            )
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        finally:
            store.close()
        name = f"{project}_{start}_{end}.{format}"
        return Response(
            issued.content,
            media_type=MEDIA[format],
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "X-Inputs-SHA256": issued.report.inputs_sha256,
            },
        )

    return app
