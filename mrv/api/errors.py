"""The API's one error shape, ``{"error", "field"}`` (SPEC §9), for our refusals and for
FastAPI's and Starlette's own (400, 404, 405, 422), declared once for the OpenAPI schema.

``error`` is a sentence a person understands (naming its field first, since many clients
show only that); ``field`` the dotted path of the offending field (the first, when there
are several), or null; ``problems``, where an input was checked as a whole, each thing
wrong with it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import Problem, problems_from
from persistence.records import Conflict, EntryRejected, NotFound, RecordError


class ProblemOut(BaseModel):
    """One thing wrong with an input."""

    field: str = Field(description="dotted path of the field, e.g. body.device")
    message: str


class ErrorBody(BaseModel):
    """Every 4xx answer: a sentence, the field at fault (or null), and, where an input was
    checked as a whole, each thing wrong with it."""

    error: str = Field(description="a sentence a person understands, its field first")
    field: str | None = Field(description="dotted path of the offending field, or null")
    problems: list[ProblemOut] | SkipJsonSchema[None] = Field(
        default=None, description="each thing wrong, where the input was checked whole"
    )

    @classmethod
    def of(cls, message: str, field: str | None = None) -> ErrorBody:
        return cls(error=f"{field}: {message}" if field else message, field=field)

    @classmethod
    def of_problems(cls, problems: Sequence[Problem]) -> ErrorBody:
        return cls(
            error="; ".join(f"{p.field}: {p.message}" for p in problems),
            field=(problems[0].field or None) if problems else None,
            problems=[ProblemOut(field=p.field, message=p.message) for p in problems],
        )

    def response(self, status: int, headers: Mapping[str, str] | None = None) -> JSONResponse:
        # ``problems`` only where an input was checked whole: null would tell nothing
        exclude = {"problems"} if self.problems is None else None
        return JSONResponse(self.model_dump(exclude=exclude), status, headers)


class ApiError(HTTPException):
    """A refusal answered as an :class:`ErrorBody`."""

    def __init__(
        self, status: int, body: ErrorBody, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status, body.error, headers)
        self.body = body


def refuse(
    status: int, message: str, field: str | None = None, headers: Mapping[str, str] | None = None
) -> ApiError:
    """An error to raise: ``message`` about ``field`` (None when no one field is at fault)."""
    return ApiError(status, ErrorBody.of(message, field), headers)


def record_error(exc: RecordError) -> ApiError:
    """A refused record as an HTTP error naming the field: 404, 409 or 422."""
    status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422
    if isinstance(exc, EntryRejected):
        return ApiError(status, ErrorBody.of_problems(exc.problems))
    return refuse(status, exc.message, exc.field)


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


def _framework_error(request: Request, exc: StarletteHTTPException) -> ErrorBody:
    """Starlette's and FastAPI's own refusals ("Not Found", ...) as sentences."""
    if exc.status_code == 400:  # FastAPI could not parse the body (not UTF-8, say)
        return ErrorBody.of("could not be parsed (JSON in UTF-8 is expected)", "body")
    if exc.status_code == 404:
        return ErrorBody.of(f"there is no {request.url.path}")
    if exc.status_code == 405:
        allowed = exc.headers.get("Allow") if exc.headers else None
        suffix = f" (allowed: {allowed})" if allowed else ""
        return ErrorBody.of(f"{request.method} is not allowed on {request.url.path}{suffix}")
    return ErrorBody.of(str(exc.detail))


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    body = exc.body if isinstance(exc, ApiError) else _framework_error(request, exc)
    return body.response(exc.status_code, exc.headers)


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # FastAPI's locations start with the part of the request ("body", "query", ...).
    errors = [_as_written(e) for e in exc.errors()]
    return ErrorBody.of_problems(problems_from(errors)).response(422)


def _as_written(error: Mapping[str, Any]) -> Mapping[str, Any]:
    """A FastAPI validation error located as the client wrote it: ``body.device`` is the
    entry's body, and a body that is not JSON is the body's fault, not a position's."""
    loc = tuple(error["loc"])
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        where = f" at character {loc[-1]}" if isinstance(loc[-1], int) else ""
        return {**error, "loc": ("body",), "msg": f"not JSON{where}: {reason}".rstrip(": ")}
    return {**error, "loc": loc[1:] or loc}


def install(app: FastAPI) -> None:
    """Answer every HTTP error, ours and the framework's, in the one shape."""
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)


DESCRIPTIONS = {
    400: "The body could not be parsed.",
    401: "No valid bearer token.",
    403: "The token does not grant this project or this action.",
    404: "No such project, or no such object in it.",
    409: "Conflicts with what is stored.",
    413: "The request body is too large.",
    415: "The body's media type is not accepted.",
    422: "An input is invalid; `field` names it, `problems` lists every one.",
    429: "Too many failed authentications: wait `Retry-After` seconds.",
}


#: FastAPI's ``responses``: an OpenAPI response object (JSON) per status code.
Responses = dict[int | str, dict[str, Any]]


def errors(*codes: int, also: Responses | None = None) -> Responses:
    """OpenAPI ``responses`` for these error codes, each with the one error schema, after
    the ``also`` responses (other successes, or a success's media types)."""
    declared: Responses = {
        code: {"model": ErrorBody, "description": DESCRIPTIONS[code]} for code in codes
    }
    return {**(also or {}), **declared}


#: The refusals every route that needs a token can give, and those of a project's routes
#: (422 too: FastAPI would otherwise declare its own validation error for the path).
AUTH = (401, 429)
PROJECT = (401, 403, 404, 422, 429)
#: ... and those of a route that reads a JSON body.
JSON_BODY = (400, 413)
