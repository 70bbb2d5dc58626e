"""Signed devices through a real Mosquitto and a real gateway: a device whose plan entry
requires signing has its Ed25519 public key in the plan; its messages carry ``sig`` over
the canonical message, and an unsigned, foreign-signed or altered message is quarantined
with reason ``signature`` (per element of a backfill batch); other devices are unchanged.
The simulator signs when it is given the device's key."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from core.config import Settings
from core.signing import public_text, sign_message
from core.wire import readings_topic
from firmware_sim.faults import FaultConfig
from firmware_sim.runner import run_simulation
from persistence.engine import Database
from persistence.models import QuarantineEntry
from persistence.repo import load_plan
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from tests.support.paths import TEST_PLAN
from tests.support.services import wait_until
from verification.plan_check import validate_plan_text

P = "test-proj"
EM1 = readings_topic(P, "s1", "em1")
FM_20 = readings_topic(P, "s2", "fm-20")
KEY = Ed25519PrivateKey.generate()


def signed_plan(key: Ed25519PrivateKey) -> str:
    text = TEST_PLAN.read_text()
    return text.replace(
        "    serial: EM-1\n",
        f'    serial: EM-1\n    signing: required\n    public_key: "{public_text(key.public_key())}"\n',
    )


@pytest.fixture
def signed(settings: Settings, run_gateway, publisher):
    text = signed_plan(KEY)
    plan, problems = validate_plan_text(text)
    assert not problems and plan is not None, problems
    db = Database(settings.effective_database_url)
    with db.session() as s, s.begin():
        load_plan(s, plan, text, actor="test")
    run_gateway(settings)
    store = SQLiteTimeSeriesStore(settings.effective_ts_path)
    yield publisher, store, db
    store.close()
    db.dispose()


def message(device: str, seq: int, value: float = 1.0) -> dict:
    when = (datetime.now(UTC) - timedelta(minutes=seq)).isoformat()
    quantity, unit = ("power", "kW") if device == "em1" else ("gas_volume_normal", "m3")
    return {"device": device, "seq": seq, "time": when,
            "readings": [{"quantity": quantity, "value": value, "unit": unit}]}  # fmt: skip


def quarantined(db: Database) -> dict[int | None, QuarantineEntry]:
    with db.session() as s:
        return {q.seq: q for q in s.scalars(select(QuarantineEntry))}


def test_only_messages_signed_by_the_device_key_are_stored(signed) -> None:
    pub, store, db = signed
    altered = sign_message(KEY, message("em1", 4))
    altered["readings"][0]["value"] = 999.0
    cases = [
        (EM1, sign_message(KEY, message("em1", 1)), None),
        (EM1, message("em1", 2), "not signed"),
        (EM1, sign_message(Ed25519PrivateKey.generate(), message("em1", 3)), "signature of"),
        (EM1, altered, "signature of"),
        (EM1, {**message("em1", 5), "sig": "not base64!"}, "signature of"),
        (FM_20, message("fm-20", 1), None),  # a device that does not sign: as before
    ]
    pub.publish_many([(topic, json.dumps(body).encode()) for topic, body, _ in cases])
    bad = [c for c in cases if c[2] is not None]
    wait_until(lambda: len(quarantined(db)) == len(bad) and store.count() == len(cases) - len(bad))
    found = quarantined(db)
    for _topic, body, why in bad:
        entry = found[body["seq"]]
        assert (entry.reason, entry.field) == ("signature", "sig"), entry.detail
        assert why in entry.detail
    assert sorted((r.device, r.seq) for r in store.query(P)) == [("em1", 1), ("fm-20", 1)]


def test_each_element_of_a_backfill_batch_is_checked(signed) -> None:
    pub, store, db = signed
    batch = [sign_message(KEY, message("em1", 10)), message("em1", 11),
             sign_message(KEY, message("em1", 12))]  # fmt: skip
    pub.publish(EM1, json.dumps(batch).encode())
    wait_until(lambda: store.count() == 2 and len(quarantined(db)) == 1)
    entry = quarantined(db)[11]
    assert (entry.reason, entry.field, entry.item) == ("signature", "[1].sig", "[1]")


def test_a_plan_that_requires_signing_names_the_key() -> None:
    text = TEST_PLAN.read_text().replace(
        "    serial: EM-1\n", "    serial: EM-1\n    signing: required\n"
    )
    plan, problems = validate_plan_text(text)
    assert [p.path for p in problems] == ["devices[0].public_key"]
    bad_key = text.replace("signing: required\n", "signing: required\n    public_key: ed25519:xx\n")
    _, problems = validate_plan_text(bad_key)
    assert [p.path for p in problems] == ["devices[0].public_key"]


def test_the_simulator_signs_with_the_device_key(signed, settings: Settings) -> None:
    pub, store, db = signed
    plan, _ = validate_plan_text(signed_plan(KEY))
    assert plan is not None
    result = run_simulation(
        [plan],
        settings.mqtt(),
        start=datetime.now(UTC) - timedelta(hours=2),
        days=1 / 24,
        seed=7,
        speed=None,
        backfill=True,
        faults=FaultConfig.none(),
        state_dir=settings.home / "sim",
        ack_timeout_s=30,
        signing_keys={(P, "em1"): KEY},
    )
    assert result.all_acked
    assert [q.detail for q in quarantined(db).values()] == []
    assert any(r.device == "em1" for r in store.query(P))
