"""Ingest benchmark: the MQTT gateway against a bare subscriber and a naive consumer.

Run:  .venv/bin/python bench/ingest.py [--messages N] [--quick]

Everything runs on one private Mosquitto (started here, stopped at the end) in a temp
folder, in one run, so the ratios compare like with like. Throughput is measured as a
*drain* (shared/machine-notes.md, "Measuring a consumer"): the consumer subscribes with
a persistent session and goes away, N QoS 1 messages are queued for it at the broker
(``mosquitto_pub -l``, the fastest publisher on these machines), then it reconnects and
the time from its CONNACK until the last message is done is measured. A live
publish-and-consume run would measure the Python publisher (12-14k msg/s), not the
consumer.

"Done" means: acknowledged (bare subscriber), committed then acknowledged (naive
consumer), or durably written, which the gateway announces on each device's end-to-end
``ack`` topic (published only after the store's commit); the bench subscribes to those
acks and stops the clock when every sequence number has been acknowledged, then checks
the gateway's /metrics counters (received == N, stored == N x readings, nothing
quarantined). Latency is publish -> end-to-end ack at a steady 1,000 msg/s.

The result is a measurement, not a test: the exit code is 0 even when a target is
missed (it is 1 only if the bench itself failed).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.common import code_version, cpu_model, percentile, verdict  # noqa: E402
from core.config import Settings  # noqa: E402
from core.signing import public_text, sign_message  # noqa: E402
from core.wire import READINGS_FILTER, readings_topic  # noqa: E402
from gateway.mqtt import GatewayClient  # noqa: E402
from mrv.demo.broker import MosquittoBroker, free_port  # noqa: E402

out = Console(width=max(Console().width, 132))  # a piped run would wrap at 80 columns
say = Console(stderr=True, highlight=False, markup=False)

SOLAR_PLAN = ROOT / "examples" / "plans" / "solar-pv-rooftops.yaml"
SOLAR_PROJECT = "th-solar-rooftops"
SOLAR_DEVICES = [
    ("rayong-a", "pv-a-meter"),
    ("rayong-b", "pv-b-meter"),
    ("koh-site", "pv-koh-meter"),
]
BENCH_PROJECT = "bench-ingest"
BENCH_DEVICES = [("bench-s1", "bench-m1"), ("bench-s1", "bench-m2"), ("bench-s2", "bench-m3")]
FIVE_QUANTITIES = ["energy_export", "energy_import", "energy_consumed", "power", "irradiance"]
# Meters whose messages must be signed (row 2c), with one fixed key: a benchmark's, not a
# secret.
SIGNED_DEVICES = [
    ("bench-s1", "bench-sig1"),
    ("bench-s1", "bench-sig2"),
    ("bench-s2", "bench-sig3"),
]
SIGNING_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
# Meters that speak a standard payload (rows 2d-2f): no seq, no end-to-end ack.
FORMATS = ("senml", "telegraf", "thingsboard")
FORMAT_DEVICES = {
    fmt: [
        ("bench-s1", f"bench-{fmt}1"),
        ("bench-s1", f"bench-{fmt}2"),
        ("bench-s2", f"bench-{fmt}3"),
    ]
    for fmt in FORMATS
}
ACK_FILTER = "mrv/v1/+/+/+/ack"
# The gateway announces this ReceiveMaximum; the bare subscriber announces the same.
RECEIVE_MAXIMUM = int(Settings.model_fields["gateway_receive_maximum"].default)
SESSION_EXPIRY_S = 3600

# Targets (SPEC section 12 and the bench brief).
#: Gateway msg/s over the bare subscriber's (issue 14: 0.9x at 1 reading, 0.6x at 5).
TARGET_BARE_RATIO = {"2a": 0.9, "2b": 0.6}
TARGET_NAIVE_RATIO = 10.0
TARGET_SCALE_RATIO = 1.0
TARGET_P99_MS = 200.0
TARGET_RSS_MB = 200.0

BENCH_PLAN_YAML = (
    f"""\
# Written by bench/ingest.py: meters that report five quantities in each message.
plan_version: 1
project:
  id: {BENCH_PROJECT}
  name: Ingest benchmark (bench/ingest.py)
  host_country: Thailand
  methodology: {{id: PV-power-generation, version: "1.0"}}
  crediting_period: {{start: 2026-01-01, end: 2030-12-31}}
sites:
  - {{id: bench-s1, name: Bench site 1, timezone: Asia/Bangkok}}
  - {{id: bench-s2, name: Bench site 2, timezone: Asia/Bangkok}}
devices:
"""
    + "".join(
        f"""\
  - id: {device}
    site: {site}
    type: ac_energy_meter
    serial: BENCH-{i:04d}
    quantities: [{", ".join(FIVE_QUANTITIES)}]
    accuracy_class: "0.5S"
    register_max: 999999999.9
    expected_interval_s: 60
"""
        for i, (site, device) in enumerate(BENCH_DEVICES, 1)
    )
    + "".join(
        f"""\
  - id: {device}
    site: {site}
    type: ac_energy_meter
    serial: BENCH-SIG-{i:04d}
    quantities: [energy_export]
    accuracy_class: "0.5S"
    register_max: 999999999.9
    expected_interval_s: 60
    signing: required
    public_key: "{public_text(SIGNING_KEY.public_key())}"
