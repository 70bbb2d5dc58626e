"""Standard payloads through the gateway: SenML (by the plan, by MQTT 5 content type, by
shape), Telegraf json and ThingsBoard telemetry are stored as canonical readings with the
native payload's checks; their identity is (project, device, time in ms, quantity), with
the same duplicate and conflict rules; a malformed record is quarantined naming its field
in the payload's own terms; no end-to-end ack goes to such a device.

The processor tests run the real BatchProcessor on real SQLite stores (the MQTT layer
only hands bytes over); the last ones go through a real Mosquitto and gateway."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import select

from core.config import Settings
from core.plans.validate import validate_plan_text
from core.wire import ack_topic, readings_topic
from gateway.decode import Inbound
from gateway.processor import BatchProcessor
from gateway.release import release
from gateway.spool import Spool
from persistence.engine import Database
from persistence.models import QuarantineEntry
from persistence.repo import load_plan
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from tests.support.paths import TEST_PLAN
from tests.support.services import wait_until

P = "test-proj"
NOW_MS = 1_795_672_800_000  # 2026-11-26T06:00:00Z
T0_S = 1_795_672_800 - 3600  # an hour before "now"
DEVICES = """
  - id: sm1
    site: s1
    type: ac_energy_meter
    serial: SM-1
    quantities: [energy_export, power]
    accuracy_class: "0.5S"
    register_max: 99999999.9
    payload: senml
    fields: {energy: {quantity: energy_export}, power: {quantity: power}}
  - id: tg1
    site: s1
    type: ac_energy_meter
    serial: TG-1
    quantities: [energy_export, power]
    accuracy_class: "0.5S"
    register_max: 99999999.9
    payload: telegraf
    timestamp_unit: ms
    fields: {"Energy (export)": {quantity: energy_export, unit: MWh}, P: {quantity: power, unit: W}}
  - id: tb1
    site: s1
    type: ac_energy_meter
    serial: TB-1
    quantities: [energy_export, power]
    accuracy_class: "0.5S"
    register_max: 99999999.9
    payload: thingsboard
