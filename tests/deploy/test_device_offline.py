"""A device turns offline after its plan's silence, and on its MQTT last will: a real
broker, a real gateway, the device list read through the CLI, the API and the gateway's
``mrv_gateway_devices`` gauge. And the plan setting's validation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core.config import Settings
from core.liveness import liveness
from core.plans.validate import validate_plan_text
from core.wire import StatusMessage, readings_topic, status_topic
from mrv.demo.broker import MosquittoBroker
from persistence.engine import Database
from persistence.liveness import device_liveness, state_counts
from persistence.repo import load_plan, touch_devices
from tests.support.api import run, serve, token
from tests.support.paths import ROOT, TEST_PLAN
from tests.support.ports import free_port
from tests.support.services import Publisher, RunningGateway, wait_until

P = "test-proj"
SILENCE_S = 2


def _plan(tmp_path: Path) -> Path:
    """The test plan with em1 offline after SILENCE_S seconds of silence and the project's
    default at an hour (fm-us, fm-20: 60 s interval, so 3 minutes without a setting)."""
    text = TEST_PLAN.read_text()
    text = text.replace("  crediting_period:", "  offline_after_s: 3600\n  crediting_period:", 1)
    em1 = f"    serial: EM-1\n    expected_interval_s: 1\n    offline_after_s: {SILENCE_S}\n"
    text = text.replace("    serial: EM-1\n", em1)
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


def _devices(home: Path) -> dict[str, dict[str, object]]:
    out = run("devices", "list", "--project", P, "--format", "jsonl", home=home)
    return {d["device"]: d for d in map(json.loads, out.splitlines())}


def _gauge(port: int, state: str) -> float | None:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(f'mrv_gateway_devices{{project="{P}",state="{state}"}} '):
            return float(line.rsplit(" ", 1)[1])
    return None


def _reading(device: str, seq: int) -> bytes:
    quantity = {"em1": ("power", "kW"), "fm-20": ("gas_flow_normal", "Nm3/h")}[device]
    body = {
        "device": device,
        "seq": seq,
        "time": time.time(),
        "readings": [{"quantity": quantity[0], "value": 3.5, "unit": quantity[1]}],
    }
    return json.dumps(body).encode()


@pytest.fixture
def site(tmp_path: Path, broker: MosquittoBroker):
    """A home with the plan loaded and a live gateway serving /metrics."""
    home = tmp_path / "home"
    run("plan", "load", str(_plan(tmp_path)), home=home)
    metrics = free_port()
    settings = Settings(home=home, mqtt_url=broker.url, gateway_batch_interval_ms=20)
    gateway = RunningGateway(settings, metrics_port=metrics).start()
    yield home, metrics
    gateway.stop()


def test_a_silent_device_goes_offline_after_its_plans_silence(site, broker: MosquittoBroker):
    home, metrics = site
    publisher = Publisher(broker)
    try:
        publisher.publish(readings_topic(P, "s1", "em1"), _reading("em1", 1))
        sent = time.monotonic()
        wait_until(lambda: _devices(home)["em1"]["state"] == "online", 10, "em1 online")
    finally:
        publisher.close()
    listed = _devices(home)
    assert listed["em1"]["offline_after_s"] == SILENCE_S
    assert listed["em1"]["last_heard"] is not None
    # never heard: unknown; the project's default silence applies to it
    assert (listed["fm-us"]["state"], listed["fm-us"]["offline_after_s"]) == ("unknown", 3600)

    wait_until(lambda: _devices(home)["em1"]["state"] == "offline", 15, "em1 offline")
    assert time.monotonic() - sent >= SILENCE_S  # not before the plan's silence
    assert _devices(home)["em1"]["offline_reason"] == "silent"
    # the gateway's gauge (read from the store every few seconds): em1 offline, 2 unknown
    wait_until(lambda: _gauge(metrics, "offline") == 1, 15, "gauge: one offline")
    assert (_gauge(metrics, "online"), _gauge(metrics, "unknown")) == (0, 2)
    # the API's device list says the same
    auth = {"Authorization": f"Bearer {token(home, '--role', 'verifier', '--project', P)}"}
    with serve(home) as (base, _proc):
        request = urllib.request.Request(f"{base}/v1/projects/{P}/devices", headers=auth)
        answer = json.loads(urllib.request.urlopen(request, timeout=10).read())
    em1 = next(d for d in answer if d["id"] == "em1")
    assert (em1["state"], em1["offline_reason"], em1["offline_after_s"]) == (
        "offline",
        "silent",
        SILENCE_S,
    )
    assert em1["last_heard"] is not None


DEVICE = """
import sys, time
from core.config import MqttEndpoint
from core.wire import StatusMessage, readings_topic, status_topic
from firmware_sim.publisher import Publisher

