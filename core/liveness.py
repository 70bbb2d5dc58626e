"""Whether a device is online: from its last message and what it last said of itself.

A device is **offline** when its last status message (its MQTT birth or last will,
retained on its status topic) said ``offline`` and no message came after it, or when
nothing has been heard from it for longer than its plan's ``offline_after_s``
(``MonitoringPlan.offline_after_s``). It is **online** when it was heard within that
time, and **unknown** when it was never heard at all. Pure: the caller supplies the
times (epoch ms) and the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DeviceState = Literal["online", "offline", "unknown"]
#: Why a device is offline: its last will (or its own offline status) said so, or silence.
OfflineReason = Literal["last_will", "silent"]
STATES: tuple[DeviceState, ...] = ("online", "offline", "unknown")


@dataclass(frozen=True, slots=True)
class Liveness:
    state: DeviceState
    reason: OfflineReason | None  # set when offline
    last_heard_ms: int | None  # the newest sign of life (a message, or an online status)


def liveness(
    *,
    status: str | None,
    status_ms: int | None,
    last_message_ms: int | None,
    offline_after_s: int,
    now_ms: int,
) -> Liveness:
    """The device's state at ``now_ms``. ``status`` and ``status_ms``: its last status
    message (``online``/``offline``) and when the gateway received it; ``last_message_ms``:
    when its newest readings message arrived; ``offline_after_s``: the plan's silence."""
    said_offline = status == "offline" and status_ms is not None
    if said_offline and (last_message_ms is None or (status_ms or 0) >= last_message_ms):
        return Liveness("offline", "last_will", last_message_ms)
    signs = [
        t for t in (last_message_ms, status_ms if status == "online" else None) if t is not None
    ]
    if not signs:
        return Liveness("unknown", None, None)
    heard = max(signs)
    if now_ms - heard > offline_after_s * 1000:
        return Liveness("offline", "silent", heard)
    return Liveness("online", None, heard)
