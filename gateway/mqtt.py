"""paho's MQTT client with a lean receive path and acknowledgements sent a batch at a time.

Profiling a drain (bench/ingest.py, py-spy in GIL mode) showed paho's network thread
holding the interpreter lock for about half of the gateway's time, mostly on work the
gateway never uses: three ``recv`` system calls per PUBLISH (command byte, length bytes,
body; each releases the GIL, which the busy writer thread then keeps for up to the 5 ms
switch interval), a ``Properties`` object built and cleared for every message, an
``MQTTMessage`` with its own ``threading.Condition``, the topic matcher, a debug log
call; and, on the writer's side, one PUBACK packet and one wake-up byte through paho's
socket pair per acknowledged message. This subclass changes only those paths:

* reads come from the socket in chunks of up to ``RECV_CHUNK`` bytes and are served from
  a buffer, and ``loop_read`` keeps going while that buffer holds bytes (the socket's
  ``select`` cannot know about them);
* a QoS 0 or 1 PUBLISH goes straight to ``on_inbound(topic, payload, mid, qos,
  content_type)`` (properties are decoded only when a publisher set some, for the MQTT 5
  content type); QoS 2 and everything else take paho's own path;
* ``ack_many`` queues the PUBACKs of a whole batch as one write.

Acknowledgement stays manual: nothing here acknowledges a message on receipt.
Pinned to paho-mqtt 2.x (pyproject.toml): the overridden methods are private to it, and
tests/gateway drive this class against a real Mosquitto (redelivery after a kill, acks).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties, VariableByteIntegers

log = logging.getLogger("mrv.gateway")

#: Bytes asked of the socket per read: a few hundred typical messages.
RECV_CHUNK = 256 * 1024
_PUBLISH = 0x30
_PUBACK = 0x40
_PUBACK_PACKET = struct.Struct("!BBH")  # type, remaining length 2, packet id (reason 0)

#: topic, payload, packet id, QoS, MQTT 5 content type (None if not set), DUP flag
InboundCallback = Callable[[str, bytes, int, int, str | None, bool], None]


class MalformedPublish(ValueError):
    """A PUBLISH packet that does not parse (the connection is then dropped)."""


def parse_publish(header: int, packet: bytes, v5: bool) -> tuple[str, bytes, int, int, str | None]:
    """(topic, payload, packet id, QoS, content type) of a PUBLISH packet's body.

    ``packet`` is everything after the fixed header. The topic is decoded as UTF-8 with
    replacement characters (the broker checks UTF-8; a bad topic is then quarantined by
    its name, not a crash). Raises MalformedPublish for a truncated or invalid packet."""
    qos = (header & 0x06) >> 1
    end = len(packet)
    if end < 2:
        raise MalformedPublish("PUBLISH shorter than its topic length")
    tlen = (packet[0] << 8) | packet[1]
    pos = 2 + tlen
    if pos > end or (tlen == 0 and not v5):
        raise MalformedPublish("PUBLISH topic length beyond the packet")
    topic = packet[2:pos].decode("utf-8", "replace")
    mid = 0
    if qos:
        if pos + 2 > end:
            raise MalformedPublish("PUBLISH without its packet id")
        mid = (packet[pos] << 8) | packet[pos + 1]
        pos += 2
    content_type = None
    if v5:
        if pos >= end:
            raise MalformedPublish("MQTT 5 PUBLISH without its properties length")
        if packet[pos] == 0:  # no properties: the usual case, one byte
            pos += 1
        else:
            content_type, pos = _properties(packet, pos)
    return topic, packet[pos:], mid, qos, content_type


def _properties(packet: bytes, pos: int) -> tuple[str | None, int]:
    """Decode a PUBLISH's properties with paho's own parser; (content type, end)."""
    try:
        props_len, vbi_len = VariableByteIntegers.decode(packet[pos:])  # type: ignore[no-untyped-call]
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho
        props.unpack(packet[pos:])  # type: ignore[no-untyped-call]
    except Exception as exc:  # paho raises several kinds on a bad property
        raise MalformedPublish(f"PUBLISH properties: {exc}") from exc
    end = pos + vbi_len + props_len
    if end > len(packet):
        raise MalformedPublish("PUBLISH properties beyond the packet")
    content_type = getattr(props, "ContentType", None)
    return (content_type if isinstance(content_type, str) else None), end


class GatewayClient(mqtt.Client):
    """A paho ``Client`` whose QoS 0/1 PUBLISHes go to ``on_inbound`` (see module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_inbound: InboundCallback | None = None
        self._rx = b""
        self._rx_pos = 0

    # --- reading -----------------------------------------------------------------------

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rx_pos >= len(self._rx):
            data = super()._sock_recv(max(bufsize, RECV_CHUNK))  # raises BlockingIOError
            if len(data) <= bufsize:
                return data  # b"" (closed) included
            self._rx, self._rx_pos = data, 0
        start = self._rx_pos
        self._rx_pos = min(start + bufsize, len(self._rx))
        return self._rx[start : self._rx_pos]

    def _sock_close(self) -> None:
        self._rx, self._rx_pos = b"", 0  # bytes of a dead connection are never parsed
        super()._sock_close()

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """paho's loop_read, repeated while the buffer holds bytes: ``select`` on the
        socket does not see them. Each round consumes buffered bytes, so it ends."""
        rc = super().loop_read(max_packets)
        while (
            rc == MQTTErrorCode.MQTT_ERR_SUCCESS
            and self._sock is not None
            and self._rx_pos < len(self._rx)
        ):
            rc = super().loop_read(max_packets)
        return rc

    def _handle_publish(self) -> MQTTErrorCode:
        header = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        callback = self.on_inbound
        if callback is None or qos == 2 or not self._manual_ack:
            return super()._handle_publish()
        v5 = self._protocol == MQTTProtocolVersion.MQTTv5
        try:
            topic, payload, mid, qos, content_type = parse_publish(
                header, bytes(self._in_packet["packet"]), v5
            )
        except MalformedPublish as exc:
            log.error("malformed PUBLISH from the broker (%s); reconnecting", exc)
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        with self._in_callback_mutex:
            callback(topic, payload, mid, qos, content_type, bool(header & 0x08))
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    # --- acknowledging -----------------------------------------------------------------

    def ack_many(self, messages: Iterable[tuple[int, int]]) -> None:
        """Acknowledge (packet id, QoS) pairs: the QoS 1 ones as one write of PUBACKs,
        a QoS 2 one through paho (PUBCOMP), a QoS 0 one needs none."""
        pack = _PUBACK_PACKET.pack
        blob = bytearray()
        for mid, qos in messages:
            if qos == 1:
                blob += pack(_PUBACK, 2, mid)
            elif qos == 2:
                self.ack(mid, qos)
        if blob:
            self._packet_queue(_PUBACK, bytes(blob), 0, 0)
