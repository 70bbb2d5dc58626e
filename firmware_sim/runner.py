"""Run simulated devices of one or more monitoring plans against an MQTT broker.

The run is a discrete-event loop over the devices' reporting instants (a heap ordered by
time, then by device), so the sequence of payloads depends only on the plans, the seed,
the period and the faults — never on the wall clock or on how fast acks come back.

Per message: decide its faults, build it, stage it in the buffer ("flash"); every
``COMMIT_EVERY`` messages (or before sleeping, in paced mode) the staged messages and
device states are committed and only then published. A device in an outage keeps its
messages and, when it comes back, replays them first as backfill arrays with
``historical: true``. Gateway acks on ``mrv/v1/+/+/+/ack`` delete buffer entries.
"""

from __future__ import annotations

import heapq
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from core.config import MqttEndpoint
from core.plans.schema import MonitoringPlan
from core.wire import MAX_PAYLOAD_BYTES, ReadingMessage, StatusMessage, seq_ranges
from firmware_sim.buffer import MessageBuffer
from firmware_sim.device import SimDevice
from firmware_sim.faults import FaultConfig
from firmware_sim.model import site_models
from firmware_sim.noise import stable_seed
from firmware_sim.publisher import Publisher

log = logging.getLogger(__name__)

FIRMWARE = "mrv-sim/0.1"
COMMIT_EVERY = 256  # messages per buffer commit (one SQLite transaction)
REPLAY_BATCH = 100  # messages per backfill array
PUBLISH_WINDOW = 1000  # QoS 1 publishes awaiting the broker's PUBACK
PROGRESS_EVERY_S = 0.5


