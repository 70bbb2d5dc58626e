"""gateway.mqtt.GatewayClient: the lean receive path and batched PUBACKs, against a real
Mosquitto, and its PUBLISH parser against paho's own and against hostile bytes."""

from __future__ import annotations

import struct
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt import _packet
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.mqtt import RECV_CHUNK, GatewayClient, MalformedPublish, parse_publish
from mrv.demo.broker import MosquittoBroker
from tests.support.services import Publisher, wait_until

TOPIC = "mrv/v1/p/s/d/readings"


def _publish_body(topic: bytes, mid: int | None, props: bytes | None, payload: bytes) -> bytes:
    body = struct.pack("!H", len(topic)) + topic
    if mid is not None:
        body += struct.pack("!H", mid)
    if props is not None:
        body += props
    return body + payload


def _content_type_props(value: str) -> bytes:
    props = Properties(PacketTypes.PUBLISH)
    props.ContentType = value
    return bytes(props.pack())


@pytest.mark.parametrize(
    ("header", "v5", "mid", "props", "content_type"),
    [
        (0x32, True, 7, b"\x00", None),  # QoS 1, MQTT 5, no properties
        (0x3A, True, 65535, None, "application/senml+json"),  # dup flag, content type
        (0x30, True, None, b"\x00", None),  # QoS 0: no packet id
        (0x32, False, 1, None, None),  # MQTT 3.1.1: no properties at all
    ],
)
def test_parse_publish_agrees_with_paho(
    header: int, v5: bool, mid: int | None, props: bytes | None, content_type: str | None
) -> None:
    if content_type is not None:
        props = _content_type_props(content_type)
    payload = b'{"device":"d","seq":1}'
    body = _publish_body(TOPIC.encode(), mid, props, payload)
    topic, got_payload, got_mid, qos, got_type = parse_publish(header, body, v5)
    protocol = MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311
    ref = _packet.decode_publish(header, body, protocol)
    assert topic == ref.topic.decode() == TOPIC
    assert got_payload == ref.payload == payload
    assert got_mid == ref.mid == (mid or 0)
    assert qos == ref.qos
    assert got_type == content_type == getattr(ref.properties, "ContentType", None)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00",
        b"\x00\x10mrv",  # topic length beyond the packet
        b"\x00\x03mrv\x00",  # packet id cut short
        b"\x00\x03mrv\x00\x01",  # MQTT 5 without its properties length
        b"\x00\x03mrv\x00\x01\x05\x03\x00",  # properties length beyond the packet
        b"\x00\x03mrv\x00\x01\x02\x7f\x00",  # an unknown property identifier
    ],
)
def test_parse_publish_refuses_malformed_packets(body: bytes) -> None:
    with pytest.raises(MalformedPublish):
        parse_publish(0x32, body, True)


def test_parse_publish_keeps_a_bad_utf8_topic_visible() -> None:
    body = _publish_body(b"mrv/v1/\xff/s/d/readings", 1, b"\x00", b"{}")
    topic, *_ = parse_publish(0x32, body, True)
    assert topic == "mrv/v1/\ufffd/s/d/readings"  # quarantined by its name later, no crash


@settings(max_examples=300, deadline=None)
@given(header=st.integers(0x30, 0x3F), body=st.binary(max_size=64), v5=st.booleans())
def test_parse_publish_on_any_bytes_parses_or_says_malformed(
    header: int, body: bytes, v5: bool
) -> None:
    try:
        topic, payload, mid, qos, _ = parse_publish(header, body, v5)
    except MalformedPublish:
        return
    assert 0 <= mid <= 65535 and qos == (header & 0x06) >> 1
    assert len(payload) <= len(body) and body.endswith(payload)


class _Consumer:
    """A GatewayClient with a persistent session that records what it receives."""

    def __init__(self, broker: MosquittoBroker, client_id: str) -> None:
        self.received: list[tuple[str, bytes, int, int, str | None, bool]] = []
        self.subscribed = threading.Event()
        self.client = GatewayClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self.client.on_inbound = lambda *m: self.received.append(m)
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 600
        props.ReceiveMaximum = 2000
        self.client.connect("127.0.0.1", broker.port, clean_start=False, properties=props)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _messages(n: int) -> list[tuple[str, bytes]]:
    # Sizes vary so packets straddle the read buffer's edges; one is larger than it.
    out = [(TOPIC, b'{"n":%d,"pad":"%s"}' % (i, b"x" * (i * 37 % 900))) for i in range(n)]
    out.append((TOPIC, b"y" * (RECV_CHUNK + 12345)))
    return out


def test_buffered_reads_deliver_every_message_intact_and_acks_are_batched(
    broker: MosquittoBroker,
) -> None:
    sent = _messages(600)
    first = _Consumer(broker, "gw-client-test")
    first.client.subscribe(TOPIC, qos=1)
    assert first.subscribed.wait(10)
    pub = Publisher(broker)
    try:
        pub.publish_many(sent)
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = "application/senml+json"
        pub.client.publish(TOPIC, b"[]", qos=1, properties=props).wait_for_publish(10)
        wait_until(lambda: len(first.received) == len(sent) + 1, what="all messages")
        assert [(t, p) for t, p, *_ in first.received[:-1]] == sent
        assert all(qos == 1 and mid > 0 for _, _, mid, qos, *_ in first.received)
        assert first.received[-1][4] == "application/senml+json"
        assert {m[4] for m in first.received[:-1]} == {None}
        assert not any(m[5] for m in first.received)  # first deliveries: no DUP flag
        # Acknowledge the first half in one write, then go away without the rest.
        half = len(first.received) // 2
        first.client.ack_many((mid, qos) for _, _, mid, qos, *_ in first.received[:half])
        time.sleep(0.5)  # the network thread writes the PUBACKs
        first.close()

        # The broker redelivers exactly the unacknowledged half.
        second = _Consumer(broker, "gw-client-test")
        try:
            expected = len(sent) + 1 - half
            wait_until(lambda: len(second.received) >= expected, what="the redelivery")
            time.sleep(0.5)  # nothing more may come
            redelivered = [p for _, p, *_ in second.received]
            assert redelivered == [p for _, p, *_ in first.received[half:]]
            # a redelivery has DUP set and its first delivery's packet id (the gateway
            # dates a time-less message's redelivery by them: persistence.receipts)
            assert all(m[5] for m in second.received)
            assert [m[2] for m in second.received] == [m[2] for m in first.received[half:]]
            second.client.ack_many((mid, qos) for _, _, mid, qos, *_ in second.received)
            time.sleep(0.5)
        finally:
            second.close()
        third = _Consumer(broker, "gw-client-test")
        try:
            time.sleep(1.0)
            assert third.received == []  # everything acknowledged stays acknowledged
        finally:
            third.close()
    finally:
        pub.close()