"""
PLAN_TEXT = TEST_PLAN.read_text().replace("devices:\n", "devices:\n" + DEVICES.lstrip("\n"), 1)
SM1, TG1, TB1 = (readings_topic(P, "s1", d) for d in ("sm1", "tg1", "tb1"))
EM1 = readings_topic(P, "s1", "em1")
SENML = "application/senml+json"


def load(db: Database) -> None:
    plan, problems = validate_plan_text(PLAN_TEXT)
    assert plan is not None and not problems, problems
    with db.session() as s, s.begin():
        load_plan(s, plan, PLAN_TEXT, actor="test")


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[BatchProcessor, SQLiteTimeSeriesStore, Database]]:
    db = Database(f"sqlite:///{tmp_path / 'mrv.sqlite'}")
    load(db)
    store = SQLiteTimeSeriesStore(tmp_path / "readings.sqlite", synchronous="NORMAL")
    yield BatchProcessor(store, db, clock_ms=lambda: NOW_MS), store, db
    store.close()
    db.dispose()


def send(processor: BatchProcessor, topic: str, body: object, **extra: object):
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return processor.process([Inbound(topic, payload, NOW_MS, **extra)])  # type: ignore[arg-type]


def rows(store: SQLiteTimeSeriesStore, device: str) -> list[tuple]:
    return sorted(
        (r.quantity, r.seq, r.time_ms, r.value, r.raw_value, r.raw_unit, r.kind)
        for r in store.query(P)
        if r.device == device
    )


def quarantine(db: Database) -> list[tuple[str, str | None, str]]:
    with db.session() as s:
        entries = s.scalars(select(QuarantineEntry).order_by(QuarantineEntry.id))
        return [(q.reason, q.field, q.item) for q in entries]


def test_each_format_is_stored_in_canonical_units(stores) -> None:
    processor, store, _ = stores
    t0 = T0_S * 1000
    pack = [{"bn": "urn:dev:mrv:sm1:", "bt": T0_S, "n": "energy", "u": "MWh", "v": 12.5},
            {"n": "power", "u": "W", "v": 5100, "t": 60}]  # fmt: skip
    metric = {"fields": {"Energy (export)": 12.5, "P": 5100}, "name": "modbus",
              "tags": {"host": "logger"}, "timestamp": t0}  # fmt: skip
    telemetry = {"ts": t0, "values": {"energy_export": 12500.0, "power": 5.1}}
    for topic, body in ((SM1, pack), (TG1, metric), (TB1, telemetry)):
        result = send(processor, topic, body)
        assert (result.stored, dict(result.quarantined), result.acks) == (2, {}, {})
    assert rows(store, "sm1") == [
        ("energy_export", t0, t0, 12500.0, 12.5, "MWh", "cumulative"),
        ("power", t0 + 60_000, t0 + 60_000, pytest.approx(5.1), 5100, "W", "instant"),
    ]
    assert rows(store, "tg1") == [
        ("energy_export", t0, t0, 12500.0, 12.5, "MWh", "cumulative"),
        ("power", t0, t0, pytest.approx(5.1), 5100, "W", "instant"),
    ]
    assert rows(store, "tb1") == [
        ("energy_export", t0, t0, 12500.0, 12500.0, "kWh", "cumulative"),
        ("power", t0, t0, 5.1, 5.1, "kW", "instant"),
    ]


def test_batches_of_each_format(stores) -> None:
    processor, store, _ = stores
    t0 = T0_S * 1000
    metrics = {"metrics": [{"fields": {"P": 1000 * i}, "timestamp": t0 + 60_000 * i}
                           for i in range(5)]}  # fmt: skip
    telemetry = [{"ts": t0 + 60_000 * i, "values": {"power": float(i)}} for i in range(5)]
    pack = [{"bn": "urn:dev:mrv:sm1:", "bt": T0_S, "bu": "kW", "n": "power", "v": 0}] + [
        {"n": "power", "t": 60 * i, "v": float(i)} for i in range(1, 5)
    ]
    for topic, body in ((TG1, metrics), (TB1, telemetry), (SM1, pack)):
        assert send(processor, topic, body).stored == 5
    for device in ("tg1", "tb1", "sm1"):
        assert [(r[2], r[3]) for r in rows(store, device)] == [
            (t0 + 60_000 * i, pytest.approx(float(i))) for i in range(5)
        ]


def test_senml_times_relative_to_the_receive_time(stores) -> None:
    processor, store, _ = stores
    send(processor, SM1, [{"n": "urn:dev:x:power", "u": "kW", "v": 1, "t": -60},
                          {"n": "urn:dev:x:power", "u": "kW", "v": 2}])  # fmt: skip
    assert [(r[2], r[3]) for r in rows(store, "sm1")] == [(NOW_MS - 60_000, 1), (NOW_MS, 2)]


def test_duplicates_and_conflicts_by_time(stores) -> None:
    processor, store, db = stores
    telemetry = [{"ts": T0_S * 1000, "values": {"power": 5.0}}]
    assert send(processor, TB1, telemetry).stored == 1
    again = send(processor, TB1, telemetry)
    assert (again.stored, again.duplicates, again.conflicts) == (0, 1, 0)
    other = send(processor, TB1, [{"ts": T0_S * 1000, "values": {"power": 6.0}}])
    assert (other.stored, other.conflicts) == (0, 1)
    assert quarantine(db) == [("conflict", "[0].values.power", "[0]")]
    assert [r[3] for r in rows(store, "tb1")] == [5.0]  # the stored value is kept


@pytest.mark.parametrize(
    ("topic", "body", "reason", "field", "item"),
    [
        (SM1, [{"bn": "d:", "n": "power", "u": "kW", "v": 1e9, "bt": T0_S}],
         "out_of_range", "[0].v", "[0]"),
        (SM1, [{"bn": "d:", "n": "power", "u": "kWh", "v": 5, "bt": T0_S}],
         "unit_dimension", "[0].u", "[0]"),
        (SM1, [{"bn": "d:", "bu": "florbs", "bt": T0_S}, {"n": "power", "v": 5}],
         "unit_unknown", "[0].bu", "[1]"),
        (SM1, [{"bn": "d:", "n": "voltage", "u": "V", "v": 230, "bt": T0_S}],
         "unknown_quantity", "[0].n", "[0]"),
        (SM1, [{"bn": "d:", "n": "power", "u": "kW", "v": 5, "bt": T0_S, "t": 86400}],
         "future_time", "[0].t", "[0]"),
        (SM1, [{"bn": "d:", "n": "power", "u": "kW", "v": 5, "bt": 9e8}],
         "before_2000", "[0].bt", "[0]"),
        (SM1, [{"bn": "d:", "n": "power", "vs": "on"}], "schema", "[0].vs", "[0]"),
        (TG1, {"metrics": [{"fields": {"P": 5}, "timestamp": T0_S * 1000},
                           {"fields": {"P": "on"}, "timestamp": T0_S * 1000}]},
         "schema", "metrics[1].fields.P", "metrics[1]"),
        (TG1, {"fields": {"Q": 5}, "timestamp": T0_S * 1000},
         "unknown_quantity", "fields.Q", "message"),
        (TG1, {"fields": {"P": 5}, "timestamp": T0_S}, "before_2000", "timestamp", "message"),
        (TB1, {"ts": T0_S * 1000, "values": {"temperature": 21.5}},
         "unknown_quantity", "values.temperature", "message"),
        (TB1, [{"ts": T0_S * 1000, "values": {"power": 1e9}}],
         "out_of_range", "[0].values.power", "[0]"),
        (TB1, b"{not json", "invalid_json", None, "message"),
        (readings_topic(P, "s2", "tb1"), {"power": 1}, "wrong_topic", "topic", "message"),
    ],
)  # fmt: skip
def test_malformed_records_are_quarantined_naming_their_field(
    stores, topic: str, body: object, reason: str, field: str | None, item: str
) -> None:
    processor, store, db = stores
    result = send(processor, topic, body)
    assert (reason, field, item) in quarantine(db), quarantine(db)
    assert result.acks == {}
    if reason == "schema" and topic == TG1:
        assert [r[3] for r in rows(store, "tg1")] == [5.0 / 1000]  # its neighbour is stored


def test_senml_is_known_by_content_type_and_by_shape_from_any_device(stores) -> None:
    processor, store, db = stores
    # em1 is a native device: a pack whose first record has a name is SenML by its shape...
    shaped = [{"n": "power", "u": "kW", "v": 4.0, "bt": T0_S}]
    assert send(processor, EM1, shaped).stored == 1
    # ...and one whose first record does not is SenML by its MQTT 5 content type only.
    typed = [{"bt": T0_S + 60, "bu": "kW"}, {"n": "power", "v": 4.5}]
    assert send(processor, EM1, typed).stored == 0  # read as native: quarantined
    stored = send(processor, EM1, typed, content_type="application/senml+json; charset=utf-8")
    assert stored.stored == 1 and stored.acks == {}
    assert [(r[0], r[3]) for r in rows(store, "em1")] == [("power", 4.0), ("power", 4.5)]
    unknown = send(processor, readings_topic(P, "s1", "nobody"), shaped)
    assert unknown.quarantined == {"unknown_device": 1}
    assert quarantine(db)[-1] == ("unknown_device", "topic", "message")


def test_a_spooled_pack_keeps_its_content_type(stores, tmp_path: Path) -> None:
    """A store outage spools raw messages; the replay must read a pack recognised by its
    MQTT 5 content type as SenML again, not quarantine it as a bad native message. An
    older spool file without the column still opens."""
    processor, store, _ = stores
    old = tmp_path / "old-spool.sqlite"
    with sqlite3.connect(old) as conn:
        conn.execute(
            "CREATE TABLE spool (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, "
            "payload BLOB NOT NULL, received_ms INTEGER NOT NULL)"
        )
    spool = Spool(old)
    typed = [{"bt": T0_S + 60, "bu": "kW"}, {"n": "power", "v": 4.5}]
    spool.append([Inbound(EM1, json.dumps(typed).encode(), NOW_MS, content_type=SENML)])
    spool.close()
    replayed = [message for _, message in Spool(old).peek(10)]
    assert [m.content_type for m in replayed] == [SENML]
    assert processor.process(replayed).stored == 1
    assert [(r[0], r[3]) for r in rows(store, "em1")] == [("power", 4.5)]


def test_a_redelivered_timeless_message_gets_its_first_receive_time(stores) -> None:
    """Readings dated on receipt (ThingsBoard without ts, SenML with relative times): the
    broker's redelivery after a gateway kill (same packet id, DUP set, received later)
    is the same reading, not a second one a minute later; the same bytes sent again by
    the device (a new packet id) are a new reading."""
    processor, store, _ = stores
    tb = json.dumps({"values": {"power": 4.0}}).encode()
    sm = json.dumps([{"n": "power", "u": "kW", "v": 2.5, "t": -60}]).encode()

    def deliver(topic: str, payload: bytes, at_ms: int, mid: int, dup: bool = False):
        return processor.process([Inbound(topic, payload, at_ms, mid, 1, None, dup)])

    assert deliver(TB1, tb, NOW_MS - 60_000, mid=7).stored == 1
    assert deliver(SM1, sm, NOW_MS - 60_000, mid=8).stored == 1
    again = deliver(TB1, tb, NOW_MS, mid=7, dup=True)
    assert (again.stored, again.duplicates) == (0, 1)
    again = deliver(SM1, sm, NOW_MS, mid=8, dup=True)
    assert (again.stored, again.duplicates) == (0, 1)
    assert [(r[0], r[2]) for r in rows(store, "tb1")] == [("power", NOW_MS - 60_000)]
    assert [(r[0], r[2]) for r in rows(store, "sm1")] == [("power", NOW_MS - 120_000)]
    # the device sends the same bytes again: a new packet id, a new reading
    assert deliver(TB1, tb, NOW_MS - 30_000, mid=9).stored == 1
    # a redelivery whose first delivery was never processed is dated on its own receipt
    assert deliver(TB1, tb, NOW_MS - 10_000, mid=10, dup=True).stored == 1
    times = [r[2] for r in rows(store, "tb1")]
    assert times == [NOW_MS - 60_000, NOW_MS - 30_000, NOW_MS - 10_000]


LATE = """
  - id: late1
    site: s1
    type: ac_energy_meter
    serial: LATE-1
    quantities: [energy_export, power]
    accuracy_class: "0.5S"
    register_max: 99999.9
