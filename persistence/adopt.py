"""Adopting what was stored before the evidence chain covered it.

A store upgraded from before per-project chains (migration 0006) holds readings,
quarantine rows and perhaps entries, periods or photos that no link claims: ``mrv audit
verify`` names each as "stored without a link". An operator who has checked them by
other means adopts them: one link per kind states them as they are now, marked
``adopted`` with who, when and why, so that every later change is detected and a
verifier sees in the chain exactly what was taken on trust and when.

Adoption never covers a change: when verification finds anything changed, deleted or a
broken link, nothing is adopted (that is tampering or damage, to be explained first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from persistence import audit, claims
from persistence.audit import Subject
from persistence.evidence import Batches, Links, links_by_kind, verify_project
from persistence.models import Entry, EntryRevision, MonitoringPeriod, Photo, QuarantineEntry
from persistence.stores.timeseries import ReadingRow, TimeSeriesStore


class AdoptionRefused(ValueError):
    """The evidence shows more than unlinked objects: changes are not adopted."""

    def __init__(self, changes: list[str]) -> None:
        super().__init__("; ".join(changes[:5]) + (" …" if len(changes) > 5 else ""))
        self.changes = changes


@dataclass
class Adopted:
    """How many objects of each kind a call adopted."""

    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def adopt_unlinked(
    session: Session, store: TimeSeriesStore, project: str, *, actor: str, reason: str
) -> Adopted:
    """Write one ``*.adopt`` link per kind for the project's objects no link claims.

    Raises ``AdoptionRefused`` if the chain is broken or any object changed or went
    missing. Idempotent: a second call finds nothing unlinked and writes nothing.
    """
    evidence = verify_project(session, store, project)
    bad = [f"{c.kind} {c.id}: {c.what}" for c in evidence.changes if not c.unlinked]
    if not evidence.chain.intact:
        where = evidence.chain.broken_at
        bad.insert(0, f"the chain is broken at link {where}: {evidence.chain.reason}")
    if bad:
        raise AdoptionRefused(bad)
    note = {"adopted": True, "reason": reason}
    links = links_by_kind(session, project)  # read once: each kind looks at its own
    done = Adopted()
    for kind, adopt in _ADOPTERS.items():
        count = adopt(session, store, project, links, actor, note)
        if count:
            done.counts[kind] = count
    return done


def _readings(
    session: Session,
    store: TimeSeriesStore,
    project: str,
    links: Links,
    actor: str,
    note: dict[str, Any],
) -> int:
    batches = Batches(links.get("readings", []))
    rows: list[ReadingRow] = [
        row
        for row in store.query(project)
        if not batches.batches_of(row.device, row.quantity, row.seq)
    ]
    for claim in claims.readings_claims(rows).values():
        audit.append(
            session,
            action="readings.adopt",
            actor=actor,
            project_id=project,
            subject=claims.readings_subject(claim),
            body={**claim, **note},
        )
    return len(rows)


def _entries(
    session: Session,
    store: TimeSeriesStore,
    project: str,
    links: Links,
    actor: str,
    note: dict[str, Any],
) -> int:
    linked = {link.subject_id for link in links.get("entry", [])}
    rows = session.scalars(select(Entry).where(Entry.project_id == project)).all()
    count = 0
    for row in (r for r in rows if r.id not in linked):
        count += 1
        revisions = session.scalars(
            select(EntryRevision)
            .where(EntryRevision.entry_id == row.id)
            .order_by(EntryRevision.revision)
        )
        for revision in revisions:  # every revision, so that its history is covered
            body = {
                "id": row.id,
                "type": row.entry_type,
                "revision": revision.revision,
                "body_sha256": claims.body_sha256(revision.body),
                "status": revision.status,
            }
            audit.append(
                session,
                action="entry.adopt",
                actor=actor,
                project_id=project,
                subject=claims.entry_subject(row.id),
                body={**body, **note},
            )
    return count


def _periods(
    session: Session,
    store: TimeSeriesStore,
    project: str,
    links: Links,
    actor: str,
    note: dict[str, Any],
) -> int:
    linked = {link.subject_id for link in links.get("period", [])}
    rows = session.scalars(
        select(MonitoringPeriod).where(MonitoringPeriod.project_id == project)
    ).all()
    fresh = [r for r in rows if str(r.number) not in linked]
    for row in fresh:
        audit.append(
            session,
            action="period.adopt",
            actor=actor,
            project_id=project,
            subject=claims.period_subject(row.number),
            body={**claims.period_claim(row), **note},
        )
    return len(fresh)


def _photos(
    session: Session,
    store: TimeSeriesStore,
    project: str,
    links: Links,
    actor: str,
    note: dict[str, Any],
) -> int:
    linked = {link.subject_id for link in links.get("photo", [])}
    rows = session.scalars(select(Photo).where(Photo.project_id == project)).all()
    fresh = [r for r in rows if r.sha256 not in linked]
    for row in fresh:
        audit.append(
            session,
            action="photo.adopt",
            actor=actor,
            project_id=project,
            subject=claims.photo_subject(row.sha256),
            body={"sha256": row.sha256, **note},
        )
    return len(fresh)


def _quarantine(
    session: Session,
    store: TimeSeriesStore,
    project: str,
    links: Links,
    actor: str,
    note: dict[str, Any],
) -> int:
    claimed: set[str] = set()
    for link in links.get("quarantine", []):
        claimed.update(link.body.get("items", {}))
    mine = (
        QuarantineEntry.project_id.is_(None)
        if project == audit.INSTALLATION
        else QuarantineEntry.project_id == project
    )
    items = {
        claims.quarantine_key(row.digest, row.item): claims.quarantine_row_state(row)
        for row in session.scalars(select(QuarantineEntry).where(mine))
    }
    fresh = {key: state for key, state in items.items() if key not in claimed}
    if fresh:
        audit.append(
            session,
            action="quarantine.adopt",
            actor=actor,
            project_id=None if project == audit.INSTALLATION else project,
            subject=Subject("quarantine", f"{len(fresh)} items"),
            body={"items": fresh, **note},
        )
    return len(fresh)


_ADOPTERS = {
    "readings": _readings,
    "entries": _entries,
    "periods": _periods,
    "photos": _photos,
    "quarantine": _quarantine,
}
