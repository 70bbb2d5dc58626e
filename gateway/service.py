"""The MQTT gateway process: subscribe, batch, write durably, then acknowledge.

Threads: paho's network thread only enqueues messages (manual acknowledgement is on, so
nothing is acknowledged on receipt); the writer thread (the caller of ``run``) batches
them by size or time, processes and writes them, and only then sends the PUBACKs and the
end-to-end ``ack`` messages. The broker holds at most ``ReceiveMaximum`` unacknowledged
messages for us, which bounds the queue and the gateway's memory.

With a backlog (a full batch already waiting) and a store whose look-ups do not wait for
its inserts (SQLite), a third thread inserts batch k's readings while the writer prepares
batch k+1 (decode, classification against the store and batch k's rows, the outcome
write); batch k is acknowledged only once its insert has committed. Otherwise, and in a
shared subscription, batches are processed one after the other.
"""

from __future__ import annotations

import faulthandler
import gc
import logging
import signal
import ssl
import threading
import time
import traceback
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from core.config import Settings
from core.liveness import STATES
from core.times import now_ms
from core.wire import READINGS_FILTER, STATUS_FILTER, AckMessage, ack_topic, shared_filter
from gateway.decode import Inbound
from gateway.metrics import GatewayMetrics
from gateway.mqtt import GatewayClient
from gateway.processor import BatchProcessor, BatchResult, Prepared, Unavailable
from gateway.spool import Spool
from persistence.engine import Database
from persistence.liveness import state_counts
from persistence.repo import QuarantineItem, record_outcome
from persistence.stores import open_timeseries

log = logging.getLogger("mrv.gateway")

SESSION_EXPIRY_S = 7 * 24 * 3600
STATS_INTERVAL_S = 30.0
#: How often the device states (mrv_gateway_devices) are read from the store, seconds.
DEVICE_STATES_INTERVAL_S = 5.0


@dataclass
class GatewayOptions:
    client_id: str = "mrv-gateway"
    share_group: str | None = None
    protocol: int = 5  # 5 or 4 (MQTT 3.1.1)
    batch_size: int = 500
    batch_interval_s: float = 0.05
    receive_maximum: int = 2000
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    publish_acks: bool = True
    spool_retry_s: float = 2.0
    future_tolerance_s: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> GatewayOptions:
        opts = cls(
            client_id=settings.gateway_client_id,
            batch_size=settings.gateway_batch_size,
            batch_interval_s=settings.gateway_batch_interval_ms / 1000.0,
            receive_maximum=settings.gateway_receive_maximum,
            metrics_port=settings.gateway_metrics_port,
            metrics_host=settings.gateway_metrics_host,
            publish_acks=settings.gateway_ack_topic,
            spool_retry_s=settings.gateway_spool_retry_s,
            future_tolerance_s=settings.gateway_future_tolerance_s,
        )
        for key, value in overrides.items():
            if value is not None:
                setattr(opts, key, value)
        return opts


