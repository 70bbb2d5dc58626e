"""The device simulator against a real private Mosquitto and a plain paho subscriber."""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core import quantities
from core.config import MqttEndpoint
from core.plans.schema import MonitoringPlan
from core.units import UnitError
from core.wire import (
    AckMessage,
    DecodeError,
    ReadingMessage,
    StatusMessage,
    ack_topic,
    decode_items,
    parse_topic,
    seq_ranges,
    validate_item,
)
from firmware_sim import physics
from firmware_sim.buffer import MessageBuffer
from firmware_sim.device import SimDevice
from firmware_sim.faults import NO_FAULTS, FaultConfig
from firmware_sim.model import site_models
from firmware_sim.runner import SimulationResult, run_simulation
from firmware_sim.units_out import to_canonical_rule, wrong_unit
from mrv.demo.broker import MosquittoBroker
from tests.support.paths import PLANS
from tests.support.ports import free_port
from verification.plan_check import load_plan_file, validate_plan_text

START = datetime(2026, 7, 1, tzinfo=UTC)

# A compact landfill site: a US flow meter (scf, SCFM), a % analyser, a psig transmitter,
# a flare thermocouple, and a blower meter with a tiny register so that it rolls over.
SMALL_PLAN = """
project:
  id: test-lfg
  name: Test landfill
  host_country: Thailand
  methodology: {id: methane-recovery-destruction, version: "1.0"}
  crediting_period: {start: 2026-01-01, end: 2030-12-31}
  gap_rules: california
sites:
  - {id: site-1, name: Cell 1, location: {lat: 13.9, lon: 100.5}, timezone: Asia/Bangkok}
devices:
  - id: flow
    site: site-1
    type: thermal_mass_flow_meter
    serial: F-1
    quantities: [gas_volume_normal, gas_flow_normal]
    max_permissible_error_pct: 1.0
    register_max: {volume_max}
    reference_conditions: {temperature_c: 15.556, pressure_kpa: 101.325}
    expected_interval_s: 60
    nameplate: {design_flow_nm3_h: 600.0, volume_unit_scf: 1.0}
  - id: ch4
    site: site-1
    type: gas_analyser
    serial: A-1
    quantities: [ch4_fraction, gas_pressure]
    max_permissible_error_pct: 2.0
    atmosphere_kpa: 100.8
    expected_interval_s: 60
    nameplate: {fraction_unit_percent: 1.0, pressure_unit_psig: 1.0}
  - id: flare
    site: site-1
    type: thermocouple
    serial: T-1
    quantities: [flare_temperature, flame_detected]
    accuracy_class: "1"
    expected_interval_s: 120
    nameplate: {temperature_unit_degf: 1.0}
  - id: blower
    site: site-1
    type: energy_meter
    serial: E-1
    quantities: [energy_consumed, power]
    accuracy_class: "0.5S"
    register_max: {energy_max}
    expected_interval_s: 300
    nameplate: {rated_kw: 40.0, energy_unit_mwh: 1.0}
monitoring_points:
  - {id: MP-V, device: flow, quantity: gas_volume_normal}
  - {id: MP-CH4, device: ch4, quantity: ch4_fraction}
parameters:
  - {symbol: LFG_flare, unit: Nm3, option: C, monitoring_points: [MP-V]}
  - {symbol: w_CH4, unit: dimensionless, option: C, monitoring_points: [MP-CH4]}
"""


def small_plan(volume_max: float = 1e9, energy_max: float = 1e9) -> MonitoringPlan:
    text = SMALL_PLAN.replace("{volume_max}", repr(volume_max))
    text = text.replace("{energy_max}", repr(energy_max))
    plan, problems = validate_plan_text(text)
    assert plan is not None and not problems, problems
    return plan


def expected_count(interval_s: float, start: datetime, days: float) -> int:
    first = math.ceil(start.timestamp() / interval_s) * interval_s
    end = start.timestamp() + days * 86400
    return max(0, math.ceil((end - first) / interval_s))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def sim_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(tmp_path / "broker", port=free_port(), persistence=False) as broker:
        yield broker


@pytest.fixture
def endpoint(sim_broker: MosquittoBroker) -> MqttEndpoint:
    return MqttEndpoint.parse(sim_broker.url)


@dataclass
class Received:
    topic: str
    payload: bytes


