"""Shared fixtures: a private Mosquitto, a data folder, a registered plan, a gateway."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from mrv.broker import MosquittoBroker
from mrv.config import Settings

ROOT = Path(__file__).resolve().parent.parent
PLANS = ROOT / "examples" / "plans"
SOLAR_PLAN = PLANS / "solar-pv-rooftops.yaml"

os.environ.setdefault("MRV_HOME", str(Path("/tmp/mrv-tests-home-unused")))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(tmp_path / "broker") as b:
        yield b


@pytest.fixture
def settings(tmp_path: Path, broker: MosquittoBroker) -> Settings:
    home = tmp_path / "home"
    home.mkdir()
    return Settings(home=home, mqtt_url=broker.url, gateway_batch_interval_ms=20)


@pytest.fixture
def solar_loaded(settings: Settings) -> Settings:
    from mrv.db.engine import Database
    from mrv.db.repo import load_plan
    from mrv.plans import load_plan_file

    plan = load_plan_file(SOLAR_PLAN)
    db = Database(settings.effective_database_url)
    with db.session() as session, session.begin():
        load_plan(session, plan, SOLAR_PLAN.read_text(), actor="test")
    db.dispose()
    return settings


class RunningGateway:
    def __init__(self, settings: Settings, **options: object) -> None:
        from gateway.service import Gateway, GatewayOptions

        self.gateway = Gateway(settings, GatewayOptions.from_settings(settings, **options))
        self.thread = threading.Thread(target=self.gateway.run, daemon=True)

    def start(self) -> RunningGateway:
        self.thread.start()
        assert self.gateway.ready.wait(10), "gateway did not subscribe"
        return self

    def stop(self) -> None:
        self.gateway.stop()
        self.thread.join(30)
        assert not self.thread.is_alive()


@pytest.fixture
def run_gateway() -> Iterator[Callable[..., RunningGateway]]:
    started: list[RunningGateway] = []

    def _start(settings: Settings, **options: object) -> RunningGateway:
        gw = RunningGateway(settings, **options).start()
        started.append(gw)
        return gw

    yield _start
    for gw in started:
        if gw.thread.is_alive():
            gw.stop()


class Publisher:
    """A plain paho client standing in for a device (or many)."""

    def __init__(self, broker: MosquittoBroker, protocol: int = mqtt.MQTTv5) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=protocol)
        self.client.max_inflight_messages_set(1000)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(10)

    def publish_many(self, items: list[tuple[str, bytes]]) -> None:
        infos = [self.client.publish(t, p, qos=1) for t, p in items]
        for info in infos:
            info.wait_for_publish(30)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def publisher(broker: MosquittoBroker) -> Iterator[Publisher]:
    pub = Publisher(broker)
    yield pub
    pub.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")


@pytest.fixture(scope="session")
def pg_server():
    from mrv.pgserver import PostgresMissing, PostgresServer

    try:
        server = PostgresServer().start()
    except PostgresMissing as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


_db_counter = iter(range(1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    """A fresh, empty relational store URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mrv.sqlite'}"
    server = request.getfixturevalue("pg_server")
    return server.create_database(f"mrv_test_{next(_db_counter)}")
