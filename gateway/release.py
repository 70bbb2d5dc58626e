"""Release quarantined messages: re-process them, e.g. after registering a device."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.times import to_ms
from gateway.decode import Inbound
from gateway.processor import BatchProcessor, BatchResult
from persistence import audit
from persistence.audit import Subject
from persistence.claims import quarantine_key, quarantine_row_state
from persistence.models import QuarantineEntry
from persistence.repo import NOTE_ITEM, QuarantineItem, note_row, raw_messages


@dataclass(frozen=True)
class ReleaseOutcome:
    id: int
    released: bool
    message: str


def release(
    processor: BatchProcessor,
    ids: list[int] | None,
    *,
    project: str | None = None,
    actor: str = "operator",
) -> list[ReleaseOutcome]:
    """Re-process open entries (all of them, or of one project, when ids is None).

    An entry whose part of the message now goes through is marked released; one that
    still fails stays open with the new reason, so nothing is dropped by a release. A
    message is re-processed once however many of its entries are released; the note of
    a capped message is released when none of the problems it counts is left.
    """
    processor.registry.refresh()
    with processor.db.session() as session:
        query = select(QuarantineEntry).where(QuarantineEntry.status == "open")
        if ids is not None:
            query = query.where(QuarantineEntry.id.in_(ids))
        if project is not None:
            query = query.where(QuarantineEntry.project_id == project)
        entries = list(session.scalars(query.order_by(QuarantineEntry.id)))
        raw = {
            d: (m.topic, bytes(m.payload), m.content_type)
            for d, m in raw_messages(session, (e.digest for e in entries)).items()
        }
    results: dict[str, BatchResult] = {}
    outcomes: list[ReleaseOutcome] = []
    for entry in entries:
        result = results.get(entry.digest)
        if result is None:
            topic, payload, content_type = raw[entry.digest]
            inbound = Inbound(topic, payload, to_ms(entry.received_at), content_type=content_type)
            result = results[entry.digest] = processor.process([inbound])
        outcomes.append(_judge(processor, entry, result, actor))
    return outcomes


def _judge(
    processor: BatchProcessor, entry: QuarantineEntry, result: BatchResult, actor: str
) -> ReleaseOutcome:
    """Mark one entry released, or keep it open with what is still wrong; audited."""
    with processor.db.session() as session, session.begin():
        row = session.get(QuarantineEntry, entry.id)
        assert row is not None
        if row.item == NOTE_ITEM:
            still = _still_counted(session, row, result.quarantine_items)
        else:
            problem = next((q for q in result.quarantine_items if q.item == row.item), None)
            still = None if problem is None else (problem.reason, problem.detail, problem.field)
        if still is None:
            row.status = "released"
            row.released_at = datetime.now(UTC)
            row.release_outcome = f"stored {result.stored}, duplicates {result.duplicates}"
            text = row.release_outcome
        else:
            row.reason, row.detail, row.field = still
            text = f"still quarantined: {row.detail}"
        audit.append(
            session,
            action="quarantine.release",
            actor=actor,
            project_id=row.project_id,
            subject=Subject("quarantine", str(row.id)),
            body={
                "id": row.id,
                "released": still is None,
                "outcome": text,
                "items": {quarantine_key(row.digest, row.item): quarantine_row_state(row)},
            },
        )
    return ReleaseOutcome(entry.id, still is None, text)


def _still_counted(
    session: Session, note: QuarantineEntry, problems: list[QuarantineItem]
) -> tuple[str, str, str | None] | None:
    """What a capped message's note still counts: the message's problems that have no row
    of their own (the re-processing may have given some of them one)."""
    itemised = set(
        session.scalars(select(QuarantineEntry.item).where(QuarantineEntry.digest == note.digest))
    )
    first: dict[str, QuarantineItem] = {}
    for q in problems:
        if q.item not in itemised:
            first.setdefault(q.item, q)
    rest = list(first.values())
    if not rest:
        return None
    counted = note_row(note.digest, rest, len(itemised) - 1)
    note.elements = len(rest)
    return counted["reason"], counted["detail"], None
