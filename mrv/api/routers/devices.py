"""A project's devices: listed, registered and retired by operators (each a new plan
version), and their calibrations, read and recorded."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.orm import Session

from core.entries import EntryIn
from core.errors import Loc, Problem, field_path
from core.plans.schema import Device as DeviceIn
from core.times import add_months, now_ms
from core.windows import day_problem
from mrv.api.deps import ProjectId, SessionDep, actor, operator
from mrv.api.errors import (
    JSON_BODY,
    PROJECT,
    ApiError,
    ErrorBody,
    Responses,
    committed,
    errors,
    refuse,
)
from mrv.api.routers.entries import store_entry
from mrv.api.routers.params import DeviceId
from mrv.api.schemas import (
    CalibrationIn,
    CalibrationOut,
    Calibrations,
    DeviceOut,
    EntryOut,
    RetireIn,
)
from mrv.api.tokens import TokenInfo
from persistence.devices import register_device, retire_device
from persistence.liveness import device_liveness
from persistence.records import calibration_records, stored_plan
from verification.plan_check import PLAN_CHECKS

router = APIRouter(prefix="/v1/projects/{project}/devices", tags=["devices"])
RESENT: Responses = {200: {"model": EntryOut, "description": "A resend: the stored entry."}}


def _device(s: Session, project: str, device: str) -> DeviceOut:
    row = next(d for d in device_liveness(s, now_ms(), project) if d.device.id == device)
    return DeviceOut.of(row)  # just registered or retired: it is there


@router.get("", operation_id="devices-list", responses=errors(*PROJECT))
def devices(project: ProjectId, s: SessionDep) -> list[DeviceOut]:
    """The project's devices, retired ones included (their readings stay), each with its
    state: online, offline (after its plan's ``offline_after_s`` without a message, or
    on its MQTT last will) or unknown (never heard)."""
    return [DeviceOut.of(d) for d in device_liveness(s, now_ms(), project)]


@router.post(
    "",
    status_code=201,
    operation_id="devices-register",
    responses=errors(*PROJECT, *JSON_BODY, 409),
)
def new_device(
    project: ProjectId,
    who: Annotated[TokenInfo, Depends(operator("registering a device"))],
    s: SessionDep,
    device: DeviceIn,
) -> DeviceOut:
    """Register a device (operators): the plan gains it in a new version, validated as a
    whole; the gateway accepts its readings from then on. Audited."""
    problems = _device_problems(device)
    if problems:
        raise ApiError(422, ErrorBody.of_problems(problems))
    with committed(s):
        register_device(s, project, device, actor=actor(who), checks=PLAN_CHECKS)
    return _device(s, project, device.id)


@router.post(
    "/{device}/retire",
    operation_id="devices-retire",
    responses=errors(*PROJECT, *JSON_BODY, 409),
)
def retire(
    project: ProjectId,
    who: Annotated[TokenInfo, Depends(operator("retiring a device"))],
    s: SessionDep,
    device: DeviceId,
    retirement: RetireIn,
) -> DeviceOut:
    """Retire a device (operators) from the day after ``removed``: it stays in the plan
    with its readings; later readings from it are quarantined. Audited."""
    removed, reason = retirement.removed, retirement.reason
    with committed(s):
        retire_device(s, project, device, removed, reason, actor(who), checks=PLAN_CHECKS)
    return _device(s, project, device)


@router.get("/{device}/calibrations", operation_id="calibrations-list", responses=errors(*PROJECT))
def calibrations(project: ProjectId, s: SessionDep, device: DeviceId) -> Calibrations:
    """A device's calibrations from the plan and from certificates, in date order, as the
    verification rules see them, and when the next one is due (at the latest 9999-12-31,
    should a certificate be dated at the end of the calendar)."""
    plan = stored_plan(s, project)
    found = plan.device(device)
    if found is None:
        raise refuse(404, f"no device {device!r}", "device")
    records = calibration_records(s, project, plan).get(device, [])
    interval = found.calibration.interval_months if found.calibration else None
    return Calibrations(
        device=device,
        interval_months=interval,
        next_due=add_months(records[-1].date, interval) if records and interval else None,
        calibrations=[CalibrationOut.of(r) for r in records],
    )


@router.post(
    "/{device}/calibrations",
    status_code=201,
    operation_id="calibrations-record",
    responses=errors(*PROJECT, *JSON_BODY, 409, also=RESENT),
)
def record_calibration(
    project: ProjectId,
    who: Annotated[TokenInfo, Depends(operator("recording a calibration"))],
    s: SessionDep,
    device: DeviceId,
    calibration: CalibrationIn,
    response: Response,
) -> EntryOut:
    """Record a calibration (operators) as a calibration_certificate entry of the device,
    under the client's id (a resend is harmless). Audited."""
    body = calibration.model_dump(mode="json", exclude={"id", "author"})
    entry = {
        "id": calibration.id,
        "type": "calibration_certificate",
        "author": calibration.author,
        "body": {**body, "device": device},
    }
    try:
        checked = EntryIn.model_validate(entry)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    try:
        return store_entry(s, project, checked, response)
    except ApiError as exc:
        raise _as_sent(exc) from None


def _device_problems(device: DeviceIn) -> list[Problem]:
    """What the plan's schema lets through but a device record cannot hold: a NUL
    character in any text, a calibration dated in the future or before 2000."""
    problems: list[Problem] = []

    def walk(value: Any, loc: Loc) -> None:
        if isinstance(value, str) and "\x00" in value:
            problems.append(Problem(field_path(loc), "must not contain a NUL character"))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key, loc)
                walk(item, (*loc, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*loc, index))

    walk(device.model_dump(mode="json"), ())
    calibration = device.calibration
    if calibration is not None:
        days = [("calibration.last", calibration.last)] + [
            (f"calibration.history[{i}].date", event.date)
            for i, event in enumerate(calibration.history)
        ]
        for field, day in days:
            wrong = day_problem(day) if day is not None else None
            if wrong:
                problems.append(Problem(field, wrong))
    return problems


def _as_sent(exc: ApiError) -> ApiError:
    """The entry's problems named as this route's client wrote them: ``calibrated_on``,
    not the entry's ``body.calibrated_on``; ``device`` is the path's."""
    problems = exc.body.problems
    if not problems:
        return exc
    fields = [p.field.removeprefix("body.") for p in problems]
    body = ErrorBody.of_problems(
        [Problem(f, p.message) for f, p in zip(fields, problems, strict=True)]
    )
    return ApiError(exc.status_code, body, exc.headers)
