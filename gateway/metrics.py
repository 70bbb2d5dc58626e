"""Prometheus counters of the gateway (served on /metrics) — one registry per gateway."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "mrv_gateway_messages_received", "MQTT messages received", registry=r
        )
        self.stored = Counter("mrv_gateway_readings_stored", "readings newly stored", registry=r)
        self.duplicates = Counter(
            "mrv_gateway_duplicates", "duplicate readings (stored once)", registry=r
        )
        self.quarantined = Counter(
            "mrv_gateway_quarantined", "quarantine entries by reason", ["reason"], registry=r
        )
        self.spooled = Counter(
            "mrv_gateway_spooled_messages", "messages written to the spool", registry=r
        )
        self.replayed = Counter(
            "mrv_gateway_replayed_messages", "messages replayed from the spool", registry=r
        )
        self.events = Counter("mrv_gateway_events", "data-quality events recorded", registry=r)
        self.spool_depth = Gauge(
            "mrv_gateway_spool_depth", "messages waiting in the spool", registry=r
        )
        self.batch_seconds = Histogram(
            "mrv_gateway_batch_seconds",
            "time to process and commit one batch",
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.subscribed = Gauge(
            "mrv_gateway_subscribed", "1 once the broker confirmed the subscriptions", registry=r
        )
        self.lag_seconds = Gauge(
            "mrv_gateway_lag_seconds", "receive-to-durable time of the last batch", registry=r
        )
        # Read from the store (every gateway of a shared group reports the same numbers):
        # a device is offline after its plan's silence or on its last will.
        self.devices = Gauge(
            "mrv_gateway_devices",
            "active devices by project and state (online, offline, unknown)",
            ["project", "state"],
            registry=r,
        )

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        self._server, _thread = start_http_server(port, addr=addr, registry=self.registry)

    def close(self) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()
