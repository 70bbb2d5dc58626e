"""First receipt times of time-less messages, per gateway session (``MessageReceipt``).

A message is known by (session, packet id, digest): MQTT redelivers an unacknowledged
PUBLISH to the same session with the same packet id and the DUP flag, while a device
sending the same bytes again gets a new packet id. Rows older than the longest a session
can keep a message (``KEEP_MS``) are pruned.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from persistence.models import MessageReceipt

#: A broker keeps a session's messages for at most the gateway's session expiry (7 days);
#: a day more for clocks and a gateway that was down.
KEEP_MS = 8 * 24 * 3600 * 1000

ReceiptKey = tuple[int, str]  # (packet id, digest)


def first_receipts(
    session: Session, session_id: str, keys: Iterable[ReceiptKey]
) -> dict[ReceiptKey, int]:
    """The recorded first receipt time (epoch ms) of each key that has one."""
    wanted = sorted(set(keys))
    found: dict[ReceiptKey, int] = {}
    for i in range(0, len(wanted), 400):
        chunk = wanted[i : i + 400]
        rows = session.execute(
            select(MessageReceipt.packet_id, MessageReceipt.digest, MessageReceipt.received_ms)
            .where(MessageReceipt.session_id == session_id)
            .where(tuple_(MessageReceipt.packet_id, MessageReceipt.digest).in_(chunk))
        )
        found.update({(mid, digest): ms for mid, digest, ms in rows})
    return found


def record_receipts(session: Session, session_id: str, rows: dict[ReceiptKey, int]) -> None:
    """Keep each message's receipt time; a later first delivery with the same packet id
    and bytes (packet ids wrap) replaces the older one. One statement."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert: Any = (
        postgresql.insert(MessageReceipt)
        if dialect == "postgresql"
        else sqlite.insert(MessageReceipt)
    )
    stmt = insert.on_conflict_do_update(
        index_elements=["session_id", "packet_id", "digest"],
        set_={"received_ms": insert.excluded.received_ms},
    )
    values = [
        {"session_id": session_id, "packet_id": mid, "digest": digest, "received_ms": ms}
        for (mid, digest), ms in sorted(rows.items())
    ]
    session.execute(stmt, values)


def prune_receipts(session: Session, before_ms: int) -> int:
    """Drop receipts older than ``before_ms``; how many."""
    result = session.execute(delete(MessageReceipt).where(MessageReceipt.received_ms < before_ms))
    return int(getattr(result, "rowcount", 0) or 0)
