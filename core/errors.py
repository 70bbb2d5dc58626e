"""Problems with an input, each named by the field at fault, in one style everywhere:
``body.readings[0].value`` (dots between keys, brackets around list indexes).

The gateway's quarantine reasons, the API's ``{error, field}`` bodies, the CLI's messages
and the plan validator's all come from here, so a field is spelled the same wherever a
person meets it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

Loc = Sequence[str | int]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: the field (dotted, e.g. ``body.device``) and why."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field or '(entry)'}: {self.message}"


def field_path(loc: Loc, prefix: str = "") -> str:
    """``("readings", 0, "value")`` as ``readings[0].value``, after ``prefix`` (itself a
    path, e.g. ``body`` or ``[3]``)."""
    text = prefix
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def message_of(error: Mapping[str, Any]) -> str:
    """A pydantic error's message as a person should read it."""
    message = str(error["msg"])
    if error.get("type") == "extra_forbidden":
        loc = tuple(error.get("loc") or ())
        return f"unknown key {loc[-1]!r}" if loc else "unknown key"
    return message.removeprefix("Value error, ")


def problems_from(
    errors: ValidationError | Iterable[Mapping[str, Any]], prefix: str = ""
) -> list[Problem]:
    """Pydantic's errors (an exception, or the list FastAPI hands over) as problems that
    name their field."""
    items = errors.errors(include_url=False) if isinstance(errors, ValidationError) else errors
    return [Problem(field_path(tuple(e["loc"]), prefix), message_of(e)) for e in items]


def first_problem(exc: ValidationError, prefix: str = "", whole: str = "message") -> Problem:
    """The first of an error's problems; a problem with no location names ``whole``."""
    first = problems_from(exc, prefix)[0]
    return first if first.field else Problem(whole, first.message)
