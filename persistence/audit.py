"""The audit hash chains: one per project (and ``*`` for what belongs to no project).

Each link's hash is ``sha256(prev_hash + "\\n" + canonical JSON of its fields)``, its
fields being the chain, its position, the time, the action, the actor, the subject
(kind and id) and a body that states digests of the subject as stored. Re-walking a
chain shows any change to a past link; ``persistence.evidence`` also recomputes what
each link states from the data, and a signed checkpoint (``core.signing``) shows a
truncation or a rewrite of the whole chain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.digests import canonical_json
from persistence.models import AuditChain, AuditEntry, AuditHead

GENESIS = "0" * 64
INSTALLATION = "*"  # the chain of what belongs to no one project (e.g. an admin token)

__all__ = [
    "GENESIS",
    "INSTALLATION",
    "ChainVerdict",
    "Subject",
    "append",
    "canonical_json",
    "chain_of",
    "entry_hash",
    "links",
    "lock",
    "verify",
]


@dataclass(frozen=True)
class Subject:
    """What a link is about: ``kind`` (entry, plan, period, token, photo, batch, ...) and
    the object's id within the project."""

    kind: str
    id: str


def chain_of(project_id: str | None) -> str:
    return project_id if project_id is not None else INSTALLATION


def entry_hash(
    prev_hash: str,
    recorded_at: datetime,
    project_id: str | None,
    action: str,
    actor: str,
    body: dict[str, Any],
    *,
    chain: str,
    seq: int,
    subject: Subject | None,
) -> str:
    material = canonical_json(
        {
            "chain": chain,
            "seq": seq,
            "recorded_at": recorded_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "project": project_id,
            "action": action,
            "actor": actor,
            "subject": [subject.kind, subject.id] if subject else None,
            "body": body,
        }
    )
    return hashlib.sha256(f"{prev_hash}\n{material}".encode()).hexdigest()


def lock(session: Session) -> None:
    """Take the writers' lock (the one head row) inside the caller's transaction: two
    processes appending at once are serialised, never forked."""
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(length=AuditHead.length))


def append(
    session: Session,
    *,
    action: str,
    actor: str,
    body: dict[str, Any],
    project_id: str | None = None,
    subject: Subject | None = None,
) -> AuditEntry:
    """Append one link to the project's chain inside the caller's transaction."""
    lock(session)
    chain = chain_of(project_id)
    tip = session.get(AuditChain, chain)
    if tip is None:
        tip = AuditChain(chain=chain, length=0, hash=GENESIS)
        session.add(tip)
    now = datetime.now(UTC)
    seq = tip.length + 1
    digest = entry_hash(
        tip.hash, now, project_id, action, actor, body, chain=chain, seq=seq, subject=subject
    )
    entry = AuditEntry(
        chain=chain,
        seq=seq,
        recorded_at=now,
        project_id=project_id,
        action=action,
        actor=actor,
        subject_kind=subject.kind if subject else None,
        subject_id=subject.id if subject else None,
        body=body,
        prev_hash=tip.hash,
        hash=digest,
    )
    session.add(entry)
    tip.length, tip.hash = seq, digest
    session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(length=AuditHead.length + 1, hash=digest)
    )
    session.flush()
    return entry


def links(session: Session, chain: str, batch: int = 5000) -> Iterator[AuditEntry]:
    """A chain's links in order, read a batch at a time."""
    after = 0
    while True:
        rows = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.chain == chain, AuditEntry.seq > after)
            .order_by(AuditEntry.seq)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].seq


@dataclass(frozen=True)
class ChainVerdict:
    chain: str
    intact: bool
    length: int  # links that verify, from the first
    head: str  # the hash of the last link that verifies
    broken_at: int | None = None  # seq of the first link that does not verify
    reason: str | None = None


def recomputed(entry: AuditEntry, prev: str) -> str:
    recorded_at = entry.recorded_at
    if recorded_at.tzinfo is None:  # SQLite hands back naive UTC
        recorded_at = recorded_at.replace(tzinfo=UTC)
    subject = Subject(entry.subject_kind, entry.subject_id or "") if entry.subject_kind else None
    return entry_hash(
        prev,
        recorded_at,
        entry.project_id,
        entry.action,
        entry.actor,
        entry.body,
        chain=entry.chain,
        seq=entry.seq,
        subject=subject,
    )


def _broken(entry: AuditEntry, prev: str, count: int) -> str | None:
    """Why ``entry`` does not follow the ``count`` links before it (ending in ``prev``)."""
    if entry.seq != count + 1:
        return f"link {count + 1} is missing (the next is {entry.seq})"
    if entry.prev_hash != prev:
        return "its prev_hash is not the hash of the link before"
    if entry.project_id != (None if entry.chain == INSTALLATION else entry.chain):
        return "it names another project than its chain's"
    if recomputed(entry, prev) != entry.hash:
        return "its content does not match its hash"
    return None


def verify(session: Session, chain: str) -> ChainVerdict:
    """Walk one chain and recompute every hash; then compare its tip with the recorded
    one. Tampered rows give a verdict, never an exception."""
    prev, count = GENESIS, 0
    try:
        for entry in links(session, chain):
            reason = _broken(entry, prev, count)
            if reason is not None:
                return ChainVerdict(chain, False, count, prev, count + 1, reason)
            prev, count = entry.hash, count + 1
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # unreadable rows
        return ChainVerdict(chain, False, count, prev, count + 1, f"unreadable link: {exc}")
    tip = session.get(AuditChain, chain)
    recorded = (tip.length, tip.hash) if tip else (0, GENESIS)
    if recorded != (count, prev):
        return ChainVerdict(chain, False, count, prev, None, "the chain's tip is not its last link")
    return ChainVerdict(chain, True, count, prev)
