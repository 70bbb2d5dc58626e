"""Injected faults: what goes wrong with real devices, at configurable rates.

Every draw comes from one ``random.Random`` per device, seeded from the run's seed and
the device's identity, so a run is deterministic and one device's faults do not shift
when another device is added to the plan.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class FaultConfig:
    """Fault rates. ``*_rate`` are probabilities per reading message of a device."""

    garbage_rate: float = 0.0  # an extra payload of garbage bytes on the readings topic
    wrong_unit_rate: float = 0.0  # one reading carries a unit of the wrong dimension
    duplicate_rate: float = 0.0  # the same payload bytes are published twice
    outage_rate_per_day: float = 0.0  # per device and day: the device goes offline
    outage_mean_h: float = 6.0  # outage length: exponential with this mean ...
    outage_max_h: float = 7 * 24.0  # ... capped here
    reset_rate: float = 0.0  # a cumulative register is reset to zero (tamper/repair)
    stuck_rate: float = 0.0  # an instant sensor freezes at its last value ...
    stuck_mean_messages: float = 30.0  # ... for about this many messages
    negative_rate: float = 0.0  # an instant sensor reads negative (broken transmitter)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"FaultConfig.{f.name} must be a finite number >= 0")
            if f.name.endswith("_rate") and value > 1:
                raise ValueError(f"FaultConfig.{f.name} is a probability per message (0-1)")
        if self.outage_mean_h <= 0 or self.outage_max_h <= 0:
            raise ValueError("FaultConfig outage lengths must be positive")
        if self.stuck_mean_messages < 1:
            raise ValueError("FaultConfig.stuck_mean_messages must be at least 1")

    @classmethod
    def none(cls) -> FaultConfig:
        return cls()

    @classmethod
    def typical(cls) -> FaultConfig:
        """A field-like mix: rare faults, an outage every couple of weeks per device."""
        return cls(
            garbage_rate=0.0005,
            wrong_unit_rate=0.0005,
            duplicate_rate=0.002,
            outage_rate_per_day=0.07,
            outage_mean_h=6.0,
            reset_rate=0.00002,
            stuck_rate=0.0002,
            negative_rate=0.0002,
        )

    @property
    def any(self) -> bool:
        return any(
            getattr(self, f.name) > 0
            for f in fields(self)
            if f.name.endswith("_rate") or f.name == "outage_rate_per_day"
        )

    def to_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        return cls(**{k: float(v) for k, v in data.items()})


@dataclass(slots=True)
class MessageFaults:
    """What happens to one message (decided before it is built)."""

    outage_s: float = 0.0  # > 0: the device goes offline now, for this long
    reset: bool = False
    stuck_messages: int = 0  # > 0: an instant sensor freezes for this many messages
    negative: bool = False
    wrong_unit: bool = False
    duplicate: bool = False
    garbage: bool = False


NO_FAULTS = MessageFaults()


class FaultInjector:
    """Draws the faults of one device's messages from its own seeded generator."""

    def __init__(self, config: FaultConfig, seed: int) -> None:
        self.config = config
        self.rng = random.Random(seed)
        self._active = config.any

    def draw(self, interval_s: float, online: bool) -> MessageFaults:
        if not self._active:
            return NO_FAULTS
        c, r = self.config, self.rng
        faults = MessageFaults()
        # One draw per fault kind per message, always in this order (deterministic).
        u_outage, u_reset, u_stuck, u_negative, u_wrong, u_dup, u_garbage = (
            r.random() for _ in range(7)
        )
        if online and u_outage < c.outage_rate_per_day * interval_s / 86_400.0:
            length_h = min(r.expovariate(1.0 / c.outage_mean_h), c.outage_max_h)
            faults.outage_s = max(length_h * 3600.0, interval_s)
        faults.reset = u_reset < c.reset_rate
        if u_stuck < c.stuck_rate:
            faults.stuck_messages = 1 + int(r.expovariate(1.0 / c.stuck_mean_messages))
        faults.negative = u_negative < c.negative_rate
        faults.wrong_unit = u_wrong < c.wrong_unit_rate
        faults.duplicate = u_dup < c.duplicate_rate
        faults.garbage = u_garbage < c.garbage_rate
        return faults

    def pick(self, count: int) -> int:
        """Which of ``count`` readings a fault hits."""
        return self.rng.randrange(count)

    def garbage(self, device_id: str, seq_hint: int, valid_payload: bytes) -> bytes:
        """Bytes a broken firmware or a noisy serial link might produce."""
        r = self.rng
        style = r.randrange(5)
        if style == 0:  # line noise
            return r.randbytes(r.randint(1, 200))
        if style == 1:  # a message cut short (buffer overrun)
            return valid_payload[: r.randint(1, max(1, len(valid_payload) - 1))]
        if style == 2:  # JSON of the wrong shape
            return json.dumps({"device": device_id, "seq": f"#{seq_hint}", "readings": 7}).encode()
        if style == 3:  # not UTF-8 (Latin-1 degree sign from an old logger)
            return b'{"device":"' + device_id.encode() + b'","unit":"\xb0C"}'
        return json.dumps([]).encode()  # an empty backfill array
