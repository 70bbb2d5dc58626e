"""Fault tests: kill the gateway, restart the broker, lock the store — nothing lost, nothing twice.

The gateway runs as a real ``mrv gateway`` process; devices are a paho publisher with a
persistent session. Each test publishes 20,000 messages (valid, duplicated and invalid),
injects the fault mid-stream, and then checks the stores against what was sent: every
valid reading stored exactly once, every invalid message quarantined exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select

from core.config import Settings
from core.wire import readings_topic
from persistence.engine import Database
from persistence.models import QuarantineEntry
from persistence.repo import load_plan
from tests.support.paths import SOLAR_PLAN
from tests.support.ports import free_port
from tests.support.services import wait_until
from verification.plan_check import load_plan_file

pytestmark = pytest.mark.slow

N_MESSAGES = 20_000
INVALID_EVERY = 50  # 2% poison: 400 messages
DUPLICATE_EVERY = 25  # and 4% sent twice
DEVICES = [("rayong-a", "pv-a-meter"), ("rayong-b", "pv-b-meter"), ("koh-site", "pv-koh-meter")]
T0 = datetime(2026, 6, 1, tzinfo=UTC)


def workload(n: int = N_MESSAGES) -> tuple[list[tuple[str, bytes]], set[tuple[str, int, str]], int]:
    """The messages to send, the identities that must be stored, and the poison count."""
    items: list[tuple[str, bytes]] = []
    expected: set[tuple[str, int, str]] = set()
    invalid = 0
    for i in range(n):
        site, device = DEVICES[i % len(DEVICES)]
        seq = i // len(DEVICES)
        topic = readings_topic("th-solar-rooftops", site, device)
        if i % INVALID_EVERY == 7:
            items.append((topic, f'{{"device":"{device}","seq":{seq},"broken'.encode()))
            invalid += 1
            continue
        when = T0 + timedelta(minutes=15 * seq)
        payload = json.dumps(
            {
                "device": device,
                "seq": seq,
                "time": when.isoformat(),
                "readings": [
                    {"quantity": "energy_export", "value": 1000.0 + seq, "unit": "kWh"},
                    {"quantity": "power", "value": (seq % 100) / 10, "unit": "kW"},
                ],
            }
        ).encode()
        items.append((topic, payload))
        expected.add((device, seq, "energy_export"))
        expected.add((device, seq, "power"))
        if i % DUPLICATE_EVERY == 3:
            items.append((topic, payload))
    return items, expected, invalid


class GatewayProcess:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = settings.home / "gateway.log"
        self.metrics_port = free_port()

    def start(self) -> None:
        env = {**os.environ, "MRV_HOME": str(self.settings.home)}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mrv.cli",
                    "gateway",
                    "--mqtt-url",
                    self.settings.mqtt_url,
                    "--client-id",
                    "fault-gw",
                    "--metrics-port",
                    str(self.metrics_port),
                ],
                env=env,
                stdout=log,
                stderr=log,
            )

    def wait_subscribed(self) -> None:
        """Until the broker confirmed the gateway's subscription (its /metrics says so).

        Idle, a gateway process is up in about two seconds; on a busy machine (the suite
        runs in parallel) its start can take many times that, so the wait is long, but a
        gateway that exits ends it at once."""

        def subscribed() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                log = self.log.read_text(errors="replace")[-2000:]
                raise AssertionError(f"gateway exited with {self.proc.returncode}: {log}")
            try:
                url = f"http://127.0.0.1:{self.metrics_port}/metrics"
                text = urllib.request.urlopen(url, timeout=2).read().decode()
            except OSError:
                return False
            return "mrv_gateway_subscribed 1.0" in text

        wait_until(subscribed, 120, "gateway subscribed")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


class Device:
    """A publisher with a persistent session, as a data logger would use."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="fault-device", protocol=mqtt.MQTTv5
        )
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.1, 1)
        self.acked: set[int] = set()
        self.client.on_publish = lambda _c, _u, mid, _rc, _p: self.acked.add(mid)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, clean_start=False, properties=props)
        self.client.loop_start()

    def send(self, items: list[tuple[str, bytes]], on_progress=None) -> None:
        infos = []
        for n, (topic, payload) in enumerate(items):
            infos.append(self.client.publish(topic, payload, qos=1))
            if on_progress is not None:
                on_progress(n)
        # Not wait_for_publish(): it raises for a message queued while the broker was
        # down, though paho sends it after reconnecting, which is what is being tested.
        # Completion is the broker's PUBACK, seen through on_publish.
        deadline = time.monotonic() + 180
        for info in infos:
            while info.mid not in self.acked:
                assert time.monotonic() < deadline, "publishes never completed"
                time.sleep(0.01)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def start_stack(settings: Settings, broker):
    """The plan registered, a gateway process subscribed, a device connected."""
    prepare(settings)
    items, expected, invalid = workload()
    gw = GatewayProcess(settings)
    gw.start()
    gw.wait_subscribed()
    return items, expected, invalid, gw, Device(broker.port)


