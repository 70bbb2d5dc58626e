"""Readings dated outside their device's life are quarantined, each with its reason, through
a real Mosquitto and a real gateway: before the device was installed, after it was
removed, before 2000 whatever the plan says, too far in the future. A valid reading of
the same message is still stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from core.config import Settings
from core.wire import readings_topic
from persistence.engine import Database
from persistence.models import Device, QuarantineEntry
from persistence.repo import load_plan
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from tests.support.paths import TEST_PLAN
from tests.support.services import wait_until
from verification.plan_check import validate_plan_text

P = "test-proj"
EM1 = readings_topic(P, "s1", "em1")  # installed 2026-01-01
FM_US = readings_topic(P, "s2", "fm-us")  # installed 1990-01-01 (before 2000)
FM_20 = readings_topic(P, "s2", "fm-20")  # removed 2026-06-30, no installation date


def life_plan() -> str:
    text = TEST_PLAN.read_text()
    text = text.replace("    serial: EM-1\n", "    serial: EM-1\n    installed: 2026-01-01\n")
    text = text.replace("    serial: FM-US-1\n", "    serial: FM-US-1\n    installed: 1990-01-01\n")
    text = text.replace("    serial: FM-20-1\n", "    serial: FM-20-1\n    removed: 2026-06-30\n")
    return text


@pytest.fixture
def life(settings: Settings, run_gateway, publisher):
    text = life_plan()
    plan, problems = validate_plan_text(text)
    assert not problems and plan is not None, problems
    db = Database(settings.effective_database_url)
    with db.session() as s, s.begin():
        load_plan(s, plan, text, actor="test")
    gw = run_gateway(settings)
    store = SQLiteTimeSeriesStore(settings.effective_ts_path)
    yield gw, publisher, store, db
    store.close()
    db.dispose()


def item(device: str, seq: int, when: str | float, value: float = 1.0) -> dict:
    return {
        "device": device,
        "seq": seq,
        "time": when,
        "readings": [
            {
                "quantity": "gas_volume_normal" if device != "em1" else "power",
                "value": value,
                "unit": "m3" if device != "em1" else "kW",
            }
        ],
    }


def rows(db: Database) -> dict[tuple[str | None, int | None], QuarantineEntry]:
    with db.session() as s:
        return {(q.device_id, q.seq): q for q in s.scalars(select(QuarantineEntry))}


FUTURE = (datetime.now(UTC) + timedelta(days=2)).isoformat()

#: (topic, message, reason or None when stored, field)
CASES = [
    (EM1, item("em1", 1, "2025-12-31T23:59:59Z"), "before_installation", "time"),
    (EM1, item("em1", 2, "0001-01-01T00:00:00Z"), "before_installation", "time"),
    (EM1, item("em1", 3, "1938-05-01T00:00:00+09:00"), "before_installation", "time"),
    (EM1, item("em1", 4, 0), "before_installation", "time"),  # epoch 0: 1970
    (EM1, item("em1", 5, "2026-01-01T00:00:00Z"), None, None),  # the installation day
    (EM1, item("em1", 6, FUTURE), "future_time", "time"),
    (FM_US, item("fm-us", 1, "1995-06-01T00:00:00Z"), "before_2000", "time"),
    (FM_US, item("fm-us", 2, 0), "before_installation", "time"),  # 1970 < 1990
    (FM_US, item("fm-us", 3, "1999-12-31T23:59:59.999Z"), "before_2000", "time"),
    (FM_US, item("fm-us", 4, "2000-01-01T00:00:00Z"), None, None),
    (FM_20, item("fm-20", 1, "1938-01-01T00:00:00Z"), "before_2000", "time"),
    (FM_20, item("fm-20", 2, "2026-07-01T00:00:00Z"), "after_removal", "time"),
    (FM_20, item("fm-20", 3, "2026-06-30T23:59:59Z"), None, None),  # its last day
]


def test_readings_outside_the_device_life_are_quarantined_with_their_reason(life):
    gw, pub, store, db = life
    pub.publish_many([(topic, json.dumps(body).encode()) for topic, body, _r, _f in CASES])
    bad = [c for c in CASES if c[2] is not None]
    wait_until(lambda: len(rows(db)) == len(bad) and store.count() == len(CASES) - len(bad))
    found = rows(db)
    for _topic, body, reason, field in bad:
        entry = found[(body["device"], body["seq"])]
        assert (entry.reason, entry.field, entry.item) == (reason, field, "message"), body
        assert "time" in entry.detail
        assert len(entry.reason) <= 32
    stored = sorted((r.device, r.seq) for r in store.query(P))
    assert stored == sorted((b["device"], b["seq"]) for _t, b, r, _f in CASES if r is None)


def test_a_valid_reading_in_the_same_message_is_still_stored(life):
    gw, pub, store, db = life
    batch = [
        item("em1", 10, "2026-11-01T00:00:00Z"),
        item("em1", 11, "1938-01-01T00:00:00Z"),
        item("em1", 12, "2026-11-01T00:01:00Z"),
    ]
    pub.publish(EM1, json.dumps(batch).encode())
    wait_until(lambda: store.count() == 2 and len(rows(db)) == 1)
    entry = rows(db)[("em1", 11)]
    assert (entry.reason, entry.field, entry.item) == ("before_installation", "[1].time", "[1]")
    assert sorted(r.seq for r in store.query(P)) == [10, 12]


def test_a_removal_date_counts_even_if_the_device_is_still_marked_active(life):
    """A plan loaded before the removal day leaves the device active in the registry;
    its removal date still ends its life."""
    gw, pub, store, db = life
    with db.session() as s, s.begin():
        s.execute(update(Device).where(Device.id == "fm-20").values(status="active"))
    gw.gateway.processor.registry.refresh()
    pub.publish(FM_20, json.dumps(item("fm-20", 20, "2026-08-01T00:00:00Z")).encode())
    wait_until(lambda: len(rows(db)) == 1)
    entry = rows(db)[("fm-20", 20)]
    assert (entry.reason, entry.field) == ("after_removal", "time")
    assert store.count() == 0
