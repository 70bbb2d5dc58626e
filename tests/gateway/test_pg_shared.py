"""Two gateway processes share one PostgreSQL time-series store, and one is SIGKILLed.

Two ``mrv gateway --share-group`` processes (each its own data folder, as on two hosts)
split one MQTT 5 shared subscription; both run ``MRV_TS_BACKEND=postgres`` on one real
PostgreSQL database, which is also their relational store. A device with a persistent
session publishes thousands of messages (2% poison, 4% sent twice, so that a duplicate
often reaches the other process). Mid-stream one gateway is killed with SIGKILL, then
restarted under its client id with a fresh data folder (as on a replacement host, with
none of its local state): what it had received but not acknowledged comes back from the
broker with the DUP flag. The broker's debug log counts those redeliveries and who got them: Mosquitto
2.0 keeps a dead member's in-flight messages, and its share of new ones, in that member's
persistent session, so they go to the restarted process itself, not to the other.

Then, from the database itself: every valid reading is in the partitioned table exactly
once (rows = distinct identities = ledger rows = the expected set), and the quarantine
holds exactly the poison messages, once each.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select

from core.config import Settings
from devtools.pgserver import PostgresServer
from mrv.demo.broker import MosquittoBroker
from persistence.engine import Database
from persistence.models import QuarantineEntry, QuarantineMessage
from persistence.stores.postgres_ts import conninfo_from_url
from tests.gateway.test_faults import Device, prepare, workload
from tests.support.ports import free_port
from tests.support.services import db_counter, wait_until

pytestmark = pytest.mark.slow

N_MESSAGES = 6_000
# Mosquitto's debug log line for each PUBLISH it sends: "(d1, q1, ..." is a redelivery.
SENT = re.compile(r"Sending PUBLISH to (\S+) \(d([01]), q1")


class DebugBroker(MosquittoBroker):
    """Mosquitto with its debug log on, which names every PUBLISH sent and its DUP flag."""

    def write_config(self) -> Path:
        path = super().write_config()
        path.write_text(path.read_text() + "log_type debug\n")
        return path

    def sends(self) -> dict[tuple[str, bool], int]:
        """PUBLISH packets sent, by (client id, redelivered)."""
        counts: dict[tuple[str, bool], int] = {}
        text = (self.workdir / "mosquitto.log").read_text(errors="replace")
        for client, dup in SENT.findall(text):
            key = (client, dup == "1")
            counts[key] = counts.get(key, 0) + 1
        return counts


class SharedGateway:
    """``mrv gateway --share-group g`` as a process of its own, with its own MRV_HOME."""

    def __init__(self, name: str, home: Path, env: dict[str, str], mqtt_url: str) -> None:
        self.name, self.home, self.env, self.mqtt_url = name, home, env, mqtt_url
        self.home.mkdir(parents=True, exist_ok=True)
        self.log = home / "gateway.log"
        self.metrics_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [sys.executable, "-m", "mrv.cli", "gateway", "--mqtt-url", self.mqtt_url]
        args += ["--client-id", self.name, "--share-group", "g"]
        args += ["--metrics-port", str(self.metrics_port)]
        env = {**os.environ, **self.env, "MRV_HOME": str(self.home)}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=log)

    def metrics(self) -> dict[str, float]:
        """The process's counters and gauges, by sample name."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=2).read().decode()
        found = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                found[name] = float(value)
        return found

    def wait_subscribed(self) -> None:
        def subscribed() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}: {tail}")
            try:
                return self.metrics().get("mrv_gateway_subscribed") == 1.0
            except OSError:
                return False

        wait_until(subscribed, 120, f"{self.name} subscribed")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def reap(self) -> None:
        """Kill the process if it still runs (a failed test must leave none behind)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


def ledger_count(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        try:
            found = conn.execute("SELECT count(*) FROM mrv_ts.ledger").fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(found[0]) if found else 0


def stored_rows(conninfo: str) -> tuple[list[tuple[str, int, str]], int, int]:
    """Every row of the partitioned table, the distinct identities, the ledger's rows."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT device, seq, quantity FROM mrv_ts.readings").fetchall()
        distinct = conn.execute(
            "SELECT count(*) FROM (SELECT DISTINCT project, device, seq, quantity "
            "FROM mrv_ts.readings) AS d"
        ).fetchone()
        ledger = conn.execute("SELECT count(*) FROM mrv_ts.ledger").fetchone()
    assert distinct is not None and ledger is not None
    return [tuple(r) for r in rows], int(distinct[0]), int(ledger[0])  # type: ignore[misc]


def quarantined_payloads(url: str) -> list[bytes]:
    """The raw bytes behind each quarantine row (one per row: a message quarantined
    twice would appear twice)."""
    db = Database(url, run_migrations=False)
    with db.session() as s:
        found = s.execute(
            select(QuarantineMessage.payload).join(
                QuarantineEntry, QuarantineEntry.digest == QuarantineMessage.digest
            )
        ).all()
    db.dispose()
    return [bytes(p) for (p,) in found]


@pytest.fixture
def debug_broker(tmp_path: Path):
    with DebugBroker(tmp_path / "broker", port=free_port()) as b:
        yield b


