"""Stored readings, a page at a time, as JSON or CSV. There is no route that changes a
reading: no role can."""

import io
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from core.times import to_ms
from core.windows import MAX_ID, STORED_MAX_MS, STORED_MIN_MS, moment_range_problems
from core.wire import ID_RE
from mrv.api.deps import ProjectId, Store
from mrv.api.errors import PROJECT, Responses, errors, refuse
from mrv.api.routers.params import Name
from mrv.api.schemas import ReadingOut, ReadingsPage
from persistence import readings_table
from persistence.stores.timeseries import ReadingRow

router = APIRouter(prefix="/v1/projects/{project}/readings", tags=["readings"])
Cursor = tuple[int, str, str, int]  # time_ms, device, quantity, seq: the sort key
CSV = "text/csv; charset=utf-8"
PAGE: Responses = {
    200: {
        "description": "A page of readings: JSON, or CSV with the next cursor in the "
        "X-Next-Cursor header. Both are the readings table of `mrv readings export` "
        "(same columns, same values), which `mrv readings import` reads back.",
        "content": {CSV: {"schema": {"type": "string"}}},
    }
}


_INTEGER = re.compile(r"^-?[0-9]{1,20}$")


def parse_cursor(cursor: str) -> Cursor:
    """A ``next_cursor`` as this route wrote it: a stored reading's time (epoch ms, one the
    stores can hold), device, quantity and sequence number (0 to 2^63 - 1)."""
    parts = cursor.split("~")
    if len(parts) != 4:
        raise refuse(422, "not a cursor (pass back a next_cursor as it came)", "cursor")
    t, d, q, n = parts
    if not (_INTEGER.match(t) and _INTEGER.match(n) and ID_RE.match(d) and ID_RE.match(q)):
        raise refuse(422, "not a cursor (pass back a next_cursor as it came)", "cursor")
    time_ms, seq = int(t), int(n)
    if not STORED_MIN_MS <= time_ms <= STORED_MAX_MS or not 0 <= seq <= MAX_ID:
        raise refuse(422, "not a cursor: its time or sequence number is out of range", "cursor")
    return time_ms, d, q, seq


def cursor_of(row: ReadingRow) -> str:
    return f"{row.time_ms}~{row.device}~{row.quantity}~{row.seq}"


def page_after(rows: Iterable[ReadingRow], after: Cursor | None, limit: int) -> list[ReadingRow]:
    """Up to ``limit + 1`` rows past ``after`` (one more tells that there is a next page)."""
    page: list[ReadingRow] = []
    for row in rows:
        if after is not None and (row.time_ms, row.device, row.quantity, row.seq) <= after:
            continue
        page.append(row)
        if len(page) > limit:
            break
    return page


def as_csv(rows: list[ReadingRow], next_cursor: str | None) -> Response:
    out = io.StringIO()
    readings_table.write_csv(rows, out)
    headers = {"X-Next-Cursor": next_cursor} if next_cursor else {}
    return Response(out.getvalue(), media_type=CSV, headers=headers)


@router.get(
    "",
    operation_id="readings-list",
    response_model=ReadingsPage,
    responses=errors(*PROJECT, also=PAGE),
)
def readings(
    project: ProjectId,
    store: Store,
    device: Name | None = None,
    quantity: Name | None = None,
    start: Annotated[datetime | None, Query()] = None,
    end: Annotated[datetime | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> ReadingsPage | Response:
    """Stored readings in time order, a page at a time: pass ``next_cursor`` back as
    ``cursor`` for the next page (JSON), or read the ``X-Next-Cursor`` header (CSV)."""
    if wrong := moment_range_problems(start, end):
        raise refuse(422, wrong[0][1], wrong[0][0])
    after = parse_cursor(cursor) if cursor else None
    start_ms = after[0] if after else to_ms(start) if start else None
    end_ms = to_ms(end) if end else None
    found = store.query(project, device=device, quantity=quantity, start_ms=start_ms, end_ms=end_ms)
    rows = page_after(found, after, limit)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursor_of(rows[-1]) if more else None
    if format == "csv":
        return as_csv(rows, next_cursor)
    return ReadingsPage(readings=[ReadingOut.of(r) for r in rows], next_cursor=next_cursor)
