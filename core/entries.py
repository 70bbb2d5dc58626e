"""Field entries: what field staff and operators record by hand (SPEC sections 1, 9, 10).

One module for the entry bodies, the envelope they travel in and their checks against
the monitoring plan, shared by the relational store, the CLI, the HTTP API and the field
app. Every model forbids unknown keys and bounds every field: an entry is typed by a
person, so a misspelt key is a mistake to report, not to ignore.

Types:
- ``meter_reading``: a manual read of a device's register (a quantity at a time).
- ``fuel_invoice``: an amount bought or sold over a period (option B evidence, or a
  cross-check of a meter).
- ``calibration_certificate``: a device's calibration and the error it found.
- ``weighbridge_ticket``: a net mass weighed.
- ``site_visit_checklist``: the items checked on a visit.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from core import quantities
from core.errors import Problem
from core.photos import MAX_PHOTOS_PER_ENTRY, SHA256_PATTERN
from core.plans.schema import Device, MonitoringPlan
from core.units import Affine, UnitError, conversion
from core.windows import MOMENT_AHEAD, day_problem, moment_problem, representable, utc_now
from core.wire import ID_PATTERN

EntryType = Literal[
    "meter_reading",
    "fuel_invoice",
    "calibration_certificate",
    "weighbridge_ticket",
    "site_visit_checklist",
]
ENTRY_TYPES: tuple[str, ...] = get_args(EntryType)

#: An entry's life: only an active entry counts in a report. A withdrawn one (found wrong
#: or superseded) stays listed and may be reinstated; a deleted one (made in error: a
#: test, the wrong project) is final. Every change of status is a revision with a reason,
#: and the bodies of every revision are kept whatever the status.
EntryStatus = Literal["active", "withdrawn", "deleted"]
ENTRY_STATUSES: tuple[str, ...] = get_args(EntryStatus)
#: The changes of status allowed, from each status.
STATUS_CHANGES: dict[str, frozenset[str]] = {
    "active": frozenset({"withdrawn", "deleted"}),
    "withdrawn": frozenset({"active", "deleted"}),
    "deleted": frozenset(),
}

#: How far ahead of the server's clock an entry's time may be (a phone's clock drifts);
#: the windows of every date and time in an entry are in ``core.windows``.
FUTURE_TOLERANCE = MOMENT_AHEAD

Id = Annotated[str, Field(pattern=ID_PATTERN)]
# Monitoring point ids and parameter symbols follow the plan's own limits.
PointId = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Symbol = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Unit = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Percent = Annotated[float, Field(ge=-100, le=100)]
#: A moment with an offset that has a time in UTC (``0001-01-01T00:00+23:59`` has none).
#: Whether it is a sensible one (after 2000, not in the future) is a check against the
#: clock, made when the entry is taken (``validate_against_plan``), not when it is read.
Moment = Annotated[AwareDatetime, AfterValidator(representable)]


def one_line(text: str) -> str:
    """A pydantic ``AfterValidator``: a name on one line, without control characters (a
    NUL byte, which PostgreSQL's text cannot hold, least of all)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError("must be one line of text, without control characters")
    return text


def no_nul(text: str) -> str:
    """A pydantic ``AfterValidator``: text of any lines, but no NUL byte."""
    if "\x00" in text:
        raise ValueError("must not contain a NUL character")
    return text


Author = Annotated[  # fits the audit log's actor column
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
    AfterValidator(one_line),
]
Reference = Annotated[  # invoice and ticket numbers
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Certificate = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


PhotoHash = Annotated[str, Field(pattern=SHA256_PATTERN, description="SHA-256 of the photo")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    # Photos are cited by the hash of their bytes, uploaded to the project first: the
    # body's own hash then covers the very pictures it rests on.
    photos: Annotated[list[PhotoHash], Field(max_length=MAX_PHOTOS_PER_ENTRY)] = []

    @field_validator("photos")
    @classmethod
    def _each_once(cls, photos: list[str]) -> list[str]:
        twice = sorted({h for h in photos if photos.count(h) > 1})
        if twice:
            raise ValueError(f"photo {twice[0]} is cited more than once")
        return photos


class MeterReading(_Body):
    """A manual read of a device's register or display."""

    device: Id
    quantity: Id
    time: Moment
    value: float
    unit: Unit


class FuelInvoice(_Body):
    """An invoice (or another commercial record) for an amount over a period.

    parameter: the methodology symbol it evidences (an option B parameter, or an option C
        one it cross-checks). monitoring_point: the meter it cross-checks.
    """

    invoice_number: Reference
    supplier: Name | None = None
    period_start: date
    period_end: date  # inclusive
    value: float
    unit: Unit
    parameter: Symbol | None = None
    monitoring_point: PointId | None = None

    @field_validator("period_end")
    @classmethod
    def _ordered(cls, period_end: date, info: ValidationInfo) -> date:
        start = info.data.get("period_start")
        if start is not None and period_end < start:
            raise ValueError(f"{period_end} is before period_start {start}")
        return period_end


CalibrationResult = Literal["within_tolerance", "out_of_tolerance"]


class CalibrationCertificate(_Body):
    """A calibration of a device. error_pct is signed: positive means the instrument
    over-reads (it shows more than the reference), which decides the conservative
    direction of a correction."""

    device: Id
    calibrated_on: date
    certificate: Certificate
    result: CalibrationResult
    error_pct: Percent
    tolerance_pct: Annotated[float, Field(gt=0, le=100)] | None = None

    @field_validator("tolerance_pct")
    @classmethod
    def _consistent(cls, tolerance: float | None, info: ValidationInfo) -> float | None:
        # A certificate that contradicts itself is a typing mistake; which of the numbers
        # is wrong is for the person to say, not for us to guess.
        result, error = info.data.get("result"), info.data.get("error_pct")
        if tolerance is None or result is None or error is None:
            return tolerance
        within = abs(error) <= tolerance
        if within and result == "out_of_tolerance":
            raise ValueError(
                f"result is out_of_tolerance but error_pct {error:g} is within {tolerance:g}"
            )
        if not within and result == "within_tolerance":
            raise ValueError(
                f"result is within_tolerance but error_pct {error:g} exceeds {tolerance:g}"
            )
        return tolerance


class Amount(_Body):
    value: float
    unit: Unit


class WeighbridgeTicket(_Body):
    """A weighbridge ticket: the net mass of a load.

    parameter: the option B parameter it evidences, when the plan has several.
    """

    ticket_number: Reference
    time: Moment
    net_mass: Amount
    material: Name
    parameter: Symbol | None = None


class SiteVisitChecklist(_Body):
    """What was checked on a site visit (item -> passed), with notes."""

    visited_at: Moment
    site: Id | None = None
    items: Annotated[
        dict[Annotated[str, StringConstraints(min_length=1, max_length=200)], bool],
        Field(min_length=1, max_length=200),
    ]
    notes: Annotated[str, StringConstraints(max_length=4000)] = ""


EntryBody = (
    MeterReading | FuelInvoice | CalibrationCertificate | WeighbridgeTicket | SiteVisitChecklist
)

BODY_MODELS: dict[str, type[_Body]] = {
    "meter_reading": MeterReading,
    "fuel_invoice": FuelInvoice,
    "calibration_certificate": CalibrationCertificate,
    "weighbridge_ticket": WeighbridgeTicket,
    "site_visit_checklist": SiteVisitChecklist,
}


class Gps(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    accuracy_m: Annotated[float, Field(ge=0, le=100_000)] | None = None


class EntryIn(BaseModel):
    """One entry as a client sends it. The client generates ``id`` (a UUID) so that a
    resend after a lost answer is recognised and stored once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: UUID
    # type is declared before body: body's validator reads it.
    type: EntryType
    body: EntryBody
    author: Author
    recorded_at: Moment | None = None
    gps: Gps | None = None

    @field_validator("body", mode="wrap")
    @classmethod
    def _body_of_its_type(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        # Parse the body with the model its type names, so errors point at body.<field>
        # rather than listing every model of the union. A ValidationError raised here
        # keeps its locations under "body".
        entry_type = info.data.get("type")
        if entry_type is None:
            return value  # the type's own error is reported; the body cannot be judged
        return parse_body(entry_type, value)


def parse_body(entry_type: str, value: Any) -> EntryBody:
    """Validate a body (a mapping or a model) as the given entry type."""
    model = BODY_MODELS[entry_type]
    if isinstance(value, model):
        return value  # type: ignore[return-value]
    if isinstance(value, BaseModel):
        value = value.model_dump()
    return model.model_validate(value)  # type: ignore[return-value]


def entry_type_of(body: EntryBody) -> str:
    return next(name for name, model in BODY_MODELS.items() if isinstance(body, model))


def body_json(body: EntryBody) -> dict[str, Any]:
    """The body as stored and hashed: JSON types only, every field present except an
    empty ``photos`` (so that bodies stored before photos existed keep their hashes)."""
    data = body.model_dump(mode="json")
    if not data["photos"]:
        del data["photos"]
    return data


def canonical_value(reading: MeterReading, plan: MonitoringPlan) -> float:
    """A manual reading in its quantity's canonical unit, converted as the gateway
    converts the device's own readings (stated atmosphere, gas reference conditions).
    Raises UnitError, KeyError (unknown quantity) as validate_against_plan reports them."""
    spec = quantities.CATALOGUE[reading.quantity]
    return _device_conversion(reading.unit, spec, plan.device(reading.device))(reading.value)


# --- problems ---------------------------------------------------------------------------


# --- checks against the plan ------------------------------------------------------------


def validate_against_plan(
    entry: EntryIn, plan: MonitoringPlan, *, now: datetime | None = None
) -> list[Problem]:
    """Every way the entry disagrees with the project's plan (empty when it fits),
    its dates and times checked by sense against ``now`` (``core.windows``)."""
    problems = validate_body(entry.body, plan, prefix="body", now=now)
    if entry.recorded_at is not None:
        wrong = moment_problem(entry.recorded_at, now)
        if wrong:
            problems.append(Problem("recorded_at", wrong))
    return problems


def validate_body(
    body: EntryBody, plan: MonitoringPlan, *, prefix: str = "body", now: datetime | None = None
) -> list[Problem]:
    """Check a body's devices, monitoring points, parameters, quantities, units and
    plausible ranges against the plan (the same rules as the gateway's), and its dates
    and times by sense (``core.windows``; invoices inside the crediting period)."""
    check = _Checker(plan, prefix, utc_now(now))
    if isinstance(body, MeterReading):
        check.meter_reading(body)
    elif isinstance(body, FuelInvoice):
        check.fuel_invoice(body)
    elif isinstance(body, CalibrationCertificate):
        check.day("calibrated_on", body.calibrated_on)
        check.device(body.device)
    elif isinstance(body, WeighbridgeTicket):
        check.weighbridge_ticket(body)
    elif isinstance(body, SiteVisitChecklist):
        check.site_visit(body)
    return check.problems


def _device_conversion(unit: str, spec: quantities.QuantitySpec, device: Device | None) -> Affine:
    """The gateway's conversion: with the device's stated atmosphere and gas reference
    conditions when the device is known."""
    if device is None:
        return conversion(unit, spec.canonical_unit)
    ref = device.reference_conditions
    return conversion(
        unit,
        spec.canonical_unit,
        atmosphere_kpa=device.atmosphere_kpa,
        reference=ref.conditions() if ref else None,
    )


def _amount_quantity(unit: str) -> quantities.QuantitySpec | None:
    """The first cumulative quantity (an amount: energy, volume, mass, heat) whose
    canonical unit ``unit`` converts to."""
    for spec in quantities.CATALOGUE.values():
        if spec.default_kind != quantities.Kind.CUMULATIVE:
            continue
        try:
            conversion(unit, spec.canonical_unit)
        except UnitError:
            continue
        return spec
    return None


class _Checker:
    def __init__(self, plan: MonitoringPlan, prefix: str, now: datetime) -> None:
        self.plan = plan
        self.prefix = prefix
        self.now = now
        self.problems: list[Problem] = []

    @property
    def project(self) -> str:
        return self.plan.project.id

    def add(self, field: str, message: str) -> None:
        self.problems.append(Problem(f"{self.prefix}.{field}" if self.prefix else field, message))

    def device(self, device_id: str, field: str = "device") -> Device | None:
        found = self.plan.device(device_id)
        if found is None:
            self.add(field, f"{device_id!r} is not a device of project {self.project}")
        return found

    def moment(self, field: str, moment: datetime) -> bool:
        """Whether a recorded moment is sensible (else a problem)."""
        wrong = moment_problem(moment, self.now)
        if wrong:
            self.add(field, wrong)
        return wrong is None

    def day(self, field: str, day: date) -> bool:
        """Whether a recorded day is sensible (else a problem)."""
        wrong = day_problem(day, self.now)
        if wrong:
            self.add(field, wrong)
        return wrong is None

    def in_range(
        self,
        field: str,
        value: float,
        unit: str,
        spec: quantities.QuantitySpec,
        rule: Affine,
    ) -> float | None:
        canonical = rule(value)
        if not math.isfinite(canonical) or not spec.in_range(canonical):
            shown = f"{value:g} {unit}"
            if unit != spec.canonical_unit:
                shown += f" = {canonical:g} {spec.canonical_unit}"
            self.add(
                field,
                f"{shown} is outside {spec.name}'s plausible range {spec.minimum:g} to "
                f"{spec.maximum:g} {spec.canonical_unit}",
            )
            return None
        return canonical

    def parameter(self, symbol: str, entry_type: str, unit: str, unit_field: str) -> None:
        found = next((p for p in self.plan.parameters if p.symbol == symbol), None)
        if found is None:
            self.add("parameter", f"{symbol!r} is not a parameter of project {self.project}")
            return
        if found.option == "A":
            self.add("parameter", f"{symbol} is option A (a fixed value): no entry evidences it")
            return
        if found.option == "B" and found.entry_type != entry_type:
            self.add("parameter", f"{symbol} is evidenced by {found.entry_type} entries")
            return
        try:
            conversion(unit, found.unit)
        except UnitError as exc:
            self.add(unit_field, f"{exc}; parameter {symbol} is in {found.unit}")

    def meter_reading(self, body: MeterReading) -> None:
        sensible = self.moment("time", body.time)
        device = self.device(body.device)
        spec = quantities.get(body.quantity)
        if spec is None:
            self.add("quantity", f"unknown quantity {body.quantity!r} (see the catalogue)")
            return
        if device is not None and body.quantity not in device.quantities:
            self.add("quantity", f"device {device.id} does not measure {body.quantity}")
        if device is not None and sensible:
            day = body.time.date()
            if device.installed and day < device.installed:
                self.add("time", f"device {device.id} was installed on {device.installed}")
            if device.removed and day > device.removed:
                self.add("time", f"device {device.id} was removed on {device.removed}")
        try:
            rule = _device_conversion(body.unit, spec, device)
        except UnitError as exc:
            self.add("unit", f"{exc} for {body.quantity}")
            return
        canonical = self.in_range("value", body.value, body.unit, spec, rule)
        if (
            canonical is not None
            and device is not None
            and spec.default_kind == quantities.Kind.CUMULATIVE
            and device.register_max is not None
            and canonical > device.register_max
        ):
            # A register cannot show more than its maximum: this is a unit slip
            # (MWh typed as kWh) or a misread digit.
            self.add(
                "value",
                f"{body.value:g} {body.unit} = {canonical:g} {spec.canonical_unit} is above "
                f"device {device.id}'s register_max {device.register_max:g}",
            )

    def invoice_period(self, body: FuelInvoice) -> None:
        """An invoice bills days of the crediting period that have begun. (It may end
        ahead of today: an annual contract is billed before its year is out.)"""
        crediting = self.plan.project.crediting_period
        outside = f"is outside the crediting period {crediting.start} to {crediting.end}"
        if body.period_start < crediting.start or body.period_start > crediting.end:
            self.add("period_start", f"{body.period_start} {outside}")
        elif self.day("period_start", body.period_start) and body.period_end > crediting.end:
            self.add("period_end", f"{body.period_end} {outside}")

    def fuel_invoice(self, body: FuelInvoice) -> None:
        self.invoice_period(body)
        spec: quantities.QuantitySpec | None = None
        rule: Affine | None = None
        if body.monitoring_point is not None:
            point = next(
                (p for p in self.plan.monitoring_points if p.id == body.monitoring_point), None
            )
            if point is None:
                self.add(
                    "monitoring_point",
                    f"{body.monitoring_point!r} is not a monitoring point of project "
                    f"{self.project}",
                )
            else:
                spec = quantities.get(point.quantity)
                device = self.plan.device(point.device)
                if spec is not None and device is not None:
                    try:
                        rule = _device_conversion(body.unit, spec, device)
                    except UnitError as exc:
                        self.add("unit", f"{exc}; monitoring point {point.id} measures {spec.name}")
                        return
        if body.parameter is not None:
            self.parameter(body.parameter, "fuel_invoice", body.unit, "unit")
        if spec is None:
            # An invoice bills an amount: some energy, volume, mass or heat.
            spec = _amount_quantity(body.unit)
            if spec is None:
                self.add("unit", f"{body.unit!r} is not a unit of an amount (energy, volume, mass)")
                return
        if rule is None:
            rule = conversion(body.unit, spec.canonical_unit)
        self.in_range("value", body.value, body.unit, spec, rule)

    def weighbridge_ticket(self, body: WeighbridgeTicket) -> None:
        self.moment("time", body.time)
        spec = quantities.CATALOGUE["fuel_mass"]
        try:
            rule = conversion(body.net_mass.unit, spec.canonical_unit)
        except UnitError as exc:
            self.add("net_mass.unit", f"{exc}: a net mass")
            return
        self.in_range("net_mass.value", body.net_mass.value, body.net_mass.unit, spec, rule)
        if body.parameter is not None:
            self.parameter(
                body.parameter, "weighbridge_ticket", body.net_mass.unit, "net_mass.unit"
            )

    def site_visit(self, body: SiteVisitChecklist) -> None:
        self.moment("visited_at", body.visited_at)
        if body.site is not None and all(s.id != body.site for s in self.plan.sites):
            self.add("site", f"{body.site!r} is not a site of project {self.project}")
