"""The audit hash chain: every stored batch, entry, edit, release and report, linked.

Each entry's hash is ``sha256(prev_hash + "\\n" + canonical JSON of its fields)``; a
verifier re-walks the chain and any change to a past entry breaks every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from persistence.models import AuditEntry, AuditHead

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(
    prev_hash: str,
    recorded_at: datetime,
    project_id: str | None,
    action: str,
    actor: str,
    body: dict[str, Any],
) -> str:
    material = canonical_json(
        {
            "recorded_at": recorded_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "project": project_id,
            "action": action,
            "actor": actor,
            "body": body,
        }
    )
    return hashlib.sha256(f"{prev_hash}\n{material}".encode()).hexdigest()


def append(
    session: Session,
    *,
    action: str,
    actor: str,
    body: dict[str, Any],
    project_id: str | None = None,
) -> AuditEntry:
    """Append one entry inside the caller's transaction.

    The head row is updated first: that takes the write lock (SQLite) or the row lock
    (PostgreSQL), so two processes appending at once are serialised, not forked.
    """
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(length=AuditHead.length + 1))
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    now = datetime.now(UTC)
    digest = entry_hash(head.hash, now, project_id, action, actor, body)
    entry = AuditEntry(
        recorded_at=now,
        project_id=project_id,
        action=action,
        actor=actor,
        body=body,
        prev_hash=head.hash,
        hash=digest,
    )
    session.add(entry)
    head.hash = digest
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainVerdict:
    intact: bool
    length: int
    broken_at: int | None = None  # id of the first entry that does not verify
    reason: str | None = None


def verify(session: Session, batch: int = 5000) -> ChainVerdict:
    """Walk the whole chain in id order and recompute every hash."""
    prev = GENESIS
    count = 0
    last_id = 0
    while True:
        rows = (
            session.execute(
                select(AuditEntry)
                .where(AuditEntry.id > last_id)
                .order_by(AuditEntry.id)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for entry in rows:
            if entry.prev_hash != prev:
                return ChainVerdict(
                    False, count, entry.id, "prev_hash does not match the entry before"
                )
            recorded_at = entry.recorded_at
            if recorded_at.tzinfo is None:  # SQLite hands back naive UTC
                recorded_at = recorded_at.replace(tzinfo=UTC)
            expected = entry_hash(
                prev, recorded_at, entry.project_id, entry.action, entry.actor, entry.body
            )
            if expected != entry.hash:
                return ChainVerdict(False, count, entry.id, "content does not match its hash")
            prev = entry.hash
            count += 1
            last_id = entry.id
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    if head.hash != prev:
        return ChainVerdict(False, count, None, "chain tip does not match the recorded head")
    return ChainVerdict(True, count)
