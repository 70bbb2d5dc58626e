"""The FastAPI application: health, metrics, and (first slice of issue 4) projects and
monitoring reports for verifiers, every request authorised per role and project.

No ``from __future__ import annotations`` here: FastAPI reads the dependencies from the
annotations, and those name functions local to ``create_app``."""

import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

import yaml
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.processor import BatchProcessor
from gateway.release import release
from mrv.api.limits import BodyLimit
from mrv.api.tokens import TokenInfo, check_token
from mrv.core.catalogue import catalogue
from mrv.core.config import Settings
from mrv.core.entries import CalibrationResult, EntryIn, EntryType, PhotoHash, body_json
from mrv.core.errors import problems_from
from mrv.core.photos import (
    MAX_PHOTO_BYTES,
    MAX_PHOTOS_PER_ENTRY,
    MEDIA_TYPES,
    SHA256_PATTERN,
    PhotoRejected,
)
from mrv.core.plans.schema import Device as DeviceIn
from mrv.core.plans.schema import MonitoringPlan
from mrv.core.times import add_months, to_ms
from mrv.persistence import audit
from mrv.persistence.devices import register_device, retire_device
from mrv.persistence.engine import Database
from mrv.persistence.models import Device, Event, PlanRevision, Project, QuarantineEntry
from mrv.persistence.photos import add_photo, changed_photos, get_photo, list_photos
from mrv.persistence.records import (
    CalibrationRecord,
    Conflict,
    EntryRejected,
    NotFound,
    RecordError,
    StoredEntry,
    add_entry,
    calibration_records,
    define_period,
    edit_entry,
    entries_for,
    entry_history,
    get_entry,
    list_periods,
    stored_plan,
    stored_resend,
    verify_entries,
)
from mrv.persistence.stores import open_timeseries
from verification.plan_check import PLAN_CHECKS
from verification.render import formats
from verification.reporting import issue_report

REQUESTS = Counter("mrv_api_requests_total", "API requests", ["route", "status"])

bearer = HTTPBearer(auto_error=False)
MAX_BODY_BYTES = 1_000_000  # an entry is a few kB
PHOTO_PATH = re.compile(r"^/v1/projects/[^/]+/photos/?$")
# A report is CPU-bound Python: more of them at once in one process only pass the GIL to
# and fro (bench/api.py: one worker served 18 reports/s with one in flight, 9 with eight,
# each costing 130 ms of CPU instead of 53). Others wait their turn; add workers to scale.
REPORTS_AT_ONCE = 2
MAX_FAILURES = 5  # failed authentications per client ...
FAILURE_WINDOW_S = 60.0  # ... within this many seconds, then it waits


class EntryEdit(BaseModel):
    """An edit of an entry: the new body and why (both required)."""

    model_config = ConfigDict(extra="forbid")

    body: dict[str, Any]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    author: Annotated[str, Field(min_length=1, max_length=128)]
    base_revision: Annotated[int, Field(ge=1)] | None = None


class RetireIn(BaseModel):
    """A device's retirement: the last day its readings count, and why."""

    model_config = ConfigDict(extra="forbid")

    removed: date
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class CalibrationIn(BaseModel):
    """A calibration recorded by an operator: stored as a calibration_certificate entry of
    the device (so it feeds the verification rules as one from the field app would)."""

    model_config = ConfigDict(extra="forbid")

    id: UUID
    author: Annotated[str, Field(min_length=1, max_length=128)]
    calibrated_on: date
    certificate: Annotated[str, Field(min_length=1, max_length=128)]
    result: CalibrationResult
    error_pct: Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]
    tolerance_pct: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] | None = None
    photos: Annotated[list[PhotoHash], Field(max_length=MAX_PHOTOS_PER_ENTRY)] = []


class ReleaseIn(BaseModel):
    """Quarantined messages to re-process: these ids, or every open one of the project."""

    model_config = ConfigDict(extra="forbid")

    ids: Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=1000)] = []
    all: bool = False


class PeriodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: date
    end: date  # inclusive


