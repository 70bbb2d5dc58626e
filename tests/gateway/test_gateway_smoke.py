"""End to end on both relational backends: MQTT in, reading stored, garbage quarantined."""

from __future__ import annotations

import json

from core.config import Settings
from core.wire import readings_topic
from persistence.engine import Database
from persistence.repo import load_plan, quarantine_counts
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from tests.support.paths import SOLAR_PLAN
from tests.support.services import wait_until
from verification.plan_check import load_plan_file

TOPIC = readings_topic("th-solar-rooftops", "rayong-a", "pv-a-meter")


def test_valid_and_garbage(settings: Settings, db_url, run_gateway, publisher):
    settings = settings.model_copy(update={"database_url": db_url})
    db = Database(settings.effective_database_url)
    with db.session() as s, s.begin():
        load_plan(s, load_plan_file(SOLAR_PLAN), SOLAR_PLAN.read_text(), actor="test")
    gw = run_gateway(settings)
    msg = {
        "device": "pv-a-meter",
        "seq": 1,
        "time": "2026-11-01T06:00:00+07:00",
        "readings": [
            {"quantity": "energy_export", "value": 123.4567, "unit": "MWh", "kind": "cumulative"},
            {"quantity": "power", "value": 5.1, "unit": "kW"},
        ],
    }
    publisher.publish(TOPIC, json.dumps(msg))
    publisher.publish(TOPIC, b"\xff\xfe garbage")
    store = SQLiteTimeSeriesStore(settings.effective_ts_path)
    wait_until(lambda: store.count() == 2, what="2 readings stored")
    energy = next(r for r in store.query("th-solar-rooftops") if r.quantity == "energy_export")
    assert energy.value == 123456.7
    assert energy.raw_unit == "MWh"

    def counts():
        with db.session() as s:
            return quarantine_counts(s)

    wait_until(lambda: sum(counts().values()) == 1)
    assert counts() == {("th-solar-rooftops", "not_utf8"): 1}
    gw.stop()
    store.close()
    db.dispose()
