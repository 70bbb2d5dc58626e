"""Each registered device with its last status and whether it is online now.

Joins the registry (``devices``), what each device last said of itself
(``device_status``: birth and last will) and when its last message arrived
(``device_activity``), and judges each with ``core.liveness`` against its plan's
``offline_after_s``. One query, read by ``mrv devices list``, the API's device list and
the gateway's ``mrv_gateway_devices`` gauge.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.liveness import Liveness, liveness
from core.plans.schema import offline_after
from core.times import format_ms
from persistence.models import Device, DeviceActivity, DeviceStatus, Project


@dataclass(frozen=True)
class DeviceLiveness:
    """A registered device, its last status message (None: it never sent one) and its
    state now; ``offline_after_s`` is the silence its plan allows (seconds)."""

    device: Device
    status: DeviceStatus | None
    liveness: Liveness
    offline_after_s: int


def device_liveness(
    session: Session, now_ms: int, project: str | None = None
) -> list[DeviceLiveness]:
    """Every device (of ``project``, or all), ordered by project and id, judged at
    ``now_ms`` (epoch ms)."""
    query = (
        select(Device, DeviceStatus, DeviceActivity.last_message_ms, Project.plan)
        .join(Project, Project.id == Device.project_id)
        .outerjoin(
            DeviceStatus,
            (DeviceStatus.project_id == Device.project_id) & (DeviceStatus.device_id == Device.id),
        )
        .outerjoin(
            DeviceActivity,
            (DeviceActivity.project_id == Device.project_id)
            & (DeviceActivity.device_id == Device.id),
        )
        .order_by(Device.project_id, Device.id)
    )
    if project is not None:
        query = query.where(Device.project_id == project)
    out = []
    for device, status, last_ms, plan in session.execute(query).all():
        project_s = (plan.get("project") or {}).get("offline_after_s")
        silence = offline_after(
            device.record.get("offline_after_s"), project_s, device.expected_interval_s
        )
        state = liveness(
            status=status.state if status else None,
            status_ms=status.received_ms if status else None,
            last_message_ms=last_ms,
            offline_after_s=silence,
            now_ms=now_ms,
        )
        out.append(DeviceLiveness(device, status, state, silence))
    return out


def last_heard(d: DeviceLiveness) -> str | None:
    """When the device was last heard, RFC 3339 UTC (None: never)."""
    return format_ms(d.liveness.last_heard_ms) if d.liveness.last_heard_ms is not None else None