def test_two_gateways_on_postgres_one_killed_nothing_lost_nothing_twice(
    tmp_path: Path,
    debug_broker: DebugBroker,
    pg_server: PostgresServer,
    request: pytest.FixtureRequest,
) -> None:
    url = pg_server.create_database(f"mrv_shared_{next(db_counter)}")
    conninfo = conninfo_from_url(url)
    prepare(Settings(home=tmp_path / "loader", database_url=url))
    env = {"MRV_DATABASE_URL": url, "MRV_TS_BACKEND": "postgres"}
    gateways = [
        SharedGateway(f"gw-{n}", tmp_path / f"host-{n}", env, debug_broker.url) for n in (0, 1)
    ]
    request.addfinalizer(lambda: [gw.reap() for gw in gateways])
    for gw in gateways:
        gw.start()
    for gw in gateways:
        gw.wait_subscribed()
    items, expected, invalid = workload(N_MESSAGES)
    poison = {p for _t, p in items if b"broken" in p}
    victim = gateways[0]
    killed = threading.Event()
    before_kill: dict[str, float] = {}

    def killer() -> None:
        # Kill once a quarter is stored, while the device is still publishing; restart
        # after a second, so the other process carries the load alone meanwhile.
        wait_until(lambda: ledger_count(conninfo) > len(expected) // 4, 120, "a quarter stored")
        before_kill.update(victim.metrics())  # its counters die with it
        victim.kill()
        killed.set()
        time.sleep(1.0)
        # Restarted as if on another host: same client id (its broker session), none of
        # its local files, so the shared ledger alone keeps redeliveries from being
        # stored twice.
        victim.home = tmp_path / "host-0-replacement"
        victim.home.mkdir()
        victim.log = victim.home / "gateway.log"
        victim.start()

    thread = threading.Thread(target=killer)
    thread.start()
    device = Device(debug_broker.port)
    device.send(items)
    thread.join(180)
    assert killed.is_set()
    assert ledger_count(conninfo) < len(expected), "the kill came too late to prove anything"
    victim.wait_subscribed()

    wait_until(
        lambda: (
            ledger_count(conninfo) >= len(expected)
            and len(quarantined_payloads(url)) >= len(poison)
        ),
        180,
        "everything stored and quarantined",
    )
    time.sleep(1.0)  # anything still arriving would show up as an extra row below
    rows, distinct, ledger = stored_rows(conninfo)
    quarantined = quarantined_payloads(url)
    sends = debug_broker.sends()
    redelivered = sum(n for (_c, dup), n in sends.items() if dup)
    redelivered_to = {c: n for (c, dup), n in sends.items() if dup}
    first_to = {c: n for (c, dup), n in sends.items() if not dup}
    finals = [gw.metrics() for gw in gateways]
    # at least: what the victim counted between its last scrape and the kill is lost
    duplicates = sum(m.get("mrv_gateway_duplicates_total", 0.0) for m in [*finals, before_kill])
    print(
        f"\npg shared: published {len(items)} messages ({len(expected)} readings, "
        f"{len(poison)} poison, {len(items) - len(expected) // 2 - len(poison)} sent twice); "
        f"stored {len(rows)} rows = {distinct} distinct = {ledger} in the ledger; "
        f"quarantined {len(quarantined)}; redelivered by the broker {redelivered} "
        f"{redelivered_to}; first deliveries {first_to}; "
        f"duplicate readings seen (at least) {duplicates:.0f}"
    )
    assert len(rows) == distinct == ledger == len(expected), "lost or stored twice"
    assert set(rows) == expected
    assert len(quarantined) == len(poison) == invalid
    assert set(quarantined) == poison
    assert redelivered > 0, "nothing was in flight at the kill: redelivery not exercised"
    for gw in gateways:
        assert gw.terminate() == 0
    device.close()


def test_postgres_outage_spools_and_replays(
    settings: Settings, run_gateway, publisher, caplog: pytest.LogCaptureFixture
) -> None:
    """The PostgreSQL holding the readings stops mid-stream (the relational store is SQLite
    and stays up, so only the time-series store's StoreUnavailable can make the gateway
    spool): the gateway spools, keeps acknowledging, and once the server is back replays
    the spool: every reading stored once, every poison message quarantined once."""
    pg = PostgresServer(port=free_port()).start()
    try:
        url = pg.create_database("outage")
        conninfo = conninfo_from_url(url)
        settings = settings.model_copy(update={"ts_postgres_url": url, "ts_backend": "postgres"})
        prepare(settings)
        gw = run_gateway(settings, spool_retry_s=0.5)
        items, expected, invalid = workload(3000)
        poison = {p for _t, p in items if b"broken" in p}
        publisher.publish_many(items[:1000])
        wait_until(lambda: ledger_count(conninfo) > 0, 30, "first readings stored")
        pg.halt()
        publisher.publish_many(items[1000:])  # acknowledged by the gateway into its spool
        metrics = gw.gateway.metrics
        wait_until(lambda: metrics.spooled._value.get() > 0, 30, "spooling")
        pg.launch()
        wait_until(
            lambda: gw.gateway.spool.depth == 0 and metrics.replayed._value.get() > 0,
            60,
            "spool replayed",
        )
        wait_until(lambda: ledger_count(conninfo) >= len(expected), 60, "everything stored")
        rows, distinct, ledger = stored_rows(conninfo)
        assert len(rows) == distinct == ledger == len(expected)
        assert set(rows) == expected
        quarantined = quarantined_payloads(settings.effective_database_url)
        assert len(quarantined) == len(poison) == invalid and set(quarantined) == poison
        assert "postgres store" in caplog.text  # the spool's reason: the store, not SQLite
        gw.stop()
    finally:
        pg.stop()
