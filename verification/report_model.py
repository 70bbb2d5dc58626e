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

SCHEMA_VERSION = "1"


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


class Finding(_Out):
    severity: Literal["info", "warning", "error"]
    symbol: str
    monitoring_point: str | None
    message: str


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
    findings: list[Finding]
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
