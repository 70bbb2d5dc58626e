"""The devices' flash: unacknowledged messages and device state, in one SQLite file.

A real logger writes a reading to flash before it sends it and frees it only when the
gateway says it is durably stored (the ack topic, SPEC section 3) — the broker's PUBACK
is not enough. The simulator does the same, for all its devices in one file per state
directory, so that a later run with the same directory re-sends what was never acked
and continues every device's sequence counter and registers.

Writes are batched: the runner stages a batch of messages, commits them together with
the device states, and only then publishes them; so whatever was published is on disk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from firmware_sim.device import DeviceState

FILENAME = "sim-buffer.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    project TEXT NOT NULL,
    device TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,            -- the message as first sent (JSON, historical=false)
    PRIMARY KEY (project, device, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS device_state (
    project TEXT NOT NULL,
    device TEXT NOT NULL,
    state TEXT NOT NULL,           -- DeviceState as JSON
    PRIMARY KEY (project, device)
) WITHOUT ROWID;
"""


class MessageBuffer:
    """Pending (unacknowledged) messages and device states; use from one thread only."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / FILENAME
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a process crash; a power cut may lose the
        # last few commits, like a logger's write cache.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._staged: list[tuple[str, str, int, str]] = []
        self._states: dict[tuple[str, str], str] = {}

    # ------------------------------------------------------------------ writes
    def stage(self, project: str, device: str, seq: int, body: str) -> None:
        self._staged.append((project, device, seq, body))

    def stage_state(self, project: str, device: str, state: DeviceState) -> None:
        self._states[(project, device)] = state.to_json()

    @property
    def staged(self) -> int:
        return len(self._staged)

    def commit(self) -> None:
        """Write the staged messages and states in one transaction."""
        if not self._staged and not self._states:
            return
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO pending (project, device, seq, body) VALUES (?,?,?,?)",
                self._staged,
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO device_state (project, device, state) VALUES (?,?,?)",
                [(p, d, s) for (p, d), s in self._states.items()],
            )
        self._staged.clear()
        self._states.clear()

    def ack(self, project: str, device: str, ranges: Iterable[tuple[int, int]]) -> int:
        """Free the acknowledged sequence numbers; return how many entries were freed."""
        return sum(self.ack_many([(project, device, list(ranges))]).values())

    def ack_many(self, acks: Iterable[tuple[str, str, list[tuple[int, int]]]]) -> dict[str, int]:
        """Apply several acks in one transaction; entries freed per project.

        Acks of unknown or already freed sequence numbers free nothing (a gateway may
        ack a duplicate again).
        """
        freed: dict[str, int] = {}
        with self._transaction():
            for project, device, ranges in acks:
                for lo, hi in ranges:
                    cur = self._db.execute(
                        "DELETE FROM pending WHERE project=? AND device=? AND seq BETWEEN ? AND ?",
                        (project, device, lo, hi),
                    )
                    freed[project] = freed.get(project, 0) + max(cur.rowcount, 0)
        return freed

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    # ------------------------------------------------------------------ reads
    def load_state(self, project: str, device: str) -> DeviceState | None:
        row = self._db.execute(
            "SELECT state FROM device_state WHERE project=? AND device=?", (project, device)
        ).fetchone()
        return DeviceState.from_json(row[0]) if row else None

    def pending(self, project: str, device: str) -> list[tuple[int, str]]:
        """(seq, body) of a device's unacknowledged messages, oldest first."""
        return list(
            self._db.execute(
                "SELECT seq, body FROM pending WHERE project=? AND device=? ORDER BY seq",
                (project, device),
            )
        )

    def count(self, project: str | None = None, device: str | None = None) -> int:
        sql, args = "SELECT count(*) FROM pending", []
        if project is not None:
            sql += " WHERE project=?"
            args.append(project)
            if device is not None:
                sql += " AND device=?"
                args.append(device)
        return int(self._db.execute(sql, args).fetchone()[0])

    def count_by_device(self) -> dict[tuple[str, str], int]:
        rows = self._db.execute("SELECT project, device, count(*) FROM pending GROUP BY 1, 2")
        return {(p, d): int(n) for p, d, n in rows}

    def close(self) -> None:
        self.commit()
        self._db.close()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
