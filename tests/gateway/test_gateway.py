"""The gateway against a real Mosquitto: wire contract, quarantine, dedupe, units, registers."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from core.config import Settings
from core.wire import AckMessage, ack_topic, readings_topic
from persistence.engine import Database
from persistence.models import Event, QuarantineEntry, QuarantineMessage
from persistence.repo import load_plan
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from tests.support.paths import TEST_PLAN
from tests.support.services import Publisher, wait_until
from verification.plan_check import load_plan_file, validate_plan_text

PLAN = TEST_PLAN
P = "test-proj"
EM1 = readings_topic(P, "s1", "em1")
FM_US = readings_topic(P, "s2", "fm-us")
FM_20 = readings_topic(P, "s2", "fm-20")
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def message(
    device: str, seq: int, readings: list[dict], when: datetime | float = T0, **extra
) -> bytes:
    body = {
        "device": device,
        "seq": seq,
        "time": when.isoformat() if isinstance(when, datetime) else when,
        "readings": readings,
        **extra,
    }
    return json.dumps(body).encode()


def energy(value: float, unit: str = "kWh") -> dict:
    return {"quantity": "energy_export", "value": value, "unit": unit, "kind": "cumulative"}


@pytest.fixture
def loaded(settings: Settings) -> Settings:
    db = Database(settings.effective_database_url)
    with db.session() as session, session.begin():
        load_plan(session, load_plan_file(PLAN), PLAN.read_text(), actor="test")
    db.dispose()
    return settings


@pytest.fixture
def env(loaded, run_gateway, publisher):
    gw = run_gateway(loaded)
    store = SQLiteTimeSeriesStore(loaded.effective_ts_path)
    db = Database(loaded.effective_database_url)
    yield loaded, gw, publisher, store, db
    store.close()
    db.dispose()


def quarantined(db: Database) -> list[QuarantineEntry]:
    with db.session() as s:
        return list(s.scalars(select(QuarantineEntry).order_by(QuarantineEntry.id)))


def events(db: Database) -> list[Event]:
    with db.session() as s:
        return list(s.scalars(select(Event).order_by(Event.time_ms)))


def settle(gw, received: int, timeout: float = 20) -> None:
    """Wait until the gateway has received and durably handled `received` messages."""
    metrics = gw.gateway.metrics
    wait_until(lambda: metrics.received._value.get() >= received, timeout, f"{received} received")
    time.sleep(0.3)  # the batch that holds the last message commits within an interval


def test_canonical_value_and_raw_kept(env):
    _, _gw, pub, store, _ = env
    pub.publish(
        EM1,
        message("em1", 1, [energy(12.3456, "MWh"), {"quantity": "power", "value": 5, "unit": "W"}]),
    )
    wait_until(lambda: store.count() == 2)
    rows = {r.quantity: r for r in store.query(P)}
    assert rows["energy_export"].value == pytest.approx(12345.6)
    assert (rows["energy_export"].raw_value, rows["energy_export"].raw_unit) == (12.3456, "MWh")
    assert rows["power"].value == pytest.approx(0.005)
    assert rows["energy_export"].kind == "cumulative" and rows["power"].kind == "instant"
    assert rows["power"].time_ms == int(T0.timestamp() * 1000)


@pytest.mark.parametrize(
    ("topic", "payload", "reason", "field"),
    [
        (EM1, b"\xff\xfe\x00", "not_utf8", None),
        (EM1, b"{not json", "invalid_json", None),
        (EM1, b"42", "schema", "message"),
        (EM1, message("em1", -1, [energy(1)]), "schema", "seq"),
        (EM1, message("em1", "7", [energy(1)]), "schema", "seq"),
        (EM1, message("em1", 1, []), "schema", "readings"),
        (
            EM1,
            b'{"device":"em1","seq":1,"time":"2026-11-01T00:00:00Z","readings":[{"quantity":"power","value":NaN,"unit":"kW"}]}',
            "schema",
            "readings[0].value",
        ),
        (EM1, message("em1", 1, [energy(1)], when="2026-11-01T00:00:00"), "schema", "time"),
        (
            EM1,
            message(
                "em1",
                1,
                [{"quantity": "energy_export", "value": 1, "unit": "kWh", "kind": "interval"}],
            ),
            "schema",
            "readings[0]",
        ),
        (EM1, b"[" + b"1" * (300 * 1024) + b"]", "too_large", None),
        (readings_topic(P, "s2", "em1"), message("em1", 1, [energy(1)]), "wrong_topic", "topic"),
        (EM1, message("em2", 1, [energy(1)]), "device_mismatch", "device"),
        (
            readings_topic(P, "s1", "ghost"),
            message("ghost", 1, [energy(1)]),
            "unknown_device",
            "device",
        ),
        (
            EM1,
            message("em1", 1, [{"quantity": "banana", "value": 1, "unit": "kWh"}]),
            "unknown_quantity",
            "readings[0].quantity",
        ),
        (
            EM1,
            message("em1", 1, [{"quantity": "gas_flow", "value": 1, "unit": "m3/h"}]),
            "unknown_quantity",
            "readings[0].quantity",
        ),
        (EM1, message("em1", 1, [energy(1, "florbs")]), "unit_unknown", "readings[0].unit"),
        # pint would read these as kWh; stored as sent they are not (PostgreSQL refuses NUL)
        (EM1, message("em1", 1, [energy(1, "kWh\x00")]), "unit_unknown", "readings[0].unit"),
        (EM1, message("em1", 1, [energy(1, "kWh\u200b")]), "unit_unknown", "readings[0].unit"),
        (EM1, message("em1", 1, [energy(1, "kg")]), "unit_dimension", "readings[0].unit"),
        (EM1, message("em1", 1, [energy(2e12, "kWh")]), "out_of_range", "readings[0].value"),
        (
            FM_US,
            message("fm-us", 1, [{"quantity": "ch4_fraction", "value": 150, "unit": "%"}]),
            "out_of_range",
            "readings[0].value",
        ),
        (
            EM1,
            message("em1", 1, [energy(1)], when=datetime.now(UTC) + timedelta(days=1)),
            "future_time",
            "time",
        ),
    ],
)
def test_every_quarantine_reason_names_the_field(env, topic, payload, reason, field):
    _, _gw, pub, store, db = env
    pub.publish(topic, payload)
    wait_until(lambda: len(quarantined(db)) == 1, what=f"quarantine {reason}")
    entry = quarantined(db)[0]
    assert entry.reason == reason
    assert entry.field == field
    with db.session() as s:
        raw = s.get(QuarantineMessage, entry.digest)
    assert raw is not None and bytes(raw.payload) == payload and raw.topic == topic
    assert entry.topic == topic
    if field:
        assert field.split(".")[0].split("[")[0] in entry.detail
    assert store.count() == 0


def test_duplicates_are_stored_once_and_conflicts_quarantined(env):
    _, gw, pub, store, db = env
    first = message("em1", 5, [energy(100.0)])
    for _ in range(3):
        pub.publish(EM1, first)
    # the same reading in other units is still the same value: a duplicate
    pub.publish(EM1, message("em1", 5, [energy(0.1, "MWh")]))
    pub.publish(EM1, message("em1", 5, [energy(101.0)]))  # same identity, new value
    settle(gw, 5)
    assert store.count() == 1
    assert next(store.query(P)).value == 100.0
    entries = quarantined(db)
    assert [e.reason for e in entries] == ["conflict"]
    assert "differs from the stored 100" in entries[0].detail
    assert gw.gateway.metrics.duplicates._value.get() == 3
    assert [e.kind for e in events(db)] == ["conflict"]


def test_unit_conversions_gas_train(env):
    _, _gw, pub, store, _ = env
    readings = [
        {"quantity": "gas_volume_normal", "value": 1000, "unit": "scf", "kind": "cumulative"},
        {"quantity": "gas_flow_normal", "value": 100, "unit": "SCFM"},
        {"quantity": "gas_temperature", "value": 68, "unit": "degF"},
        {"quantity": "gas_pressure", "value": 10, "unit": "psig"},
        {"quantity": "ch4_fraction", "value": 55, "unit": "%"},
    ]
    pub.publish(FM_US, message("fm-us", 1, readings))
    # plain ft3 from a meter whose reference conditions are 60 °F / 1 atm = scf
    pub.publish(
        FM_US,
        message("fm-us", 2, [{"quantity": "gas_volume_normal", "value": 1000, "unit": "ft^3"}]),
    )
    # m3 at 20 °C reference: V_n = V × 273.15 / 293.15
    pub.publish(
        FM_20, message("fm-20", 1, [{"quantity": "gas_volume_normal", "value": 100, "unit": "m3"}])
    )
    wait_until(lambda: store.count() == 7)
    got = {(r.device, r.seq, r.quantity): r.value for r in store.query(P)}
    assert got[("fm-us", 1, "gas_volume_normal")] == pytest.approx(26.7912, rel=1e-5)
    assert got[("fm-us", 1, "gas_flow_normal")] == pytest.approx(100 * 0.0267912 * 60, rel=1e-5)
    assert got[("fm-us", 1, "gas_temperature")] == pytest.approx(20.0)
    # gauge pressure on the device's stated atmosphere (95 kPa), not 101.325
    assert got[("fm-us", 1, "gas_pressure")] == pytest.approx(95.0 + 68.9476, rel=1e-5)
    assert got[("fm-us", 1, "ch4_fraction")] == pytest.approx(0.55)
    assert got[("fm-us", 2, "gas_volume_normal")] == pytest.approx(26.7912, rel=1e-4)
    assert got[("fm-20", 1, "gas_volume_normal")] == pytest.approx(100 * 273.15 / 293.15, rel=1e-9)


def test_register_rollover_and_reset_are_events(env):
    _, gw, pub, store, db = env
    values = [99980.0, 99995.0, 4.0, 10.0, 3.0, 8.0]  # wrap at 99999.9, then a reset
    for seq, value in enumerate(values, start=1):
        pub.publish(EM1, message("em1", seq, [energy(value)], when=T0 + timedelta(minutes=seq)))
    wait_until(lambda: store.count() == 6)
    settle(gw, 6)
    found = [(e.kind, e.detail["previous_value"], e.detail["value"]) for e in events(db)]
    assert found == [("rollover", 99995.0, 4.0), ("reset", 10.0, 3.0)]
    rollover = events(db)[0]
    assert rollover.detail["implied_increment"] == pytest.approx(8.9)


def test_out_of_order_and_week_old_backfill(env):
    _, _gw, pub, store, db = env
    now = datetime.now(UTC).replace(microsecond=0)
    pub.publish(EM1, message("em1", 1000, [energy(5000.0)], when=now))
    week_ago = now - timedelta(days=7)
    batch = [
        json.loads(
            message(
                "em1",
                seq,
                [energy(4000.0 + seq)],
                when=week_ago + timedelta(minutes=seq),
                historical=True,
            )
        )
        for seq in range(1, 101)
    ]
    batch.reverse()  # arrival order must not matter
    pub.publish(EM1, json.dumps(batch).encode())
    wait_until(lambda: store.count() == 101)
    rows = list(store.query(P, quantity="energy_export"))
    assert [r.seq for r in rows] == [*range(1, 101), 1000]
    assert all(r.historical for r in rows[:100]) and not rows[100].historical
    assert events(db) == []  # a rising register filled in from the past has no decrease
    # a late reading below its stored successor is a decrease, found through the store
    pub.publish(EM1, message("em1", 500, [energy(3000.0)], when=now - timedelta(days=1)))
    wait_until(lambda: len(events(db)) == 1)
    assert events(db)[0].kind == "reset"


def test_backfill_array_with_one_bad_element(env):
    _, _gw, pub, store, db = env
    items = [
        json.loads(message("em1", 1, [energy(1.0)])),
        {"device": "em1", "seq": "two", "time": T0.isoformat(), "readings": [energy(2.0)]},
        json.loads(message("em1", 3, [energy(3.0)], when=T0 + timedelta(minutes=3))),
    ]
    pub.publish(EM1, json.dumps(items).encode())
    wait_until(lambda: store.count() == 2 and len(quarantined(db)) == 1)
    entry = quarantined(db)[0]
    assert (entry.reason, entry.field, entry.item) == ("schema", "[1].seq", "[1]")


def test_ack_topic_lists_durable_seqs(env, broker):
    _, _gw, pub, _store, _db = env
    acks: list[AckMessage] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda c, u, m: acks.append(AckMessage.model_validate_json(m.payload))
    sub.connect("127.0.0.1", broker.port)
    sub.subscribe(ack_topic(P, "s1", "em1"), qos=1)
    sub.loop_start()
    time.sleep(0.3)
    pub.publish(EM1, message("em1", 1, [energy(1.0)]))
    pub.publish(EM1, message("em1", 2, [energy(1, "kg")]))  # quarantined, still durable
    pub.publish(EM1, message("em1", 3, [energy(3.0)]))
    wait_until(lambda: set().union(*(a.seqs() for a in acks)) == {1, 2, 3} if acks else False)
    sub.loop_stop()
    sub.disconnect()


def test_release_after_registering_the_device(env):
    _settings, _gw, pub, store, db = env
    topic = readings_topic(P, "s1", "em9")
    pub.publish(topic, message("em9", 1, [energy(7.0)]))
    wait_until(lambda: len(quarantined(db)) == 1)
    from gateway.processor import BatchProcessor
    from gateway.release import release

    processor = BatchProcessor(store, db)
    outcome = release(processor, None)
    assert [o.released for o in outcome] == [False]  # still unknown: stays open
    text = PLAN.read_text().replace(
        "  - id: fm-us",
        "  - {id: em9, site: s1, type: meter, serial: EM-9, quantities: [energy_export],"
        " accuracy_class: '1', register_max: 99999.9}\n  - id: fm-us",
    )
    plan, problems = validate_plan_text(text)
    assert not problems and plan is not None
    with db.session() as s, s.begin():
        load_plan(s, plan, text, actor="test")
    outcome = release(processor, None)
    assert [o.released for o in outcome] == [True]
    assert store.count() == 1
    assert quarantined(db)[0].status == "released"


def test_mqtt_311_device_is_accepted(env, broker):
    _, _gw, _pub, store, _db = env
    old = Publisher(broker, protocol=mqtt.MQTTv311)
    old.publish(EM1, message("em1", 1, [energy(1.0)]))
    old.close()
    wait_until(lambda: store.count() == 1)


def test_epoch_seconds_time(env):
    _, _gw, pub, store, _db = env
    pub.publish(EM1, message("em1", 1, [energy(1.0)], when=1_790_000_000.5))
    wait_until(lambda: store.count() == 1)
    assert next(store.query(P)).time_ms == 1_790_000_000_500


def test_device_status_is_recorded_newest_first(env, broker):
    from core.wire import status_topic
    from persistence.models import DeviceStatus

    _, gw, pub, store, db = env
    topic = status_topic(P, "s1", "em1")
    pub.publish(
        topic, json.dumps({"device": "em1", "state": "online", "firmware": "2.1", "buffered": 12})
    )
    pub.publish(status_topic(P, "s1", "ghost"), json.dumps({"device": "ghost", "state": "online"}))

    def status():
        with db.session() as s:
            return s.get(DeviceStatus, (P, "em1"))

    wait_until(lambda: status() is not None)
    assert (status().state, status().firmware, status().buffered) == ("online", "2.1", 12)
    wait_until(lambda: len(quarantined(db)) == 1)
    assert quarantined(db)[0].reason == "unknown_device"
    pub.publish(topic, json.dumps({"device": "em1", "state": "offline"}))
    wait_until(lambda: status().state == "offline")


def test_arrival_gap_is_an_event(env):
    _, gw, pub, store, db = env
    # em1 reports every 60 s (the plan's default); a 20-minute silence is a gap
    for seq, minute in enumerate([0, 1, 2, 22, 23], start=1):
        pub.publish(
            EM1, message("em1", seq, [energy(10.0 + seq)], when=T0 + timedelta(minutes=minute))
        )
    # a historical replay of the gap does not count as live arrival
    pub.publish(
        EM1, message("em1", 9, [energy(13.5)], when=T0 + timedelta(minutes=10), historical=True)
    )
    wait_until(lambda: store.count() == 6)
    settle(gw, 6)
    gaps = [e for e in events(db) if e.kind == "arrival_gap"]
    assert [(e.device_id, e.detail["seconds"]) for e in gaps] == [("em1", 1200.0)]


def test_a_bug_on_one_message_quarantines_that_message_only(
    loaded, run_gateway, publisher, monkeypatch
):
    """Simulates a gateway bug that one payload triggers: the rest of its batch is stored."""
    from gateway.decode import Decoder

    real = Decoder.decode

    def buggy(self, message, out):
        if b"boom" in message.payload:
            raise ZeroDivisionError("simulated bug")
        return real(self, message, out)

    monkeypatch.setattr(Decoder, "decode", buggy)
    gw = run_gateway(loaded, batch_interval_s=0.5)  # one batch holds all three
    store = SQLiteTimeSeriesStore(loaded.effective_ts_path)
    db = Database(loaded.effective_database_url)
    pub_items = [
        (EM1, message("em1", 1, [energy(1.0)])),
        (EM1, message("em1", 2, [energy(2.0)], note="boom")),
        (EM1, message("em1", 3, [energy(3.0)], when=T0 + timedelta(minutes=3))),
    ]
    publisher.publish_many(pub_items)
    wait_until(lambda: store.count() == 2 and len(quarantined(db)) == 1)
    entry = quarantined(db)[0]
    assert entry.reason == "internal_error" and "simulated bug" in entry.detail
    assert [r.seq for r in store.query(P)] == [1, 3]
    gw.stop()
    store.close()
    db.dispose()