def prepare(settings: Settings) -> None:
    db = Database(settings.effective_database_url)
    with db.session() as s, s.begin():
        load_plan(s, load_plan_file(SOLAR_PLAN), SOLAR_PLAN.read_text(), actor="test")
    db.dispose()


def stored_identities(settings: Settings) -> list[tuple[str, int, str]]:
    conn = sqlite3.connect(settings.effective_ts_path)
    rows = conn.execute("SELECT device, seq, quantity FROM readings").fetchall()
    conn.close()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def quarantine_count(settings: Settings) -> int:
    db = Database(settings.effective_database_url, run_migrations=False)
    with db.session() as s:
        n = s.scalar(select(func.count()).select_from(QuarantineEntry))
    db.dispose()
    return int(n or 0)


def count_stored(settings: Settings) -> int:
    path = settings.effective_ts_path
    if not path.exists():
        return 0
    conn = sqlite3.connect(path, timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def check_exactly_once(settings: Settings, expected: set, invalid: int) -> None:
    wait_until(
        lambda: count_stored(settings) >= len(expected) and quarantine_count(settings) >= invalid,
        timeout=180,
        what="everything stored",
    )
    time.sleep(1.0)
    stored = stored_identities(settings)
    assert len(stored) == len(set(stored)) == len(expected)
    assert set(stored) == expected
    assert quarantine_count(settings) == invalid


def test_sigkill_gateway_mid_stream(settings: Settings, broker):
    items, expected, invalid, gw, device = start_stack(settings, broker)
    killed = threading.Event()

    def killer() -> None:
        wait_until(lambda: count_stored(settings) > 4000, 120, "some stored")
        gw.kill()
        killed.set()

    t = threading.Thread(target=killer)
    t.start()
    device.send(items)
    t.join()
    assert killed.is_set()
    assert count_stored(settings) < len(expected), "the kill came too late to prove anything"
    gw.start()
    gw.wait_subscribed()
    check_exactly_once(settings, expected, invalid)
    assert gw.terminate() == 0
    device.close()


def test_broker_restart_mid_stream(settings: Settings, broker):
    items, expected, invalid, gw, device = start_stack(settings, broker)
    restarted = threading.Event()

    def progress(n: int) -> None:
        if n == N_MESSAGES // 2 and not restarted.is_set():
            restarted.set()
            broker.restart()

    device.send(items, on_progress=progress)
    check_exactly_once(settings, expected, invalid)
    assert gw.terminate() == 0
    device.close()


def test_store_locked_spools_and_replays(settings: Settings, broker):
    items, expected, invalid, gw, device = start_stack(settings, broker)
    # Another process takes the store's write lock for 12 s while devices keep publishing.
    locker = sqlite3.connect(settings.effective_ts_path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    sender = threading.Thread(target=device.send, args=(items,))
    sender.start()
    time.sleep(12)
    locker.execute("ROLLBACK")
    locker.close()
    sender.join()
    check_exactly_once(settings, expected, invalid)
    log = gw.log.read_text()
    assert "spooling" in log, "the store outage never reached the spool"
    assert gw.terminate() == 0
    device.close()


def test_relational_store_down_spools_and_replays(
    settings: Settings, broker, run_gateway, publisher
):
    """PostgreSQL (quarantine, events, audit) goes away mid-stream: the gateway spools,
    keeps acknowledging, and replays everything once the database is back."""
    from devtools.pgserver import PostgresServer

    pg = PostgresServer(port=free_port()).start()
    try:
        settings = settings.model_copy(update={"database_url": pg.create_database("outage")})
        prepare(settings)
        gw = run_gateway(settings, spool_retry_s=0.5)
        items, expected, invalid = workload(3000)
        publisher.publish_many(items[:1000])
        wait_until(lambda: count_stored(settings) > 0, 30, "first readings stored")
        pg.halt()
        publisher.publish_many(items[1000:])  # acknowledged by the gateway into its spool
        metrics = gw.gateway.metrics
        wait_until(lambda: metrics.spooled._value.get() > 0, 30, "spooling")
        pg.launch()
        wait_until(
            lambda: gw.gateway.spool.depth == 0 and metrics.replayed._value.get() > 0,
            60,
            "spool replayed",
        )
        check_exactly_once(settings, expected, invalid)
        gw.stop()
    finally:
        pg.stop()
