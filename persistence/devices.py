"""Register and retire devices by amending the project's monitoring plan.

The plan is the one description of a project that verification reads, so a device
registered or retired through the API is a new revision of the plan (its version one
higher), validated as a whole exactly as ``mrv plan validate`` would, kept verbatim in
``plan_revisions`` and audited. A retired device is never deleted: it gets a ``removed``
date, its readings stay, and readings it timed before the end of that day still count.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date

from sqlalchemy.orm import Session

from core.errors import Problem
from core.plans.schema import Device, MonitoringPlan
from core.plans.validate import PlanCheck, validate_plan_text
from persistence import audit
from persistence.audit import Subject
from persistence.records import (
    Conflict,
    EntryRejected,
    NotFound,
    RecordError,
    serialise,
    stored_plan,
)
from persistence.repo import load_plan

MAX_REASON = 2000


def _amend(
    session: Session,
    plan: MonitoringPlan,
    devices: list[Device],
    actor: str,
    index: int,
    checks: Sequence[PlanCheck],
) -> MonitoringPlan:
    """Validate and load the plan with ``devices``; problems of the device at ``index``
    are named by the device's own fields (``quantities[0]``), others by their plan path."""
    data = plan.model_dump(mode="json")
    data["devices"] = [d.model_dump(mode="json") for d in devices]
    data["plan_version"] = plan.plan_version + 1
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"  # JSON is YAML
    amended, problems = validate_plan_text(text, checks)
    if problems or amended is None:
        own = re.compile(rf"^devices\[{index}\](\.|$)")
        raise EntryRejected(
            [
                Problem(own.sub("", p.path) or "device" if own.match(p.path) else p.path, p.message)
                for p in problems
            ]
        )
    load_plan(session, amended, text, actor=actor)
    return amended


def register_device(
    session: Session,
    project_id: str,
    device: Device,
    actor: str,
    *,
    checks: Sequence[PlanCheck],
) -> Device:
    """Add a device to the project's plan; audited. A device id already in the plan
    (retired ones included: their readings keep the id) is a ``Conflict``. The amended
    plan must pass ``checks`` (the methodology's, from verification) as well as its
    schema."""
    serialise(session)  # two operators amending at once: one after the other
    plan = stored_plan(session, project_id)
    if plan.device(device.id) is not None:
        raise Conflict("id", f"device {device.id!r} is already in project {project_id}'s plan")
    amended = _amend(session, plan, [*plan.devices, device], actor, len(plan.devices), checks)
    audit.append(
        session,
        action="device.register",
        actor=actor,
        project_id=project_id,
        subject=Subject("device", device.id),
        body={"device": device.id, "plan_version": amended.plan_version},
    )
    return device


def retire_device(
    session: Session,
    project_id: str,
    device_id: str,
    removed: date,
    reason: str,
    actor: str,
    *,
    checks: Sequence[PlanCheck],
) -> Device:
    """Give a device its ``removed`` date (the last day its readings count); audited."""
    reason = reason.strip()
    if not reason:
        raise RecordError("reason", "retiring a device needs a reason")
    if len(reason) > MAX_REASON:
        raise RecordError("reason", f"at most {MAX_REASON} characters")
    serialise(session)
    plan = stored_plan(session, project_id)
    device = plan.device(device_id)
    if device is None:
        raise NotFound("device", f"no device {device_id!r} in project {project_id}")
    if device.removed is not None:
        raise Conflict("device", f"device {device_id} was already retired on {device.removed}")
    if device.installed is not None and removed < device.installed:
        raise RecordError("removed", f"{removed} is before it was installed ({device.installed})")
    retired = device.model_copy(update={"removed": removed})
    index = plan.devices.index(device)
    devices = [retired if d.id == device_id else d for d in plan.devices]
    amended = _amend(session, plan, devices, actor, index, checks)
    audit.append(
        session,
        action="device.retire",
        actor=actor,
        project_id=project_id,
        subject=Subject("device", device_id),
        body={
            "device": device_id,
            "removed": removed.isoformat(),
            "reason": reason,
            "plan_version": amended.plan_version,
        },
    )
    return retired