"""
        for i, (site, device) in enumerate(SIGNED_DEVICES, 1)
    )
    + "".join(
        f"""\
  - id: {device}
    site: {site}
    type: ac_energy_meter
    serial: BENCH-{fmt.upper()}-{i:04d}
    quantities: [energy_export]
    accuracy_class: "0.5S"
    register_max: 999999999.9
    expected_interval_s: 60
    payload: {fmt}
"""
        for fmt in FORMATS
        for i, (site, device) in enumerate(FORMAT_DEVICES[fmt], 1)
    )
)


# --- machine ---------------------------------------------------------------------------


def machine_lines() -> list[str]:
    model = cpu_model()
    try:
        mosq = subprocess.run(
            ["mosquitto", "-h"], capture_output=True, text=True, timeout=5
        ).stdout.splitlines()[0]
    except Exception:  # informational only
        mosq = "mosquitto ?"
    import paho.mqtt

    return [
        f"machine: {os.cpu_count()} CPUs (nproc), {model}, "
        f"{platform.system()} {platform.release()}",
        f"python {platform.python_version()} ({sys.executable}), "
        f"paho-mqtt {paho.mqtt.__version__}, {mosq.strip()}",
        f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
    ]


# --- workloads -------------------------------------------------------------------------


@dataclass
class Workload:
    """N messages spread round-robin over devices; each (device, seq) is new."""

    project: str
    messages: list[tuple[str, str, int, bytes]]  # topic, device, seq, payload
    readings_per_message: int

    @property
    def n(self) -> int:
        return len(self.messages)

    @property
    def readings(self) -> int:
        return self.n * self.readings_per_message

    def by_topic(self) -> dict[str, list[bytes]]:
        grouped: dict[str, list[bytes]] = {}
        for topic, _d, _s, payload in self.messages:
            grouped.setdefault(topic, []).append(payload)
        return grouped


def _readings(seq: int, quantities: list[str]) -> list[dict[str, Any]]:
    values = {
        "energy_export": (1000.0 + seq * 0.5, "kWh"),
        "energy_import": (10.0 + seq * 0.01, "kWh"),
        "energy_consumed": (500.0 + seq * 0.2, "kWh"),
        "power": (round((seq % 100) / 10, 1), "kW"),
        "irradiance": (float(seq % 1000), "W/m**2"),
    }
    return [{"quantity": q, "value": values[q][0], "unit": values[q][1]} for q in quantities]


def make_workload(
    project: str,
    devices: list[tuple[str, str]],
    n: int,
    quantities: list[str],
    start: datetime,
    step_s: float = 60.0,
    seq_base: int = 0,
    key: Ed25519PrivateKey | None = None,
) -> Workload:
    """``key``: each message signed with it, as a signing device sends it."""
    messages = []
    for i in range(n):
        site, device = devices[i % len(devices)]
        seq = seq_base + i // len(devices)
        when = start + timedelta(seconds=step_s * (i // len(devices)))
        body = {
            "device": device,
            "seq": seq,
            "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "readings": _readings(seq, quantities),
        }
        if key is not None:
            body = sign_message(key, body)
        payload = json.dumps(body, separators=(",", ":")).encode()
        messages.append((readings_topic(project, site, device), device, seq, payload))
    return Workload(project, messages, len(quantities))


def format_payload(fmt: str, device: str, when: datetime, value: float) -> dict[str, Any] | list:
    """One energy reading as a logger in ``fmt`` sends it (core.payloads reads it)."""
    seconds = int(when.timestamp())
    if fmt == "senml":
        return [{"bn": f"urn:dev:mrv:{device}:", "bt": seconds, "n": "energy_export",
                 "u": "kWh", "v": value}]  # fmt: skip
    if fmt == "telegraf":
        return {"fields": {"energy_export": value}, "name": "meter",
                "tags": {"device": device}, "timestamp": seconds}  # fmt: skip
    return {"ts": seconds * 1000, "values": {"energy_export": value}}


def make_format_workload(fmt: str, n: int, start: datetime, step_s: float = 60.0) -> Workload:
    """The 1-reading workload's values and times, in a standard payload format."""
    devices = FORMAT_DEVICES[fmt]
    messages = []
    for i in range(n):
        site, device = devices[i % len(devices)]
        seq = i // len(devices)
        when = start + timedelta(seconds=step_s * seq)
        body = format_payload(fmt, device, when, 1000.0 + seq * 0.5)
        payload = json.dumps(body, separators=(",", ":")).encode()
        messages.append((readings_topic(BENCH_PROJECT, site, device), device, seq, payload))
    return Workload(BENCH_PROJECT, messages, 1)


# --- MQTT helpers ----------------------------------------------------------------------


def _client(client_id: str = "", manual_ack: bool = False) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    return client


def _connect_props(expiry_s: int, receive_maximum: int | None = None) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = expiry_s
    if receive_maximum:
        props.ReceiveMaximum = receive_maximum
    return props


