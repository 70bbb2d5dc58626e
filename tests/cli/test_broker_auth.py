"""Device identity: generated password and ACL files on a real Mosquitto."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from core.config import Settings
from core.wire import readings_topic
from mrv.broker_auth import device_username, mosquitto_hash
from mrv.cli import app
from mrv.demo.broker import MosquittoBroker
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from tests.support.paths import SOLAR_PLAN
from tests.support.ports import free_port
from tests.support.services import RunningGateway, wait_until

P = "th-solar-rooftops"


def test_hash_format_matches_mosquitto_passwd():
    h = mosquitto_hash("secret", salt=b"0123456789ab")
    parts = h.split("$")
    assert parts[:3] == ["", "7", "101"] and len(parts) == 5


def _connect(port: int, user: str, password: str) -> tuple[mqtt.Client, object]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)
    result: dict[str, object] = {}
    client.on_connect = lambda c, u, f, reason, p: result.setdefault("reason", reason)
    client.connect("127.0.0.1", port)
    client.loop_start()
    wait_until(lambda: "reason" in result, 10, "CONNACK")
    return client, result["reason"]


def _msg(device: str, seq: int) -> bytes:
    return json.dumps(
        {
            "device": device,
            "seq": seq,
            "time": "2026-11-01T00:00:00Z",
            "readings": [{"quantity": "power", "value": 1.0, "unit": "kW"}],
        }
    ).encode()


def test_devices_publish_only_under_their_own_topic(tmp_path: Path):
    home = tmp_path / "home"
    runner = CliRunner()
    env = {"MRV_HOME": str(home)}
    assert runner.invoke(app, ["plan", "load", str(SOLAR_PLAN)], env=env).exit_code == 0
    auth = tmp_path / "auth"
    result = runner.invoke(app, ["broker-auth", "--out", str(auth)], env=env)
    assert result.exit_code == 0, result.output
    with (auth / "device-credentials.csv").open() as fh:
        creds = {r["username"]: r["password"] for r in csv.DictReader(fh)}
    assert len(creds) == 5  # the gateway and four devices
    # re-running keeps existing passwords (devices in the field stay connected)
    runner.invoke(app, ["broker-auth", "--out", str(auth)], env=env)
    with (auth / "device-credentials.csv").open() as fh:
        assert {r["username"]: r["password"] for r in csv.DictReader(fh)} == creds

    with MosquittoBroker(
        tmp_path / "broker",
        port=free_port(),
        password_file=auth / "passwords",
        acl_file=auth / "acl",
    ) as broker:
        settings = Settings(
            home=home,
            mqtt_url=broker.url,
            mqtt_username="mrv-gateway",
            mqtt_password=creds["mrv-gateway"],
            gateway_batch_interval_ms=20,
        )
        gw = RunningGateway(settings).start()
        user_a = device_username(P, "pv-a-meter")
        device_a, reason = _connect(broker.port, user_a, creds[user_a])
        assert not reason.is_failure  # type: ignore[attr-defined]
        own = readings_topic(P, "rayong-a", "pv-a-meter")
        forged = readings_topic(P, "rayong-b", "pv-b-meter")
        device_a.publish(forged, _msg("pv-b-meter", 1), qos=1).wait_for_publish(5)
        device_a.publish(own, _msg("pv-a-meter", 1), qos=1).wait_for_publish(5)
        store = SQLiteTimeSeriesStore(settings.effective_ts_path)
        wait_until(lambda: store.count() >= 1, 10, "own reading stored")
        time.sleep(0.5)
        assert [(r.device, r.seq) for r in store.query(P)] == [("pv-a-meter", 1)]

        intruder, reason = _connect(broker.port, user_a, "wrong password")
        assert reason.is_failure  # type: ignore[attr-defined]
        for client in (device_a, intruder):
            client.loop_stop()
            client.disconnect()
        gw.stop()
        store.close()
