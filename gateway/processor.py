"""Process a batch of inbound messages durably: dedupe, conflicts, register checks.

Order of the durable writes, and why it is safe to die between any two of them:
1. quarantine entries, data-quality events and the batch's audit link (relational store,
   one transaction, idempotent on their natural keys);
2. the new readings (time-series store, one transaction, idempotent on identity);
3. only then does the caller acknowledge the messages to the broker.
A crash before 3 means the broker redelivers the batch; everything is re-derived and
every write is a no-op the second time. A reading is stored once or quarantined once.
``process`` does all three steps; the gateway may instead call ``prepare`` (step 1) for
one batch while ``store_rows`` (step 2) of the batch before runs on another thread.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from sqlalchemy.exc import DBAPIError

from core.registers import find_decreases
from core.times import format_ms, now_ms
from gateway.decode import Candidate, Decoded, Decoder, Inbound
from persistence.claims import readings_claims
from persistence.engine import Database
from persistence.receipts import (
    KEEP_MS,
    ReceiptKey,
    first_receipts,
    prune_receipts,
    record_receipts,
)
from persistence.repo import (
    DeviceInfo,
    EventItem,
    QuarantineItem,
    Registry,
    StatusItem,
    load_registry,
    payload_digest,
    record_outcome,
)
from persistence.stores.timeseries import (
    Identity,
    ReadingRow,
    StoreUnavailable,
    TimeSeriesStore,
    value_matches,
)

log = logging.getLogger("mrv.gateway")

REGISTRY_REFRESH_S = 5.0
#: A live stream silent for more than this many expected intervals is an arrival gap.
ARRIVAL_GAP_INTERVALS = 3


#: PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled
#: back for another's sake and may simply run again.
RETRY_SQLSTATES = frozenset({"40P01", "40001"})
DEADLOCK_RETRIES = 5


def _sqlstate(exc: DBAPIError) -> str | None:
    """The SQLSTATE of a driver error (psycopg's ``sqlstate``, psycopg2's ``pgcode``)."""
    original = exc.orig
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return code if isinstance(code, str) else None


class Unavailable(RuntimeError):
    """A store (time-series or relational) could not take the batch: spool it."""


@dataclass
class BatchResult:
    messages: int = 0
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    quarantined: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    events: int = 0
    acks: dict[tuple[str, str, str], set[int]] = field(default_factory=dict)
    quarantine_items: list[QuarantineItem] = field(default_factory=list)
    statuses: int = 0

    def merge(self, part: BatchResult) -> None:
        """Add another batch's outcome to this one (counts, reasons, acks, items)."""
        self.messages += part.messages
        self.stored += part.stored
        self.duplicates += part.duplicates
        self.conflicts += part.conflicts
        self.events += part.events
        self.statuses += part.statuses
        for reason, n in part.quarantined.items():
            self.quarantined[reason] += n
        for key, seqs in part.acks.items():
            self.acks.setdefault(key, set()).update(seqs)
        self.quarantine_items.extend(part.quarantine_items)


#: identity -> canonical value of rows whose insert is under way (see BatchProcessor.prepare)
Pending = Mapping[Identity, float]


@dataclass
class Prepared:
    """A batch whose outcome is durably written and whose new rows are still to insert."""

    messages: list[Inbound]
    result: BatchResult
    new: list[ReadingRow]

    def pending(self) -> dict[Identity, float]:
        """Its new rows as ``Pending`` for the next batch's classification."""
        return {(r.project, r.device, r.seq, r.quantity): r.value for r in self.new}


class RegistryCache:
    """The device registry in memory, refreshed on a timer and (rate-limited) on a miss."""

    def __init__(self, db: Database, refresh_s: float = REGISTRY_REFRESH_S) -> None:
        self._db = db
        self._refresh_s = refresh_s
        self._registry = Registry()
        self._loaded_at = 0.0

    def refresh(self) -> None:
        with self._db.session() as session:
            self._registry = load_registry(session)
        self._loaded_at = time.monotonic()

    def maybe_refresh(self) -> None:
        if time.monotonic() - self._loaded_at > self._refresh_s:
            self.refresh()

    def lookup(self, project: str, device: str) -> DeviceInfo | None:
        info = self._registry.get(project, device)
        if info is None and time.monotonic() - self._loaded_at > 1.0:
            self.refresh()  # a device registered a moment ago should not be quarantined
            info = self._registry.get(project, device)
        return info

    @property
    def registry(self) -> Registry:
        return self._registry


