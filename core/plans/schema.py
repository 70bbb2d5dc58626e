"""The monitoring plan schema (SPEC section 7).

A plan names the project and its methodology, the sites and devices, the monitoring
points (a device's quantity that a methodology parameter is measured at), and for each
parameter where its value comes from: option A (a default, with its source), option B
(invoices or records entered by field staff) or option C (a device quantity).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from core.payloads import PayloadFormat, TimestampUnit
from core.units import ReferenceConditions
from core.wire import ID_PATTERN

Id = Annotated[str, Field(pattern=ID_PATTERN)]

#: A device is offline after this many of its expected intervals without a message, unless
#: the plan sets ``offline_after_s`` (on the device, else on the project).
OFFLINE_AFTER_INTERVALS = 3
#: The longest silence a plan may allow before a device counts as offline (30 days, s).
MAX_OFFLINE_AFTER_S = 30 * 86_400
#: Seconds of silence after which a device is offline (at least one second).
OfflineAfter = Annotated[int, Field(ge=1, le=MAX_OFFLINE_AFTER_S)]


def offline_after(device_s: int | None, project_s: int | None, expected_interval_s: int) -> int:
    """Seconds of silence after which a device is offline: its own setting, else the
    project's, else OFFLINE_AFTER_INTERVALS of its expected interval."""
    if device_s is not None:
        return device_s
    if project_s is not None:
        return project_s
    return OFFLINE_AFTER_INTERVALS * expected_interval_s


def _omit_none(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """``data`` without the ``keys`` whose value is None: settings added after plans were
    first stored are left out at their default, so such a plan stores (and hashes)
    exactly as it did before they existed."""
    for key in keys:
        if data.get(key) is None:
            data.pop(key, None)
    return data


class _Strict(BaseModel):
    # Plans are written by hand: a misspelt key must be an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class Methodology(_Strict):
    id: Annotated[str, Field(min_length=1, max_length=64)]
    version: Annotated[str, Field(min_length=1, max_length=16)]


class Period(_Strict):
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class CreditAllocation(_Strict):
    """Shares of issued credits (fractions that add up to 1)."""

    partner_country: Annotated[float, Field(ge=0, le=1)]
    japan: Annotated[float, Field(ge=0, le=1)]

    @model_validator(mode="after")
    def _sums_to_one(self) -> CreditAllocation:
        if abs(self.partner_country + self.japan - 1.0) > 1e-9:
            raise ValueError("partner_country + japan must equal 1")
        return self


class Project(_Strict):
    id: Id
    name: Annotated[str, Field(min_length=1, max_length=200)]
    host_country: Annotated[str, Field(min_length=2, max_length=80)]
    methodology: Methodology
    crediting_period: Period
    credit_allocation: CreditAllocation | None = None
    gap_rules: Literal["conservative", "california"] = "conservative"
    signed_messages: bool = False
    #: A report's finding is material when it moves the period's emission reductions by
    #: more than this share of them (percent); minor otherwise.
    materiality_pct: Annotated[float, Field(ge=0, le=100)] = 1.0
    #: Seconds without a message after which a device counts as offline (each device may
    #: set its own); None: OFFLINE_AFTER_INTERVALS of the device's expected interval.
    offline_after_s: OfflineAfter | None = None

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _omit_none(handler(self), ("offline_after_s",))


class Location(_Strict):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]


class Site(_Strict):
    id: Id
    name: Annotated[str, Field(min_length=1, max_length=200)]
    location: Location | None = None
    timezone: str = "UTC"


class GasReference(_Strict):
    """Conditions a gas meter corrects its volume to (its record, SPEC section 7)."""

    temperature_c: Annotated[float, Field(ge=-50, le=100)]
    pressure_kpa: Annotated[float, Field(gt=50, le=200)]

    def conditions(self) -> ReferenceConditions:
        return ReferenceConditions(self.temperature_c, self.pressure_kpa)


class CalibrationEvent(_Strict):
    """A past calibration of a device. error_pct is signed: positive means the instrument
    over-reads, which decides the conservative direction of a correction."""

    date: date
    result: Literal["within_tolerance", "out_of_tolerance"]
    error_pct: Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]
    certificate: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class Calibration(_Strict):
    interval_months: Annotated[int, Field(ge=1, le=120)]
    last: date | None = None
    certificate: str | None = None
    # Earlier calibrations with what they found; a report needs them to correct the data
    # since the last valid calibration. Kept in date order.
    history: list[CalibrationEvent] = Field(default_factory=list)

    @model_validator(mode="after")
    def _history(self) -> Calibration:
        self.history.sort(key=lambda event: event.date)
        for before, after in zip(self.history, self.history[1:], strict=False):
            if before.date == after.date:
                raise ValueError(f"history has two calibrations on {after.date}")
        if self.history and self.last is not None and self.history[-1].date > self.last:
            raise ValueError(
                f"last ({self.last}) is before the latest calibration in history "
                f"({self.history[-1].date})"
            )
        return self


#: A logger's own name for a value: printable, no control characters, bounded.
FieldName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
MAX_PAYLOAD_FIELDS = 64
#: Device settings added later (the payload's, the offline silence) left out of a device's
#: record when at their defaults, so that a plan without them stores (and hashes) exactly
#: as it did before they existed.
_LATER_KEYS = ("payload", "fields", "timestamp_unit", "offline_after_s")


class PayloadField(_Strict):
    """What a logger's field carries: one of the device's quantities, in ``unit`` (None:
    the quantity's canonical unit; a SenML record's own unit wins)."""

    quantity: Id
    unit: Annotated[str, Field(min_length=1, max_length=32)] | None = None


