"""Services the tests drive: a gateway in a thread, a plain MQTT publisher, waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from core.config import Settings
from gateway.service import Gateway, GatewayOptions
from mrv.demo.broker import MosquittoBroker

#: Names of the private PostgreSQL databases made in one test session.
db_counter = iter(range(1_000_000))


class RunningGateway:
    def __init__(self, settings: Settings, **options: object) -> None:
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


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