class Gateway:
    def __init__(self, settings: Settings, options: GatewayOptions | None = None) -> None:
        self.settings = settings
        self.options = options or GatewayOptions.from_settings(settings)
        settings.ensure_home()
        self.db = Database(settings.effective_database_url)
        self.store = open_timeseries(settings)
        # One spool per client id: two gateway processes never share (or steal) a spool.
        self.spool = Spool(settings.home / f"spool-{self.options.client_id}.sqlite")
        self.processor = BatchProcessor(
            self.store,
            self.db,
            actor=f"gateway:{self.options.client_id}",
            future_tolerance_s=self.options.future_tolerance_s,
            record_activity=True,
        )
        self.metrics = GatewayMetrics()
        self.metrics.spool_depth.set(self.spool.depth)
        # Network thread -> writer thread. A deque and an event rather than queue.Queue
        # (whose lock and condition cost ~3 us a message on both threads); its length is
        # bounded by the broker, which sends at most ReceiveMaximum unacknowledged messages.
        self._inbox: deque[Inbound] = deque()
        self._arrived = threading.Event()
        self._waiting = False  # the writer sleeps on _arrived: the network thread sets it
        self._stop = threading.Event()
        self._connected = threading.Event()
        self.ready = threading.Event()  # subscribed: the broker queues for us from now on
        self._last_spool_failure = 0.0
        self._state_projects: set[str] = set()  # projects in mrv_gateway_devices
        # With a backlog, the next batch is decoded, classified and its outcome written
        # while the previous batch's readings are inserted on a second thread (SQLite
        # works there without the GIL). Only for a store whose look-ups do not wait for
        # its insert, and for a lone gateway: in a shared subscription another process
        # may store a row between our look-up and our insert (see _settle_inflight).
        self._pipelined = bool(getattr(self.store, "concurrent_reads", False)) and not (
            self.options.share_group
        )
        self._inserter = ThreadPoolExecutor(1, "mrv-insert") if self._pipelined else None
        self._inflight: tuple[Prepared, Future[int], float] | None = None
        self.client = self._make_client()

    # --- MQTT ------------------------------------------------------------------------

    def _make_client(self) -> GatewayClient:
        endpoint = self.settings.mqtt()
        v5 = self.options.protocol == 5
        client = GatewayClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.options.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if endpoint.username:
            client.username_pw_set(endpoint.username, endpoint.password)
        if endpoint.tls:
            client.tls_set(ca_certs=endpoint.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_inbound = self._on_inbound
        client.on_message = self._on_message  # QoS 2 only (we subscribe at QoS 1)
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.reconnect_delay_set(1, 5)
        return client

    def _topic_filters(self) -> list[str]:
        group = self.options.share_group
        if group:
            # Retained statuses are not delivered on shared subscriptions (MQTT 5 §4.8.2),
            # so a shared group records status changes only, not the ones retained earlier.
            return [shared_filter(group), f"$share/{group}/{STATUS_FILTER}"]
        return [READINGS_FILTER, STATUS_FILTER]

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        filters = self._topic_filters()
        log.info("connected to the broker; subscribing to %s", ", ".join(filters))
        client.subscribe([(f, 1) for f in filters])
        self._connected.set()

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        failed = [r for r in reasons if r.is_failure]
        if failed:
            log.error("broker refused the subscription: %s", failed)
            return
        # Only now can nothing published be missed: tests and the demo wait for this.
        self.ready.set()
        self.metrics.subscribed.set(1)

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._connected.clear()
        self.metrics.subscribed.set(0)
        if not self._stop.is_set():
            log.warning("disconnected from the broker (%s); reconnecting", reason)

    def _on_inbound(
        self,
        topic: str,
        payload: bytes,
        mid: int,
        qos: int,
        content_type: str | None,
        dup: bool = False,
    ) -> None:
        # Runs on paho's network thread for every QoS 0/1 message: enqueue only.
        self._inbox.append(Inbound(topic, payload, now_ms(), mid, qos, content_type, dup))
        if self._waiting:
            self._arrived.set()

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        # paho's own path, for a QoS 2 message (GatewayClient handles QoS 0 and 1).
        properties = getattr(message, "properties", None)
        content_type = getattr(properties, "ContentType", None)
        self._on_inbound(
            message.topic,
            bytes(message.payload),
            message.mid,
            message.qos,
            content_type,
            bool(message.dup),
        )

    def connect(self) -> None:
        endpoint = self.settings.mqtt()
        properties = None
        if self.options.protocol == 5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
            properties.ReceiveMaximum = self.options.receive_maximum
            self.client.connect(
                endpoint.host,
                endpoint.port,
                keepalive=30,
                clean_start=False,
                properties=properties,
            )
        else:
            self.client.connect(endpoint.host, endpoint.port, keepalive=30)
        self.client.loop_start()

    # --- the writer loop -------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        def _handler(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: stopping after the current batch", signum)
            self._stop.set()

        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)
        # `kill -USR1 <pid>` dumps every thread's stack to stderr: for a stuck gateway.
        faulthandler.register(signal.SIGUSR1, all_threads=True)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Consume until stopped; then flush what was received, acknowledge, disconnect."""
        # pint, SQLAlchemy and pydantic leave ~100k long-lived objects; without freezing
        # them every full collection walks them all (~65 ms, stalling both threads).
        gc.collect()
        gc.freeze()
        # /metrics first: a scraper (or the bench) that sees "connected" in the log must
        # find it up, and a gateway that cannot reach its broker is visible there too
        if self.options.metrics_port:
            self.metrics.serve(self.options.metrics_port, self.options.metrics_host)
        self.connect()
        try:
            next_stats = time.monotonic() + STATS_INTERVAL_S
            next_states = time.monotonic()
            while not self._stop.is_set():
                if time.monotonic() >= next_stats:
                    self._log_stats()
                    next_stats = time.monotonic() + STATS_INTERVAL_S
                if time.monotonic() >= next_states:
                    self._device_states()
                    next_states = time.monotonic() + DEVICE_STATES_INTERVAL_S
                self._replay_spool()
                if len(self._inbox) < self.options.batch_size:
                    # No full batch waiting: nothing to overlap with, so the batch being
                    # inserted is finished and acknowledged before we wait for more.
                    self._settle_inflight()
                batch = self._collect(self.options.batch_size, self.options.batch_interval_s)
                if batch:
                    self._handle(batch)
            # Graceful stop: what is already in our queue is processed and acknowledged.
            while True:
                batch = self._collect(self.options.batch_size, 0.0)
                if not batch:
                    break
                self._handle(batch)
            self._settle_inflight()
        finally:
            self.client.disconnect()
            self.client.loop_stop()
            self.close()

    def _log_stats(self) -> None:
        m = self.metrics
        quarantined = {
            s.labels["reason"]: int(s.value)
            for metric in m.quarantined.collect()
            for s in metric.samples
            if s.name.endswith("_total")
        }
        log.info(
            "stats",
            extra={
                "received": int(m.received._value.get()),
                "stored": int(m.stored._value.get()),
                "duplicates": int(m.duplicates._value.get()),
                "quarantined": quarantined,
                "spool_depth": self.spool.depth,
                "connected": self._connected.is_set(),
            },
        )

    def _device_states(self) -> None:
        """Set mrv_gateway_devices from the store (one query); advisory: a store hiccup
        leaves the last numbers."""
        try:
            with self.db.session() as session:
                counts = state_counts(session, now_ms())
        except Exception as exc:
            log.warning("device states not read: %s", exc)
            return
        for project in {p for p, _ in counts} | self._state_projects:
            for state in STATES:
                self.metrics.devices.labels(project=project, state=state).set(
                    counts.get((project, state), 0)
                )
        self._state_projects |= {p for p, _ in counts}

    def close(self) -> None:
        if self._inserter is not None:
            self._inserter.shutdown(wait=True)
        self.metrics.close()
        self.spool.close()
        self.store.close()
        self.db.dispose()

    def _wait_inbox(self, timeout_s: float) -> bool:
        """Sleep until a message is in the inbox or ``timeout_s`` passed; whether one is."""
        # The flag is set before the inbox is looked at, and the network thread appends
        # before it reads the flag, so a message never arrives unnoticed.
        self._arrived.clear()
        self._waiting = True
        try:
            if not self._inbox:
                self._arrived.wait(timeout_s)
        finally:
            self._waiting = False
        return bool(self._inbox)

    def _collect(self, size: int, interval_s: float) -> list[Inbound]:
        """Up to ``size`` messages: what arrives within ``interval_s`` (seconds) of the
        first one, which is waited for up to 0.2 s (1 ms when ``interval_s`` is 0)."""
        inbox = self._inbox
        if not inbox and not self._wait_inbox(0.2 if interval_s else 0.001):
            return []
        deadline = time.monotonic() + interval_s
        batch: list[Inbound] = []
        while True:
            take = min(size - len(batch), len(inbox))
            batch.extend(inbox.popleft() for _ in range(take))
            if len(batch) >= size:
                return batch
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._wait_inbox(remaining):
                return batch

    def _handle(self, batch: list[Inbound]) -> None:
        self.metrics.received.inc(len(batch))
        started = time.monotonic()
        if self._pipelined and not self.spool.depth:
            self._handle_pipelined(batch, started)
        else:
            self._settle_inflight()
            self._process_or_spool(batch, started)

    def _handle_pipelined(self, batch: list[Inbound], started: float) -> None:
        """Prepare this batch (its outcome durably written) while the previous one is
        inserted; then settle that one (acks) and hand this one to the inserter."""
        pending = self._inflight[0].pending() if self._inflight is not None else None
        try:
            prepared = self.processor.prepare(batch, pending)
        except Exception:
            # Unavailable or a bug: the sequential path spools, or quarantines the message
            # at fault, once the batch before is settled.
            self._settle_inflight()
            self._process_or_spool(batch, started)
            return
        self._settle_inflight()
        if self.spool.depth:
            # The batch before could not be stored and waits in the spool: this one follows
            # it there to keep arrival order (its outcome is written again on replay, as
            # after a crash between the two writes).
            self._spool(batch)
            self._ack_mqtt(batch, started)
            return
        assert self._inserter is not None
        future = self._inserter.submit(self.processor.store_rows, prepared)
        self._inflight = (prepared, future, started)

    def _settle_inflight(self) -> None:
        """Wait for the batch being inserted, then acknowledge it; spool it if the store
        was unavailable; process it again, sequentially, after an insert race or any other
        failure (everything it wrote is idempotent or re-derived)."""
        if self._inflight is None:
            return
        prepared, future, started = self._inflight
        self._inflight = None
        batch = prepared.messages
        try:
            inserted = future.result()
        except Unavailable as exc:
            log.warning("store unavailable, spooling %d messages: %s", len(batch), exc)
            self._last_spool_failure = time.monotonic()
            self._spool(batch)
            self._ack_mqtt(batch, started)
            return
        except Exception:
            log.exception("inserting a batch failed; processing it again")
            inserted = -1
        if inserted != len(prepared.new):
            self._process_or_spool(batch, started)
            return
        self._account(prepared.result)
        self._ack_devices(prepared.result.acks)
        self._ack_mqtt(batch, started)

    def _process_or_spool(self, batch: list[Inbound], started: float) -> None:
        """The sequential path: process the batch (or spool it), then acknowledge it."""
        if self.spool.depth:
            # Keep arrival order: nothing overtakes what is already waiting in the spool.
            self._spool(batch)
        else:
            try:
                result = self._process_safely(batch)
            except Unavailable as exc:
                log.warning("store unavailable, spooling %d messages: %s", len(batch), exc)
                self._last_spool_failure = time.monotonic()
                self._spool(batch)
            else:
                self._account(result)
                self._ack_devices(result.acks)
        self._ack_mqtt(batch, started)

    def _ack_mqtt(self, batch: list[Inbound], started: float) -> None:
        """PUBACK a batch that is durably kept (stored, quarantined or spooled)."""
        # One write of PUBACKs for the batch, not a packet and a wake-up per message.
        self.client.ack_many((m.mid, m.qos) for m in batch if m.mid)
        now = time.monotonic()
        self.metrics.batch_seconds.observe(now - started)
        self.metrics.lag_seconds.set(time.time() - batch[0].received_ms / 1000.0)

    def _spool(self, batch: list[Inbound]) -> None:
        self.spool.append(batch)
        self.metrics.spooled.inc(len(batch))
        self.metrics.spool_depth.set(self.spool.depth)

    def _replay_spool(self) -> None:
        if not self.spool.depth:
            return
        self._settle_inflight()
        if time.monotonic() - self._last_spool_failure < self.options.spool_retry_s:
            return
        # Replay a few batches per turn so the spool drains faster than it fills.
        for _ in range(4):
            entries = self.spool.peek(self.options.batch_size)
            if not entries:
                break
            messages = [m for _, m in entries]
            try:
                result = self._process_safely(messages)
            except Unavailable as exc:
                log.info("store still unavailable (%s); %d spooled", exc, self.spool.depth)
                self._last_spool_failure = time.monotonic()
                return
            self.spool.remove_through(entries[-1][0])
            self.metrics.replayed.inc(len(messages))
            self.metrics.spool_depth.set(self.spool.depth)
            self._account(result)
            self._ack_devices(result.acks)

    def _process_safely(self, batch: list[Inbound]) -> BatchResult:
        """Process a batch; a bug on one message quarantines that message, not the batch."""
        try:
            return self.processor.process(batch)
        except Unavailable:
            raise
        except Exception:
            log.exception("batch failed; processing its %d messages one by one", len(batch))
        total = BatchResult()
        for message in batch:
            try:
                part = self.processor.process([message])
            except Unavailable:
                raise
            except Exception as exc:
                part = self._quarantine_internal(message, exc)
            total.merge(part)
        return total

    def _quarantine_internal(self, message: Inbound, exc: Exception) -> BatchResult:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        item = QuarantineItem(
            topic=message.topic,
            payload=message.payload,
            received_ms=message.received_ms,
            reason="internal_error",
            detail=f"the gateway failed on this message: {detail}",
            content_type=message.content_type,
        )
        try:
            with self.db.session() as session, session.begin():
                record_outcome(session, [item], [], {}, self.processor.actor)
        except Exception as db_exc:
            raise Unavailable(f"relational store: {db_exc}") from db_exc
        result = BatchResult(messages=1)
        result.quarantined["internal_error"] = 1
        return result

    def _account(self, result: BatchResult) -> None:
        self.metrics.stored.inc(result.stored)
        self.metrics.duplicates.inc(result.duplicates)
        self.metrics.events.inc(result.events)
        for reason, n in result.quarantined.items():
            self.metrics.quarantined.labels(reason=reason).inc(n)

    def _ack_devices(self, acks: dict[tuple[str, str, str], set[int]]) -> None:
        if not self.options.publish_acks:
            return
        now = datetime.now(UTC)
        for (project, site, device), seqs in acks.items():
            ack = AckMessage.of(device, seqs, now)
            self.client.publish(ack_topic(project, site, device), ack.encode(), qos=1)