@dataclass
class Listener:
    """A plain paho subscriber on mrv/v1/#; optionally a fake gateway that acks."""

    port: int
    ack: bool = False
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"listener-{id(self)}", protocol=mqtt.MQTTv5
        )
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect("127.0.0.1", self.port)
        self.client.subscribe("mrv/v1/#", qos=1)
        self.client.loop_start()
        assert subscribed.wait(5)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.retain:  # a retained status of an earlier run, not sent by this one
            return
        payload = bytes(msg.payload)
        with self.lock:
            self.messages.append(Received(msg.topic, payload))
        if not self.ack or not msg.topic.endswith("/readings"):
            return
        project, site, device, _ = parse_topic(msg.topic)
        try:
            items = decode_items(payload)
        except DecodeError:
            return
        seqs = [i["seq"] for i in items if isinstance(i, dict) and isinstance(i.get("seq"), int)]
        if seqs:
            ack = AckMessage(device=device, seq_ranges=seq_ranges(seqs), time=datetime.now(UTC))
            client.publish(ack_topic(project, site, device), ack.model_dump_json(), qos=1)

    def readings(self) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if m.topic.endswith("/readings")]

    def settle(self, count: int, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.readings()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def listen(sim_broker: MosquittoBroker) -> Iterator[Callable[..., Listener]]:
    made: list[Listener] = []

    def factory(ack: bool = False) -> Listener:
        listener = Listener(sim_broker.port, ack=ack)
        made.append(listener)
        return listener

    yield factory
    for listener in made:
        listener.close()


def simulate(
    endpoint: MqttEndpoint,
    state_dir: Path,
    plans: list[MonitoringPlan],
    *,
    days: float = 0.25,
    start: datetime = START,
    seed: int = 7,
    faults: FaultConfig | None = None,
    wait_for_acks: bool = False,
    ack_timeout_s: float = 10.0,
    speed: float | None = None,
    backfill: bool = True,
) -> SimulationResult:
    return run_simulation(
        plans,
        endpoint,
        start=start,
        days=days,
        seed=seed,
        speed=speed,
        backfill=backfill,
        faults=faults or FaultConfig.none(),
        state_dir=state_dir,
        wait_for_acks=wait_for_acks,
        ack_timeout_s=ack_timeout_s,
    )


def messages_by_device(received: list[Received]) -> dict[str, list[ReadingMessage]]:
    """Every decodable reading message (arrays unpacked), per device, in arrival order."""
    out: dict[str, list[ReadingMessage]] = defaultdict(list)
    for r in received:
        try:
            items = decode_items(r.payload)
            batch = len(items) > 1 or r.payload.startswith(b"[")
            for index, item in enumerate(items):
                out[parse_topic(r.topic)[2]].append(validate_item(item, index if batch else None))
        except DecodeError:
            continue
    return out


# --------------------------------------------------------------------------- plans


@pytest.mark.parametrize("name", ["chiller-efficiency", "landfill-gas-flare"])
def test_example_plans_validate(name: str) -> None:
    plan = load_plan_file(PLANS / f"{name}.yaml")
    for device in plan.devices:
        assert device.accuracy_class or device.max_permissible_error_pct
        assert all(isinstance(v, float) for v in device.nameplate.values())
    if name == "landfill-gas-flare":
        assert plan.project.gap_rules == "california"
        gwp = next(p for p in plan.parameters if p.symbol == "GWP_CH4")
        assert gwp.option == "A" and gwp.value == 25


# --------------------------------------------------------------------------- physics, offline


def test_physics_is_plausible() -> None:
    noon = datetime(2026, 3, 20, 12, 0, tzinfo=UTC).timestamp()
    assert physics.solar_elevation_deg(noon, 0.0, 0.0) > 85
    assert physics.solar_elevation_deg(noon + 12 * 3600, 0.0, 0.0) < -85
    seed = 99
    for k in range(0, 14 * 86400, 600):
        t = noon + k
        gas = physics.landfill_state(t, (k / 3600) % 24, seed, 800.0, 101.3, 40.0)
        assert 0.45 <= gas.ch4_fraction <= 0.60
        if gas.running:
            _, since = physics.flare_schedule(seed, t)
            assert gas.flow_nm3_h > 0 and gas.flame
            if since > 600:
                assert gas.flare_temperature_c > 500
        else:
            assert gas.flow_nm3_h == 0 and not gas.flame and gas.blower_kw == 0
    plant = physics.chiller_plant_state(noon, 15.0, False, (1758.0, 1758.0), (6.2, 6.2), 1)
    assert 0 < plant.total_electric_kw < plant.total_cooling_kw / 4
    assert 5 < plant.chilled_water_out_c < 9 and 27 < plant.cooling_water_out_c < 38


@pytest.mark.parametrize("name", ["chiller-efficiency", "landfill-gas-flare", "solar-pv-rooftops"])
def test_unfaulted_readings_are_plausible(name: str) -> None:
    """Without faults, every reading has a unit of the right dimension and is in range."""
    plan = load_plan_file(PLANS / f"{name}.yaml")
    models = site_models(plan, 3)
    start = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    units: set[str] = set()
    for device in plan.devices:
        sim = SimDevice(
            plan.project.id, device, models[device.site], seed=3, faults=FaultConfig(), state=None
        )
        t = sim.first_time(start)
        while t < start + 2 * 86400:
            emission = sim.build(t, NO_FAULTS)
            assert emission.valid_readings == emission.readings
            for reading in emission.message.readings:
                spec = quantities.CATALOGUE[reading.quantity]
                canonical = to_canonical_rule(device, reading.quantity, reading.unit)(reading.value)
                assert spec.in_range(canonical), (device.id, reading)
                units.add(reading.unit)
            t += sim.interval_s
    if name == "landfill-gas-flare":
        assert {"scf", "SCFM", "m3", "m3/h", "%", "degF", "psig"} <= units
    if name == "chiller-efficiency":
        assert {"MWh", "kWh", "degF", "degC"} <= units


def test_wrong_units_have_the_wrong_dimension() -> None:
    plan = load_plan_file(PLANS / "landfill-gas-flare.yaml")
    for device in plan.devices:
        for q in device.quantities:
            with pytest.raises(UnitError):
                to_canonical_rule(device, q, wrong_unit(q))


def test_fault_config_checks_rates() -> None:
    with pytest.raises(ValueError):
        FaultConfig(garbage_rate=1.5)
    with pytest.raises(ValueError):
        FaultConfig.from_dict({"nonsense_rate": 0.1})
    assert FaultConfig.from_dict(FaultConfig.typical().to_dict()) == FaultConfig.typical()
    assert not FaultConfig.none().any and FaultConfig.typical().any


# --------------------------------------------------------------------------- over MQTT


def test_backfill_publishes_expected_messages(endpoint, listen, tmp_path: Path) -> None:
    listener = listen()
    plan = small_plan()
    days = 0.5
    result = simulate(endpoint, tmp_path / "state", [plan], days=days)
    counts = result.projects["test-lfg"]
    expected = {d.id: expected_count(d.expected_interval_s, START, days) for d in plan.devices}
    assert counts.messages == sum(expected.values())
    assert counts.valid_readings == counts.readings
    listener.settle(counts.publishes)

    statuses = [m for m in listener.messages if m.topic.endswith("/status")]
    assert len(statuses) == len(plan.devices)
    for m in statuses:
        status = StatusMessage.model_validate_json(m.payload)
        assert status.state == "online" and status.buffered == 0

    by_device = messages_by_device(listener.readings())
    for device in plan.devices:
        got = by_device[device.id]
        assert len(got) == expected[device.id]
        assert [m.seq for m in got] == list(range(expected[device.id]))
        assert not any(m.historical for m in got)
        for m in got:  # clock drift stays within a few seconds of the reporting instant
            nominal = round(m.time.timestamp() / device.expected_interval_s)
            assert abs(m.time.timestamp() - nominal * device.expected_interval_s) < 5
    # Without a gateway nothing is acknowledged: everything is still in the buffer.
    assert counts.unacked == counts.messages and not result.all_acked


def test_same_seed_same_bytes(endpoint, listen, tmp_path: Path) -> None:
    faults = FaultConfig(
        garbage_rate=0.02,
        wrong_unit_rate=0.02,
        duplicate_rate=0.02,
        outage_rate_per_day=3.0,
        outage_mean_h=1.0,
        reset_rate=0.005,
        stuck_rate=0.01,
        negative_rate=0.01,
    )
    runs = []
    for attempt, seed in enumerate([11, 11, 12]):
        listener = listen()
        result = simulate(
            endpoint, tmp_path / f"s{attempt}", [small_plan()], seed=seed, faults=faults
        )
        listener.settle(result.total().publishes)
        listener.close()
        per_topic: dict[str, list[bytes]] = defaultdict(list)
        for m in listener.messages:
            per_topic[m.topic].append(m.payload)
        runs.append((result.total(), dict(per_topic)))
    (first, bytes_1), (second, bytes_2), (_, bytes_3) = runs
    assert first == second
    assert bytes_1 == bytes_2
    assert bytes_1 != bytes_3
    # Every kind of fault happened, and the listener saw what the counts say.
    assert min(first.garbage, first.wrong_unit, first.duplicates, first.outages) > 0
    assert min(first.resets, first.stuck, first.negative, first.historical_messages) > 0
    payloads = [p for topic, ps in bytes_1.items() if topic.endswith("/readings") for p in ps]
    assert len(payloads) == first.publishes
    repeats = Counter(payloads)
    assert sum(n - 1 for p, n in repeats.items() if n > 1 and p.startswith(b'{"device"')) >= (
        first.duplicates
    )
    undecodable = 0
    for p in payloads:
        try:
            for i, item in enumerate(decode_items(p)):
                validate_item(item, i)
        except DecodeError:
            undecodable += 1
    assert 0 < undecodable <= first.garbage


def test_registers_rise_except_resets_and_rollovers(endpoint, listen, tmp_path: Path) -> None:
    listener = listen()
    # ~500 Nm3/h into a 2,000 Nm3 register and ~35 kW into a 100 kWh one: several wraps a day.
    plan = small_plan(volume_max=2000.0, energy_max=100.0)
    faults = FaultConfig(reset_rate=0.001, duplicate_rate=0.05, outage_rate_per_day=2.0)
    result = simulate(endpoint, tmp_path / "state", [plan], days=1.0, faults=faults)
    counts = result.projects["test-lfg"]
    assert counts.rollovers >= 4 and counts.resets >= 1
    listener.settle(counts.publishes)
    by_device = messages_by_device(listener.readings())

    decreases = rollovers = resets = 0
    for device in plan.devices:
        assert device.register_max is not None or device.id in ("ch4", "flare")
        unique = {m.seq: m for m in by_device[device.id]}
        assert sorted(unique) == list(range(len(unique)))
        for q in device.quantities:
            if quantities.CATALOGUE[q].default_kind != "cumulative":
                continue
            assert device.register_max is not None
            series = [
                to_canonical_rule(device, q, r.unit)(r.value)
                for s in sorted(unique)
                for r in unique[s].readings
                if r.quantity == q
            ]
            for before, after in itertools.pairwise(series):
                if after >= before:
                    continue
                decreases += 1
                if before > 0.9 * device.register_max:
                    rollovers += 1
                else:
                    resets += 1
                    assert after < 0.05 * device.register_max
    # A reset right before a wrap point could look like a rollover; the totals must match.
    assert decreases == counts.rollovers + counts.resets
    assert resets >= 1 and rollovers >= 4


def test_gateway_acks_empty_the_buffer(endpoint, listen, tmp_path: Path) -> None:
    listen(ack=True)
    state = tmp_path / "state"
    faults = FaultConfig(duplicate_rate=0.01, outage_rate_per_day=4.0, garbage_rate=0.01)
    result = simulate(endpoint, state, [small_plan()], faults=faults, wait_for_acks=True)
    counts = result.projects["test-lfg"]
    assert result.all_acked and counts.unacked == 0
    assert counts.acked == counts.messages and counts.historical_messages > 0
    buffer = MessageBuffer(state)
    assert buffer.count() == 0
    buffer.close()


def test_unacked_buffer_survives_and_is_resent(endpoint, listen, tmp_path: Path) -> None:
    state = tmp_path / "state"
    plan = small_plan()
    first = simulate(
        endpoint, state, [plan], days=0.1, wait_for_acks=True, ack_timeout_s=0.3
    ).projects["test-lfg"]
    assert first.unacked == first.messages > 0
    buffer = MessageBuffer(state)
    assert buffer.count("test-lfg") == first.messages
    left = {d.id: [seq for seq, _ in buffer.pending("test-lfg", d.id)] for d in plan.devices}
    buffer.close()

    gateway = listen(ack=True)
    later = START + timedelta(days=0.1)
    second = simulate(endpoint, state, [plan], days=0.1, start=later, wait_for_acks=True)
    counts = second.projects["test-lfg"]
    assert counts.resent_messages == first.messages
    assert second.all_acked and counts.acked == first.messages + counts.messages

    statuses = {
        parse_topic(m.topic)[2]: StatusMessage.model_validate_json(m.payload)
        for m in gateway.messages
        if m.topic.endswith("/status")
    }
    by_device = messages_by_device(gateway.readings())
    for device in plan.devices:
        assert statuses[device.id].buffered == len(left[device.id])
        got = by_device[device.id]
        resent = got[: len(left[device.id])]
        # The old buffer goes out first, as backfill, then the sequence continues.
        assert [m.seq for m in resent] == left[device.id]
        assert all(m.historical for m in resent)
        fresh = got[len(left[device.id]) :]
        assert fresh[0].seq == left[device.id][-1] + 1
        assert not any(m.historical for m in fresh)
        for q in device.quantities:
            if quantities.CATALOGUE[q].default_kind == "cumulative":
                before = next(r for r in resent[-1].readings if r.quantity == q).value
                after = next(r for r in fresh[0].readings if r.quantity == q).value
                assert after >= before  # the register kept counting between the runs


def test_speed_runs_faster_than_real_time(endpoint, listen, tmp_path: Path) -> None:
    listener = listen()
    plan = small_plan()
    began = time.monotonic()
    # 20 simulated minutes at 1200x: about one second of wall time.
    result = simulate(
        endpoint, tmp_path / "state", [plan], days=20 / 1440, speed=1200.0, backfill=False
    )
    elapsed = time.monotonic() - began
    assert 0.8 < elapsed < 5.0
    assert result.total().messages == sum(
        expected_count(d.expected_interval_s, START, 20 / 1440) for d in plan.devices
    )
    listener.settle(result.total().publishes)
    assert len(listener.readings()) == result.total().publishes


def test_payloads_are_wire_json(endpoint, listen, tmp_path: Path) -> None:
    """The bytes are exactly what core.wire.encode gives (compact JSON, Z times)."""
    listener = listen()
    result = simulate(endpoint, tmp_path / "state", [small_plan()], days=0.01)
    listener.settle(result.total().publishes)
    first = listener.readings()[0].payload
    data = json.loads(first)
    assert data["time"].endswith("Z") and data["historical"] is False
    assert b" " not in first
    kinds = {r["quantity"]: r.get("kind") for r in data["readings"]}
    assert all(k in (None, "cumulative") for k in kinds.values())


def test_interrupted_run_never_reuses_a_seq(endpoint, listen, tmp_path: Path, monkeypatch) -> None:
    """A crash mid-run: what was built is on "flash"; the next run re-sends, seq goes on."""
    import firmware_sim.runner as runner

    monkeypatch.setattr(runner, "PROGRESS_EVERY_S", 0.0)
    listener = listen()
    state = tmp_path / "state"
    plan = small_plan()

    def crash(progress: runner.SimProgress) -> None:
        if progress.messages > 600:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_simulation(
            [plan],
            endpoint,
            start=START,
            days=1.0,
            seed=5,
            speed=None,
            backfill=True,
            faults=FaultConfig.none(),
            state_dir=state,
            progress=crash,
        )
    buffer = MessageBuffer(state)
    buffered = buffer.count()
    buffer.close()
    assert buffered > 600

    gateway = listen(ack=True)
    result = simulate(
        endpoint, state, [plan], start=START + timedelta(days=1), days=0.05, wait_for_acks=True
    )
    assert result.projects["test-lfg"].resent_messages == buffered and result.all_acked
    seen: dict[tuple[str, int], str] = {}
    for source in (listener, gateway):
        for device, messages in messages_by_device(source.readings()).items():
            for m in messages:
                body = json.dumps([r.model_dump() for r in m.readings], sort_keys=True)
                # Same identity, same values: a duplicate at worst, never a conflict.
                assert seen.setdefault((device, m.seq), body) == body
    for device in plan.devices:
        seqs = sorted(s for d, s in seen if d == device.id)
        assert seqs == list(range(len(seqs)))