def _conflict_item(cand: Candidate, stored_value: float) -> QuarantineItem:
    """A reading whose identity is stored with another value: quarantined, never stored."""
    row = cand.row
    # A standard payload's reading has no seq of its own: its time is its identity.
    where = f"seq {row.seq}" if cand.label is None else f"at {format_ms(row.time_ms)}"
    return QuarantineItem(
        topic=cand.message.topic,
        payload=cand.message.payload,
        received_ms=cand.message.received_ms,
        reason="conflict",
        detail=(
            f"{cand.item}: {where} {row.quantity} = {row.value:g} differs "
            f"from the stored {stored_value:g}; the stored value is kept"
        ),
        item=cand.item,
        field=cand.value_field,
        project=row.project,
        device=row.device,
        seq=row.seq,
        content_type=cand.message.content_type,
    )


def _conflict_event(cand: Candidate, stored_value: float) -> EventItem:
    row = cand.row
    return EventItem(
        row.project,
        row.device,
        row.quantity,
        row.time_ms,
        "conflict",
        {"seq": row.seq, "stored": stored_value, "received": row.value},
    )


class BatchProcessor:
    def __init__(
        self,
        store: TimeSeriesStore,
        db: Database,
        *,
        actor: str = "gateway",
        future_tolerance_s: float = 600.0,
        clock_ms: Callable[[], int] = now_ms,
        record_activity: bool = False,
    ) -> None:
        self.store = store
        self.db = db
        self.actor = actor
        # Record when each device was last heard (the live gateway only: an import or a
        # release is not the device speaking now).
        self.record_activity = record_activity
        self.registry = RegistryCache(db)
        self.decoder = Decoder(
            self.registry.lookup,
            int(future_tolerance_s * 1000),
            clock_ms,
        )
        # Newest stored (time_ms, value) per cumulative series: checks of in-order data
        # need no store round trip.
        self._last_point: dict[tuple[str, str, str], tuple[int, float]] = {}
        # Newest live (non-historical) reading time per device, for arrival gaps.
        self._last_live: dict[tuple[str, str], int] = {}
        self._receipts_pruned = 0.0  # monotonic time of the last pruning of old receipts

    def process(self, messages: list[Inbound]) -> BatchResult:
        """Decode, classify and durably write a batch. Raises Unavailable to spool it.

        The writes are ordered so that a kill between any two of them is repaired by the
        broker's redelivery: quarantine, events and the batch's audit link first (all
        idempotent on natural keys), then the readings, then the acknowledgements."""
        prepared = self.prepare(messages)
        inserted = self.store_rows(prepared)
        if inserted != len(prepared.new):
            # Everything is now stored by one process or the other, so the second pass
            # finds no new rows and ends there.
            return self.process(messages)
        return prepared.result

    def prepare(self, messages: list[Inbound], pending: Pending | None = None) -> Prepared:
        """Everything of ``process`` up to the readings: decode, classify, events and the
        durable outcome write (quarantine, events, statuses, the audit link).

        ``pending``: the new rows of an earlier batch whose insert is still under way
        (identity -> value), counted as stored. The caller inserts ``Prepared.new`` with
        ``store_rows`` before it acknowledges anything."""
        try:
            self.registry.maybe_refresh()
        except DBAPIError as exc:
            raise Unavailable(f"relational store: {exc}") from exc
        messages = self._redated(messages)
        decoded = Decoded()
        for message in messages:
            self.decoder.decode(message, decoded)
        result = BatchResult(messages=len(messages), acks=decoded.acks)
        new, conflicts, result.duplicates = self._classify(decoded.candidates, pending or {})
        quarantine = [*decoded.quarantine, *(_conflict_item(c, v) for c, v in conflicts)]
        events = [_conflict_event(c, v) for c, v in conflicts]
        events += self._register_events(new)
        events += self._arrival_gaps(new)
        seen = decoded.seen if self.record_activity else {}
        self._write_outcome(quarantine, events, new, decoded.statuses, seen, decoded.on_receipt)
        # Remembered before the insert, so that the next batch's register checks can run
        # while this one is written; if the insert fails the batch is spooled and
        # replayed, and these points are then stored after all (the checks are advisory).
        self._remember_last_points(new)
        result.conflicts = len(conflicts)
        result.stored = len(new)
        result.events = len(events)
        for item in quarantine:
            result.quarantined[item.reason] += 1
        result.quarantine_items = quarantine
        result.statuses = len(decoded.statuses)
        return Prepared(messages, result, new)

    def store_rows(self, prepared: Prepared) -> int:
        """Insert a prepared batch's new rows (one transaction); how many were new.
        Fewer than ``len(prepared.new)``: another gateway process stored some of them
        between our look-up and our write, and the batch must be processed again."""
        try:
            inserted = self.store.insert(prepared.new)
        except StoreUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        if inserted != len(prepared.new):
            # A redelivery raced us: the caller re-derives duplicates and conflicts.
            log.warning(
                "insert race: %d of %d new rows were already there",
                len(prepared.new) - inserted,
                len(prepared.new),
            )
        return inserted

    def _classify(
        self, candidates: list[Candidate], pending: Pending
    ) -> tuple[list[ReadingRow], list[tuple[Candidate, float]], int]:
        """The new rows, the conflicts (each with the value it differs from) and how many
        duplicates: inside the batch first (a device resending at once), then against the
        store and the rows of a batch still being inserted (``pending``)."""
        duplicates = 0
        unique: dict[Identity, Candidate] = {}
        conflicts: list[tuple[Candidate, float]] = []
        for cand in candidates:
            row = cand.row
            ident = (row.project, row.device, row.seq, row.quantity)  # ReadingRow.identity
            first = unique.get(ident)
            if first is None:
                unique[ident] = cand
            elif value_matches(first.row.value, cand.row.value):
                duplicates += 1
            else:
                conflicts.append((cand, first.row.value))
        try:
            existing = self.store.existing(unique.keys())
        except StoreUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        new: list[ReadingRow] = []
        for ident, cand in unique.items():
            stored = existing.get(ident)
            if stored is None and pending:
                stored = pending.get(ident)
            if stored is None:
                new.append(cand.row)
            elif value_matches(stored, cand.row.value):
                duplicates += 1
            else:
                conflicts.append((cand, stored))
        return new, conflicts, duplicates

    def _write_outcome(
        self,
        quarantine: list[QuarantineItem],
        events: list[EventItem],
        new: list[ReadingRow],
        statuses: list[StatusItem],
        seen: dict[tuple[str, str], int],
        on_receipt: dict[ReceiptKey, int],
    ) -> None:
        """Quarantine, events, statuses, when devices were heard and the batch's audit
        link, in one transaction."""
        batches = readings_claims(new)
        for attempt in range(1, DEADLOCK_RETRIES + 1):
            try:
                with self.db.session() as session, session.begin():
                    record_outcome(
                        session,
                        quarantine,
                        events,
                        batches,
                        self.actor,
                        statuses=statuses,
                        seen=seen,
                    )
                    record_receipts(session, self.actor, on_receipt)
                    if on_receipt and time.monotonic() > self._receipts_pruned + 3600:
                        prune_receipts(session, max(on_receipt.values()) - KEEP_MS)
                        self._receipts_pruned = time.monotonic()
                return
            except DBAPIError as exc:
                # Another gateway's transaction won a lock race (PostgreSQL rolled this
                # one back): write again at once rather than spool a healthy store's batch.
                if _sqlstate(exc) in RETRY_SQLSTATES and attempt < DEADLOCK_RETRIES:
                    log.warning("relational store: %s; writing the batch again", _sqlstate(exc))
                    continue
                raise Unavailable(f"relational store: {exc}") from exc

    def _redated(self, messages: list[Inbound]) -> list[Inbound]:
        """Messages the broker redelivers (DUP) that were dated on receipt the first time
        get that first receive time back (persistence.receipts), so their readings are
        duplicates of the stored ones, not new readings at a later time."""
        keys = {
            (m.mid, payload_digest(m.topic, m.payload)): i
            for i, m in enumerate(messages)
            if m.dup and m.mid
        }
        if not keys:
            return messages
        try:
            with self.db.session() as session:
                first = first_receipts(session, self.actor, keys)
        except DBAPIError as exc:
            raise Unavailable(f"relational store: {exc}") from exc
        out = list(messages)
        for key, received_ms in first.items():
            i = keys[key]
            out[i] = replace(out[i], received_ms=received_ms)
        return out

    def _remember_last_points(self, new: list[ReadingRow]) -> None:
        for row in new:
            if row.kind == "cumulative":
                key = (row.project, row.device, row.quantity)
                last = self._last_point.get(key)
                if last is None or row.time_ms > last[0]:
                    self._last_point[key] = (row.time_ms, row.value)

    def _arrival_gaps(self, new: list[ReadingRow]) -> list[EventItem]:
        """A live (non-historical) stream that skipped more than ARRIVAL_GAP_INTERVALS of
        its expected interval: the device was out. A later backfill may fill the data,
        but the outage itself is worth a line in the events list.

        This process's own view is only a first guess: in a shared subscription another
        gateway receives part of every device's stream. A suspected gap is confirmed
        against the store, which holds what every process has written."""
        latest: dict[tuple[str, str], dict[int, str]] = defaultdict(dict)
        for row in new:
            if not row.historical:
                latest[(row.project, row.device)].setdefault(row.time_ms, row.quantity)
        events: list[EventItem] = []
        for key, times in latest.items():
            info = self.registry.registry.get(*key)
            limit_ms = ARRIVAL_GAP_INTERVALS * (info.expected_interval_s if info else 60) * 1000
            previous = self._last_live.get(key)
            for t in sorted(times):
                if previous is not None and t - previous > limit_ms:
                    previous = max(previous, self._stored_before(key, times[t], t))
                if previous is not None and t - previous > limit_ms:
                    events.append(
                        EventItem(
                            key[0],
                            key[1],
                            "",
                            t,
                            "arrival_gap",
                            {"from_ms": previous, "to_ms": t, "seconds": (t - previous) / 1000},
                        )
                    )
                if previous is None or t > previous:
                    previous = t
            if previous is not None:
                self._last_live[key] = previous
        return events

    def _stored_before(self, key: tuple[str, str], quantity: str, time_ms: int) -> int:
        """Time of the newest stored reading of the series before ``time_ms`` (or 0)."""
        try:
            before, _ = self.store.neighbours(key[0], key[1], quantity, time_ms)
        except Exception as exc:  # advisory; a store hiccup must not block ingestion
            log.warning("arrival-gap check against the store skipped: %s", exc)
            return 0
        return before.time_ms if before is not None else 0

    def _register_events(self, new: list[ReadingRow]) -> list[EventItem]:
        by_series: dict[tuple[str, str, str], list[ReadingRow]] = defaultdict(list)
        for row in new:
            if row.kind == "cumulative":
                by_series[(row.project, row.device, row.quantity)].append(row)
        events: list[EventItem] = []
        for key, rows in by_series.items():
            rows.sort(key=lambda r: r.time_ms)
            info = self.registry.registry.get(key[0], key[1])
            register_max = info.register_max if info else None
            points = [(r.time_ms, r.value) for r in rows]
            last = self._last_point.get(key)
            if last is not None and last[0] < points[0][0]:
                points.insert(0, last)
            else:
                # Out of order, or first sight since start: ask the store for the stored
                # neighbours around the new points (backfill lands between them).
                try:
                    before, _ = self.store.neighbours(*key, points[0][0])
                    _, after = self.store.neighbours(*key, points[-1][0])
                except Exception as exc:  # checks are advisory; never block ingestion
                    log.warning("register check skipped for %s: %s", key, exc)
                    continue
                if before is not None:
                    points.insert(0, (before.time_ms, before.value))
                if after is not None:
                    points.append((after.time_ms, after.value))
            for dec in find_decreases(points, register_max):
                events.append(
                    EventItem(
                        key[0],
                        key[1],
                        key[2],
                        dec.time_ms,
                        dec.kind,
                        {
                            "previous_time_ms": dec.previous_time_ms,
                            "previous_value": dec.previous_value,
                            "value": dec.value,
                            "implied_increment": dec.implied_increment,
                            "register_max": register_max,
                        },
                    )
                )
        return events
