"""The security log: denied requests and failed sign-ins, apart from the evidence chain.

Anyone holding any token can cause a denial, so these are not evidence and must not
grow the project's chain; the log keeps the newest ``CAP`` events and drops older ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from persistence.models import SecurityEvent

CAP = 10_000


def record(
    session: Session,
    kind: str,
    actor: str,
    detail: dict[str, Any],
    *,
    project_id: str | None = None,
    cap: int = CAP,
) -> None:
    """Log one event inside the caller's transaction, keeping at most ``cap`` rows."""
    session.add(
        SecurityEvent(
            recorded_at=datetime.now(UTC),
            kind=kind[:32],
            actor=actor[:128],
            project_id=project_id[:64] if project_id else None,
            detail=detail,
        )
    )
    session.flush()
    newest = session.scalar(select(func.max(SecurityEvent.id))) or 0
    if newest > cap:
        session.execute(delete(SecurityEvent).where(SecurityEvent.id <= newest - cap))


def recent(session: Session, limit: int = 100) -> list[SecurityEvent]:
    return list(
        session.scalars(select(SecurityEvent).order_by(SecurityEvent.id.desc()).limit(limit))
    )
