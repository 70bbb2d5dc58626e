"""The verifier portal: server-rendered pages from a project to its periods, a period's
monitoring report (headline, findings, each step with its inputs), the readings behind a
step, the field entries with their revisions and photos, the quarantine and the audit
status, with every report format and the evidence bundle to download.

A verifier, operator or admin signs in with their API token, which is kept in an
HttpOnly, SameSite=Strict cookie (``mrv.api.pages.COOKIE``). Every page is checked as the
API's routes are (``mrv.api.deps.authenticate`` and ``granted_project``: a token of one
project is refused another with the same 403 or 404), and the data comes from the API's
own route functions, so the portal shows exactly what the API answers.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from core.photos import SHA256_PATTERN
from core.quantities import CATALOGUE
from core.times import to_ms
from core.wire import ID_RE
from mrv.api import pages
from mrv.api.deps import ApiState, SessionDep, State, Store, authenticate, granted_project
from mrv.api.errors import refuse
from mrv.api.pages import COOKIE, PREFIX, page
from mrv.api.routers import audit, bundles, entries, periods, photos, projects, quarantine
from mrv.api.routers import readings as readings_api
from mrv.api.routers import reports as reports_api
from mrv.api.routers.readings import Cursor
from mrv.api.tokens import TokenInfo
from persistence.records import PeriodRow, list_periods, stored_plan
from persistence.stores.timeseries import ReadingRow, TimeSeriesStore
from verification.engine import build_report
from verification.loading import load_inputs
from verification.render import formats

router = APIRouter(prefix=PREFIX, include_in_schema=False)
VIEWERS = frozenset({"verifier", "operator", "admin"})
READINGS_PER_PAGE = 100
ENTRIES_PER_PAGE = 50
QUARANTINE_PER_PAGE = 200
MAX_TOKEN_CHARS = 200
MAX_PERIOD = bundles.MAX_PERIOD
PeriodNumber = Annotated[int, Path(ge=1, le=MAX_PERIOD)]


def viewer(request: Request, state: State, s: SessionDep) -> TokenInfo:
    """The signed-in token (the cookie), if its role may use the portal."""
    who = authenticate(request, state, s, request.cookies.get(COOKIE))
    if who.role not in VIEWERS:
        raise refuse(403, "the portal is for verifiers, operators and admins")
    return who


Viewer = Annotated[TokenInfo, Depends(viewer)]


def portal_project(project: str, who: Viewer, s: SessionDep) -> str:
    return granted_project(project, who, s)


ProjectId = Annotated[str, Depends(portal_project)]


def _crumbs(project: str | None = None, *more: tuple[str, str]) -> list[tuple[str, str]]:
    trail = [("Projects", f"{PREFIX}/projects")]
    if project:
        trail.append((project, f"{PREFIX}/projects/{project}"))
    return trail + list(more)


def _period(s: Session, project: str, number: int) -> PeriodRow:
    for period in list_periods(s, project):
        if period.number == number:
            return period
    raise refuse(404, f"no period {number} in project {project!r}", "number")


# --- signing in and out -----------------------------------------------------------------


def _same_origin(request: Request) -> None:
    """Forms post only from the portal's own pages (a sign-in forced from another site
    would put the visitor in someone else's session)."""
    origin = request.headers.get("origin")
    # "null" is what a sandboxed frame or a cross-origin redirect sends: not our page
    if origin is not None and urlsplit(origin).netloc != request.url.netloc:
        raise refuse(403, "this form is accepted only from the portal's own pages")


@router.get("")
def sign_in_page(request: Request) -> Response:
    if request.cookies.get(COOKIE):
        return RedirectResponse(f"{PREFIX}/projects", status_code=303)
    return page(request, "sign_in.html", {"who": None, "crumbs": [], "message": None})


def _form_token(body: bytes) -> str:
    """The ``token`` field of an urlencoded form (the one thing the sign-in form sends)."""
    if len(body) <= 4 * MAX_TOKEN_CHARS:  # room for percent-encoding
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=5)
        token = (form.get("token") or [""])[0].strip()
        if token and len(token) <= MAX_TOKEN_CHARS:
            return token
    raise refuse(422, f"paste an API token (at most {MAX_TOKEN_CHARS} characters)", "token")


