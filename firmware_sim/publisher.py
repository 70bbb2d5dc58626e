"""One MQTT 5 connection for all simulated devices, with a bounded publish window.

The client's network loop runs in the caller's thread (no ``loop_start``): a paho
network thread competing for the GIL with the message builder halves the throughput,
and with one thread the gateway's acks can go straight into the runner's SQLite buffer.

paho keeps every QoS 1 publish in memory until the broker's PUBACK; without a bound a
fast backfill would hold the whole period in RAM. ``publish`` services the network
while ``window`` publishes await their PUBACK.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import ValidationError

from core.config import MqttEndpoint
from core.wire import TOPIC_ROOT, AckMessage, TopicError, parse_topic

log = logging.getLogger(__name__)

ACK_FILTER = f"{TOPIC_ROOT}/+/+/+/ack"
SERVICE_EVERY = 64  # publishes between two non-blocking reads of PUBACKs and acks
RECONNECT_DELAY_S = 0.5

# Called with (project, device, seq ranges) for every valid AckMessage.
AckHandler = Callable[[str, str, list[tuple[int, int]]], None]


class Publisher:
    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str,
        *,
        on_ack: AckHandler,
        window: int = 1000,
        will: tuple[str, bytes] | None = None,
    ) -> None:
        """``will``: (status topic, payload) the broker publishes, retained, if this
        connection drops without a DISCONNECT (a device's last will: it went offline)."""
        self.endpoint = endpoint
        self.window = window
        self.on_ack = on_ack
        self.bad_acks = 0
        self.reconnects = 0
        self._outstanding = 0
        self._on_delivered: dict[int, Callable[[], None]] = {}
        self._since_service = 0
        self._connected = False
        self._subscribed = False
        self._connect_error: str | None = None
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
        )
        client.max_inflight_messages_set(window)
        client.max_queued_messages_set(0)  # bounded by our window instead
        if will is not None:
            client.will_set(will[0], will[1], qos=1, retain=True)
        if endpoint.username:
            client.username_pw_set(endpoint.username, endpoint.password)
        if endpoint.tls:
            client.tls_set(ca_certs=endpoint.ca_file)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self.client = client

    # ------------------------------------------------------------------ callbacks
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._connect_error = str(reason)
            return
        # paho ignores the broker's Receive Maximum, and exceeding it gets a client
        # disconnected (Mosquitto announces its max_inflight_messages, 20 by default).
        receive_max = getattr(properties, "ReceiveMaximum", None) if properties else None
        if isinstance(receive_max, int) and receive_max > 0:
            self.window = min(self.window, receive_max)
        self._connected = True

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected = False
        if reason.is_failure:
            log.warning("simulator disconnected from the broker: %s", reason)

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason: ReasonCode,
        properties: Properties,
    ) -> None:
        self._outstanding -= 1
        delivered = self._on_delivered.pop(mid, None)
        if delivered is not None:
            delivered()

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties,
    ) -> None:
        self._subscribed = True

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            project, _site, device, kind = parse_topic(message.topic)
            if kind != "ack":
                return
            ack = AckMessage.model_validate_json(message.payload)
        except (TopicError, ValidationError, ValueError):
            self.bad_acks += 1
            return
        if ack.device != device:
            self.bad_acks += 1
            return
        self.on_ack(project, device, ack.seq_ranges)

    # ------------------------------------------------------------------ network
    def service(self, timeout_s: float = 0.0) -> None:
        """Read PUBACKs and acks, write what is queued, keep alive; reconnect if needed."""
        self._since_service = 0
        rc = self.client.loop(timeout=timeout_s)
        if rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
            return
        # Connection lost: paho re-sends unacknowledged QoS 1 publishes after reconnect.
        log.warning("MQTT connection lost (%s); reconnecting", mqtt.error_string(rc))
        time.sleep(RECONNECT_DELAY_S)
        try:
            self.client.reconnect()
            self.reconnects += 1
        except OSError as exc:
            log.warning("reconnect failed: %s", exc)

    def _wait(self, done: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            if self._connect_error is not None:
                raise ConnectionError(f"MQTT broker refused the connection: {self._connect_error}")
            if time.monotonic() >= deadline:
                raise ConnectionError(f"MQTT broker at {self._where}: {what} timed out")
            self.service(0.05)

    @property
    def _where(self) -> str:
        return f"{self.endpoint.host}:{self.endpoint.port}"

    def connect(self, timeout_s: float = 10.0) -> None:
        try:
            self.client.connect(self.endpoint.host, self.endpoint.port, keepalive=30)
        except OSError as exc:
            raise ConnectionError(f"cannot reach the MQTT broker at {self._where}: {exc}") from exc
        self._wait(lambda: self._connected, timeout_s, "CONNACK")

    def subscribe_acks(self, timeout_s: float = 10.0) -> None:
        self.client.subscribe(ACK_FILTER, qos=1)
        self._wait(lambda: self._subscribed, timeout_s, "SUBACK of the ack subscription")

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        retain: bool = False,
        on_delivered: Callable[[], None] | None = None,
    ) -> None:
        """QoS 1 publish; services the network while ``window`` publishes await PUBACK.
        ``on_delivered`` is called (from the network loop) on the broker's PUBACK."""
        while self._outstanding >= self.window:
            self.service(0.05)
        self._outstanding += 1
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if on_delivered is not None:
            # Registered before the network is next read, so no PUBACK can come first.
            self._on_delivered[info.mid] = on_delivered
        self._since_service += 1
        if self._since_service >= SERVICE_EVERY:
            self.service(0.0)

    @property
    def outstanding(self) -> int:
        return self._outstanding

    def drain(self, timeout_s: float) -> bool:
        """Wait until the broker has acknowledged every publish; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self._outstanding > 0:
            if time.monotonic() >= deadline:
                return False
            self.service(0.05)
        return True

    def pause(self, seconds: float) -> None:
        """Sleep while keeping the connection serviced (acks keep arriving)."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.service(min(left, 0.1))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop(timeout=0.05)
