"""What a bad message costs on disk, through a real Mosquitto and a real gateway.

A message with thousands of bad elements used to write its whole raw payload once per
bad element (a 136 KB message wrote 68 MB). The raw bytes are now kept once per message
and each problem refers to them; the rows that itemise problems are capped, and one note
row counts the rest. The promise: one bad message costs at most 5 times its own size on
disk, bookkeeping included, and every bad element is accounted for.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.config import Settings
from core.wire import readings_topic
from persistence.engine import Database
from persistence.models import QuarantineEntry, QuarantineMessage
from persistence.repo import load_plan, payload_digest
from tests.gateway.test_gateway import EM1, PLAN, T0, message
from tests.support.services import wait_until
from verification.plan_check import load_plan_file

#: Page granularity. Every B-tree the quarantine touches (the raw messages and their
#: primary-key index; the quarantine rows, their (digest, item) and (project, status)
#: indexes) may end on a partly filled page, and a page split can leave one more half
#: empty: 2 pages of 4 KiB for each of those 5 B-trees.
PAGE_SLACK = 5 * 2 * 4096


@pytest.fixture
def loaded(settings: Settings) -> Settings:
    db = Database(settings.effective_database_url)
    with db.session() as session, session.begin():
        load_plan(session, load_plan_file(PLAN), PLAN.read_text(), actor="test")
    db.dispose()
    return settings


def disk_bytes(path: Path) -> int:
    """Bytes the SQLite database takes once its write-ahead log is checkpointed."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = con.execute("PRAGMA page_count").fetchone()[0]
        size = con.execute("PRAGMA page_size").fetchone()[0]
        return int(pages) * int(size)
    finally:
        con.close()


def relational_path(settings: Settings) -> Path:
    return Path(settings.effective_database_url.split("///", 1)[1])


def footprint(settings: Settings) -> int:
    return disk_bytes(relational_path(settings)) + disk_bytes(settings.effective_ts_path)


def wrong_unit_batch() -> tuple[bytes, int, str]:
    """8 backfill elements of 250 readings each, every reading in a unit of mass."""
    items = [
        {
            "device": "em1",
            "seq": k,
            "time": T0.isoformat(),
            "readings": [{"quantity": "power", "value": j, "unit": "kg"} for j in range(250)],
        }
        for k in range(8)
    ]
    return json.dumps(items, separators=(",", ":")).encode(), 2000, "unit_dimension"


def wrong_unit_elements() -> tuple[bytes, int, str]:
    """2,000 backfill elements of one reading each, in a unit of mass."""
    items = [
        json.loads(message("em1", k, [{"quantity": "power", "value": 1, "unit": "kg"}]))
        for k in range(2000)
    ]
    return json.dumps(items, separators=(",", ":")).encode(), 2000, "unit_dimension"


def tiny_elements() -> tuple[bytes, int, str]:
    """10,000 backfill elements that are not objects: 2 bytes of payload per problem."""
    return b"[" + b",".join([b"1"] * 10_000) + b"]", 10_000, "schema"


def message_rows(db: Database, digest: str) -> list[QuarantineEntry]:
    with db.session() as s:
        query = select(QuarantineEntry).where(QuarantineEntry.digest == digest)
        return list(s.scalars(query.order_by(QuarantineEntry.id)))


def quarantined_total(gw) -> float:
    return sum(
        s.value
        for metric in gw.gateway.metrics.quarantined.collect()
        for s in metric.samples
        if s.name.endswith("_total")
    )


@pytest.mark.parametrize("shape", [wrong_unit_batch, wrong_unit_elements, tiny_elements])
def test_a_bad_message_costs_at_most_five_times_its_size(loaded, run_gateway, publisher, shape):
    payload, bad, reason = shape()
    assert len(payload) <= 256 * 1024
    gw = run_gateway(loaded)
    # warm up: the store's tables, the audit chain and the caches exist before measuring
    publisher.publish(
        EM1, message("em1", 100_000, [{"quantity": "power", "value": 1, "unit": "kW"}])
    )
    wait_until(lambda: gw.gateway.metrics.stored._value.get() == 1, what="warm-up stored")
    gw.stop()
    before = footprint(loaded)

    gw = run_gateway(loaded)
    publisher.publish(EM1, payload)
    wait_until(lambda: quarantined_total(gw) >= bad, timeout=120, what=f"{bad} quarantined")
    gw.stop()
    grown = footprint(loaded) - before
    ratio = grown / len(payload)
    print(f"{shape.__name__}: payload {len(payload)} B, disk +{grown} B, {ratio:.2f} B/B")
    assert grown <= 5 * len(payload) + PAGE_SLACK, f"{ratio:.1f} bytes on disk per payload byte"

    # every bad element is accounted for: by its own row, or counted in the note
    db = Database(loaded.effective_database_url)
    digest = payload_digest(EM1, payload)
    rows = message_rows(db, digest)
    with db.session() as s:
        raw = s.get(QuarantineMessage, digest)
        assert raw is not None and bytes(raw.payload) == payload and raw.topic == EM1
    itemised = [r for r in rows if r.reason != "not_itemised"]
    notes = [r for r in rows if r.reason == "not_itemised"]
    assert {r.reason for r in itemised} == {reason}
    assert all(r.elements == 1 for r in itemised)
    assert len({r.item for r in itemised}) == len(itemised)
    assert len(notes) == 1, "thousands of problems: one note counts those not itemised"
    note = notes[0]
    assert len(itemised) + note.elements == bad
    assert f"{note.elements} more" in note.detail and reason in note.detail
    assert "not stored" in note.detail  # their fate, said where they are counted
    assert note.status == "open"
    db.dispose()


def test_a_redelivered_bad_message_is_kept_once(loaded, run_gateway, publisher):
    payload, bad, _ = wrong_unit_batch()
    gw = run_gateway(loaded)
    for _ in range(3):  # a device resending, or the broker redelivering
        publisher.publish(EM1, payload)
    wait_until(lambda: quarantined_total(gw) >= 3 * bad, timeout=120, what="3 deliveries")
    gw.stop()
    db = Database(loaded.effective_database_url)
    digest = payload_digest(EM1, payload)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(QuarantineMessage)) == 1
    rows = message_rows(db, digest)
    assert sum(r.elements for r in rows) == bad
    db.dispose()


def test_a_small_bad_message_itemises_every_problem(loaded, run_gateway, publisher):
    readings = [{"quantity": "power", "value": j, "unit": "kg"} for j in range(5)]
    payload = message("em1", 1, readings)
    topic = readings_topic("test-proj", "s1", "em1")
    gw = run_gateway(loaded)
    publisher.publish(topic, payload)
    wait_until(lambda: quarantined_total(gw) >= 5, what="5 quarantined")
    gw.stop()
    db = Database(loaded.effective_database_url)
    rows = message_rows(db, payload_digest(topic, payload))
    assert [r.item for r in rows] == [f"readings[{j}]" for j in range(5)]
    assert [r.field for r in rows] == [f"readings[{j}].unit" for j in range(5)]
    db.dispose()
