"""The gateway's local durable spool, used while a store cannot take writes.

Raw messages are kept (not decoded rows) so that replaying them runs the very same
pipeline: dedupe, quarantine and register checks all apply as if they had just arrived.
Replay is in arrival order, and while the spool holds anything, new messages queue
behind it, so the order in which a device's readings reach the store never changes.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from gateway.decode import Inbound


class Spool:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "topic TEXT NOT NULL, payload BLOB NOT NULL, received_ms INTEGER NOT NULL, "
            "content_type TEXT)"
        )
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(spool)")}
        if "content_type" not in columns:  # a spool written before content types were kept
            self._conn.execute("ALTER TABLE spool ADD COLUMN content_type TEXT")
        self._depth = self._count()

    def _count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM spool").fetchone()[0])

    @property
    def depth(self) -> int:
        return self._depth

    def append(self, messages: list[Inbound]) -> None:
        """Durably keep messages (fsync'd) before their broker acknowledgement."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT INTO spool (topic, payload, received_ms, content_type) VALUES (?, ?, ?, ?)",
                [(m.topic, m.payload, m.received_ms, m.content_type) for m in messages],
            )
            self._conn.execute("COMMIT")
            self._depth += len(messages)

    def peek(self, limit: int) -> list[tuple[int, Inbound]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, topic, payload, received_ms, content_type FROM spool "
                "ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        # the MQTT 5 content type goes with the message: a SenML pack recognised by it
        # must decode as SenML when it is replayed, not as the device's usual payload
        return [
            (i, Inbound(topic, bytes(payload), received_ms, content_type=content_type))
            for i, topic, payload, received_ms, content_type in rows
        ]

    def remove_through(self, last_id: int) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM spool WHERE id <= ?", (last_id,))
            self._depth = self._count()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
