"""The report formats: the one list of them, with each format's media type.

The CLI's ``--format``, the API's ``format`` query and its declared responses, and
:func:`verification.render.render` all read this module, so a format is added here once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

Format = Literal["json", "csv", "xlsx", "pdf", "html"]
FORMATS: tuple[Format, ...] = get_args(Format)

MEDIA_TYPES: Mapping[Format, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "html": "text/html; charset=utf-8",
}

#: Formats that are not text: not written to a terminal unasked.
BINARY: frozenset[Format] = frozenset({"xlsx", "pdf"})
