"""Two gateway processes in one MQTT 5 shared subscription; the /metrics endpoint."""

from __future__ import annotations

import json
import urllib.request

from mrv.broker import free_port
from mrv.stores.sqlite_ts import SQLiteTimeSeriesStore
from mrv.wire import readings_topic
from tests.conftest import wait_until

P = "th-solar-rooftops"
DEVICES = [("rayong-a", "pv-a-meter"), ("rayong-b", "pv-b-meter"), ("koh-site", "pv-koh-meter")]


def _items(n: int) -> list[tuple[str, bytes]]:
    items = []
    for i in range(n):
        site, device = DEVICES[i % 3]
        body = {
            "device": device,
            "seq": i,
            "time": 1_780_000_000 + 60 * i,
            "readings": [{"quantity": "power", "value": 1.0 + i % 7, "unit": "kW"}],
        }
        items.append((readings_topic(P, site, device), json.dumps(body).encode()))
    return items


def _metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def test_two_gateways_share_the_load_and_store_each_reading_once(
    solar_loaded, run_gateway, publisher
):
    ports = [free_port(), free_port()]
    gateways = [
        run_gateway(solar_loaded, client_id=f"gw-{n}", share_group="g", metrics_port=port)
        for n, port in enumerate(ports)
    ]
    items = _items(3000)
    publisher.publish_many(items)
    # A duplicate may go to the other process; still stored once.
    publisher.publish_many(items[:300])
    store = SQLiteTimeSeriesStore(solar_loaded.effective_ts_path)
    wait_until(lambda: store.count() == 3000, 60, "3000 stored")
    received = [_metric(p, "mrv_gateway_messages_received_total") for p in ports]
    wait_until(
        lambda: sum(_metric(p, "mrv_gateway_messages_received_total") for p in ports) == 3300,
        30,
        "all received",
    )
    received = [_metric(p, "mrv_gateway_messages_received_total") for p in ports]
    assert all(r > 300 for r in received), f"load not shared: {received}"
    stored = sum(_metric(p, "mrv_gateway_readings_stored_total") for p in ports)
    dups = sum(_metric(p, "mrv_gateway_duplicates_total") for p in ports)
    assert (stored, dups) == (3000, 300)
    assert store.count() == 3000
    for gw in gateways:
        gw.stop()
    store.close()