port, payload = int(sys.argv[1]), sys.argv[2].encode()
topic = status_topic("test-proj", "s2", "fm-20")
will = StatusMessage(device="fm-20", state="offline").model_dump_json().encode()
device = Publisher(MqttEndpoint("127.0.0.1", port, False, None, None), "fm-20", on_ack=lambda *a: None, will=(topic, will))
device.connect()
birth = StatusMessage(device="fm-20", state="online", firmware="9.9").model_dump_json()
device.publish(topic, birth.encode(), retain=True)
device.publish(readings_topic("test-proj", "s2", "fm-20"), payload)
assert device.drain(10)
print("ready", flush=True)
while True:
    device.pause(1.0)
"""


def test_a_device_whose_connection_drops_is_offline_by_its_last_will(site, broker: MosquittoBroker):
    home, _metrics = site
    device = subprocess.Popen(
        [sys.executable, "-c", DEVICE, str(broker.port), _reading("fm-20", 1).decode()],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert device.stdout is not None and device.stdout.readline() == b"ready\n"
        wait_until(lambda: _devices(home)["fm-20"]["state"] == "online", 10, "fm-20 online")
        assert _devices(home)["fm-20"]["firmware"] == "9.9"
        # killed: no DISCONNECT, the socket just closes; the broker publishes the will
        device.send_signal(signal.SIGKILL)
        device.wait(10)
        killed = time.monotonic()
        wait_until(lambda: _devices(home)["fm-20"]["state"] == "offline", 15, "fm-20 offline")
    finally:
        if device.poll() is None:
            device.kill()
            device.wait()
    # long before its silence (3600 s, the project's) could say so: the will did
    assert time.monotonic() - killed < 60
    assert _devices(home)["fm-20"]["offline_reason"] == "last_will"
    # back: a new message after the will makes it online again
    publisher = Publisher(broker)
    try:
        publisher.publish(readings_topic(P, "s2", "fm-20"), _reading("fm-20", 2))
    finally:
        publisher.close()
    wait_until(lambda: _devices(home)["fm-20"]["state"] == "online", 10, "fm-20 back online")


def test_liveness_rules() -> None:
    def state(**kw: object) -> tuple[str, str | None]:
        args = {"status": None, "status_ms": None, "last_message_ms": None, "now_ms": 100_000}
        args.update(kw)
        found = liveness(offline_after_s=10, **args)  # type: ignore[arg-type]
        return found.state, found.reason

    assert state() == ("unknown", None)
    assert state(last_message_ms=95_000) == ("online", None)
    assert state(last_message_ms=90_000) == ("online", None)  # exactly the silence: not yet
    assert state(last_message_ms=89_999) == ("offline", "silent")
    assert state(status="online", status_ms=99_000) == ("online", None)  # a birth is a sign
    assert state(status="offline", status_ms=99_000, last_message_ms=98_000) == (
        "offline",
        "last_will",
    )
    # a message after the will: it is back
    assert state(status="offline", status_ms=97_000, last_message_ms=98_000) == ("online", None)


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (
            ("    serial: EM-1\n", "    serial: EM-1\n    offline_after_s: 0\n"),
            "devices[0].offline_after_s",
        ),
        (
            ("    serial: EM-1\n", "    serial: EM-1\n    offline_after_s: 30\n"),
            "devices[0].offline_after_s",
        ),
        (
            ("  crediting_period:", "  offline_after_s: 59\n  crediting_period:"),
            "project.offline_after_s",
        ),
        (
            ("  crediting_period:", "  offline_after_s: 99999999\n  crediting_period:"),
            "project.offline_after_s",
        ),
        (
            ("    serial: EM-1\n", "    serial: EM-1\n    offline_after_s: soon\n"),
            "devices[0].offline_after_s",
        ),
    ],
)
def test_offline_after_is_validated(edit: tuple[str, str], path: str) -> None:
    text = TEST_PLAN.read_text().replace(*edit, 1)
    plan, problems = validate_plan_text(text)
    assert plan is None or problems
    assert {p.path for p in problems} == {path}, problems


def test_a_plan_without_the_setting_stores_as_before() -> None:
    plan, problems = validate_plan_text(TEST_PLAN.read_text())
    assert plan is not None and not problems
    dumped = plan.model_dump(mode="json")
    assert "offline_after_s" not in dumped["project"]
    assert all("offline_after_s" not in d for d in dumped["devices"])
    assert plan.offline_after_s(plan.devices[0]) == 3 * 60


def test_last_heard_only_moves_forward_on_both_stores(db_url: str) -> None:
    """The gateway's one upsert per device and batch, on SQLite and PostgreSQL: a late
    batch (an older receive time) changes nothing; the state follows the newest time and
    each device's own silence (em1: 5000 s; the others: the default 3 x 60 s), in the
    device list and in the gauge's column-only count alike."""
    text = TEST_PLAN.read_text().replace(
        "    serial: EM-1\n", "    serial: EM-1\n    offline_after_s: 5000\n"
    )
    db = Database(db_url)
    try:
        with db.session() as s, s.begin():
            load_plan(s, validate_plan_text(text)[0], text, actor="test")  # type: ignore[arg-type]
        with db.session() as s, s.begin():
            touch_devices(s, {(P, "em1"): 1_000_000, (P, "fm-20"): 2_000_000})
        with db.session() as s, s.begin():
            touch_devices(s, {(P, "em1"): 900_000, (P, "fm-20"): 2_500_000, (P, "fm-us"): 10})
        with db.session() as s:
            states = {d.device.id: d for d in device_liveness(s, 2_600_000, P)}
            counts = state_counts(s, 2_600_000)
    finally:
        db.dispose()
    assert states["em1"].liveness.last_heard_ms == 1_000_000
    assert states["fm-20"].liveness.last_heard_ms == 2_500_000
    assert states["em1"].liveness.state == "online"  # 1600 s < its own 5000 s
    assert states["fm-20"].liveness.state == "online"  # 100 s < 180 s
    assert (states["fm-us"].liveness.state, states["fm-us"].liveness.reason) == (
        "offline",
        "silent",
    )
    assert counts == {(P, "online"): 2, (P, "offline"): 1}


