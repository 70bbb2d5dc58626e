"""The field app's local database: the outbox of entries, photos waiting to be sent, and
what was cached from the server (plans, the catalogue) for offline use.

Standard library only (the app must package with python-for-android). SQLite in WAL
mode with ``synchronous=FULL``: an entry is on disk before the form says "saved", so
neither a restart nor a crash (nor a flat battery) loses it.

An entry's life: ``draft`` (saved, not yet submitted) -> ``queued`` (submitted, waiting
for the network) -> ``sending`` -> ``sent``; or ``rejected`` (the server refused it, with
its reason: fix and resubmit) or ``conflict`` (the server holds something else under
this id: shown to the user, never overwritten). Every entry keeps the client-generated
UUID it was created with, so a re-send after a lost answer is harmless.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATES = ("draft", "queued", "sending", "sent", "rejected", "conflict")
#: What a person can still change: a sent entry is changed by an edit with a reason.
EDITABLE = ("draft", "rejected")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- creation order, for display
    id TEXT NOT NULL UNIQUE,                 -- the entry's UUID, sent to the server
    project TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,                      -- JSON
    author TEXT NOT NULL,
    recorded_at TEXT NOT NULL,               -- ISO 8601, UTC
    gps TEXT,                                -- JSON or NULL
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',         -- the server's words on rejection or conflict
    edit_reason TEXT,                        -- set for an edit of a sent entry
    base_revision INTEGER,                   -- the revision that edit was made on
    revision INTEGER,                        -- the server's revision once sent
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,    -- epoch seconds
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt);
CREATE TABLE IF NOT EXISTS photos (
    sha256 TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    media_type TEXT NOT NULL,
    content BLOB NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS cache (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,                     -- JSON
    fetched_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class OutboxEntry:
    seq: int
    id: str
    project: str
    type: str
    body: dict[str, Any]
    author: str
    recorded_at: str
    gps: dict[str, Any] | None
    state: str
    reason: str
    edit_reason: str | None
    base_revision: int | None
    revision: int | None
    attempts: int
    next_attempt: float

    @property
    def is_edit(self) -> bool:
        return self.edit_reason is not None

    def wire(self) -> dict[str, Any]:
        """The entry as the API takes it (POST /entries)."""
        data: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "author": self.author,
            "recorded_at": self.recorded_at,
            "body": self.body,
        }
        if self.gps:
            data["gps"] = self.gps
        return data


def new_id() -> str:
    return str(uuid.uuid4())


def _entry(row: sqlite3.Row) -> OutboxEntry:
    return OutboxEntry(
        seq=row["seq"],
        id=row["id"],
        project=row["project"],
        type=row["type"],
        body=json.loads(row["body"]),
        author=row["author"],
        recorded_at=row["recorded_at"],
        gps=json.loads(row["gps"]) if row["gps"] else None,
        state=row["state"],
        reason=row["reason"],
        edit_reason=row["edit_reason"],
        base_revision=row["base_revision"],
        revision=row["revision"],
        attempts=row["attempts"],
        next_attempt=row["next_attempt"],
    )


class Outbox:
    """The local database. Safe to share between the UI thread and the sync thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        # A crash (or a kill) during a send leaves "sending": the server may or may not
        # have it, and the UUID makes sending it again harmless.
        self._db.execute("UPDATE outbox SET state = 'queued' WHERE state = 'sending'")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- entries ---------------------------------------------------------------------

    def save(
        self,
        entry_id: str,
        project: str,
        entry_type: str,
        body: dict[str, Any],
        author: str,
        recorded_at: str,
        gps: dict[str, Any] | None,
        *,
        submit: bool,
    ) -> OutboxEntry:
        """Save a new entry, or update one still a draft or rejected; ``submit`` queues it.

        Saving the same id twice (a double tap on "submit") keeps one row. An entry
        already queued or sent is left as it is: it is changed only by an edit.
        """
        state = "queued" if submit else "draft"
        now = time.time()
        body_text = json.dumps(body, sort_keys=True)
        gps_text = json.dumps(gps) if gps else None
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT state FROM outbox WHERE id = ?", (entry_id,))
                found = row.fetchone()
                if found is None:
                    self._db.execute(
                        "INSERT INTO outbox (id, project, type, body, author, recorded_at, gps,"
                        " state, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            entry_id,
                            project,
                            entry_type,
                            body_text,
                            author,
                            recorded_at,
                            gps_text,
                            state,
                            now,
                        ),
                    )
                elif found["state"] in EDITABLE:
                    self._db.execute(
                        "UPDATE outbox SET body = ?, author = ?, recorded_at = ?, gps = ?,"
                        " state = ?, reason = '', attempts = 0, next_attempt = 0,"
                        " updated_at = ? WHERE id = ?",
                        (body_text, author, recorded_at, gps_text, state, now, entry_id),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return self.get(entry_id)  # type: ignore[return-value]

    def edit(self, entry_id: str, body: dict[str, Any], reason: str) -> OutboxEntry:
        """Queue an edit of a sent entry: the new body and why (required)."""
        reason = reason.strip()
        if not reason:
            raise ValueError("an edit needs a reason")
        with self._lock:
            current = self.get(entry_id)
            if current is None:
                raise KeyError(entry_id)
            if current.revision is None:
                raise ValueError("not on the server yet: change the entry itself")
            if current.state == "sending":
                raise ValueError("being sent right now: try again in a moment")
            self._db.execute(
                "UPDATE outbox SET body = ?, edit_reason = ?, base_revision = ?, state = 'queued',"
                " reason = '', attempts = 0, next_attempt = 0, updated_at = ? WHERE id = ?",
                (
                    json.dumps(body, sort_keys=True),
                    reason,
                    current.revision,
                    time.time(),
                    entry_id,
                ),
            )
            return self.get(entry_id)  # type: ignore[return-value]

    def get(self, entry_id: str) -> OutboxEntry | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM outbox WHERE id = ?", (entry_id,)).fetchone()
        return _entry(row) if row else None

    def entries(self, project: str | None = None) -> list[OutboxEntry]:
        """Every entry, newest first."""
        query = "SELECT * FROM outbox"
        args: tuple[Any, ...] = ()
        if project is not None:
            query += " WHERE project = ?"
            args = (project,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY seq DESC", args).fetchall()
        return [_entry(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, count(*) FROM outbox GROUP BY state")
            found = {state: n for state, n in rows}
        return {state: found.get(state, 0) for state in STATES}

    def discard(self, entry_id: str) -> bool:
        """Delete a draft (never anything submitted)."""
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM outbox WHERE id = ? AND state = 'draft'", (entry_id,)
            )
            return cur.rowcount == 1

    # --- for the sync loop ----------------------------------------------------------------

    def claim_due(self, now: float, limit: int = 50) -> list[OutboxEntry]:
        """Queued entries whose backoff has passed, marked ``sending``, oldest first."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(
                    "SELECT * FROM outbox WHERE state = 'queued' AND next_attempt <= ?"
                    " ORDER BY seq LIMIT ?",
                    (now, limit),
                ).fetchall()
                self._db.executemany(
                    "UPDATE outbox SET state = 'sending' WHERE id = ?", [(r["id"],) for r in rows]
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return [_entry(r) for r in rows]

    def next_due(self) -> float | None:
        """When the earliest queued entry may be tried (epoch seconds), or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT min(next_attempt) FROM outbox WHERE state = 'queued'"
            ).fetchone()
        return row[0]

    def mark_sent(self, entry_id: str, revision: int) -> None:
        self._set(entry_id, "sent", "", revision=revision)

    def mark_refused(self, entry_id: str, state: str, reason: str) -> None:
        """The server said no (``rejected``) or holds something else (``conflict``)."""
        assert state in ("rejected", "conflict")
        self._set(entry_id, state, reason)

    def adopt(self, entry_id: str, body: dict[str, Any], revision: int) -> None:
        """Take the server's current body and revision (after an edit crossed another)."""
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET body = ?, revision = ?, updated_at = ? WHERE id = ?",
                (json.dumps(body, sort_keys=True), revision, time.time(), entry_id),
            )

    def retry_later(self, entry_id: str, delay_s: float, reason: str) -> None:
        """Back to ``queued``, not before ``delay_s`` from now; counts the attempt."""
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET state = 'queued', reason = ?, attempts = attempts + 1,"
                " next_attempt = ?, updated_at = ? WHERE id = ? AND state = 'sending'",
                (reason, time.time() + delay_s, time.time(), entry_id),
            )

    def retry_now(self) -> None:
        """Forget the backoff (the person pressed "sync now", or the network came back)."""
        with self._lock:
            self._db.execute("UPDATE outbox SET next_attempt = 0 WHERE state = 'queued'")

    def _set(self, entry_id: str, state: str, reason: str, revision: int | None = None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET state = ?, reason = ?, revision = coalesce(?, revision),"
                " updated_at = ? WHERE id = ?",
                (state, reason, revision, time.time(), entry_id),
            )

    # --- photos -------------------------------------------------------------------------

    def add_photo(self, project: str, content: bytes, media_type: str) -> str:
        """Keep a photo until it is uploaded; returns its SHA-256 (what entries cite)."""
        sha = hashlib.sha256(content).hexdigest()
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO photos (sha256, project, media_type, content)"
                " VALUES (?, ?, ?, ?)",
                (sha, project, media_type, content),
            )
        return sha

    def photo(self, sha256: str) -> tuple[str, str, bytes, bool] | None:
        """(project, media type, bytes, uploaded) of a kept photo."""
        with self._lock:
            row = self._db.execute("SELECT * FROM photos WHERE sha256 = ?", (sha256,)).fetchone()
        if row is None:
            return None
        return row["project"], row["media_type"], bytes(row["content"]), bool(row["uploaded"])

    def mark_uploaded(self, sha256: str) -> None:
        with self._lock:
            self._db.execute("UPDATE photos SET uploaded = 1 WHERE sha256 = ?", (sha256,))

    # --- cache of server data -------------------------------------------------------------

    def put_cached(self, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO cache (key, value, fetched_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                " fetched_at = excluded.fetched_at",
                (key, json.dumps(value), time.time()),
            )

    def cached(self, key: str) -> Any | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM cache WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else None
