"""Release quarantined messages: re-process them, e.g. after registering a device."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from core.times import to_ms
from gateway.decode import Inbound
from gateway.processor import BatchProcessor
from persistence import audit
from persistence.audit import Subject
from persistence.models import QuarantineEntry


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
    still fails stays open with the new reason, so nothing is dropped by a release.
    """
    processor.registry.refresh()
    with processor.db.session() as session:
        query = select(QuarantineEntry).where(QuarantineEntry.status == "open")
        if ids is not None:
            query = query.where(QuarantineEntry.id.in_(ids))
        if project is not None:
            query = query.where(QuarantineEntry.project_id == project)
        entries = list(session.scalars(query.order_by(QuarantineEntry.id)))
    outcomes: list[ReleaseOutcome] = []
    for entry in entries:
        result = processor.process(
            [Inbound(entry.topic, bytes(entry.payload), to_ms(entry.received_at))]
        )
        still = next((q for q in result.quarantine_items if q.item == entry.item), None)
        with processor.db.session() as session, session.begin():
            row = session.get(QuarantineEntry, entry.id)
            assert row is not None
            if still is None:
                row.status = "released"
                row.released_at = datetime.now(UTC)
                row.release_outcome = f"stored {result.stored}, duplicates {result.duplicates}"
                text = row.release_outcome
            else:
                row.reason = still.reason
                row.detail = still.detail
                row.field = still.field
                text = f"still quarantined: {still.detail}"
            audit.append(
                session,
                action="quarantine.release",
                actor=actor,
                project_id=row.project_id,
                subject=Subject("quarantine", str(row.id)),
                body={"id": row.id, "released": still is None, "outcome": text},
            )
        outcomes.append(ReleaseOutcome(entry.id, still is None, text))
    return outcomes