"""


def test_a_released_pack_is_decoded_as_it_arrived(stores) -> None:
    """A pack known as SenML only by its content type, quarantined because its device was
    not registered yet, is read as SenML when released after the device is added."""
    processor, store, db = stores
    late = readings_topic(P, "s1", "late1")
    typed = [{"bt": T0_S + 60, "bu": "kW"}, {"n": "power", "v": 4.5}]
    assert send(processor, late, typed, content_type=SENML).quarantined == {"unknown_device": 1}
    text = PLAN_TEXT.replace("devices:\n", "devices:\n" + LATE.lstrip("\n"), 1)
    plan, problems = validate_plan_text(text)
    assert plan is not None and not problems, problems
    with db.session() as s, s.begin():
        load_plan(s, plan, text, actor="test")
    outcomes = release(processor, None, project=P)
    assert [o.released for o in outcomes] == [True], [o.message for o in outcomes]
    assert [(r[0], r[3]) for r in rows(store, "late1")] == [("power", 4.5)]


def test_native_devices_are_unchanged(stores) -> None:
    processor, store, _ = stores
    message = {"device": "em1", "seq": 7, "time": T0_S,
               "readings": [{"quantity": "power", "value": 3, "unit": "kW"}]}  # fmt: skip
    result = send(processor, EM1, message)
    assert result.stored == 1 and result.acks == {(P, "s1", "em1"): {7}}
    assert rows(store, "em1") == [("power", 7, T0_S * 1000, 3.0, 3.0, "kW", "instant")]


# --- through a real Mosquitto and gateway -----------------------------------------------------


@pytest.fixture
def live(settings: Settings, run_gateway):
    db = Database(settings.effective_database_url)
    load(db)
    run_gateway(settings)
    store = SQLiteTimeSeriesStore(settings.effective_ts_path)
    yield settings, store, db
    store.close()
    db.dispose()


def test_a_senml_pack_by_content_type_over_mqtt5_and_no_ack(live, broker) -> None:
    settings, store, db = live
    acks: list[bytes] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    subscribed = threading.Event()
    client.on_message = lambda _c, _u, m: acks.append(bytes(m.payload))
    client.on_subscribe = lambda *_a: subscribed.set()
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        client.subscribe(ack_topic(P, "s1", "+"), qos=1)
        assert subscribed.wait(10)
        now_s = time.time()
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ContentType = "application/senml+json"
        pack = [{"bt": now_s - 120, "bu": "kW"}, {"n": "power", "v": 4.5}]
        client.publish(EM1, json.dumps(pack), qos=1, properties=props).wait_for_publish(10)
        telemetry = {"ts": int(now_s * 1000) - 60_000, "values": {"power": 2.5}}
        client.publish(TB1, json.dumps(telemetry), qos=1).wait_for_publish(10)
        native = {"device": "em1", "seq": 3, "time": now_s - 30,
                  "readings": [{"quantity": "power", "value": 1, "unit": "kW"}]}  # fmt: skip
        client.publish(EM1, json.dumps(native), qos=1).wait_for_publish(10)
        wait_until(lambda: store.count() == 3 and len(acks) >= 1, what="3 stored, 1 ack")
        time.sleep(0.5)  # an ack for the standard payloads would have come by now
    finally:
        client.loop_stop()
        client.disconnect()
    assert sorted((r.device, r.value) for r in store.query(P)) == [
        ("em1", 1.0), ("em1", 4.5), ("tb1", 2.5)
    ]  # fmt: skip
    assert [json.loads(a)["seq_ranges"] for a in acks] == [[[3, 3]]]
    assert quarantine(db) == []