SIMULATOR = """
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml

from core.config import MqttEndpoint
from core.plans.schema import MonitoringPlan
from firmware_sim.faults import FaultConfig
from firmware_sim.runner import run_simulation

data = yaml.safe_load(Path(sys.argv[2]).read_text())
data["devices"] = [d for d in data["devices"] if d["id"] == "em1"]  # one device, one connection
data["monitoring_points"], data["parameters"] = [], []
run_simulation(
    [MonitoringPlan.model_validate(data)],
    MqttEndpoint("127.0.0.1", int(sys.argv[1]), False, None, None),
    start=datetime.now(UTC), days=1.0, seed=1, speed=1.0, backfill=False,
    faults=FaultConfig(), state_dir=Path(sys.argv[3]), wait_for_acks=False,
)
"""


def test_the_simulator_of_one_device_leaves_a_last_will(tmp_path: Path, broker) -> None:
    """``mrv sim`` of one device: its connection is the device's, so when the process is
    killed the broker publishes the device's will (retained: offline) on its status topic."""
    seen: list[StatusMessage] = []
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    watcher.on_message = lambda c, u, m: seen.append(StatusMessage.model_validate_json(m.payload))
    watcher.connect("127.0.0.1", broker.port)
    watcher.subscribe(status_topic(P, "s1", "em1"), qos=1)
    watcher.loop_start()
    simulator = subprocess.Popen(
        [sys.executable, "-c", SIMULATOR, str(broker.port), str(TEST_PLAN), str(tmp_path / "sim")],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    try:
        wait_until(lambda: [s.state for s in seen] == ["online"], 30, "the device's birth")
        simulator.send_signal(signal.SIGKILL)
        simulator.wait(10)
        wait_until(lambda: len(seen) == 2, 10, "the device's last will")
        assert (seen[1].device, seen[1].state) == ("em1", "offline")
    finally:
        if simulator.poll() is None:
            simulator.kill()
            simulator.wait()
        watcher.loop_stop()
        watcher.disconnect()
