"""Background delivery of the outbox: whenever the server is reachable, every queued
entry is sent once under its own UUID; when it is not, the entry waits and is tried
again later, each wait longer than the last (exponential backoff with jitter, capped).

What the server says decides an entry's state:
- 201 or 200 (already stored: a resend) -> ``sent``;
- 422 (the entry is wrong) -> ``rejected`` with the server's reason, for the person;
- 409 (another body is stored under this id, or an edit crossed another) -> ``conflict``,
  shown and never overwritten;
- 401/403 (the token) -> the entry waits and the sync pauses until the person signs in;
- no network, 5xx, 429 -> ``queued`` again with a longer wait.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mobile_app.client import ApiClient, Refused, Unreachable
from mobile_app.outbox import Outbox, OutboxEntry

BASE_DELAY_S = 2.0
MAX_DELAY_S = 300.0


def backoff_s(attempts: int, rng: random.Random | None = None) -> float:
    """The wait before attempt ``attempts + 1``: 2, 4, 8 ... s, capped at 5 min, with up to
    25% jitter so that a crowd of tablets coming back online does not arrive at once."""
    delay = min(MAX_DELAY_S, BASE_DELAY_S * 2 ** min(attempts, 20))
    return delay * (1 + 0.25 * (rng or random).random())


@dataclass
class SyncStatus:
    online: bool | None = None  # None: not tried yet
    paused_reason: str = ""  # set when the token is refused
    last_error: str = ""
    sent: int = 0
    listeners: list[Callable[[], None]] = field(default_factory=list)


class Syncer:
    """Sends due entries from a background thread; ``wake()`` after queueing one."""

    def __init__(
        self,
        outbox: Outbox,
        client_factory: Callable[[], ApiClient | None],
        *,
        idle_s: float = 30.0,
    ) -> None:
        self.outbox = outbox
        self.client_factory = client_factory
        self.idle_s = idle_s
        self.status = SyncStatus()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rng = random.Random()

    # --- thread ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="outbox-sync", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def wake(self, *, now: bool = False) -> None:
        """Look at the outbox again; ``now`` also forgets the current waits."""
        if now:
            self.outbox.retry_now()
            self.status.paused_reason = ""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as exc:  # the loop must outlive any one bad answer
                self.status.last_error = f"{type(exc).__name__}: {exc}"
                self._notify()
            due = self.outbox.next_due()
            wait = self.idle_s if due is None else max(0.05, min(self.idle_s, due - time.time()))
            if self.status.paused_reason:
                wait = self.idle_s
            self._wake.wait(wait)
            self._wake.clear()

    def _notify(self) -> None:
        for listener in list(self.status.listeners):
            listener()

    # --- one pass --------------------------------------------------------------------------

    def run_once(self) -> int:
        """Send every entry due now; returns how many were sent. Stops at the first sign
        that the server is unreachable (the rest wait their turn)."""
        if self.status.paused_reason:
            return 0
        client = self.client_factory()
        if client is None:
            return 0
        sent = 0
        while not self._stop.is_set():
            batch = self.outbox.claim_due(time.time())
            if not batch:
                break
            for i, entry in enumerate(batch):
                outcome = self._send(client, entry)
                if outcome == "sent":
                    sent += 1
                elif outcome in ("unreachable", "paused"):
                    # Nothing else will get through now: put the rest back untouched.
                    for rest in batch[i + 1 :]:
                        self.outbox.retry_later(rest.id, backoff_s(rest.attempts, self._rng), "")
                    self._notify()
                    return sent
            self._notify()
        return sent

    def _send(self, client: ApiClient, entry: OutboxEntry) -> str:
        try:
            for sha in entry.body.get("photos", []):
                self._upload_photo(client, entry.project, sha)
            if entry.is_edit:
                answer = client.edit_entry(
                    entry.project,
                    entry.id,
                    entry.body,
                    entry.edit_reason or "",
                    entry.author,
                    entry.base_revision,
                )
            else:
                answer = client.send_entry(entry.project, entry.wire())
        except Unreachable as exc:
            self.status.online = False
            self.status.last_error = str(exc)
            delay = max(backoff_s(entry.attempts, self._rng), exc.retry_after or 0.0)
            self.outbox.retry_later(entry.id, delay, str(exc))
            return "unreachable"
        except Refused as exc:
            self.status.online = True
            if exc.status in (401, 403) and exc.field != "author":
                self.status.paused_reason = exc.message
                self.outbox.retry_later(entry.id, 0.0, exc.message)
                return "paused"
            state = "conflict" if exc.status == 409 else "rejected"
            if state == "conflict" and entry.is_edit:
                # Someone else edited it first. Take the server's revision (theirs is
                # what stands) so that the person can redo the change on top of it;
                # their own change stays in the reason shown.
                try:
                    current = client.entry(entry.project, entry.id)
                    self.outbox.adopt(entry.id, current["body"], int(current["revision"]))
                except (Unreachable, Refused, KeyError, ValueError):
                    pass
            self.outbox.mark_refused(entry.id, state, exc.message)
            return state
        self.status.online = True
        self.status.last_error = ""
        self.status.sent += 1
        self.outbox.mark_sent(entry.id, int(answer.get("revision", 1)))
        return "sent"

    def _upload_photo(self, client: ApiClient, project: str, sha: str) -> None:
        kept = self.outbox.photo(sha)
        if kept is None or kept[3]:
            return  # uploaded already, or never kept here (the server will say so)
        _, media_type, content, _ = kept
        client.upload_photo(project, content, media_type)
        self.outbox.mark_uploaded(sha)
