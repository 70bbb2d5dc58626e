"""The simulator in each standard payload format, through a real Mosquitto and a real
gateway, into its own home: the same simulated devices (seed, period, faults) store the
same values at the same times as with the native payload; the negative sensor readings
are quarantined naming the field in each format's own terms; outages come back as each
format's batch; and the devices, which get no end-to-end ack, free their buffer on the
broker's PUBACK."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.config import Settings
from core.plans.schema import MonitoringPlan, PayloadField
from core.plans.validate import validate_plan_text
from firmware_sim.faults import FaultConfig
from firmware_sim.runner import run_simulation
from firmware_sim.units_out import reported_unit
from mrv.demo.broker import MosquittoBroker
from persistence.engine import Database
from persistence.models import QuarantineEntry
from persistence.repo import load_plan
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from tests.sim.test_firmware_sim import small_plan
from tests.support.services import wait_until

# Outages (so that each format's backfill batch is used), resent duplicates, negative and
# stuck sensors; no wrong units (a unit-less format cannot carry one, so the faults drawn
# after it would differ between formats) and no garbage.
FAULTS = FaultConfig(
    outage_rate_per_day=6.0, outage_mean_h=1.0, duplicate_rate=0.02, negative_rate=0.01,
    stuck_rate=0.002,
)  # fmt: skip
FIELD_OF_A_NEGATIVE = {
    "native": r"^(\[\d+\]\.)?readings\[\d+\]\.value$",
    "senml": r"^\[\d+\]\.v$",
    "telegraf": r"^(metrics\[\d+\]\.)?fields\.[a-z0-9-]+$",
    "thingsboard": r"^(\[\d+\]\.)?values\.[a-z0-9-]+$",
}


def in_format(plan: MonitoringPlan, fmt: str) -> tuple[MonitoringPlan, str]:
    """The plan with every device speaking ``fmt``: logger field names of its own, in
    the units the device shows (which a unit-less format states in the plan)."""
    if fmt == "native":
        text = json.dumps(plan.model_dump(mode="json"))
    else:
        devices = []
        for device in plan.devices:
            fields = {
                q.replace("_", "-"): PayloadField(quantity=q, unit=reported_unit(device, q))
                for q in device.quantities
            }
            update = {"payload": fmt, "fields": fields}
            if fmt == "telegraf":
                update["timestamp_unit"] = "ms"
            devices.append(device.model_copy(update=update))
        changed = plan.model_copy(update={"devices": devices})
        text = json.dumps(changed.model_dump(mode="json"))
    parsed, problems = validate_plan_text(text)
    assert parsed is not None and not problems, problems
    return parsed, text


def run_format(fmt: str, tmp_path: Path, broker: MosquittoBroker, run_gateway, start: datetime):
    home = tmp_path / fmt
    home.mkdir()
    settings = Settings(
        home=home, mqtt_url=broker.url, gateway_batch_interval_ms=20,
        gateway_client_id=f"gw-{fmt}",
    )  # fmt: skip
    plan, text = in_format(small_plan(), fmt)
    db = Database(settings.effective_database_url)
    with db.session() as s, s.begin():
        load_plan(s, plan, text, actor="test")
    gateway = run_gateway(settings)
    result = run_simulation(
        [plan], settings.mqtt(), start=start, days=0.5, seed=11, speed=None, backfill=True,
        faults=FAULTS, state_dir=home / "sim", ack_timeout_s=60,
    )  # fmt: skip
    assert result.all_acked, result
    store = SQLiteTimeSeriesStore(settings.effective_ts_path)
    received = gateway.gateway.metrics.received
    wait_until(lambda: received._value.get() >= result.total().publishes, 60, "all received")
    wait_until(lambda: _settled(store), 30, "the store to settle")
    gateway.stop()
    values = {(r.device, r.quantity, r.time_ms): r.value for r in store.query(plan.project.id)}
    with db.session() as s:
        quarantined = [(q.reason, q.field) for q in s.scalars(select(QuarantineEntry))]
    store.close()
    db.dispose()
    return result, values, quarantined


def _settled(store: SQLiteTimeSeriesStore) -> bool:
    before = store.count()
    time.sleep(0.3)
    return store.count() == before


@pytest.fixture(scope="module")
def start() -> datetime:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(days=1)


def test_each_format_stores_what_the_native_payload_stores(
    tmp_path: Path, broker: MosquittoBroker, run_gateway, start: datetime
) -> None:
    runs = {
        fmt: run_format(fmt, tmp_path, broker, run_gateway, start) for fmt in FIELD_OF_A_NEGATIVE
    }
    native_result, native_values, native_quarantine = runs["native"]
    assert native_result.total().historical_messages > 0  # outages were backfilled
    assert native_result.total().negative > 0
    assert len(native_values) > 1000
    for fmt, (result, values, quarantined) in runs.items():
        assert result.total().messages == native_result.total().messages, fmt
        assert values.keys() == native_values.keys(), fmt
        differ = {
            k: (v, values[k]) for k, v in native_values.items() if values[k] != pytest.approx(v)
        }
        assert differ == {}, f"{fmt}: {len(differ)} values differ, e.g. {list(differ.items())[:3]}"
        assert len(quarantined) == len(native_quarantine) > 0, (fmt, quarantined)
        for reason, field in quarantined:
            assert reason == "out_of_range" and re.match(FIELD_OF_A_NEGATIVE[fmt], field or ""), (
                fmt,
                reason,
                field,
            )