def _sign_in_grant(request: Request, state: ApiState, s: Session, token: str) -> TokenInfo:
    who = authenticate(request, state, s, token)
    if who.role not in VIEWERS:
        raise refuse(403, f"a {who.role} token cannot sign in to the portal", "token")
    return who


@router.post("/sign-in")
async def sign_in(request: Request, state: State, s: SessionDep) -> Response:
    _same_origin(request)
    try:
        token = _form_token(await request.body())
    except ValueError:  # parse_qs: more fields than a sign-in form has
        raise refuse(422, "this is not the sign-in form", "token") from None
    # the token is checked against the database: off the event loop
    await run_in_threadpool(_sign_in_grant, request, state, s, token)
    response = RedirectResponse(f"{PREFIX}/projects", status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=pages.COOKIE_MAX_AGE_S,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out")
def sign_out(request: Request) -> Response:
    _same_origin(request)
    response = RedirectResponse(PREFIX, status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


# --- projects and periods ---------------------------------------------------------------


@router.get("/projects")
def projects_page(request: Request, who: Viewer, s: SessionDep) -> HTMLResponse:
    listed = projects.projects(who, s)
    context = {"who": who, "crumbs": _crumbs(), "projects": listed}
    return page(request, "projects.html", context)


@router.get("/projects/{project}")
def project_page(request: Request, who: Viewer, project: ProjectId, s: SessionDep) -> HTMLResponse:
    plan = stored_plan(s, project)
    context = {
        "who": who,
        "crumbs": _crumbs(project),
        "project": project,
        "name": plan.project.name,
        "methodology": plan.project.methodology,
        "crediting": plan.project.crediting_period,
        "periods": periods.periods(project, s),
    }
    return page(request, "project.html", context)


# --- a period's report ------------------------------------------------------------------

#: Sections the report page lays out itself; every other list in the report follows as a
#: table, so a section added to the report model appears unasked.
OWN = ("findings", "findings_headline", "point_inputs", "parameter_inputs")
FIRST = ("steps", "parameters", "calculation")
HEADLINE = (
    "reference_emissions_tco2",
    "project_emissions_tco2",
    "emission_reductions_tco2",
    "credit_allocation",
)
SEVERITY_ORDER = {"material": 0, "minor": 1}


def _report(
    state: ApiState, s: Session, store: TimeSeriesStore, project: str, p: PeriodRow
) -> dict[str, Any]:
    """The period's report as its JSON says it (computed, not issued: viewing it is not
    an issue in the audit chain; each download is)."""
    try:
        with state.report_slots:
            report = build_report(load_inputs(s, store, project, p.start, p.end))
    except ValueError as exc:
        raise refuse(422, str(exc)) from None
    finally:
        s.rollback()  # end the read transaction the inputs were loaded in
    dumped: dict[str, Any] = report.model_dump(mode="json")
    return dumped


def _sections(report: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The report's other tables (lists of rows), the known ones first."""
    keys = [k for k in FIRST if k in report] + [k for k in report if k not in FIRST]
    return [
        (key, report[key])
        for key in keys
        if key not in OWN
        and isinstance(report[key], list)
        and all(isinstance(r, dict) for r in report[key])
    ]


def _downloads(project: str, number: int) -> list[tuple[str, str]]:
    base = f"{PREFIX}/projects/{project}/periods/{number}"
    return [(f, f"{base}/report.{f}") for f in formats.FORMATS] + [
        ("evidence bundle (zip)", f"{base}/bundle")
    ]


def reading_link(base: str, key: str, time: str | None) -> str | None:
    """The readings page of a reading key's device and quantity (``device/quantity/seq``),
    opened at that reading: the page starts a few rows before it and marks it."""
    parts = key.rsplit("/", 2)
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    device, quantity, seq = parts
    query = f"device={quote(device)}&quantity={quote(quantity)}&seq={seq}"
    if time:
        query += f"&at={quote(time)}"
    return f"{base}/readings?{query}#seq-{seq}"


def evidence_link(project: str, number: int, evidence: dict[str, Any]) -> str | None:
    """Where a finding's evidence is shown: a reading on its readings page, a quarantine
    row on its page, an entry at its revision, a photo; a correction or gap in this
    report's own tables. None for what has no page (a device)."""
    kind, key = evidence.get("kind"), str(evidence.get("key", ""))
    home = f"{PREFIX}/projects/{quote(project)}"
    if kind == "reading":
        return reading_link(f"{home}/periods/{number}", key, evidence.get("time"))
    if kind == "quarantine" and key.isdigit():
        return f"{home}/quarantine?after={int(key) - 1}#q-{key}" if int(key) > 0 else None
    if kind == "entry":
        entry_id, _, revision = key.partition("@r")
        anchor = f"#r{revision}" if revision.isdigit() else ""
        return f"{home}/entries/{quote(entry_id)}{anchor}"
    if kind == "photo":
        return f"{home}/photos/{quote(key)}"
    if kind in ("correction", "gap"):
        return f"#{kind}-{quote(key)}"
    return None


def _findings(project: str, number: int, report: dict[str, Any]) -> list[dict[str, Any]]:
    """The findings, material first (then in the report's order), each evidence item
    with its link."""
    found = [
        {**f, "evidence": [{**e, "url": evidence_link(project, number, e)} for e in f["evidence"]]}
        for f in report.get("findings", [])
    ]
    return sorted(found, key=lambda f: SEVERITY_ORDER.get(f["severity"], 2))


def _point_inputs(base: str, report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            **p,
            "readings": [
                {**r, "url": reading_link(base, r["key"], r["time"])} for r in p["readings"]
            ],
        }
        for p in report.get("point_inputs", [])
    ]


@router.get("/projects/{project}/periods/{number}")
def report_page(
    request: Request,
    who: Viewer,
    project: ProjectId,
    number: PeriodNumber,
    state: State,
    s: SessionDep,
    store: Store,
) -> HTMLResponse:
    period = _period(s, project, number)
    report = _report(state, s, store, project, period)
    base = f"{PREFIX}/projects/{project}/periods/{number}"
    context = {
        "who": who,
        "crumbs": _crumbs(project, (f"Period {number}", "")),
        "project": project,
        "period": period,
        "report": report,
        "headline": {k: report.get(k) for k in HEADLINE},
        "findings_headline": report.get("findings_headline"),
        "findings": _findings(project, number, report),
        "point_inputs": _point_inputs(base, report),
        "parameter_inputs": report.get("parameter_inputs", []),
        "verdict": audit.audit_verify(project, s, store),
        "sections": _sections(report),
        "downloads": _downloads(project, number),
        "readings_url": f"{base}/readings?point=",
    }
    return page(request, "report.html", context)


@router.get("/projects/{project}/periods/{number}/report.{format}")
def report_file(
    who: Viewer,
    project: ProjectId,
    number: PeriodNumber,
    format: formats.Format,
    state: State,
    s: SessionDep,
) -> Response:
    """The report as the API issues it (``GET /v1/projects/{p}/reports``): audited."""
    period = _period(s, project, number)
    return reports_api.report(
        project, who, state, s, start=period.start, end=period.end, format=format
    )


@router.get("/projects/{project}/periods/{number}/bundle")
def bundle_file(
    who: Viewer, project: ProjectId, number: PeriodNumber, state: State, s: SessionDep
) -> Response:
    """The evidence bundle as the API exports it (``GET .../periods/{n}/bundle``)."""
    return bundles.bundle(project, who, state, s, number=number)


# --- the readings behind a step -----------------------------------------------------------


def _period_ms(period: PeriodRow) -> tuple[int, int]:
    """The period's first instant and the instant after its last day (UTC)."""
    start = datetime.combine(period.start, time(), UTC)
    end = datetime.combine(period.end + timedelta(days=1), time(), UTC)
    return to_ms(start), to_ms(end)


#: Rows shown before the reading a link opens the readings page at.
READINGS_BEFORE = 10
Name = Annotated[str | None, Query(min_length=1, max_length=64)]


@dataclass(frozen=True)
class Series:
    """What a readings page shows: a monitoring point's device and quantity, or a device
    and quantity a finding names (a replaced meter is not the plan's device)."""

    id: str
    device: str
    quantity: str
    description: str = ""


def _series(
    s: Session, project: str, point: str | None, device: str | None, quantity: str | None
) -> Series:
    if point is not None and device is None and quantity is None:
        found = next((m for m in stored_plan(s, project).monitoring_points if m.id == point), None)
        if found is None:
            raise refuse(404, f"no monitoring point {point!r} in the plan", "point")
        return Series(found.id, found.device, found.quantity, found.description or "")
    if point is None and device is not None and quantity is not None:
        if not (ID_RE.fullmatch(device) and ID_RE.fullmatch(quantity)):
            raise refuse(422, "not a device or quantity id", "device")
        return Series(f"{device}/{quantity}", device, quantity)
    raise refuse(422, "give a monitoring point, or a device and a quantity", "point")


def _window(period: PeriodRow, at: str | None) -> tuple[int, int]:
    """The period, widened to include ``at`` (a reading a step used from before its start
    or after its end)."""
    start_ms, end_ms = _period_ms(period)
    if at is None:
        return start_ms, end_ms
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise refuse(422, "not an ISO 8601 time", "at") from None
    if moment.tzinfo is None:
        raise refuse(422, "give the time with its offset (Z for UTC)", "at")
    at_ms = to_ms(moment)
    return min(start_ms, at_ms), max(end_ms, at_ms + 1)


def _opened_at(rows: list[ReadingRow], seq: int) -> Cursor | None:
    """The cursor after which a page shows ``READINGS_BEFORE`` rows and then the reading
    ``seq`` (None: from the first row)."""
    index = next((i for i, r in enumerate(rows) if r.seq == seq), None)
    if index is None:
        raise refuse(404, f"no reading with sequence number {seq} in this window", "seq")
    first = index - READINGS_BEFORE
    if first <= 0:
        return None
    r = rows[first - 1]
    return (r.time_ms, r.device, r.quantity, r.seq)


@router.get("/projects/{project}/periods/{number}/readings")
def readings_page(
    request: Request,
    who: Viewer,
    project: ProjectId,
    number: PeriodNumber,
    s: SessionDep,
    store: Store,
    point: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    device: Name = None,
    quantity: Name = None,
    seq: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    at: Annotated[str | None, Query(max_length=40)] = None,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> HTMLResponse:
    """One monitoring point's (or one device's quantity's) stored readings over the
    period, a page at a time; opened at a reading (``seq``, its time ``at``) a finding
    or a step names, which is marked."""
    period = _period(s, project, number)
    series = _series(s, project, point, device, quantity)
    start_ms, end_ms = _window(period, at)
    after = readings_api.parse_cursor(cursor) if cursor else None
    rows: Iterable[ReadingRow] = store.query(
        project,
        device=series.device,
        quantity=series.quantity,
        start_ms=after[0] if after else start_ms,
        end_ms=end_ms,
    )
    if seq is not None and after is None:
        rows = list(rows)
        after = _opened_at(rows, seq)
    shown = readings_api.page_after(rows, after, READINGS_PER_PAGE)
    more = len(shown) > READINGS_PER_PAGE
    shown = shown[:READINGS_PER_PAGE]
    link = f"{PREFIX}/projects/{project}/periods/{number}"
    which = (
        f"point={quote(series.id)}"
        if point
        else f"device={quote(series.device)}&quantity={quote(series.quantity)}"
    )
    widened = f"&at={quote(at)}" if at else ""
    next_url = (
        f"{link}/readings?{which}{widened}&cursor={quote(readings_api.cursor_of(shown[-1]))}"
        if more
        else None
    )
    context = {
        "who": who,
        "crumbs": _crumbs(project, (f"Period {number}", link), (f"Readings of {series.id}", "")),
        "point": series,
        "unit": CATALOGUE[series.quantity].canonical_unit if series.quantity in CATALOGUE else "",
        "period": period,
        "readings": shown,
        "marked": seq,
        "next_url": next_url,
    }
    return page(request, "readings.html", context)


# --- entries, photos, quarantine, audit -----------------------------------------------------


@router.get("/projects/{project}/entries")
def entries_page(
    request: Request,
    who: Viewer,
    project: ProjectId,
    s: SessionDep,
    cursor: Annotated[UUID | None, Query()] = None,
) -> HTMLResponse:
    # every entry, withdrawn and deleted ones too (their status says so): a verifier
    # sees what was recorded, not only what the report counts
    listed = entries.list_entries(
        project, s, type=None, status="all", cursor=cursor, limit=ENTRIES_PER_PAGE
    )
    base = f"{PREFIX}/projects/{project}/entries"
    context = {
        "who": who,
        "crumbs": _crumbs(project, ("Field entries", "")),
        "project": project,
        "entries": listed.entries,
        "next_url": f"{base}?cursor={listed.next_cursor}" if listed.next_cursor else None,
    }
    return page(request, "entries.html", context)


@router.get("/projects/{project}/entries/{entry_id}")
def entry_page(
    request: Request, who: Viewer, project: ProjectId, s: SessionDep, entry_id: UUID
) -> HTMLResponse:
    """An entry at its current revision, every earlier revision with its reason, and the
    photos it cites."""
    entry = entries.read_entry(project, s, entry_id)
    cited = entry.body.get("photos")
    hashes = [h for h in cited if isinstance(h, str)] if isinstance(cited, list) else []
    known = {p.sha256: p for p in photos.photos(project, s)}
    context = {
        "who": who,
        "crumbs": _crumbs(
            project,
            ("Field entries", f"{PREFIX}/projects/{project}/entries"),
            (f"Entry {str(entry_id)[:8]}", ""),
        ),
        "project": project,
        "entry": entry,
        "photos": [(h, known.get(h)) for h in hashes],
    }
    return page(request, "entry.html", context)


@router.get("/projects/{project}/photos/{sha256}")
def photo_file(
    who: Viewer,
    project: ProjectId,
    s: SessionDep,
    sha256: Annotated[str, Path(pattern=SHA256_PATTERN)],
) -> Response:
    return photos.photo(project, s, sha256)


@router.get("/projects/{project}/quarantine")
def quarantine_page(
    request: Request,
    who: Viewer,
    project: ProjectId,
    s: SessionDep,
    status: Annotated[str | None, Query(pattern="^(open|released|resolved)$")] = None,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> HTMLResponse:
    """Quarantined messages a page at a time, in id order; the cursor is the last id
    shown (a finding links to its row as the page after the id before it)."""
    held = quarantine.quarantine(
        project, s, status=status, limit=QUARANTINE_PER_PAGE + 1, after=after
    )
    more = len(held) > QUARANTINE_PER_PAGE
    held = held[:QUARANTINE_PER_PAGE]
    base = f"{PREFIX}/projects/{quote(project)}/quarantine?" + (
        f"status={status}&" if status else ""
    )
    context = {
        "who": who,
        "crumbs": _crumbs(project, ("Quarantine", "")),
        "project": project,
        "status": status,
        "items": held,
        "first_url": base.rstrip("?&") if after is not None else None,
        "next_url": f"{base}after={held[-1].id}" if more else None,
    }
    return page(request, "quarantine.html", context)


@router.get("/projects/{project}/audit")
def audit_page(
    request: Request, who: Viewer, project: ProjectId, s: SessionDep, store: Store
) -> HTMLResponse:
    """The project's evidence chain walked and every object it covers recomputed."""
    verdict = audit.audit_verify(project, s, store)
    context = {
        "who": who,
        "crumbs": _crumbs(project, ("Audit status", "")),
        "project": project,
        "verdict": verdict,
    }
    return page(request, "audit.html", context)