@contextmanager
def committed(s: Session) -> Iterator[None]:
    """Commit what the block wrote; a refused record rolls it all back and is answered
    as an HTTP error naming the field (404, 409 or 422)."""
    try:
        yield
        s.commit()
    except RecordError as exc:
        s.rollback()
        raise record_error(exc) from None


def body_limit(path: str) -> int:
    """Bytes of request body allowed on a path: photos are larger than everything else."""
    return MAX_PHOTO_BYTES + 1 if PHOTO_PATH.match(path) else MAX_BODY_BYTES


def record_error(exc: RecordError) -> HTTPException:
    """A refused record as an HTTP error naming the field: 404, 409 or 422."""
    status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422
    if isinstance(exc, EntryRejected):
        detail: Any = [{"field": p.field, "message": p.message} for p in exc.problems]
        return HTTPException(status, detail)
    return HTTPException(status, {"field": exc.field, "message": exc.message})


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

    failures: dict[str, deque[float]] = defaultdict(deque)
    report_slots = threading.BoundedSemaphore(REPORTS_AT_ONCE)

    def caller(
        request: Request,
        s: Annotated[Session, Depends(session)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> TokenInfo:
        # Guessing tokens is slowed down: after a few failures a client waits.
        client = request.client.host if request.client else "?"
        now = time.monotonic()
        recent = failures[client]
        while recent and now - recent[0] > FAILURE_WINDOW_S:
            recent.popleft()
        if len(recent) >= MAX_FAILURES:
            wait = int(FAILURE_WINDOW_S - (now - recent[0])) + 1
            raise HTTPException(
                429,
                f"too many failed attempts: retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        info = check_token(s, credentials.credentials) if credentials else None
        if info is None:
            if credentials is not None:  # a wrong token is a guess; a missing one is not
                recent.append(now)
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

    app.add_middleware(BodyLimit, limit_for=body_limit)

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        route = request.scope.get("route")
        REQUESTS.labels(getattr(route, "path", "other"), str(response.status_code)).inc()
        return response

    @app.exception_handler(HTTPException)
    async def json_errors(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail
        if isinstance(detail, dict):
            # The message names its field too: many clients show only "error".
            body: dict[str, Any] = {
                "error": f"{detail['field']}: {detail['message']}",
                "field": detail["field"],
            }
        elif isinstance(detail, list):
            text = "; ".join(f"{p['field']}: {p['message']}" for p in detail)
            body = {"error": text, "problems": detail}
        else:
            body = {"error": detail}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's locations start with the part of the request ("body", "query", ...);
        # the field is named as the client wrote it: "body.device" is the entry's body.
        problems = [
            {"field": p.field, "message": p.message}
            for p in problems_from({**e, "loc": e["loc"][1:] or e["loc"]} for e in exc.errors())
        ]
        text = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return JSONResponse({"error": text, "problems": problems}, status_code=422)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/me")
    def me(who: Annotated[TokenInfo, Depends(caller)]) -> dict[str, Any]:
        """What this token is: its role, its projects and its label (for a field token,
        the person: the author the field app puts on entries)."""
        return {"role": who.role, "projects": list(who.projects), "label": who.label}

    @app.get("/v1/catalogue")
    def reference_data() -> dict[str, Any]:
        """Quantities (canonical unit, plausible range, units to pick from) and groups of
        interconvertible units: what a client needs to build entry forms offline."""
        return catalogue()

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

    @app.get("/v1/projects/{project}/plan")
    def plan(
        project: Annotated[str, Depends(project_of)],
        s: Annotated[Session, Depends(session)],
        version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    ) -> dict[str, Any]:
        """The monitoring plan (the current one, or an earlier ``version``) with its hash
        and every version there has been; the field app caches it for offline forms."""
        revisions = list(
            s.scalars(
                select(PlanRevision)
                .where(PlanRevision.project_id == project)
                .order_by(PlanRevision.id)
            )
        )
        row = s.get(Project, project)
        assert row is not None
        if version is None or version == row.plan_version:
            body, sha, number = row.plan, row.plan_sha256, row.plan_version
        else:
            # The latest load of that version (a plan may be reloaded unchanged in number).
            old = next((r for r in reversed(revisions) if r.plan_version == version), None)
            if old is None:
                raise HTTPException(
                    404, {"field": "version", "message": f"no plan version {version}"}
                )
            body = MonitoringPlan.model_validate(yaml.safe_load(old.source_text)).model_dump(
                mode="json"
            )
            sha, number = old.plan_sha256, old.plan_version
        return {
            "version": number,
            "sha256": sha,
            "plan": body,
            "versions": [
                {
                    "version": r.plan_version,
                    "sha256": r.plan_sha256,
                    "loaded_at": r.loaded_at.isoformat(),
                }
                for r in revisions
            ],
        }

    def may_write(who: TokenInfo) -> None:
        if who.role not in ("field", "operator", "admin"):
            raise HTTPException(403, f"a {who.role} token is read-only")

    def own_name(who: TokenInfo, author: str) -> None:
        """Field staff write under their own name: the one their token was made for."""
        if who.role == "field" and author.strip() != who.label:
            raise HTTPException(
                403, {"field": "author", "message": f"this token writes as {who.label!r} only"}
            )

    def stored_or_404(s: Session, project: str, entry_id: UUID) -> StoredEntry:
        entry = get_entry(s, entry_id)
        if entry is None or entry.project_id != project:
            raise HTTPException(404, f"id: no entry {entry_id} in project {project!r}")
        return entry

    def store_entry(s: Session, project: str, entry: EntryIn, response: Response) -> dict[str, Any]:
        """Store an entry under its client's id: 201 new, 200 a resend (answered from a
        read, with no write lock), 409 another body under that id."""
        resent = stored_resend(s, project, entry)
        s.rollback()  # end the read: a write must start with its lock (SQLite snapshots)
        if resent is not None:
            response.status_code = 200
            return resent.as_json()
        with committed(s):
            stored, created = add_entry(s, project, entry)
        response.status_code = 201 if created else 200
        return stored.as_json()

    @app.post("/v1/projects/{project}/entries", status_code=201)
    def create_entry(
        project: Annotated[str, Depends(project_of)],
        who: Annotated[TokenInfo, Depends(caller)],
        s: Annotated[Session, Depends(session)],
        entry: EntryIn,
        response: Response,
    ) -> dict[str, Any]:
        """Store a field entry under its client-generated id: sending it again returns
        the stored one (200); another body under the same id is a conflict (409)."""
        may_write(who)
        own_name(who, entry.author)
        return store_entry(s, project, entry, response)

    @app.get("/v1/projects/{project}/entries")
    def list_entries(
        project: Annotated[str, Depends(project_of)],
        s: Annotated[Session, Depends(session)],
        type: EntryType | None = None,
        cursor: Annotated[UUID | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> dict[str, Any]:
        """Entries at their current revision in the order they were recorded, a page at
        a time: pass ``next_cursor`` back as ``cursor`` for the next page."""
        try:
            page = entries_for(
                s,
                project,
                [type] if type else None,
                after=str(cursor) if cursor else None,
                limit=limit + 1,
            )
        except RecordError as exc:
            raise record_error(exc) from None
        more = len(page) > limit
        page = page[:limit]
        return {
            "entries": [e.as_json() for e in page],
            "next_cursor": str(page[-1].id) if more else None,
        }

    @app.get("/v1/projects/{project}/entries/{entry_id}")
    def read_entry(
        project: Annotated[str, Depends(project_of)],
        s: Annotated[Session, Depends(session)],
        entry_id: UUID,
    ) -> dict[str, Any]:
        """The entry at its current revision, with every revision (edits and reasons)."""
        entry = stored_or_404(s, project, entry_id)
        history = [
            {
                "revision": r.revision,
                "body": body_json(r.body),
                "reason": r.reason,
                "author": r.author,
                "recorded_at": r.recorded_at.isoformat(),
            }
            for r in entry_history(s, entry_id)
        ]
        return {**entry.as_json(), "history": history}

    @app.put("/v1/projects/{project}/entries/{entry_id}")
    def edit(
        project: Annotated[str, Depends(project_of)],
        who: Annotated[TokenInfo, Depends(caller)],
        s: Annotated[Session, Depends(session)],
        entry_id: UUID,
        change: EntryEdit,
    ) -> dict[str, Any]:
        """Replace an entry's body; the reason is required and every revision is kept."""
        may_write(who)
        entry = stored_or_404(s, project, entry_id)
        own_name(who, change.author)
        if who.role == "field" and entry.author != who.label:
            raise HTTPException(
                403, {"field": "author", "message": "field staff edit only their own entries"}
            )
        with committed(s):
            stored = edit_entry(
                s,
                entry_id,
                change.body,
                change.reason,
                change.author,
                base_revision=change.base_revision,
            )
        return stored.as_json()

    @app.post(
        "/v1/projects/{project}/photos",
        status_code=201,
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": f"The photo's bytes, at most {MAX_PHOTO_BYTES:,}.",
                "content": {
                    t: {"schema": {"type": "string", "format": "binary"}} for t in MEDIA_TYPES
                },
            }
        },
    )
    async def upload_photo(
        project: Annotated[str, Depends(project_of)],
        who: Annotated[TokenInfo, Depends(caller)],
        s: Annotated[Session, Depends(session)],
        request: Request,
        response: Response,
    ) -> dict[str, Any]:
        """Upload a photo (JPEG, PNG or WebP) as the request body; it is stored under the
        SHA-256 of its bytes, which entries cite in ``body.photos``. Sending the same
        photo again returns the stored one (200)."""
        may_write(who)
        content = await request.body()

        def store() -> tuple[dict[str, Any], bool]:
            try:
                stored, created = add_photo(
                    s, project, content, request.headers.get("content-type"), f"token:{who.id}"
                )
                s.commit()
            except PhotoRejected as exc:
                s.rollback()
                status = 415 if exc.field == "content-type" else 422
                raise HTTPException(status, {"field": exc.field, "message": exc.message}) from None
            return stored.as_json(), created

        data, created = await run_in_threadpool(store)
        response.status_code = 201 if created else 200
        return data

    @app.get("/v1/projects/{project}/photos")
    def photos(
        project: Annotated[str, Depends(project_of)],
        s: Annotated[Session, Depends(session)],
    ) -> list[dict[str, Any]]:
        return [p.as_json() for p in list_photos(s, project)]

    @app.get(
        "/v1/projects/{project}/photos/{sha256}",
        response_class=Response,
        responses={200: {"content": {t: {} for t in MEDIA_TYPES}}},
    )
    def photo(
        project: Annotated[str, Depends(project_of)],
        s: Annotated[Session, Depends(session)],
        sha256: Annotated[str, Path(pattern=SHA256_PATTERN)],
    ) -> Response:
        """The photo's bytes, exactly as uploaded (their SHA-256 is the name)."""
        found = get_photo(s, project, sha256)
        if found is None:
            raise HTTPException(404, {"field": "sha256", "message": f"no photo {sha256}"})
        info, content = found
        return Response(
            content,
            media_type=info.info.media_type,
            headers={"Cache-Control": "private, max-age=31536000, immutable"},
        )

    @app.get("/v1/projects/{project}/periods")
    def periods(
        project: Annotated[str, Depends(project_of)],
        s: Annotated[Session, Depends(session)],
    ) -> list[dict[str, Any]]:
        return [
            {"number": p.number, "start": p.start.isoformat(), "end": p.end.isoformat()}
            for p in list_periods(s, project)
        ]

    @app.post("/v1/projects/{project}/periods", status_code=201)
    def new_period(
        project: Annotated[str, Depends(project_of)],
        who: Annotated[TokenInfo, Depends(caller)],
        s: Annotated[Session, Depends(session)],
        period: PeriodIn,
    ) -> dict[str, Any]:
        """Define the next monitoring period (operators): contiguous with the previous
        one, inside the crediting period; audited."""
        if who.role not in ("operator", "admin"):
            raise HTTPException(403, "defining monitoring periods is an operator's action")
        with committed(s):
            row = define_period(s, project, period.start, period.end, actor=f"token:{who.id}")
        return {"number": row.number, "start": row.start.isoformat(), "end": row.end.isoformat()}

    def may_operate(who: TokenInfo, action: str) -> None:
        if who.role not in ("operator", "admin"):
            raise HTTPException(403, f"{action} is an operator's action")

    def device_json(row: Device) -> dict[str, Any]:
        return {
            "id": row.id,
            "site": row.site_id,
            "type": row.type,
            "serial": row.serial,
            "quantities": row.quantities,
            "status": row.status,
            "installed": row.record.get("installed"),
            "removed": row.record.get("removed"),
            "calibration": row.record.get("calibration"),
        }

    @app.get("/v1/projects/{project}/devices")
    def devices(
        project: Annotated[str, Depends(project_of)],
        s: Annotated[Session, Depends(session)],
    ) -> list[dict[str, Any]]:
        """The project's devices, retired ones included (their readings stay)."""
        rows = s.scalars(select(Device).where(Device.project_id == project).order_by(Device.id))
        return [device_json(d) for d in rows]

    @app.post("/v1/projects/{project}/devices", status_code=201)
    def new_device(
        project: Annotated[str, Depends(project_of)],
        who: Annotated[TokenInfo, Depends(caller)],
        s: Annotated[Session, Depends(session)],
        device: DeviceIn,
    ) -> dict[str, Any]:
        """Register a device (operators): the plan gains it in a new version, validated
        as a whole; the gateway accepts its readings from then on. Audited."""
        may_operate(who, "registering a device")
        with committed(s):
            register_device(s, project, device, actor=f"token:{who.id}", checks=PLAN_CHECKS)
        row = s.get(Device, (project, device.id))
        assert row is not None
        return device_json(row)

    @app.post("/v1/projects/{project}/devices/{device}/retire")
    def retire(
        project: Annotated[str, Depends(project_of)],
        who: Annotated[TokenInfo, Depends(caller)],
        s: Annotated[Session, Depends(session)],
        device: Annotated[str, Path(max_length=64)],
        retirement: RetireIn,
    ) -> dict[str, Any]:
        """Retire a device (operators) from the day after ``removed``: it stays in the plan
        with its readings; later readings from it are quarantined. Audited."""
        may_operate(who, "retiring a device")
        with committed(s):
            retire_device(
                s,
                project,
                device,
                retirement.removed,
                retirement.reason,
                f"token:{who.id}",
                checks=PLAN_CHECKS,
            )
        row = s.get(Device, (project, device))
        assert row is not None
        return device_json(row)

    def calibration_json(r: CalibrationRecord) -> dict[str, Any]:
        return {
            "date": r.date.isoformat(),
            "result": r.result,
            "error_pct": r.error_pct,
            "certificate": r.certificate,
            "source": r.source,
        }

    @app.get("/v1/projects/{project}/devices/{device}/calibrations")
    def calibrations(
        project: Annotated[str, Depends(project_of)],
        s: Annotated[Session, Depends(session)],
        device: Annotated[str, Path(max_length=64)],
    ) -> dict[str, Any]:
        """A device's calibrations from the plan and from certificates, in date order, as
        the verification rules see them, and when the next one is due."""

        plan = stored_plan(s, project)
        found = plan.device(device)
        if found is None:
            raise HTTPException(404, {"field": "device", "message": f"no device {device!r}"})
        records = calibration_records(s, project, plan).get(device, [])
        interval = found.calibration.interval_months if found.calibration else None
        due = add_months(records[-1].date, interval) if records and interval else None
        return {
            "device": device,
            "interval_months": interval,
            "next_due": due.isoformat() if due else None,
            "calibrations": [calibration_json(r) for r in records],
        }

    @app.post("/v1/projects/{project}/devices/{device}/calibrations", status_code=201)
    def record_calibration(
        project: Annotated[str, Depends(project_of)],
        who: Annotated[TokenInfo, Depends(caller)],
        s: Annotated[Session, Depends(session)],
        device: Annotated[str, Path(max_length=64)],
        calibration: CalibrationIn,
        response: Response,
    ) -> dict[str, Any]:
        """Record a calibration (operators) as a calibration_certificate entry of the
        device, under the client's id (a resend is harmless). Audited."""
        may_operate(who, "recording a calibration")
        body = calibration.model_dump(mode="json", exclude={"id", "author"})
        try:
            entry = EntryIn.model_validate(
                {
                    "id": calibration.id,
                    "type": "calibration_certificate",
                    "author": calibration.author,
                    "body": {**body, "device": device},
                }
            )
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        return store_entry(s, project, entry, response)

    @app.post("/v1/projects/{project}/quarantine/release")
    def release_quarantine(
        project: Annotated[str, Depends(project_of)],
        who: Annotated[TokenInfo, Depends(caller)],
        which: ReleaseIn,
    ) -> dict[str, Any]:
        """Re-process quarantined messages of the project (operators), e.g. after a device
        was registered: each is stored (released) or stays open with its new reason, so a
        release never drops anything. Each outcome is audited."""

        may_operate(who, "releasing quarantined messages")
        if not which.all and not which.ids:
            raise HTTPException(422, {"field": "ids", "message": "give ids, or all: true"})
        if which.all and which.ids:
            raise HTTPException(422, {"field": "all", "message": "give ids or all, not both"})
        processor = BatchProcessor(open_timeseries(settings), db, actor=f"token:{who.id}")
        try:
            outcomes = release(
                processor,
                None if which.all else which.ids,
                project=project,
                actor=f"token:{who.id}",
            )
        finally:
            processor.store.close()
        return {
            "released": sum(o.released for o in outcomes),
            "kept": sum(not o.released for o in outcomes),
            "outcomes": [
                {"id": o.id, "released": o.released, "message": o.message} for o in outcomes
            ],
        }

    @app.get("/v1/projects/{project}/quarantine")
    def quarantine(
        project: Annotated[str, Depends(project_of)],
        s: Annotated[Session, Depends(session)],
        status: Annotated[str | None, Query(pattern="^(open|released|resolved)$")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Quarantined messages of the project: why, and which field."""
        query = (
            select(QuarantineEntry)
            .where(QuarantineEntry.project_id == project)
            .order_by(QuarantineEntry.id)
            .limit(limit)
        )
        if status:
            query = query.where(QuarantineEntry.status == status)
        return [
            {
                "id": q.id,
                "received_at": q.received_at.isoformat(),
                "topic": q.topic,
                "device": q.device_id,
                "reason": q.reason,
                "field": q.field,
                "detail": q.detail,
                "status": q.status,
            }
            for q in s.scalars(query)
        ]

    @app.get("/v1/projects/{project}/events")
    def events(
        project: Annotated[str, Depends(project_of)],
        s: Annotated[Session, Depends(session)],
        kind: Annotated[str | None, Query(max_length=32)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Data-quality events (reset, rollover, conflict, arrival_gap) in time order."""
        query = (
            select(Event)
            .where(Event.project_id == project)
            .order_by(Event.time_ms, Event.id)
            .limit(limit)
        )
        if kind:
            query = query.where(Event.kind == kind)
        return [
            {
                "time_ms": e.time_ms,
                "device": e.device_id,
                "quantity": e.quantity,
                "kind": e.kind,
                "detail": e.detail,
            }
            for e in s.scalars(query)
        ]

    @app.get("/v1/projects/{project}/audit/verify")
    def audit_verify(
        project: Annotated[str, Depends(project_of)],
        s: Annotated[Session, Depends(session)],
    ) -> dict[str, Any]:
        """Walk the whole audit hash chain, and check the project's entries against the
        hashes it recorded: intact, or the first broken link and every changed entry."""
        verdict = audit.verify(s)
        checked, breaks = verify_entries(s, project)
        photos_changed = changed_photos(s, project)
        return {
            "intact": verdict.intact and not breaks and not photos_changed,
            "length": verdict.length,
            "broken_at": verdict.broken_at,
            "reason": verdict.reason,
            "entries_checked": checked,
            "entries_changed": [
                {"id": b.entry_id, "revision": b.revision, "message": b.message} for b in breaks
            ],
            "photos_changed": photos_changed,
        }

    @app.get("/v1/projects/{project}/readings")
    def readings(
        project: Annotated[str, Depends(project_of)],
        device: Annotated[str | None, Query(max_length=64)] = None,
        quantity: Annotated[str | None, Query(max_length=64)] = None,
        start: Annotated[datetime | None, Query()] = None,
        end: Annotated[datetime | None, Query()] = None,
        cursor: Annotated[str | None, Query(max_length=300)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
    ) -> Response:
        """Stored readings in time order, a page at a time: pass ``next_cursor`` back as
        ``cursor`` for the next page (JSON), or read the ``X-Next-Cursor`` header (CSV)."""

        after: tuple[int, str, str, int] | None = None
        if cursor:
            try:
                t, d, q, n = cursor.split("~")
                after = (int(t), d, q, int(n))
            except ValueError:
                raise HTTPException(422, {"field": "cursor", "message": "not a cursor"}) from None
        start_ms = to_ms(start) if start else None
        if after is not None:
            start_ms = after[0]
        end_ms = to_ms(end) if end else None
        store = open_timeseries(settings)
        rows: list[Any] = []
        try:
            for row in store.query(
                project, device=device, quantity=quantity, start_ms=start_ms, end_ms=end_ms
            ):
                key = (row.time_ms, row.device, row.quantity, row.seq)
                if after is not None and key <= after:
                    continue
                rows.append(row)
                if len(rows) > limit:
                    break
        finally:
            store.close()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            f"{rows[-1].time_ms}~{rows[-1].device}~{rows[-1].quantity}~{rows[-1].seq}"
            if more
            else None
        )
        fields = ("time_ms", "device", "quantity", "seq", "value", "kind", "raw_value", "raw_unit")
        if format == "csv":
            lines = [",".join(fields)]
            lines += [",".join(str(getattr(r, f)) for f in fields) for r in rows]
            headers = {"X-Next-Cursor": next_cursor} if next_cursor else {}
            return Response(
                "\n".join(lines) + "\n", media_type=formats.MEDIA_TYPES["csv"], headers=headers
            )
        return JSONResponse(
            {
                "readings": [{f: getattr(r, f) for f in fields} for r in rows],
                "next_cursor": next_cursor,
            }
        )

    @app.get("/v1/projects/{project}/reports")
    def report(
        project: Annotated[str, Depends(project_of)],
        who: Annotated[TokenInfo, Depends(caller)],
        s: Annotated[Session, Depends(session)],
        start: Annotated[date, Query(description="first day, YYYY-MM-DD")],
        end: Annotated[date, Query(description="last day (inclusive), YYYY-MM-DD")],
        format: Annotated[formats.Format, Query()] = "json",
    ) -> Response:

        if end < start:
            raise HTTPException(422, "end: must not be before start")
        if (end - start).days > 3660:
            raise HTTPException(422, "end: a report covers at most ten years")
        store = open_timeseries(settings)
        try:
            with report_slots:
                issued = issue_report(
                    s,
                    store,
                    project,
                    start,
                    end,
                    format,
                    actor=f"token:{who.id}",
                )
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        finally:
            store.close()
        name = f"{project}_{start}_{end}.{format}"
        return Response(
            issued.content,
            media_type=formats.MEDIA_TYPES[format],
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "X-Inputs-SHA256": issued.report.inputs_sha256,
            },
        )

    return app
