from __future__ import annotations

import json

from mrv.db.engine import Database
from mrv.db.repo import quarantine_counts
from mrv.stores.sqlite_ts import SQLiteTimeSeriesStore
from mrv.wire import readings_topic
from tests.conftest import wait_until

TOPIC = readings_topic("th-solar-rooftops", "rayong-a", "pv-a-meter")


def test_valid_and_garbage(solar_loaded, run_gateway, publisher):
    gw = run_gateway(solar_loaded)
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
    store = SQLiteTimeSeriesStore(solar_loaded.effective_ts_path)
    wait_until(lambda: store.count() == 2, what="2 readings stored")
    rows = list(store.query("th-solar-rooftops"))
    energy = next(r for r in rows if r.quantity == "energy_export")
    assert energy.value == 123456.7
    assert energy.raw_unit == "MWh"
    db = Database(solar_loaded.effective_database_url)
    wait_until(lambda: sum(quarantine_counts(db.session()).values()) == 1)
    with db.session() as s:
        counts = quarantine_counts(s)
    assert counts == {("th-solar-rooftops", "not_utf8"): 1}
    gw.stop()
