"""The gateway with a backlog: the next batch is prepared while the previous one is
inserted on a second thread. Against a real Mosquitto: every reading stored once, a
duplicate or a conflict split across two batches still found, every seq acknowledged,
and the audit evidence intact."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.config import Settings
from core.wire import readings_topic
from gateway.processor import Prepared
from persistence.engine import Database
from persistence.evidence import verify_project
from persistence.models import QuarantineEntry
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from tests.support.services import Publisher, RunningGateway, wait_until

P = "th-solar-rooftops"
DEVICES = [("rayong-a", "pv-a-meter"), ("rayong-b", "pv-b-meter"), ("koh-site", "pv-koh-meter")]
T0 = datetime(2026, 6, 1, tzinfo=UTC)
SEQS = 300


def _payload(device: str, seq: int, value: float) -> bytes:
    when = T0 + timedelta(minutes=15 * seq)
    reading = {"quantity": "energy_export", "value": value, "unit": "kWh"}
    body = {"device": device, "seq": seq, "time": when.isoformat(), "readings": [reading]}
    return json.dumps(body).encode()


def _backlog() -> tuple[list[tuple[str, bytes]], dict[tuple[str, int], float], int, int]:
    """Messages, the value each (device, seq) must keep, and how many duplicates and
    conflicts were sent (each right after its original: often in the next batch)."""
    items: list[tuple[str, bytes]] = []
    kept: dict[tuple[str, int], float] = {}
    duplicates = conflicts = 0
    for i in range(SEQS * len(DEVICES)):
        site, device = DEVICES[i % len(DEVICES)]
        seq, value = i // len(DEVICES), 1000.0 + i
        topic = readings_topic(P, site, device)
        items.append((topic, _payload(device, seq, value)))
        kept[(device, seq)] = value
        if i % 7 == 3:
            items.append((topic, _payload(device, seq, value)))
            duplicates += 1
        elif i % 50 == 9:
            items.append((topic, _payload(device, seq, value + 0.5)))
            conflicts += 1
    return items, kept, duplicates, conflicts


def test_a_backlog_is_pipelined_and_still_stored_exactly_once(
    solar_loaded: Settings, broker, publisher: Publisher
) -> None:
    settings = solar_loaded
    # Subscribe with the persistent session, go away, let the backlog queue at the broker.
    first = RunningGateway(settings, client_id="pipe-gw", batch_size=20).start()
    first.stop()
    items, kept, duplicates, conflicts = _backlog()
    publisher.publish_many(items)

    gw = RunningGateway(settings, client_id="pipe-gw", batch_size=20)
    threads: list[str] = []
    store_rows = gw.gateway.processor.store_rows

    def recorded(prepared: Prepared) -> int:
        threads.append(threading.current_thread().name)
        return store_rows(prepared)

    gw.gateway.processor.store_rows = recorded  # type: ignore[method-assign]
    gw.start()
    try:
        metrics = gw.gateway.metrics
        wait_until(lambda: metrics.received._value.get() >= len(items), 60, "the backlog")
        wait_until(lambda: metrics.stored._value.get() >= len(kept), 30, "all stored")
    finally:
        gw.stop()
    assert any(name.startswith("mrv-insert") for name in threads), "never pipelined"
    assert metrics.stored._value.get() == len(kept)
    assert metrics.duplicates._value.get() == duplicates

    store = SQLiteTimeSeriesStore(settings.effective_ts_path)
    db = Database(settings.effective_database_url)
    try:
        stored = {(r.device, r.seq): r.value for r in store.query(P)}
        assert stored == kept  # once each, the first value kept for a conflict
        with db.session() as s:
            reasons = list(s.scalars(select(QuarantineEntry.reason)))
            assert reasons == ["conflict"] * conflicts
            evidence = verify_project(s, store, P)
        assert evidence.intact, evidence.changes
        assert evidence.checked["readings"] == len(kept)
    finally:
        store.close()
        db.dispose()
    # Everything was acknowledged: nothing comes back to the same session.
    again = RunningGateway(settings, client_id="pipe-gw", batch_size=20).start()
    try:
        time.sleep(1.0)  # a session with anything unacknowledged gets it at once
        assert again.gateway.metrics.received._value.get() == 0
    finally:
        again.stop()
