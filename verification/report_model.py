"""The monitoring report as data: what ``mrv report`` writes as JSON and every other
format (CSV, XLSX, PDF/HTML) is rendered from.

Field names follow the issue's contract (``project``, ``methodology``, ``period``,
``parameters``, ``reference_emissions_tco2`` ...). Nothing here depends on when the report
was made, so the same inputs give the same bytes; ``inputs_sha256`` identifies them.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from core.signing import Checkpoint

SCHEMA_VERSION = "2"  # 2: findings typed with evidence; messages; step inputs


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProjectInfo(_Out):
    id: str
    name: str
    host_country: str
    plan_version: int
    plan_sha256: str


class MethodologyInfo(_Out):
    id: str
    version: str
    title: str
    table_sha256: str
    gap_rules: str


class PeriodInfo(_Out):
    start: date
    end: date  # inclusive, as JCM periods are written
    start_utc: str
    end_utc: str  # exclusive instant
    number: int | None = None


class ParameterRow(_Out):
    """One row of the MRS input table: a parameter at one monitoring point (or, for
    options A and B, the parameter itself)."""

    symbol: str
    description: str
    monitoring_point: str | None
    device: str | None
    value: float | None  # None: no value could be established (see corrections)
    unit: str
    option: Literal["A", "B", "C"]
    source: str
    method: str
    frequency: str | None
    completeness: float  # share of the period covered by data (1.0 for option A)
    readings: int
    calibration: str  # the device's calibration status over the period
    corrections: list[str]  # ids of the corrections applied to this row


class Gap(_Out):
    id: str
    symbol: str
    monitoring_point: str
    device: str
    start: str  # ISO 8601 UTC
    end: str
    hours: float
    rule: str
    note: str


class Correction(_Out):
    """A substitution or correction applied to a monitored value."""

    id: str
    kind: Literal["gap", "calibration", "register", "plausibility", "apportionment"]
    symbol: str
    monitoring_point: str | None
    start: str
    end: str
    rule: str
    note: str
    delta: float  # change of the parameter's value, in its unit
    unit: str
    effect_tco2: float  # change of the (unrounded) emission reductions


class CrossCheck(_Out):
    symbol: str
    monitoring_point: str
    start: str
    end: str
    meter_value: float
    invoice_value: float
    unit: str
    difference_pct: float
    invoices: list[str]
    used: str
    note: str


class Message(_Out):
    """What a step noticed on the way, in words (a parameter the methodology does not
    use, a period outside the crediting period, spikes set aside...)."""

    severity: Literal["info", "warning", "error"]
    symbol: str
    monitoring_point: str | None
    message: str


EvidenceKind = Literal[
    "reading", "entry", "photo", "calibration", "quarantine", "correction", "gap", "device"
]


class Evidence(_Out):
    """A link from a finding to what it rests on: a stored reading (``key`` device/
    quantity/seq, with its time and value), a field entry (``<uuid>@r<revision>``, the
    revision counted), a photo an entry carries (its SHA-256), a calibration the plan
    records (``<device>@<date>``, the error found as value in %), a quarantine row (its
    id), a correction or gap of this report (its id), a device."""

    kind: EvidenceKind
    key: str
    time: str | None = None
    value: float | None = None
    unit: str | None = None
    role: str = ""  # e.g. "before start", "reset", "rollover"


FindingKind = Literal[
    "register",
    "calibration",
    "substitution",
    "plausibility",
    "apportionment",
    "gap",
    "replacement",
    "quarantine",
    "calibration_lapse",  # overdue, late or out of tolerance in the period
    "out_of_range_entry",  # a manual read or invoice refused or set aside
    "unusable",  # a stored object the report could not use (named, not counted)
]


class Finding(_Out):
    """A verifier's finding: what moved the period's emission reductions (or may have),
    by how much, and the evidence behind it. ``effect_tco2`` is the signed change of the
    unrounded ER it caused (ER with it minus ER without it); ``tco2`` its size, the
    tonnes at stake; material when that is above the plan's share of ER."""

    id: str
    kind: FindingKind
    severity: Literal["material", "minor"]
    symbol: str | None
    monitoring_point: str | None
    tco2: float | None  # None: the calculation fails without it (material)
    effect_tco2: float | None
    summary: str
    evidence: list[Evidence]


class FindingsHeadline(_Out):
    material: int
    minor: int
    net_tco2: float  # Σ effect_tco2: what the findings moved ER by, together
    threshold_pct: float  # the plan's materiality share of ER
    threshold_tco2: float  # that share of this period's unrounded ER, in tCO2


#: The headline of a report without findings (the default of a report built by hand).
NO_FINDINGS = FindingsHeadline(
    material=0, minor=0, net_tco2=0.0, threshold_pct=1.0, threshold_tco2=0.0
)


class ReadingRef(_Out):
    """A stored reading a step used: its key (device/quantity/seq), time, value."""

    key: str
    device: str
    quantity: str
    seq: int | None  # None: the store did not say
    time: str
    value: float
    unit: str  # canonical
    role: str  # "before start", "after start", "before end", "after end", "reset", ...


class DailySubtotal(_Out):
    day: date
    value: float | None  # the amount (or mean) over the day, parameter unit; None: no data
    readings: int


class PointInputs(_Out):
    """What a monitoring point's figure is computed from, so a verifier can redo it:
    a register's bracketing readings and each reset or rollover; per day, the subtotal."""

    symbol: str
    monitoring_point: str
    device: str
    series: Literal["cumulative", "interval", "instant"]
    unit: str
    aggregate: str  # total, mean, steps, share
    readings: list[ReadingRef]
    daily: list[DailySubtotal]


class ParameterInput(_Out):
    """A value a step used that is not measured: from the plan (option A) or the
    methodology's table, with its unit, source and version."""

    symbol: str
    value: float
    unit: str
    source: str
    version: str  # the methodology table's or the plan's version
    status: str  # the table's confirmed / unconfirmed, or "plan"


class EventRow(_Out):
    time: str
    device: str
    quantity: str
    kind: str
    detail: dict[str, JsonValue]  # the event's detail as a JSON object


class CalcRow(_Out):
    label: str
    formula: str
    value: float | None  # None: not defined (e.g. a mean over no data)
    unit: str


class Reductions(_Out):
    value: float  # rounded as the methodology says
    unrounded: float
    rounding: str
    creditable: bool = True  # False outside the crediting period (see findings)


class Allocation(_Out):
    partner_country: int
    japan: int
    partner_country_share: float
    japan_share: float
    rule: str


class Report(_Out):
    schema_version: str = SCHEMA_VERSION
    project: ProjectInfo
    methodology: MethodologyInfo
    period: PeriodInfo
    parameters: list[ParameterRow]
    reference_emissions_tco2: float
    project_emissions_tco2: float
    emission_reductions_tco2: Reductions
    credit_allocation: Allocation | None
    calculation: list[CalcRow]
    gaps: list[Gap]
    corrections: list[Correction]
    cross_checks: list[CrossCheck]
    findings: list[Finding] = []
    findings_headline: FindingsHeadline = NO_FINDINGS
    messages: list[Message] = []
    point_inputs: list[PointInputs] = []
    parameter_inputs: list[ParameterInput] = []
    events: list[EventRow]
    software: str
    inputs_sha256: str
    checkpoint: Checkpoint | None = Field(
        default=None,
        description="the project's audit chain, signed, as it was when the report was computed",
    )

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, fixed separators, a newline at the end."""
        return (
            json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=2, allow_nan=False)
            + "\n"
        )