class Device(_Strict):
    id: Id
    site: Id
    type: Annotated[str, Field(min_length=1, max_length=64)]
    serial: Annotated[str, Field(min_length=1, max_length=64)]
    manufacturer: str | None = None
    model: str | None = None
    quantities: Annotated[list[Id], Field(min_length=1)]
    # Accuracy: a class (IEC 62053 "0.5S") or a maximum permissible error in percent.
    accuracy_class: str | None = None
    max_permissible_error_pct: Annotated[float, Field(gt=0, le=20)] | None = None
    # The largest value a cumulative register shows before it rolls over to zero,
    # in the quantity's canonical unit.
    register_max: Annotated[float, Field(gt=0)] | None = None
    reference_conditions: GasReference | None = None
    atmosphere_kpa: Annotated[float, Field(gt=50, le=110)] | None = None
    calibration: Calibration | None = None
    installed: date | None = None
    removed: date | None = None
    replaces: Id | None = None
    # Nominal reporting interval, used for gap detection.
    expected_interval_s: Annotated[int, Field(ge=1, le=86400)] = 60
    # Seconds without a message after which the device counts as offline (None: the
    # project's offline_after_s, else OFFLINE_AFTER_INTERVALS expected intervals).
    offline_after_s: OfflineAfter | None = None
    # Signed messages: the device's Ed25519 public key (``ed25519:`` and base64, as
    # ``core.signing.public_text`` writes it) and whether its messages must be signed
    # (None: as the project's ``signed_messages`` says).
    public_key: Annotated[str, Field(max_length=120)] | None = None
    signing: Literal["required", "off"] | None = None
    # What the device publishes on its readings topic (core.payloads): our own JSON, or a
    # standard payload whose field names ``fields`` maps onto quantities (None: each
    # quantity id in its canonical unit); Telegraf's timestamps are in ``timestamp_unit``
    # (None: seconds, Telegraf's default).
    payload: PayloadFormat | None = None
    fields: (
        Annotated[dict[FieldName, PayloadField], Field(max_length=MAX_PAYLOAD_FIELDS)] | None
    ) = None
    timestamp_unit: TimestampUnit | None = None
    # Simulator hints (capacity etc.); not used by the gateway.
    nameplate: dict[str, float] = Field(default_factory=dict)

    @model_serializer(mode="wrap")
    def _omit_unset_payload(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _omit_none(handler(self), _LATER_KEYS)

    @property
    def payload_format(self) -> PayloadFormat:
        return self.payload or "native"

    def payload_fields(self) -> dict[str, PayloadField]:
        """The logger's field names and what each carries (default: each quantity id)."""
        if self.fields is not None:
            return dict(self.fields)
        return {q: PayloadField(quantity=q) for q in self.quantities}

    @model_validator(mode="after")
    def _accuracy(self) -> Device:
        if self.removed and self.installed and self.removed < self.installed:
            raise ValueError("removed must not be before installed")
        return self


class MonitoringPoint(_Strict):
    id: Annotated[str, Field(min_length=1, max_length=32)]
    description: str = ""
    device: Id
    quantity: Id


Option = Literal["A", "B", "C"]


class Parameter(_Strict):
    symbol: Annotated[str, Field(min_length=1, max_length=32)]
    description: str = ""
    unit: Annotated[str, Field(min_length=1, max_length=32)]
    option: Option
    # option A: a fixed value and where it comes from
    value: float | None = None
    source: str | None = None
    # option B: which kind of field entry carries it
    entry_type: (
        Literal["meter_reading", "fuel_invoice", "calibration_certificate", "weighbridge_ticket"]
        | None
    ) = None
    # option C: the monitoring points that measure it
    monitoring_points: list[str] = Field(default_factory=list)
    frequency: str | None = None

    @model_validator(mode="after")
    def _option_fields(self) -> Parameter:
        if self.option == "A" and (self.value is None or not self.source):
            raise ValueError("option A needs a value and its source")
        if self.option == "B" and self.entry_type is None:
            raise ValueError("option B needs entry_type (the field entry that carries it)")
        if self.option == "C" and not self.monitoring_points:
            raise ValueError("option C needs at least one monitoring point")
        return self


class MonitoringPlan(_Strict):
    plan_version: Annotated[int, Field(ge=1)] = 1
    project: Project
    sites: Annotated[list[Site], Field(min_length=1)]
    devices: list[Device] = Field(default_factory=list)
    monitoring_points: list[MonitoringPoint] = Field(default_factory=list)
    parameters: list[Parameter] = Field(default_factory=list)

    def device(self, device_id: str) -> Device | None:
        return next((d for d in self.devices if d.id == device_id), None)

    def offline_after_s(self, device: Device) -> int:
        """Seconds without a message after which ``device`` counts as offline: its own
        setting, else the project's, else OFFLINE_AFTER_INTERVALS expected intervals."""
        return offline_after(
            device.offline_after_s, self.project.offline_after_s, device.expected_interval_s
        )

    def signing_required(self, device: Device) -> bool:
        """Whether the gateway refuses the device's unsigned messages."""
        if device.signing is not None:
            return device.signing == "required"
        return self.project.signed_messages

    def lineage(self, device_id: str) -> list[Device]:
        """The device and every meter it replaced (``replaces``, followed back), oldest
        first: one measurement lineage. Stops at an id not in the plan or one already
        seen, so a broken plan cannot loop."""
        chain: list[Device] = []
        seen: set[str] = set()
        device = self.device(device_id)
        while device is not None and device.id not in seen:
            seen.add(device.id)
            chain.insert(0, device)
            device = self.device(device.replaces) if device.replaces else None
        return chain
