"""One simulated device: registers, sequence counter, clock, units and faults.

Meter behaviour that the gateway must cope with:
- cumulative registers integrate the physics (trapezoid over the reporting interval) and
  roll over to zero at the plan's ``register_max`` (canonical unit), like a mechanical
  or LCD register with a fixed number of digits; an injected reset sets one to zero;
- every device has a small calibration bias (within its maximum permissible error),
  sample noise, and a clock that drifts by a few ppm and is re-synchronised at midnight;
- the sequence number is never reused: it lives in the device state, which the runner
  writes to "flash" (the buffer database) before the message is sent.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core import quantities
from core.plans.schema import Device
from core.quantities import Kind
from core.units import Affine, UnitError
from core.wire import Reading, ReadingMessage, ack_topic, encode, readings_topic, status_topic
from firmware_sim import physics
from firmware_sim.faults import FaultConfig, FaultInjector, MessageFaults
from firmware_sim.model import SiteModel
from firmware_sim.noise import stable_seed
from firmware_sim.payloads import encoder
from firmware_sim.units_out import (
    decimals,
    reported_unit,
    to_canonical_rule,
    wrong_unit,
)

DEFAULT_REGISTER_MAX = 1e9
MAX_CATCH_UP_S = 400 * 86_400.0  # integrate at most this much time between two runs


@dataclass
class DeviceState:
    """What survives a reboot (and a new simulator run with the same state directory)."""

    seq_next: int = 0
    registers: dict[str, float] = field(default_factory=dict)  # canonical units
    last_t_s: float | None = None  # true time of the last message

    def to_json(self) -> str:
        return json.dumps(
            {"seq_next": self.seq_next, "registers": self.registers, "last_t_s": self.last_t_s},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> DeviceState:
        data: dict[str, Any] = json.loads(text)
        return cls(
            seq_next=int(data["seq_next"]),
            registers={str(k): float(v) for k, v in data.get("registers", {}).items()},
            last_t_s=data.get("last_t_s"),
        )


@dataclass(slots=True)
class Emission:
    """One reading message as built, with what was done to it: ``payload`` as sent (in
    the device's payload format), ``flash`` as kept until delivered (our own JSON)."""

    message: ReadingMessage
    payload: bytes
    flash: bytes
    readings: int
    valid_readings: int
    rollovers: int = 0
    reset: bool = False
    wrong_unit: bool = False
    negative: bool = False
    stuck: bool = False


class SimDevice:
    def __init__(
        self,
        project: str,
        device: Device,
        site: SiteModel,
        *,
        seed: int,
        faults: FaultConfig,
        state: DeviceState | None,
        signing_key: Ed25519PrivateKey | None = None,
    ) -> None:
        self.signing_key = signing_key  # the device signs its messages (core.signing)
        self.project = project
        self.device = device
        self.id = device.id
        self.site = site
        self.interval_s = float(device.expected_interval_s)
        self.readings_topic = readings_topic(project, device.site, device.id)
        self.status_topic = status_topic(project, device.site, device.id)
        self.ack_topic = ack_topic(project, device.site, device.id)

        hardware = random.Random(stable_seed(seed, project, device.id, "hardware"))
        self.drift_ppm = hardware.uniform(-20.0, 20.0)
        mpe_pct = device.max_permissible_error_pct or 0.5
        self.bias = 1.0 + hardware.uniform(-0.5, 0.5) * mpe_pct / 100.0
        self.injector = FaultInjector(faults, stable_seed(seed, project, device.id, "faults"))

        self._speak(device)
        self.kinds = {q: _kind(q) for q in self.quantities}
        self.cumulative = [q for q in self.quantities if self.kinds[q] is Kind.CUMULATIVE]
        self.instant = [q for q in self.quantities if self.kinds[q] is not Kind.CUMULATIVE]
        self.signals = {q: site.signal(device, q) for q in self.quantities}
        self.units = {q: self._unit(device, q) for q in self.quantities}
        self._to_device_unit = {q: _inverse(device, q, self.units[q]) for q in self.quantities}
        self._decimals = {q: decimals(self.units[q]) for q in self.quantities}
        self._noise_seeds = {q: stable_seed(seed, project, device.id, q) for q in self.quantities}
        self.register_max = device.register_max or DEFAULT_REGISTER_MAX

        if state is None:
            # A meter is installed with whatever its register shows; some start high
            # enough to roll over during a long run.
            state = DeviceState(
                registers={
                    q: round(hardware.uniform(0.02, 0.6) * self.register_max, 3)
                    for q in self.cumulative
                }
            )
        for q in self.cumulative:
            state.registers.setdefault(q, 0.0)
        self.state = state
        self._prev_t: float | None = None
        self._prev_rate: dict[str, float] = {}
        self._rules: dict[tuple[str, str], Affine | None] = {}
        self._stuck_quantity: str | None = None
        self._stuck_left = 0
        self._stuck_value = 0.0
        # Store-and-forward during an outage.
        self.offline_until = -math.inf
        self.unsent: list[ReadingMessage] = []

    def _speak(self, device: Device) -> None:
        """What it publishes (core.payloads): a standard payload names each value by the
        plan's field; a logger sends only the quantities it has a field for."""
        self.payload = device.payload_format
        self._fields = device.payload_fields()
        self.field_names = {spec.quantity: name for name, spec in self._fields.items()}
        self.carries_units = self.payload in ("native", "senml")
        self.quantities = [
            q for q in device.quantities if self.payload == "native" or q in self.field_names
        ]
        self._encode_standard = (
            encoder(self.payload, self.field_names, device.id, device.timestamp_unit or "s")
            if self.payload != "native"
            else None
        )

    def _unit(self, device: Device, quantity: str) -> str:
        """The unit it reports ``quantity`` in: a format without units reports in the
        plan field's unit (the canonical one by default)."""
        if self.carries_units:
            return reported_unit(device, quantity)
        spec = self._fields[self.field_names[quantity]]
        return spec.unit or _canonical(quantity)

    # ------------------------------------------------------------------ schedule
    def first_time(self, start_s: float) -> float:
        """Meters report on the clock: the first interval boundary at or after start."""
        return math.ceil(start_s / self.interval_s) * self.interval_s

    def device_clock(self, t_s: float) -> float:
        """What the device's clock says at true time t (drifts, NTP sync at 00:00 UTC)."""
        return t_s + self.drift_ppm * 1e-6 * (t_s % physics.DAY_S)

    # ------------------------------------------------------------------ registers
    def catch_up(self, start_s: float) -> int:
        """Advance registers over the time between the previous run and this one.

        The meter kept counting while the simulator was not running. Returns the number
        of rollovers that happened meanwhile.
        """
        last = self.state.last_t_s
        if last is None or not self.cumulative or start_s <= last:
            return 0
        rollovers = 0
        t = max(last, start_s - MAX_CATCH_UP_S)
        step = max(self.interval_s, 3600.0)
        while t < start_s:
            nxt = min(t + step, start_s)
            for q in self.cumulative:
                rate = 0.5 * (self.signals[q](t) + self.signals[q](nxt))
                rollovers += self._add(q, max(rate, 0.0) * (nxt - t) / 3600.0 * self.bias)
            t = nxt
        return rollovers

    def _add(self, quantity: str, increment: float) -> int:
        value = self.state.registers[quantity] + increment
        if value < self.register_max:
            self.state.registers[quantity] = value
            return 0
        turns = math.floor(value / self.register_max)
        self.state.registers[quantity] = value - turns * self.register_max
        return int(turns)

    # ------------------------------------------------------------------ messages
    def build(self, t_s: float, faults: MessageFaults) -> Emission:
        """The reading message for true time ``t_s`` (advances registers and seq).

        The faults are drawn in a fixed order (reset, stuck, negative, wrong unit), so a
        seed gives the same messages run after run."""
        rollovers = self._advance_registers(t_s)
        reset = self._reset(faults)
        raw = self._raw_values(t_s)
        stuck = self._stick(faults, raw)
        negative = self._negate(faults, raw)
        units = dict(self.units)
        bad_unit = False
        if faults.wrong_unit and self.carries_units:
            q = self.quantities[self.injector.pick(len(self.quantities))]
            units[q] = wrong_unit(q)
            bad_unit = True
        readings = [
            Reading(
                quantity=q,
                value=raw[q],
                unit=units[q],
                kind=Kind.CUMULATIVE if self.kinds[q] is Kind.CUMULATIVE else None,
            )
            for q in self.quantities
        ]
        clock_s = round(self.device_clock(t_s), 3)
        message = ReadingMessage(
            device=self.id,
            seq=self.state.seq_next,
            time=datetime.fromtimestamp(clock_s, tz=UTC),
            historical=False,
            readings=readings,
        )
        self.state.seq_next += 1
        flash = encode(message, self.signing_key)
        return Emission(
            message=message,
            payload=self.encode_batch([message]) if self._encode_standard else flash,
            flash=flash,
            readings=len(readings),
            valid_readings=sum(1 for r in readings if self.is_valid(r)),
            rollovers=rollovers,
            reset=reset,
            wrong_unit=bad_unit,
            negative=negative,
            stuck=stuck,
        )

    def encode_batch(self, messages: list[ReadingMessage]) -> bytes:
        """Messages as the device sends them: our backfill array (signed when the device
        signs), or one payload in its standard format."""
        if self._encode_standard is not None:
            return self._encode_standard(messages)
        return encode(messages, self.signing_key)

    def _advance_registers(self, t_s: float) -> int:
        """Integrate each cumulative quantity's rate up to ``t_s`` (trapezoid); returns how
        many registers rolled over."""
        dt_s = self.interval_s if self._prev_t is None else t_s - self._prev_t
        rollovers = 0
        for q in self.cumulative:
            rate = self.signals[q](t_s)
            prev = self._prev_rate.get(q)
            if prev is None:
                prev = self.signals[q](t_s - dt_s)
            self._prev_rate[q] = rate
            increment = max(0.5 * (prev + rate), 0.0) * dt_s / 3600.0 * self.bias
            rollovers += self._add(q, increment)
        self._prev_t = t_s
        self.state.last_t_s = t_s
        return rollovers

    def _reset(self, faults: MessageFaults) -> bool:
        if faults.reset and self.cumulative:
            self.state.registers[self.cumulative[self.injector.pick(len(self.cumulative))]] = 0.0
            return True
        return False

    def _raw_values(self, t_s: float) -> dict[str, float]:
        """Each quantity as the device shows it: in its unit, to its decimals."""
        raw: dict[str, float] = {}
        for q in self.quantities:
            if q in self.state.registers and self.kinds[q] is Kind.CUMULATIVE:
                canonical = self.state.registers[q]
            elif q == "flame_detected":
                canonical = self.signals[q](t_s)
            else:
                noise = physics.measurement_noise(self._noise_seeds[q], int(t_s), 0.002)
                canonical = self.signals[q](t_s) * self.bias * noise
            value = round(self._to_device_unit[q](canonical), self._decimals[q])
            raw[q] = value + 0.0  # normalise -0.0
        return raw

    def _stick(self, faults: MessageFaults, raw: dict[str, float]) -> bool:
        """A stuck sensor repeats one instant value for a few messages."""
        if faults.stuck_messages and self.instant and self._stuck_left == 0:
            self._stuck_quantity = self.instant[self.injector.pick(len(self.instant))]
            self._stuck_value = raw[self._stuck_quantity]
            self._stuck_left = faults.stuck_messages
        if self._stuck_left > 0 and self._stuck_quantity is not None:
            raw[self._stuck_quantity] = self._stuck_value
            self._stuck_left -= 1
            return True
        return False

    def _negate(self, faults: MessageFaults, raw: dict[str, float]) -> bool:
        if faults.negative and self.instant:
            q = self.instant[self.injector.pick(len(self.instant))]
            raw[q] = round(-(abs(raw[q]) + 1.0), decimals(self.units[q]))
            return True
        return False

    def is_valid(self, reading: Reading) -> bool:
        """Would the gateway accept this reading (right dimension, plausible value)?"""
        key = (reading.quantity, reading.unit)
        if key not in self._rules:
            try:
                self._rules[key] = to_canonical_rule(self.device, reading.quantity, reading.unit)
            except UnitError:
                self._rules[key] = None
        rule = self._rules[key]
        spec = quantities.get(reading.quantity)
        if rule is None or spec is None or not math.isfinite(reading.value):
            return False
        return spec.in_range(rule(reading.value))


def _inverse(device: Device, quantity: str, unit: str) -> Callable[[float], float]:
    """canonical -> device unit, computed once (pint is slow; an affine rule is not)."""
    rule = to_canonical_rule(device, quantity, unit)
    return lambda canonical: (canonical - rule.offset) / rule.scale


def _canonical(quantity: str) -> str:
    spec = quantities.get(quantity)
    return spec.canonical_unit if spec is not None else "1"


def _kind(quantity: str) -> Kind:
    spec = quantities.get(quantity)
    return spec.default_kind if spec is not None else Kind.INSTANT
