"""Field entries: created under the client's id (a resend is harmless), listed a page at
a time, read with their history, edited, withdrawn, reinstated or deleted with a reason."""

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from core.entries import ENTRY_STATUSES, EntryIn, EntryType
from mrv.api.deps import ProjectId, SessionDep, Writer
from mrv.api.errors import JSON_BODY, PROJECT, Responses, committed, errors, record_error, refuse
from mrv.api.schemas import (
    EntryEdit,
    EntryOut,
    EntryPage,
    EntryStatusChange,
    EntryWithHistory,
    RevisionOut,
)
from mrv.api.tokens import TokenInfo
from persistence.records import (
    RecordError,
    StoredEntry,
    add_entry,
    change_entry_status,
    edit_entry,
    entries_for,
    entry_history,
    get_entry,
    stored_resend,
)

router = APIRouter(prefix="/v1/projects/{project}/entries", tags=["entries"])
RESENT: Responses = {200: {"model": EntryOut, "description": "A resend: the stored entry."}}


def own_name(who: TokenInfo, author: str) -> None:
    """Field staff write under their own name: the one their token was made for."""
    if who.role == "field" and author.strip() != who.label:
        raise refuse(403, f"this token writes as {who.label!r} only", "author")


def stored_or_404(s: Session, project: str, entry_id: UUID) -> StoredEntry:
    entry = get_entry(s, entry_id)
    if entry is None or entry.project_id != project:
        raise refuse(404, f"no entry {entry_id} in project {project!r}", "id")
    return entry


def store_entry(s: Session, project: str, entry: EntryIn, response: Response) -> EntryOut:
    """Store an entry under its client's id: 201 new, 200 a resend (answered from a read,
    with no write lock), 409 another body under that id."""
    resent = stored_resend(s, project, entry)
    s.rollback()  # end the read: a write must start with its lock (SQLite snapshots)
    if resent is not None:
        response.status_code = 200
        return EntryOut.of(resent)
    with committed(s):
        stored, created = add_entry(s, project, entry)
    response.status_code = 201 if created else 200
    return EntryOut.of(stored)


@router.post(
    "",
    status_code=201,
    operation_id="entries-create",
    responses=errors(*PROJECT, *JSON_BODY, 409, also=RESENT),
)
def create_entry(
    project: ProjectId, who: Writer, s: SessionDep, entry: EntryIn, response: Response
) -> EntryOut:
    """Store a field entry under its client-generated id: sending it again returns the
    stored one (200); another body under the same id is a conflict (409)."""
    own_name(who, entry.author)
    return store_entry(s, project, entry, response)


@router.get("", operation_id="entries-list", responses=errors(*PROJECT))
def list_entries(
    project: ProjectId,
    s: SessionDep,
    type: EntryType | None = None,
    status: Literal["active", "withdrawn", "deleted", "all"] = "active",
    cursor: Annotated[UUID | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> EntryPage:
    """Entries at their current revision in the order they were recorded, a page at a
    time: pass ``next_cursor`` back as ``cursor`` for the next page. By default the
    active entries (those reports count); ``status`` lists others, or ``all``."""
    kinds = [type] if type else None
    after = str(cursor) if cursor else None
    statuses = ENTRY_STATUSES if status == "all" else (status,)
    try:
        page = entries_for(s, project, kinds, statuses=statuses, after=after, limit=limit + 1)
    except RecordError as exc:
        raise record_error(exc) from None
    more = len(page) > limit
    page = page[:limit]
    return EntryPage(
        entries=[EntryOut.of(e) for e in page],
        next_cursor=str(page[-1].id) if more else None,
    )


@router.get("/{entry_id}", operation_id="entries-read", responses=errors(*PROJECT))
def read_entry(project: ProjectId, s: SessionDep, entry_id: UUID) -> EntryWithHistory:
    """The entry at its current revision, with every revision (edits and reasons)."""
    entry = stored_or_404(s, project, entry_id)
    history = [RevisionOut.of(r) for r in entry_history(s, entry_id)]
    return EntryWithHistory.of_revisions(entry, history)


@router.put("/{entry_id}", operation_id="entries-edit", responses=errors(*PROJECT, *JSON_BODY, 409))
def edit(
    project: ProjectId, who: Writer, s: SessionDep, entry_id: UUID, change: EntryEdit
) -> EntryOut:
    """Replace an entry's body; the reason is required and every revision is kept."""
    entry = stored_or_404(s, project, entry_id)
    own_name(who, change.author)
    if who.role == "field" and entry.author != who.label:
        raise refuse(403, "field staff edit only their own entries", "author")
    with committed(s):
        stored = edit_entry(
            s,
            entry_id,
            change.body,
            change.reason,
            change.author,
            base_revision=change.base_revision,
        )
    return EntryOut.of(stored)


@router.post(
    "/{entry_id}/status",
    operation_id="entries-status",
    responses=errors(*PROJECT, *JSON_BODY, 409),
)
def change_status(
    project: ProjectId, who: Writer, s: SessionDep, entry_id: UUID, change: EntryStatusChange
) -> EntryOut:
    """Withdraw an entry (``withdrawn``: it stops counting, stays listed), reinstate it
    (``active``) or delete it (``deleted``: made in error; final, operators only). The
    reason is required; every revision, the body included, is kept and audited."""
    entry = stored_or_404(s, project, entry_id)
    own_name(who, change.author)
    if who.role == "field":
        if entry.author != who.label:
            raise refuse(403, "field staff withdraw only their own entries", "author")
        if change.status == "deleted":
            raise refuse(403, "only an operator deletes an entry; withdraw it", "status")
    with committed(s):
        stored = change_entry_status(
            s,
            entry_id,
            change.status,
            change.reason,
            change.author,
            base_revision=change.base_revision,
        )
    return EntryOut.of(stored)
