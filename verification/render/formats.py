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
    # one CSV file per table with its datapackage.json (verification.render.csv_out)
    "csv": "application/zip",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "html": "text/html; charset=utf-8",
}

#: The file name's extension of each format.
EXTENSIONS: Mapping[Format, str] = {
    "json": "json",
    "csv": "zip",
    "xlsx": "xlsx",
    "pdf": "pdf",
    "html": "html",
}

#: Formats that are not text: not written to a terminal unasked.
BINARY: frozenset[Format] = frozenset({"csv", "xlsx", "pdf"})