def connect_and_wait(
    client: mqtt.Client, port: int, *, clean_start: bool, props: Properties, timeout: float = 10
) -> None:
    connected = threading.Event()
    previous: Any = client.on_connect

    def on_connect(c: Any, u: Any, f: Any, reason: Any, p: Any) -> None:
        if previous is not None:
            previous(c, u, f, reason, p)
        if not reason.is_failure:
            connected.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port, keepalive=60, clean_start=clean_start, properties=props)
    client.loop_start()
    if not connected.wait(timeout):
        raise RuntimeError(f"MQTT client {client._client_id!r} did not connect")


def subscribe_and_wait(client: mqtt.Client, topic: str, timeout: float = 10) -> None:
    done = threading.Event()
    client.on_subscribe = lambda *_a: done.set()
    client.subscribe(topic, qos=1)
    if not done.wait(timeout):
        raise RuntimeError(f"no SUBACK for {topic}")


def purge_session(port: int, client_id: str) -> None:
    """Drop a persistent session (and anything still queued for it) at the broker."""
    client = _client(client_id)
    connect_and_wait(client, port, clean_start=True, props=_connect_props(0))
    client.disconnect()
    client.loop_stop()


def publish_queued(port: int, workload: Workload, folder: Path) -> float:
    """Queue the workload at the broker with one ``mosquitto_pub -l`` per topic; msg/s."""
    folder.mkdir(parents=True, exist_ok=True)
    procs = []
    started = time.perf_counter()
    for k, (topic, payloads) in enumerate(workload.by_topic().items()):
        path = folder / f"pub-{k}.txt"
        path.write_bytes(b"\n".join(payloads) + b"\n")
        with path.open("rb") as stdin:
            procs.append(
                subprocess.Popen(
                    [
                        "mosquitto_pub",
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        "-q",
                        "1",
                        "-i",
                        f"bench-pub-{k}",
                        "-t",
                        topic,
                        "-l",
                    ],
                    stdin=stdin,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"mosquitto_pub failed ({proc.returncode}): {err.decode()[-500:]}")
    return workload.n / (time.perf_counter() - started)


# --- in-process drain consumers (bare subscriber, naive consumer) ----------------------


class DrainConsumer:
    """A paho MQTT 5 client with a persistent session that acknowledges by hand."""

    def __init__(
        self,
        port: int,
        client_id: str,
        handler: Callable[[mqtt.MQTTMessage], None] | None = None,
        lean: bool = False,
    ) -> None:
        """``lean``: the gateway's own client (gateway.mqtt.GatewayClient: buffered
        reads, no MQTTMessage), still acknowledging each message at once."""
        self.lean = lean
        self.port = port
        self.client_id = client_id
        self.handler = handler
        self.count = 0
        self.expected = 0
        self.done = threading.Event()
        self.t_connect = 0.0
        self.t_done = 0.0

    def _make(self) -> mqtt.Client:
        if self.lean:
            return self._make_lean()
        client = _client(self.client_id, manual_ack=True)

        def on_connect(*_a: Any) -> None:
            self.t_connect = time.perf_counter()

        def on_message(c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
            if self.handler is not None:
                self.handler(message)
            c.ack(message.mid, message.qos)
            self.count += 1
            if self.count >= self.expected and not self.done.is_set():
                self.t_done = time.perf_counter()
                self.done.set()

        client.on_connect = on_connect
        client.on_message = on_message
        return client

    def _make_lean(self) -> mqtt.Client:
        client = GatewayClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)

        def on_connect(*_a: Any) -> None:
            self.t_connect = time.perf_counter()

        def on_inbound(_t: str, _p: bytes, mid: int, qos: int, _ct: str | None, _dup: bool) -> None:
            client.ack_many(((mid, qos),))
            self.count += 1
            if self.count >= self.expected and not self.done.is_set():
                self.t_done = time.perf_counter()
                self.done.set()

        client.on_connect = on_connect
        client.on_inbound = on_inbound
        return client

    def _connect(self) -> mqtt.Client:
        client = self._make()
        connect_and_wait(
            client,
            self.port,
            clean_start=False,
            props=_connect_props(SESSION_EXPIRY_S, RECEIVE_MAXIMUM),
        )
        return client

    def subscribe_and_leave(self) -> None:
        client = self._connect()
        subscribe_and_wait(client, READINGS_FILTER)
        client.disconnect()
        client.loop_stop()

    def drain(self, expected: int, timeout: float) -> float:
        """Reconnect, wait for ``expected`` messages; return seconds from CONNACK."""
        self.count, self.expected = 0, expected
        self.done.clear()
        client = self._connect()
        finished = self.done.wait(timeout)
        # End the session with the disconnect, so nothing more is queued for it.
        props = Properties(PacketTypes.DISCONNECT)
        props.SessionExpiryInterval = 0
        client.disconnect(properties=props)
        client.loop_stop()
        if not finished:
            raise RuntimeError(
                f"{self.client_id}: {self.count} of {expected} messages after {timeout:.0f} s"
            )
        return self.t_done - self.t_connect


class NaiveConsumer:
    """Per message: json.loads, pint from strings, INSERT, one COMMIT; then the ack."""

    def __init__(self, path: Path) -> None:
        import pint

        from core.quantities import CATALOGUE

        self.ureg: Any = pint.UnitRegistry()
        self.canonical = {name: spec.canonical_unit for name, spec in CATALOGUE.items()}
        self.conn = sqlite3.connect(path, check_same_thread=False)
        # The same durability as the gateway's store: WAL, synchronous FULL.
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS readings (project TEXT, device TEXT, seq INTEGER, "
            "quantity TEXT, time TEXT, value REAL, raw_value REAL, raw_unit TEXT, "
            "PRIMARY KEY (project, device, seq, quantity))"
        )
        self.conn.commit()

    def __call__(self, message: mqtt.MQTTMessage) -> None:
        data = json.loads(message.payload)
        project = message.topic.split("/")[2]
        for reading in data["readings"]:
            quantity = self.ureg.Quantity(reading["value"], reading["unit"]).to(
                self.canonical[reading["quantity"]]
            )
            self.conn.execute(
                "INSERT INTO readings VALUES (?,?,?,?,?,?,?,?)",
                (
                    project,
                    data["device"],
                    data["seq"],
                    reading["quantity"],
                    data["time"],
                    float(quantity.magnitude),
                    reading["value"],
                    reading["unit"],
                ),
            )
        self.conn.commit()

    def rows(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM readings").fetchone()[0])

    def close(self) -> None:
        self.conn.close()


# --- the gateway's end-to-end acks -----------------------------------------------------


class AckWatcher:
    """Subscribes to every device's ack topic; knows when all seqs were acknowledged."""

    def __init__(self, port: int) -> None:
        self.lock = threading.Lock()
        self.acked: dict[tuple[str, str], set[int]] = {}
        self.count = 0
        self.expected = 0
        self.done = threading.Event()
        self.t_done = 0.0
        self.timeline: list[tuple[float, int]] = []  # (time.time(), acked so far)
        self.publish_times: dict[tuple[str, str, int], float] | None = None
        self.latencies: list[float] = []
        self.client = _client("bench-ack-watcher")
        self.client.on_message = self._on_message
        connect_and_wait(self.client, port, clean_start=True, props=_connect_props(0))
        subscribe_and_wait(self.client, ACK_FILTER)

    def arm(self, expected: int, publish_times: dict | None = None) -> None:
        with self.lock:
            self.acked = {}
            self.count = 0
            self.expected = expected
            self.timeline = []
            self.latencies = []
            self.publish_times = publish_times
            self.done.clear()

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        now_wall = time.time()
        now_perf = time.perf_counter()
        parts = message.topic.split("/")
        key = (parts[2], parts[4])
        data = json.loads(message.payload)
        with self.lock:
            seen = self.acked.setdefault(key, set())
            before = self.count
            for lo, hi in data["seq_ranges"]:
                for seq in range(lo, hi + 1):
                    if seq not in seen:
                        seen.add(seq)
                        self.count += 1
                        if self.publish_times is not None:
                            sent = self.publish_times.get((key[0], key[1], seq))
                            if sent is not None:
                                self.latencies.append(now_perf - sent)
            if self.count != before:
                self.timeline.append((now_wall, self.count))
            if self.expected and self.count >= self.expected and not self.done.is_set():
                self.t_done = now_wall
                self.done.set()

    def acked_before(self, moment: float) -> int:
        with self.lock:
            n = 0
            for t, count in self.timeline:
                if t > moment:
                    break
                n = count
            return n

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- the gateway as a subprocess -------------------------------------------------------

_TIME_FIELD = re.compile(r'"time"\s*:\s*"([^"]+)"')


def _log_time(line: str) -> float | None:
    """The wall-clock time of a JSON log line ("2026-11-26 07:20:34,652" local time, or
    RFC 3339 with an offset); None if the line carries none that parses."""
    match = _TIME_FIELD.search(line)
    if not match:
        return None
    try:
        return datetime.fromisoformat(match.group(1).replace(",", ".")).timestamp()
    except ValueError:
        return None


def prepare_home(home: Path, bench_plan: Path) -> None:
    """A fresh MRV_HOME with the solar plan and the bench plan registered."""
    from persistence.engine import Database
    from persistence.repo import load_plan
    from verification.plan_check import load_plan_file

    home.mkdir(parents=True, exist_ok=True)
    # What the gateway subprocess uses: no MRV_* variables but MRV_HOME (see start()).
    db = Database(f"sqlite:///{home / 'mrv.sqlite'}")
    try:
        for path in (SOLAR_PLAN, bench_plan):
            plan = load_plan_file(path)
            with db.session() as session, session.begin():
                load_plan(session, plan, path.read_text(), actor="bench")
    finally:
        db.dispose()


class GatewayProcess:
    def __init__(self, home: Path, url: str, client_id: str, share_group: str | None = None):
        self.home = home
        self.url = url
        self.client_id = client_id
        self.share_group = share_group
        self.metrics_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: Path | None = None
        self.starts = 0
        self.peak_rss_kb = 0

    def start(self) -> None:
        self.starts += 1
        self.log = self.home / f"gateway-{self.client_id}-{self.starts}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MRV_")}
        env["MRV_HOME"] = str(self.home)
        cmd = [
            sys.executable,
            "-m",
            "mrv.cli",
            "gateway",
            "--mqtt-url",
            self.url,
            "--client-id",
            self.client_id,
            "--metrics-port",
            str(self.metrics_port),
        ]
        if self.share_group:
            cmd += ["--share-group", self.share_group]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log)

    def wait_connected(self, timeout: float = 60.0) -> float:
        """Wall-clock time of the gateway's CONNACK: the time stamp of its "connected to
        the broker" log line, or (if the log format has none) when the line appeared."""
        assert self.proc is not None and self.log is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = time.time()
            for line in self.log.read_text(errors="replace").splitlines():
                if "connected to the broker" in line:
                    stamp = _log_time(line)
                    return stamp if stamp is not None and abs(stamp - seen) < 5 else seen
            if self.proc.poll() is not None:
                break
            time.sleep(0.005)
        raise RuntimeError(f"gateway {self.client_id} did not connect: {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-1500:] if self.log else ""

    def metrics(self) -> dict[str, float]:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("mrv_gateway_") and " " in line:
                name, value = line.rsplit(" ", 1)
                values[name] = values.get(name, 0.0) + float(value)
        return values

    def sample_rss(self) -> int:
        """VmHWM (peak resident set) of the gateway process so far, in kB."""
        assert self.proc is not None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss_kb = max(self.peak_rss_kb, int(line.split()[1]))
        except OSError:
            pass
        return self.peak_rss_kb

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        self.sample_rss()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise RuntimeError(f"gateway {self.client_id} ignored SIGTERM for 60 s") from None
        self.proc = None
        if rc != 0:
            raise RuntimeError(f"gateway {self.client_id} exited {rc}: {self.tail()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


# --- the measurements ------------------------------------------------------------------


@dataclass
class DrainResult:
    label: str
    messages: int
    readings: int
    seconds: float
    peak_rss_kb: list[int] = field(default_factory=list)
    note: str = ""

    @property
    def msg_rate(self) -> float:
        return self.messages / self.seconds

    @property
    def reading_rate(self) -> float:
        return self.readings / self.seconds


def events_text(home: Path) -> str:
    """Data-quality events the gateway recorded in a drain, by kind (there should be none)."""
    conn = sqlite3.connect(home / "mrv.sqlite", timeout=30)
    try:
        kinds = conn.execute("SELECT kind, count(*) FROM events GROUP BY kind").fetchall()
    finally:
        conn.close()
    return ", ".join(f"{n} {kind} events" for kind, n in kinds) or "events counted, none stored"


@dataclass
class Bench:
    broker: MosquittoBroker
    tmp: Path
    bench_plan: Path
    acks: AckWatcher
    running: list[GatewayProcess] = field(default_factory=list)
    publish_rates: list[float] = field(default_factory=list)

    def queue(self, workload: Workload, label: str) -> None:
        rate = publish_queued(self.broker.port, workload, self.tmp / f"pub-{label}")
        self.publish_rates.append(rate)

    def bare(self, workload: Workload, label: str, lean: bool = False) -> DrainResult:
        consumer = DrainConsumer(self.broker.port, f"bench-bare-{label}", lean=lean)
        consumer.subscribe_and_leave()
        self.queue(workload, f"bare-{label}")
        gc.collect()  # as in a freshly started subscriber: no collection debt from set-up
        seconds = consumer.drain(workload.n, timeout=120)
        return DrainResult(f"bare-{label}", workload.n, workload.readings, seconds)

    def naive(self, workload: Workload, label: str) -> DrainResult:
        handler = NaiveConsumer(self.tmp / f"naive-{label}.sqlite")
        consumer = DrainConsumer(self.broker.port, f"bench-naive-{label}", handler)
        consumer.subscribe_and_leave()
        self.queue(workload, f"naive-{label}")
        gc.collect()
        try:
            seconds = consumer.drain(workload.n, timeout=600)
            rows = handler.rows()
        finally:
            handler.close()
        if rows != workload.readings:
            raise RuntimeError(f"naive consumer stored {rows} of {workload.readings} readings")
        return DrainResult(f"naive-{label}", workload.n, workload.readings, seconds)

    def gateway(
        self, workload: Workload, label: str, processes: int = 1, acked: bool = True
    ) -> DrainResult:
        """``acked``: the clock stops at the last end-to-end ack; a standard payload gets
        none, so for those (False) it stops when /metrics counts every reading stored."""
        home = self.tmp / f"home-{label}"
        prepare_home(home, self.bench_plan)
        group = "bench" if processes > 1 else None
        gws = [
            GatewayProcess(home, self.broker.url, f"bench-gw-{label}-{k}", group)
            for k in range(processes)
        ]
        self.running.extend(gws)
        try:
            # 1. subscribe with the persistent session, then go away (SIGTERM).
            for gw in gws:
                gw.start()
            for gw in gws:
                gw.wait_connected()
            time.sleep(0.5)  # the SUBSCRIBE goes out right after CONNACK
            for gw in gws:
                gw.stop()
            # 2. queue N messages for it; 3. restart and time the drain.
            self.queue(workload, label)
            self.acks.arm(workload.n)
            for gw in gws:
                gw.start()
            connects = [gw.wait_connected() for gw in gws]
            if acked:
                if not self.acks.done.wait(60 + workload.n / 500):
                    raise RuntimeError(
                        f"gateway drain {label}: {self.acks.count} of {workload.n} "
                        "acknowledged; " + gws[0].tail()
                    )
                t_done = self.acks.t_done
            else:
                t_done = self._stored_at(gws, workload.readings, 60 + workload.n / 500)
            # With several processes, time from the moment the last one is connected,
            # counting only what was acknowledged after it (the others' start-up staggers).
            t0 = max(connects)
            before = self.acks.acked_before(t0) if processes > 1 else 0
            seconds = t_done - t0
            messages = workload.n - before
            totals = self._settle(gws, workload)
            for gw in gws:
                gw.sample_rss()
            notes = []
            if processes > 1:
                shares = [
                    int(gw.metrics().get("mrv_gateway_messages_received_total", 0)) for gw in gws
                ]
                notes.append("split " + "/".join(str(x) for x in shares))
                if before:
                    notes.append(f"{before} acked before the last connect")
            if processes > 1:
                notes.append(f"2nd connected {1000 * (max(connects) - min(connects)):.0f} ms later")
            if totals["events"]:
                notes.append(events_text(home))
            note = ", ".join(notes)
            for gw in gws:
                gw.stop()
            if totals["quarantined"]:
                raise RuntimeError(f"gateway drain {label}: {totals['quarantined']} quarantined")
        finally:
            for gw in gws:
                gw.kill()
                purge_session(self.broker.port, gw.client_id)
        return DrainResult(
            label,
            messages,
            messages * workload.readings_per_message,
            seconds,
            [gw.peak_rss_kb for gw in gws],
            note,
        )

    def _stored_at(self, gws: list[GatewayProcess], readings: int, timeout: float) -> float:
        """Wall-clock time at which /metrics first counts ``readings`` stored (polled every
        20 ms: the clock can run up to one poll late)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stored = sum(g.metrics().get("mrv_gateway_readings_stored_total", 0.0) for g in gws)
            if stored >= readings:
                return time.time()
            time.sleep(0.02)
        raise RuntimeError(f"gateway drain: not all {readings} readings stored; " + gws[0].tail())

    def _settle(self, gws: list[GatewayProcess], workload: Workload) -> dict[str, float]:
        """Wait until /metrics agrees with the acks: all received, all stored."""
        deadline = time.monotonic() + 30
        while True:
            received = stored = quarantined = events = 0.0
            for gw in gws:
                m = gw.metrics()
                received += m.get("mrv_gateway_messages_received_total", 0.0)
                stored += m.get("mrv_gateway_readings_stored_total", 0.0)
                events += m.get("mrv_gateway_events_total", 0.0)
                quarantined += sum(
                    v for k, v in m.items() if k.startswith("mrv_gateway_quarantined_total")
                )
            if received >= workload.n and stored >= workload.readings:
                return {
                    "received": received,
                    "stored": stored,
                    "quarantined": quarantined,
                    "events": events,
                }
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"metrics: received {received:.0f}/{workload.n}, stored "
                    f"{stored:.0f}/{workload.readings}"
                )
            time.sleep(0.05)

    def latency(self, seconds: float, rate: float = 1000.0) -> dict[str, float]:
        home = self.tmp / "home-latency"
        prepare_home(home, self.bench_plan)
        gw = GatewayProcess(home, self.broker.url, "bench-gw-latency")
        self.running.append(gw)
        total = int(seconds * rate)
        start = datetime.now(UTC).replace(microsecond=0)
        workload = make_workload(
            SOLAR_PROJECT,
            SOLAR_DEVICES,
            total,
            ["energy_export", "power"],
            start,
            step_s=len(SOLAR_DEVICES) / rate,
        )
        publish_times: dict[tuple[str, str, int], float] = {}
        publisher = _client("bench-latency-pub")
        try:
            gw.start()
            gw.wait_connected()
            time.sleep(1.0)
            connect_and_wait(publisher, self.broker.port, clean_start=True, props=_connect_props(0))
            self.acks.arm(total, publish_times)
            began = time.perf_counter()
            for i, (topic, device, seq, payload) in enumerate(workload.messages):
                delay = began + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                publish_times[(SOLAR_PROJECT, device, seq)] = time.perf_counter()
                publisher.publish(topic, payload, qos=1)
            sent_for = time.perf_counter() - began
            self.acks.done.wait(10)
            gw.sample_rss()
            m = gw.metrics()
            batches = m.get("mrv_gateway_batch_seconds_count", 0.0)
            batch_ms = 1000 * m.get("mrv_gateway_batch_seconds_sum", 0.0) / max(batches, 1.0)
            gw.stop()
        finally:
            publisher.disconnect()
            publisher.loop_stop()
            gw.kill()
            purge_session(self.broker.port, gw.client_id)
        lat = sorted(x * 1000 for x in self.acks.latencies)
        if not lat:
            raise RuntimeError("latency: no end-to-end acks arrived")
        return {
            "p50": percentile(lat, 50),
            "p99": percentile(lat, 99),
            "max": lat[-1],
            "acked": len(lat),
            "sent": total,
            "rate": total / sent_for,
            "rss_kb": gw.peak_rss_kb,
            "batches": batches,
            "batch_ms": batch_ms,
        }


# --- report ----------------------------------------------------------------------------


def best(results: list[DrainResult]) -> DrainResult:
    return max(results, key=lambda r: r.msg_rate)


def runs_text(results: list[DrainResult]) -> str:
    if len(results) == 1:
        return ""
    return "\nruns " + " / ".join(f"{r.msg_rate:,.0f}" for r in results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=None, help="N per drain (default 30000)")
    parser.add_argument("--quick", action="store_true", help="N=10000, 15 s latency, 1 run")
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs of each throughput drain, best kept (2)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)
    n = args.messages or (10_000 if args.quick else 30_000)
    repeat = args.repeat or (1 if args.quick else 2)
    latency_s = 15.0 if args.quick else 20.0

    for line in [*machine_lines(), code_version("gateway", "mrv")]:
        out.print(line, highlight=False)
    out.print(
        f"N = {n:,} QoS 1 messages per drain, best of {repeat} run(s) per throughput row; "
        f"run {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        highlight=False,
    )

    # mkdtemp, not TemporaryDirectory: the latter's finalizer removes the folder at exit
    # even when --keep asked to keep it (the gateways' logs are in it)
    tmp = Path(tempfile.mkdtemp(prefix="mrv-bench-ingest-"))
    from verification.plan_check import validate_plan_text

    _, problems = validate_plan_text(BENCH_PLAN_YAML)
    if problems:
        raise SystemExit("bench plan invalid: " + "; ".join(map(str, problems)))
    bench_plan = tmp / "bench-plan.yaml"
    bench_plan.write_text(BENCH_PLAN_YAML)

    past = (datetime.now(UTC) - timedelta(days=60)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    one = make_workload(SOLAR_PROJECT, SOLAR_DEVICES, n, ["energy_export"], past)
    five = make_workload(BENCH_PROJECT, BENCH_DEVICES, n, FIVE_QUANTITIES, past)
    signed = make_workload(
        BENCH_PROJECT, SIGNED_DEVICES, n, ["energy_export"], past, key=SIGNING_KEY
    )
    standard = {fmt: make_format_workload(fmt, n, past) for fmt in FORMATS}

    broker = MosquittoBroker(tmp / "broker")
    bench: Bench | None = None
    started = time.perf_counter()
    runs: dict[str, list[DrainResult]] = {}

    def step(key: str, title: str, fn: Callable[[], DrainResult]) -> None:
        result = fn()
        runs.setdefault(key, []).append(result)
        extra = f" ({result.note})" if result.note else ""
        say.print(f"  {title}: {result.msg_rate:,.0f} msg/s{extra}")

    try:
        broker.start()
        bench = Bench(broker, tmp, bench_plan, AckWatcher(broker.port))
        b = bench
        for k in range(repeat):
            say.print(f"[run {k + 1}/{repeat}] throughput drains of {n:,} messages")
            step("bare1", "bare subscriber, 1 reading/msg", partial(b.bare, one, f"one{k}"))
            step("bare5", "bare subscriber, 5 readings/msg", partial(b.bare, five, f"five{k}"))
            lean1 = partial(b.bare, one, f"leanone{k}", lean=True)
            step("lean1", "bare subscriber on the gateway's client, 1 reading/msg", lean1)
            lean5 = partial(b.bare, five, f"leanfive{k}", lean=True)
            step("lean5", "bare subscriber on the gateway's client, 5 readings/msg", lean5)
            step("gw1", "gateway, 1 reading/msg", partial(b.gateway, one, f"one{k}"))
            step("gw5", "gateway, 5 readings/msg", partial(b.gateway, five, f"five{k}"))
            step("gws", "gateway, signed, 1 reading/msg", partial(b.gateway, signed, f"sig{k}"))
            for fmt, work in standard.items():
                drain = partial(b.gateway, work, f"{fmt}{k}", acked=False)
                step(fmt, f"gateway, {fmt} payload, 1 reading/msg", drain)
            step(
                "gw2",
                "two gateways, one shared subscription",
                partial(b.gateway, one, f"shared{k}", processes=2),
            )
        say.print("[naive] per-message consumer drains (one run each)")
        step("naive1", "naive consumer, 1 reading/msg", partial(b.naive, one, "one"))
        step("naive5", "naive consumer, 5 readings/msg", partial(b.naive, five, "five"))
        say.print(f"[latency] 1,000 msg/s for {latency_s:.0f} s")
        lat = bench.latency(latency_s)
        say.print(f"  p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms")
    except Exception:
        if bench is not None:
            for gw in bench.running:
                gw.kill()
        raise
    finally:
        if bench is not None:
            bench.acks.close()
        broker.stop()
        if args.keep:
            say.print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.perf_counter() - started

    bare1, bare5 = best(runs["bare1"]), best(runs["bare5"])
    gw1, gw5, gw2 = best(runs["gw1"]), best(runs["gw5"]), best(runs["gw2"])
    gws = best(runs["gws"])
    naive1, naive5 = runs["naive1"][0], runs["naive5"][0]

    table = Table(title=f"Ingest benchmark (bench/ingest.py), N = {n:,} per drain", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("measurement")
    table.add_column("result", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("target")
    table.add_column("verdict", justify="center")

    def rates(key: str, r: DrainResult) -> str:
        text = f"{r.msg_rate:,.0f} msg/s"
        if r.readings != r.messages:
            text += f"\n{r.reading_rate:,.0f} readings/s"
        return text + runs_text(runs[key])

    def per(r: DrainResult) -> str:
        k = round(r.readings / max(r.messages, 1))
        return f"{k} reading{'s' if k > 1 else ''}/msg"

    for row, key, r in (("1a", "bare1", bare1), ("1b", "bare5", bare5)):
        table.add_row(
            row,
            f"bare subscriber drain, {per(r)}\n(paho MQTT 5, manual ack at once, "
            f"ReceiveMaximum {RECEIVE_MAXIMUM})",
            rates(key, r),
            "1.00",
            "reference",
            "-",
        )
    lean1, lean5 = best(runs["lean1"]), best(runs["lean5"])
    for row, key, r in (("1c", "lean1", lean1), ("1d", "lean5", lean5)):
        table.add_row(
            row,
            f"bare subscriber drain on the gateway's client, {per(r)}\n"
            "(gateway.mqtt.GatewayClient: buffered reads, no MQTTMessage;\n"
            "acknowledges each message at once)",
            rates(key, r),
            f"{r.msg_rate / (bare1 if key == 'lean1' else bare5).msg_rate:.2f}x bare",
            "reference (no target)",
            "-",
        )
    for row, key, r, ref, lean in (
        ("2a", "gw1", gw1, bare1, lean1),
        ("2b", "gw5", gw5, bare5, lean5),
    ):
        ratio = r.msg_rate / ref.msg_rate
        table.add_row(
            row,
            f"gateway drain, {per(r)}\n(1 process, SQLite stores, synchronous FULL)",
            rates(key, r),
            f"{ratio:.2f}x bare\n{r.msg_rate / lean.msg_rate:.2f}x {'1c' if row == '2a' else '1d'}",
            f">= {TARGET_BARE_RATIO[row]}x bare",
            verdict(ratio >= TARGET_BARE_RATIO[row]),
        )
    signing = gws.msg_rate / gw1.msg_rate
    table.add_row(
        "2c",
        f"gateway drain, signed, {per(gws)}\n(Ed25519 per message, checked against the\n"
        "device's key in the plan; vs 2a, the same without signing)",
        rates("gws", gws),
        f"{signing:.2f}x unsigned",
        "measured (no target)",
        "-",
    )
    for row, fmt in zip(("2d", "2e", "2f"), FORMATS, strict=True):
        r = best(runs[fmt])
        table.add_row(
            row,
            f"gateway drain, {fmt} payload, {per(r)}\n(core.payloads; no seq, no ack: clock\n"
            "stopped by /metrics counting all stored; vs 2a)",
            rates(fmt, r),
            f"{r.msg_rate / gw1.msg_rate:.2f}x native",
            "measured (no target)",
            "-",
        )
    for row, key, r, g in (("3a", "naive1", naive1, gw1), ("3b", "naive5", naive5, gw5)):
        ratio = g.msg_rate / r.msg_rate
        table.add_row(
            row,
            f"naive consumer drain, {per(r)}\n(json + pint per reading, INSERT + COMMIT per msg)",
            rates(key, r),
            f"gateway {ratio:.1f}x",
            f"gateway >= {TARGET_NAIVE_RATIO:.0f}x naive",
            verdict(ratio >= TARGET_NAIVE_RATIO),
        )
    scale = gw2.msg_rate / gw1.msg_rate
    table.add_row(
        "4",
        f"two gateways, --share-group bench, {per(gw2)}\n({gw2.note})",
        rates("gw2", gw2),
        f"{scale:.2f}x one",
        f"> {TARGET_SCALE_RATIO:.1f}x one process",
        verdict(scale > TARGET_SCALE_RATIO),
    )
    table.add_row(
        "5",
        f"latency publish -> end-to-end ack at {lat['rate']:,.0f} msg/s\nfor {latency_s:.0f} s, "
        f"2 readings/msg ({lat['acked']:,}/{lat['sent']:,} acked, max {lat['max']:.0f} ms;\n"
        f"{lat['batches']:.0f} batches, mean write {lat['batch_ms']:.1f} ms)",
        f"p50 {lat['p50']:.1f} ms\np99 {lat['p99']:.1f} ms",
        "",
        f"p99 < {TARGET_P99_MS:.0f} ms",
        verdict(lat["p99"] < TARGET_P99_MS and lat["acked"] == lat["sent"]),
    )
    peaks = {
        "2a": max(kb for r in runs["gw1"] for kb in r.peak_rss_kb),
        "2b": max(kb for r in runs["gw5"] for kb in r.peak_rss_kb),
        "4": max(kb for r in runs["gw2"] for kb in r.peak_rss_kb),
    }
    peak_mb = max(peaks.values()) / 1024
    table.add_row(
        "6",
        "peak RSS (VmHWM) of a gateway process in the drains\n("
        + ", ".join(f"{k}: {v / 1024:.0f} MB" for k, v in peaks.items())
        + f"; latency run {lat['rss_kb'] / 1024:.0f} MB)",
        f"{peak_mb:.0f} MB",
        "",
        f"< {TARGET_RSS_MB:.0f} MB",
        verdict(peak_mb < TARGET_RSS_MB),
    )
    out.print(table)
    out.print(
        f"messages queued with mosquitto_pub -l (one per topic) at "
        f"{min(bench.publish_rates):,.0f}-{max(bench.publish_rates):,.0f} msg/s; "
        f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"bench took {elapsed:.0f} s",
        highlight=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