@dataclass
class ProjectCounts:
    """What one run did for one project."""

    devices: int = 0
    messages: int = 0  # reading messages built and published this run (each seq once)
    readings: int = 0  # readings in those messages
    valid_readings: int = 0  # ... of which the gateway should accept (unit, range)
    publishes: int = 0  # MQTT payloads on readings topics (arrays, duplicates, garbage too)
    historical_messages: int = 0  # messages replayed after an outage (historical=true)
    resent_messages: int = 0  # unacked messages of an earlier run, re-sent at start
    duplicates: int = 0  # payloads published a second time
    garbage: int = 0  # garbage payloads
    wrong_unit: int = 0  # messages with one reading in a unit of the wrong dimension
    negative: int = 0  # messages with a sensor reading made negative
    stuck: int = 0  # messages with a frozen sensor value
    outages: int = 0
    resets: int = 0  # cumulative registers reset to zero
    rollovers: int = 0  # cumulative registers that wrapped at register_max
    acked: int = 0  # buffer entries freed by gateway acks during this run
    unacked: int = 0  # buffer entries still waiting for an ack at the end

    def add(self, other: ProjectCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class SimulationResult:
    start: datetime
    end: datetime
    projects: dict[str, ProjectCounts] = field(default_factory=dict)
    elapsed_s: float = 0.0
    all_acked: bool = False  # the buffer is empty for every simulated device

    def total(self) -> ProjectCounts:
        total = ProjectCounts()
        for counts in self.projects.values():
            total.add(counts)
        return total


@dataclass(frozen=True)
class SimProgress:
    sim_time: datetime
    fraction: float  # of the simulated period
    messages: int
    unacked: int


ProgressCallback = Callable[[SimProgress], None]


def run_simulation(
    plans: Sequence[MonitoringPlan],
    endpoint: MqttEndpoint,
    *,
    start: datetime,
    days: float,
    seed: int,
    speed: float | None,
    backfill: bool,
    faults: FaultConfig,
    state_dir: Path,
    wait_for_acks: bool = True,
    ack_timeout_s: float = 60,
    progress: ProgressCallback | None = None,
    signing_keys: Mapping[tuple[str, str], Ed25519PrivateKey] | None = None,
) -> SimulationResult:
    """Simulate every device of ``plans`` over [start, start + days) and publish.

    speed: simulated seconds per wall-clock second (None: real time, 1.0), for the part
        of the period that is not backfilled.
    backfill: publish the part of the period that lies in the past as fast as the broker
        takes it (with speed None, the whole period).
    wait_for_acks: at the end, wait up to ``ack_timeout_s`` until the gateway has acked
        every buffered message; what is left stays in ``state_dir`` and is re-sent (as
        historical) first by the next run with the same ``state_dir``.
    signing_keys: (project, device) -> the device's private key: its messages are signed.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware (e.g. 2026-01-01T00:00:00+00:00)")
    if not (days > 0 and math.isfinite(days)):
        raise ValueError("days must be a positive number")
    if speed is not None and not (speed > 0 and math.isfinite(speed)):
        raise ValueError("speed must be a positive number")
    run = _Run(
        plans,
        endpoint,
        start=start,
        days=days,
        seed=seed,
        speed=speed,
        backfill=backfill,
        faults=faults,
        state_dir=Path(state_dir),
        progress=progress,
        signing_keys=signing_keys or {},
    )
    return run.execute(wait_for_acks=wait_for_acks, ack_timeout_s=ack_timeout_s)


class _Run:
    def __init__(
        self,
        plans: Sequence[MonitoringPlan],
        endpoint: MqttEndpoint,
        *,
        start: datetime,
        days: float,
        seed: int,
        speed: float | None,
        backfill: bool,
        faults: FaultConfig,
        state_dir: Path,
        progress: ProgressCallback | None,
        signing_keys: Mapping[tuple[str, str], Ed25519PrivateKey],
    ) -> None:
        self.signing_keys = signing_keys
        self.start = start.astimezone(UTC)
        self.end = self.start + timedelta(days=days)
        self.start_s = self.start.timestamp()
        self.end_s = self.end.timestamp()
        self.seed = seed
        self.endpoint = endpoint
        self.progress = progress
        self.buffer = MessageBuffer(state_dir)
        self.result = SimulationResult(start=self.start, end=self.end)
        self.devices: list[SimDevice] = []
        self.windows: list[tuple[float, float]] = []  # per device: [first, end) true time
        self.keys: set[tuple[str, str]] = set()
        for plan in plans:
            self._add_devices(plan, seed, faults)

        # Pacing: sim time t is due at wall0 + (t - anchor) / speed; earlier instants
        # (the backfilled past) are published at once.
        if backfill and speed is None:
            self.speed = math.inf
        else:
            self.speed = speed if speed is not None else 1.0
        self.anchor_s = max(self.start_s, time.time()) if backfill else self.start_s
        # (topic, payload, retain, what the broker's PUBACK frees for a device that does
        # not speak our ack protocol: project, device, seq ranges)
        self.actions: list[tuple[str, bytes, bool, _Frees | None]] = []
        self.dirty: dict[int, SimDevice] = {}
        self.pending = 0  # buffer entries of our devices (to know when all are acked)
        self.messages = 0
        self._last_progress = 0.0
        self._now_s = self.start_s
        client_id = f"mrv-sim-{os.getpid()}-{stable_seed(seed, time.time_ns()) % 1_000_000:06d}"
        self.acks: list[tuple[str, str, list[tuple[int, int]]]] = []
        self.publisher = Publisher(
            endpoint, client_id, on_ack=self._on_ack, window=PUBLISH_WINDOW, will=self._will()
        )

    def _will(self) -> tuple[str, bytes] | None:
        """The last will of a run that simulates one device: its connection is the
        device's, so a dropped connection means the device went offline. (A will is one
        per connection: a run of several devices over one connection has none.)"""
        if len(self.devices) != 1:
            return None
        sim = self.devices[0]
        status = StatusMessage(device=sim.id, state="offline", firmware=FIRMWARE)
        return sim.status_topic, status.model_dump_json(exclude_none=True).encode()

    def _add_devices(self, plan: MonitoringPlan, seed: int, faults: FaultConfig) -> None:
        """A simulated device for each of the plan's devices on a modelled site (each
        (project, device) once), caught up to its first instant in the run."""
        project = plan.project.id
        counts = self.result.projects.setdefault(project, ProjectCounts())
        models = site_models(plan, seed)
        for device in plan.devices:
            if (project, device.id) in self.keys or device.site not in models:
                continue
            begin_s = max(self.start_s, _midnight_s(device.installed))
            stop_s = min(self.end_s, _midnight_s(device.removed, default=math.inf))
            sim = SimDevice(
                project,
                device,
                models[device.site],
                seed=seed,
                faults=faults,
                state=self.buffer.load_state(project, device.id),
                signing_key=self.signing_keys.get((project, device.id)),
            )
            counts.rollovers += sim.catch_up(begin_s)
            counts.devices += 1
            self.keys.add((project, device.id))
            self.devices.append(sim)
            self.windows.append((sim.first_time(begin_s), stop_s))

    # ------------------------------------------------------------------ main
    def execute(self, *, wait_for_acks: bool, ack_timeout_s: float) -> SimulationResult:
        began = time.monotonic()
        connected = False
        try:
            self.publisher.connect()
            connected = True
            self.publisher.subscribe_acks()
            self._announce()
            self._resend_leftovers()
            self._loop()
            for sim in self.devices:  # outages still running at the end: come back now
                if sim.unsent:
                    self._replay(sim, sim.unsent, leftover=False)
                    sim.unsent = []
            self._flush()
            if not self.publisher.drain(max(ack_timeout_s, 30.0)):
                raise TimeoutError("the broker did not acknowledge every publish in time")
            self._await_acks(ack_timeout_s if wait_for_acks else 0.0)
        finally:
            # Never publish here: what is staged but unsent is committed, so it is re-sent
            # by the next run (historical) and no sequence number is ever reused.
            self._stage_states()
            self.buffer.commit()
            if connected:
                self.publisher.close()
            self._count_unacked()
            self.buffer.close()
            self.result.elapsed_s = time.monotonic() - began
        return self.result

    def _announce(self) -> None:
        for sim in self.devices:
            status = StatusMessage(
                device=sim.id,
                state="online",
                firmware=FIRMWARE,
                buffered=self.buffer.count(sim.project, sim.id),
                time=self.start,
            )
            payload = status.model_dump_json(exclude_none=True).encode()
            self.publisher.publish(sim.status_topic, payload, retain=True)

    def _resend_leftovers(self) -> None:
        """Messages an earlier run never got acked go out first, as backfill."""
        for sim in self.devices:
            rows = self.buffer.pending(sim.project, sim.id)
            if not rows:
                continue
            self.pending += len(rows)
            messages = []
            for seq, body in rows:
                try:
                    messages.append(ReadingMessage.model_validate_json(body))
                except ValidationError:
                    # Written by an older simulator in a shape the wire no longer takes:
                    # it can never be acked, so keeping it would block the buffer forever.
                    log.warning("dropping unreadable buffered message %s/%s", sim.id, seq)
                    self.buffer.ack(sim.project, sim.id, [(seq, seq)])
                    self.pending -= 1
            self._replay(sim, messages, leftover=True)
            if len(self.actions) >= COMMIT_EVERY:
                self._flush()
        self._flush()

    def _loop(self) -> None:
        heap = [(first, i) for i, (first, stop) in enumerate(self.windows) if first < stop]
        heapq.heapify(heap)
        wall0 = time.monotonic()
        paced = math.isfinite(self.speed)
        while heap:
            t_s, index = heap[0]
            if paced and t_s >= self.anchor_s:
                due = wall0 + (t_s - self.anchor_s) / self.speed
                wait = due - time.monotonic()
                if wait > 0:
                    self._flush()
                    self.publisher.pause(min(wait, 0.1))
                    self._apply_acks()
                    continue
            heapq.heappop(heap)
            sim = self.devices[index]
            self._step(sim, t_s)
            following = t_s + sim.interval_s
            if following < self.windows[index][1]:
                heapq.heappush(heap, (following, index))
            if self.buffer.staged >= COMMIT_EVERY:
                self._flush()

    def _step(self, sim: SimDevice, t_s: float) -> None:
        counts = self.result.projects[sim.project]
        self._now_s = t_s
        online = t_s >= sim.offline_until
        if online and sim.unsent:  # back from an outage: the backlog goes first
            self._replay(sim, sim.unsent, leftover=False)
            sim.unsent = []
        faults = sim.injector.draw(sim.interval_s, online)
        if faults.outage_s > 0:
            sim.offline_until = t_s + faults.outage_s
            online = False
            counts.outages += 1
        emission = sim.build(t_s, faults)
        self.buffer.stage(sim.project, sim.id, emission.message.seq, emission.flash.decode())
        self.dirty[id(sim)] = sim
        self.pending += 1
        self.messages += 1
        counts.messages += 1
        counts.readings += emission.readings
        counts.valid_readings += emission.valid_readings
        counts.rollovers += emission.rollovers
        counts.resets += emission.reset
        counts.wrong_unit += emission.wrong_unit
        counts.negative += emission.negative
        counts.stuck += emission.stuck
        if not online:
            sim.unsent.append(emission.message)
            return
        frees = _frees(sim, [emission.message])
        self.actions.append((sim.readings_topic, emission.payload, False, frees))
        counts.publishes += 1
        if faults.duplicate:
            self.actions.append((sim.readings_topic, emission.payload, False, None))
            counts.duplicates += 1
            counts.publishes += 1
        if faults.garbage:
            junk = sim.injector.garbage(sim.id, emission.message.seq, emission.payload)
            self.actions.append((sim.readings_topic, junk, False, None))
            counts.garbage += 1
            counts.publishes += 1

    def _replay(self, sim: SimDevice, messages: list[ReadingMessage], *, leftover: bool) -> None:
        counts = self.result.projects[sim.project]
        historical = [m.model_copy(update={"historical": True}) for m in messages]
        for chunk, payload in _backfill_payloads(historical, sim.encode_batch):
            self.actions.append((sim.readings_topic, payload, False, _frees(sim, chunk)))
            counts.publishes += 1
        if leftover:
            counts.resent_messages += len(messages)
        else:
            counts.historical_messages += len(messages)

    # ------------------------------------------------------------------ flash, acks
    def _stage_states(self) -> None:
        for sim in self.dirty.values():
            self.buffer.stage_state(sim.project, sim.id, sim.state)
        self.dirty.clear()

    def _flush(self) -> None:
        """Commit staged messages and states, then publish them (flash before radio)."""
        self._stage_states()
        self.buffer.commit()
        for topic, payload, retain, frees in self.actions:
            delivered = None if frees is None else partial(self._on_delivered, frees)
            self.publisher.publish(topic, payload, retain=retain, on_delivered=delivered)
        self.actions.clear()
        self.publisher.service(0.0)
        self._apply_acks()
        if self.progress is not None:
            now = time.monotonic()
            if now - self._last_progress >= PROGRESS_EVERY_S:
                self._last_progress = now
                self._report_progress()

    def _report_progress(self) -> None:
        if self.progress is None:
            return
        span = self.end_s - self.start_s
        self.progress(
            SimProgress(
                sim_time=datetime.fromtimestamp(self._now_s, tz=UTC),
                fraction=min(max((self._now_s - self.start_s) / span, 0.0), 1.0),
                messages=self.messages,
                unacked=self.pending,
            )
        )

    def _on_ack(self, project: str, device: str, ranges: list[tuple[int, int]]) -> None:
        # Called from inside the network loop: only collect; applied in one transaction.
        if (project, device) in self.keys:
            self.acks.append((project, device, ranges))

    def _on_delivered(self, frees: _Frees) -> None:
        # The broker's PUBACK, inside the network loop: collected like an ack.
        self.acks.append(frees)

    def _apply_acks(self) -> None:
        if not self.acks:
            return
        freed = self.buffer.ack_many(self.acks)
        self.acks = []
        for project, count in freed.items():
            self.result.projects[project].acked += count
            self.pending -= count

    def _await_acks(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            self.publisher.service(0.0)
            self._apply_acks()
            if self.pending <= 0 or time.monotonic() >= deadline:
                break
            self.publisher.pause(0.02)
        self._now_s = self.end_s
        self._report_progress()

    def _count_unacked(self) -> None:
        by_device = self.buffer.count_by_device()
        total = 0
        for (project, device), count in by_device.items():
            if (project, device) in self.keys:
                self.result.projects[project].unacked += count
                total += count
        self.result.all_acked = total == 0


_Frees = tuple[str, str, list[tuple[int, int]]]


def _frees(sim: SimDevice, messages: list[ReadingMessage]) -> _Frees | None:
    """What the broker's PUBACK of these messages frees: a device in a standard payload
    format gets no end-to-end ack (like Telegraf or a ThingsBoard client, it trusts its
    QoS 1 delivery); one of ours waits for the gateway's."""
    if sim.payload == "native":
        return None
    return (sim.project, sim.id, seq_ranges([m.seq for m in messages]))


def _backfill_payloads(
    messages: list[ReadingMessage], encode_batch: Callable[[list[ReadingMessage]], bytes]
) -> Iterable[tuple[list[ReadingMessage], bytes]]:
    """Encode messages as backfill payloads of at most REPLAY_BATCH, within the size
    limit (as the device encodes them: signed, or in its standard format)."""
    for i in range(0, len(messages), REPLAY_BATCH):
        yield from _split_to_fit(messages[i : i + REPLAY_BATCH], encode_batch)


def _split_to_fit(
    chunk: list[ReadingMessage], encode_batch: Callable[[list[ReadingMessage]], bytes]
) -> Iterable[tuple[list[ReadingMessage], bytes]]:
    payload = encode_batch(chunk)
    if len(payload) <= MAX_PAYLOAD_BYTES or len(chunk) == 1:
        yield chunk, payload
        return
    half = len(chunk) // 2
    yield from _split_to_fit(chunk[:half], encode_batch)
    yield from _split_to_fit(chunk[half:], encode_batch)


def _midnight_s(day: date | None, default: float = -math.inf) -> float:
    if day is None:
        return default
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
