"""Server-rendered HTML for the verifier portal (``mrv.api.routers.portal``): the Jinja2
templates (``mrv/api/templates``, every value escaped), the stylesheet served by the API
itself (``mrv/api/static``, no CDN), the headers every page carries, the sign-in cookie,
and HTML answers for the errors of the portal's paths (the same sentences as the API's
``{error, field}``, as a page a person reads).
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from math import isfinite
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import problems_from
from mrv.api import errors
from mrv.api.errors import ApiError, ErrorBody

HERE = Path(__file__).parent
PREFIX = "/portal"
STATIC = "/static/portal"
#: The sign-in cookie: the token itself, HttpOnly (no script reads it) and SameSite=Strict
#: (no other site's page or form sends it), for the portal's paths only.
COOKIE = "mrv_portal"
COOKIE_MAX_AGE_S = 8 * 3600
# The pages run no script and load nothing from elsewhere; forms post to the portal only.
POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    # Links to elsewhere get no referrer; the portal's own forms keep their Origin (under
    # "no-referrer" a browser sends "Origin: null", which the sign-in check refuses).
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def number(value: object) -> str:
    """A number as a verifier needs to redo a step: all its significant digits (up to
    12), thousands separated; other values as text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    if isinstance(value, float) and not isfinite(value):
        return str(value)
    if isinstance(value, int) or value.is_integer():
        return f"{int(value):,}"
    return f"{value:,.12g}" if abs(value) >= 1e-4 else f"{value:.6g}"


def columns(rows: list[Mapping[str, Any]]) -> list[str]:
    """Every key of a list of rows, in the order they first appear."""
    return list(dict.fromkeys(key for row in rows for key in row))


def utc(time_ms: int) -> str:
    """Epoch milliseconds as an ISO 8601 UTC time."""
    moment = datetime.fromtimestamp(time_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds" if time_ms % 1000 else "seconds")[:-6] + "Z"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every value is text, whatever a device or a user sent
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(number=number, columns=columns, utc=utc)
    env.globals.update(prefix=PREFIX, static=STATIC)
    return env


templates = Jinja2Templates(env=_environment())


def page(
    request: Request, name: str, context: Mapping[str, Any], status: int = 200
) -> HTMLResponse:
    """The template ``name`` rendered with ``context``, with the portal's headers."""
    response = templates.TemplateResponse(request, name, dict(context), status_code=status)
    response.headers.update(HEADERS)
    return response


def _is_portal(request: Request) -> bool:
    path = request.url.path
    return path == PREFIX or path.startswith(PREFIX + "/")


def error_page(request: Request, status: int, body: ErrorBody) -> HTMLResponse:
    """A refusal as a page: its sentence, and a way on (sign in again after a 401)."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    context: dict[str, Any] = {"who": None, "crumbs": [], "status": status, "body": body}
    response = page(request, "error.html", context, status)
    response.headers.update(headers)
    return response


def install(app: FastAPI) -> None:
    """Serve the stylesheet, and answer errors under ``/portal`` as pages (elsewhere
    with the API's JSON, ``mrv.api.errors``)."""
    app.mount(STATIC, StaticFiles(directory=HERE / "static"), name="portal-static")

    async def http_error(request: Request, exc: Exception) -> Response:
        if not _is_portal(request):
            return await errors.http_error(request, exc)
        assert isinstance(exc, StarletteHTTPException)
        body = exc.body if isinstance(exc, ApiError) else ErrorBody.of(_said(exc))
        response = error_page(request, exc.status_code, body)
        response.headers.update({k: v for k, v in (exc.headers or {}).items()})
        return response

    async def invalid(request: Request, exc: Exception) -> Response:
        if not _is_portal(request):
            return await errors.invalid_request(request, exc)
        assert isinstance(exc, RequestValidationError)
        found = [{**e, "loc": tuple(e["loc"])[1:] or e["loc"]} for e in exc.errors()]
        return error_page(request, 422, ErrorBody.of_problems(problems_from(found)))

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)


def _said(exc: StarletteHTTPException) -> str:
    if exc.status_code == 404:
        return "there is no such page"
    if exc.status_code == 405:
        return "this page cannot be asked for that way"
    return str(exc.detail)
