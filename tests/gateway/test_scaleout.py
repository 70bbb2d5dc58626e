"""Two gateway processes in one MQTT 5 shared subscription; the /metrics endpoint."""

from __future__ import annotations

import json
import urllib.request

from sqlalchemy import select

from core.wire import readings_topic
from persistence.engine import Database
from persistence.models import Event
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from tests.support.ports import free_port
from tests.support.services import wait_until

P = "th-solar-rooftops"
DEVICES = [("rayong-a", "pv-a-meter"), ("rayong-b", "pv-b-meter"), ("koh-site", "pv-koh-meter")]


def _items(n: int) -> list[tuple[str, bytes]]:
    items = []
    for i in range(n):
        site, device = DEVICES[i % 3]
        # every device reports on its plan's 15-minute interval: no gaps anywhere
        body = {
            "device": device,
            "seq": i,
            "time": 1_780_000_000 + 900 * (i // 3),
            "readings": [{"quantity": "power", "value": 1.0 + i % 7, "unit": "kW"}],
        }
        items.append((readings_topic(P, site, device), json.dumps(body).encode()))
    return items


def _blocks(blocks: int) -> list[tuple[str, bytes]]:
    """pv-a-meter's gapless 15-minute stream, laid out so that a broker handing messages
    to two subscribers in turn gives each of them four readings, then none for four:
    each process alone sees a one-hour hole. pv-b-meter fills the other positions; both
    carry on from where _items left them."""
    items: list[tuple[str, bytes]] = []
    seq = {"pv-a-meter": 0, "pv-b-meter": 0}

    def emit(site: str, device: str) -> None:
        n = seq[device]
        seq[device] += 1
        body = {
            "device": device,
            "seq": 10_000 + n,
            "time": 1_780_000_000 + 900 * (1000 + n),
            "readings": [{"quantity": "power", "value": 2.0, "unit": "kW"}],
        }
        items.append((readings_topic(P, site, device), json.dumps(body).encode()))

    for block in range(blocks):
        for _ in range(4):
            if len(items) % 2 != block % 2:
                emit("rayong-b", "pv-b-meter")
            emit("rayong-a", "pv-a-meter")
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
    blocks = _blocks(12)
    for n, (topic, payload) in enumerate(blocks, start=1):
        # one at a time, each stored before the next, as readings 15 minutes apart would be
        publisher.publish(topic, payload)
        wait_until(lambda n=n: store.count() == 3000 + n, 10, "block reading stored")
    total = 3000 + len(blocks)
    wait_until(lambda: store.count() == total, 60, f"{total} stored")
    received = [_metric(p, "mrv_gateway_messages_received_total") for p in ports]
    wait_until(
        lambda: (
            sum(_metric(p, "mrv_gateway_messages_received_total") for p in ports)
            == 3300 + len(blocks)
        ),
        30,
        "all received",
    )
    received = [_metric(p, "mrv_gateway_messages_received_total") for p in ports]
    assert all(r > 300 for r in received), f"load not shared: {received}"
    stored = sum(_metric(p, "mrv_gateway_readings_stored_total") for p in ports)
    dups = sum(_metric(p, "mrv_gateway_duplicates_total") for p in ports)
    assert (stored, dups) == (total, 300)
    assert store.count() == total
    # each process sees only part of every device's stream; that is not an outage
    db = Database(solar_loaded.effective_database_url)
    with db.session() as session:
        kinds = session.scalars(select(Event.kind)).all()
    db.dispose()
    assert "arrival_gap" not in kinds
    for gw in gateways:
        gw.stop()
    store.close()
