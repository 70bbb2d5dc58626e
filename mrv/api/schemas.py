"""What the API reads and answers, as pydantic models: the OpenAPI schema is made from
these, and every JSON answer is serialised through one of them.

The answers are the JSON the field app and the tests read: field names, types and
nullability are kept exactly. Times are sent as Python's ``isoformat()`` (``+00:00``, not
``Z``); documents whose shape is another module's (a plan, an entry's body, an event's
detail) are passed through as JSON objects.
"""

from datetime import date, datetime
from typing import Annotated, Any, cast
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    WithJsonSchema,
)

from core.entries import CalibrationResult, EntryStatus, Gps, PhotoHash, body_json, no_nul, one_line
from core.liveness import DeviceState, OfflineReason
from core.photos import MAX_PHOTOS_PER_ENTRY
from core.times import from_ms
from core.windows import MAX_ID, day_problem
from mrv.api.tokens import Role
from persistence import readings_table
from persistence.evidence import Change, Evidence
from persistence.liveness import DeviceLiveness
from persistence.models import Event, QuarantineEntry
from persistence.photos import StoredPhoto
from persistence.records import (
    CalibrationRecord,
    PeriodRow,
    StoredEntry,
    StoredRevision,
)
from persistence.stores.timeseries import ReadingRow


def _isoformat(moment: datetime) -> str:
    return moment.isoformat()


#: A moment as ``datetime.isoformat()`` writes it (what the API has always sent): in UTC,
#: with its offset where the relational store keeps one (PostgreSQL), without on SQLite.
IsoDateTime = Annotated[
    datetime,
    PlainSerializer(_isoformat, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d)?$",
            "description": "ISO 8601, UTC (the offset is absent on SQLite stores)",
        }
    ),
]
#: A JSON document whose shape another part of the system defines.
JsonObject = dict[str, JsonValue]


def _recorded_day(day: date) -> date:
    wrong = day_problem(day)
    if wrong:
        raise ValueError(wrong)
    return day


#: Why something was done: any lines of text, but no NUL (PostgreSQL's text holds none).
Reason = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(no_nul)]
#: Who did it: one line.
AuthorName = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(one_line)]
#: A day on which something happened: from 2000-01-01 to tomorrow (``core.windows``).
RecordedDay = Annotated[date, AfterValidator(_recorded_day)]
#: An id the relational store handed out: positive, in a signed 64-bit integer.
StoredId = Annotated[int, Field(ge=1, le=MAX_ID)]
#: How many quarantined messages one release may name.
MAX_RELEASE_IDS = 1000

# --- requests ---------------------------------------------------------------------------


class EntryEdit(BaseModel):
    """An edit of an entry: the new body and why (both required)."""

    model_config = ConfigDict(extra="forbid")

    body: JsonObject
    reason: Reason
    author: AuthorName
    base_revision: StoredId | None = None


class EntryStatusChange(BaseModel):
    """Withdraw (``withdrawn``), reinstate (``active``) or delete (``deleted``) an entry,
    and why. A new revision with the same body; only active entries count in reports."""

    model_config = ConfigDict(extra="forbid")

    status: EntryStatus
    reason: Reason
    author: AuthorName
    base_revision: StoredId | None = None


class RetireIn(BaseModel):
    """A device's retirement: the last day its readings count, and why."""

    model_config = ConfigDict(extra="forbid")

    removed: RecordedDay
    reason: Reason


class CalibrationIn(BaseModel):
    """A calibration recorded by an operator: stored as a calibration_certificate entry of
    the device (so it feeds the verification rules as one from the field app would)."""

    model_config = ConfigDict(extra="forbid")

    id: UUID
    author: AuthorName
    calibrated_on: date
    certificate: Annotated[str, Field(min_length=1, max_length=128)]
    result: CalibrationResult
    error_pct: Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]
    tolerance_pct: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] | None = None
    photos: Annotated[list[PhotoHash], Field(max_length=MAX_PHOTOS_PER_ENTRY)] = []


class ReleaseIn(BaseModel):
    """Quarantined messages to re-process: these ids, or every open one of the project."""

    model_config = ConfigDict(extra="forbid")

    ids: Annotated[list[StoredId], Field(max_length=MAX_RELEASE_IDS)] = []
    all: bool = False


class PeriodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: date
    end: date = Field(description="the last day (inclusive)")


# --- service, caller, reference data ----------------------------------------------------


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Me(BaseModel):
    """What a token is: its role, its projects (none: every project) and its label (for a
    field token, the person: the author the field app puts on entries)."""

    role: Role
    projects: list[str]
    label: str


class QuantityOut(BaseModel):
    name: str
    description: str
    canonical_unit: str
    kind: str = Field(description="cumulative, interval or instant")
    minimum: float
    maximum: float
    units: list[str]
    to_canonical: dict[str, tuple[float, float]] = Field(
        description="unit -> (scale, offset): value_in_canonical = scale * value + offset"
    )


class Catalogue(BaseModel):
    quantities: list[QuantityOut]
    unit_groups: list[list[str]] = Field(description="groups of interconvertible units")


class ProjectOut(BaseModel):
    id: str
    name: str
    methodology: str = Field(description="methodology id and version")


class PlanVersionOut(BaseModel):
    version: int
    sha256: str
    loaded_at: IsoDateTime


class PlanOut(BaseModel):
    version: int
    sha256: str
    plan: JsonObject = Field(description="the monitoring plan (core.plans.schema)")
    versions: list[PlanVersionOut]


# --- entries and photos -----------------------------------------------------------------


class EntryOut(BaseModel):
    """An entry at its current revision."""

    id: UUID
    project: str
    type: str = Field(description="the entry type (see the request's type)")
    revision: int
    body: JsonObject
    author: str
    recorded_at: IsoDateTime
    gps: Gps | None
    status: EntryStatus = Field(
        description="active, withdrawn or deleted: only active entries count"
    )
    body_sha256: str

    @classmethod
    def of(cls, entry: StoredEntry) -> "EntryOut":
        return cls(
            id=entry.id,
            project=entry.project_id,
            type=entry.type,
            revision=entry.revision,
            body=body_json(entry.body),
            author=entry.author,
            recorded_at=entry.recorded_at,
            gps=entry.gps,
            status=cast(EntryStatus, entry.status),
            body_sha256=entry.body_sha256,
        )


class RevisionOut(BaseModel):
    revision: int
    body: JsonObject
    reason: str | None = Field(description="why it was edited; null for the first revision")
    author: str
    recorded_at: IsoDateTime
    status: EntryStatus = Field(description="the status this revision left the entry in")

    @classmethod
    def of(cls, r: StoredRevision) -> "RevisionOut":
        return cls(
            revision=r.revision,
            body=body_json(r.body),
            reason=r.reason,
            author=r.author,
            recorded_at=r.recorded_at,
            status=cast(EntryStatus, r.status),
        )


class EntryWithHistory(EntryOut):
    history: list[RevisionOut] = Field(description="every revision, the first one first")

    @classmethod
    def of_revisions(cls, entry: StoredEntry, history: list[RevisionOut]) -> "EntryWithHistory":
        return cls.model_validate({**dict(EntryOut.of(entry)), "history": history})


class EntryPage(BaseModel):
    entries: list[EntryOut]
    next_cursor: str | None = Field(description="pass back as cursor for the next page")


class PhotoOut(BaseModel):
    sha256: str
    media_type: str
    size_bytes: int
    width: int
    height: int
    uploaded_by: str
    uploaded_at: IsoDateTime

    @classmethod
    def of(cls, photo: StoredPhoto) -> "PhotoOut":
        info = photo.info
        return cls(
            sha256=info.sha256,
            media_type=info.media_type,
            size_bytes=info.size_bytes,
            width=info.width,
            height=info.height,
            uploaded_by=photo.uploaded_by,
            uploaded_at=photo.uploaded_at,
        )


# --- periods and devices ----------------------------------------------------------------


class PeriodOut(BaseModel):
    number: int
    start: date
    end: date = Field(description="the last day (inclusive)")

    @classmethod
    def of(cls, period: PeriodRow) -> "PeriodOut":
        return cls(number=period.number, start=period.start, end=period.end)


class DeviceOut(BaseModel):
    id: str
    site: str
    type: str
    serial: str
    quantities: list[str]
    status: str = Field(description="active or retired")
    installed: date | None
    removed: date | None
    calibration: JsonObject | None = Field(description="the plan's calibration record")
    state: DeviceState = Field(
        description="online; offline after offline_after_s without a message or when its "
        "last will said so; unknown if never heard"
    )
    offline_reason: OfflineReason | None = Field(description="last_will or silent, when offline")
    last_heard: datetime | None = Field(description="its newest message or online status")
    offline_after_s: int = Field(description="seconds of silence its plan allows")

    @classmethod
    def of(cls, live: DeviceLiveness) -> "DeviceOut":
        row, heard_ms = live.device, live.liveness.last_heard_ms
        return cls(
            id=row.id,
            site=row.site_id,
            type=row.type,
            serial=row.serial,
            quantities=row.quantities,
            status=row.status,
            installed=row.record.get("installed"),
            removed=row.record.get("removed"),
            calibration=row.record.get("calibration"),
            state=live.liveness.state,
            offline_reason=live.liveness.reason,
            last_heard=from_ms(heard_ms) if heard_ms is not None else None,
            offline_after_s=live.offline_after_s,
        )


class CalibrationOut(BaseModel):
    date: date
    result: CalibrationResult
    error_pct: float = Field(description="signed: positive means the device over-reads")
    certificate: str | None
    source: str = Field(description='"plan", or "entry:<id>" for a certificate entry')

    @classmethod
    def of(cls, r: CalibrationRecord) -> "CalibrationOut":
        return cls(
            date=r.date,
            result=r.result,
            error_pct=r.error_pct,
            certificate=r.certificate,
            source=r.source,
        )


class Calibrations(BaseModel):
    device: str
    interval_months: int | None
    next_due: date | None
    calibrations: list[CalibrationOut] = Field(description="in date order")


# --- quarantine, events, audit ----------------------------------------------------------


class QuarantineOut(BaseModel):
    id: int
    received_at: IsoDateTime
    topic: str
    device: str | None
    reason: str
    field: str | None = Field(description="the field at fault in the message")
    detail: str
    status: str = Field(description="open, released or resolved")

    @classmethod
    def of(cls, q: QuarantineEntry) -> "QuarantineOut":
        return cls(
            id=q.id,
            received_at=q.received_at,
            topic=q.topic,
            device=q.device_id,
            reason=q.reason,
            field=q.field,
            detail=q.detail,
            status=q.status,
        )


class ReleaseOutcomeOut(BaseModel):
    id: int
    released: bool
    message: str


class Released(BaseModel):
    released: int
    kept: int
    outcomes: list[ReleaseOutcomeOut]


class EventOut(BaseModel):
    time_ms: int
    device: str
    quantity: str
    kind: str = Field(description="reset, rollover, conflict or arrival_gap")
    detail: JsonObject

    @classmethod
    def of(cls, e: Event) -> "EventOut":
        return cls(
            time_ms=e.time_ms, device=e.device_id, quantity=e.quantity, kind=e.kind, detail=e.detail
        )


class ChangeOut(BaseModel):
    kind: str = Field(description="entry, plan, device, period, token, photo, readings, reading")
    id: str
    what: str

    @classmethod
    def of(cls, c: Change) -> "ChangeOut":
        return cls(kind=c.kind, id=c.id, what=c.what)


class AuditVerdict(BaseModel):
    intact: bool = Field(description="the chain and every object it covers verify")
    chain: str = Field(description="the project's chain")
    length: int = Field(description="links that verify, from the first")
    head: str = Field(description="the hash of the last link that verifies")
    broken_at: int | None = Field(description="position of the first link that does not verify")
    reason: str | None
    checked: dict[str, int] = Field(description="objects recomputed, per kind")
    changes: list[ChangeOut] = Field(description="objects not as their chain recorded them")

    @classmethod
    def of(cls, evidence: Evidence) -> "AuditVerdict":
        chain = evidence.chain
        return cls(
            intact=evidence.intact,
            chain=chain.chain,
            length=chain.length,
            head=chain.head,
            broken_at=chain.broken_at,
            reason=chain.reason,
            checked=evidence.checked,
            changes=[ChangeOut.of(c) for c in evidence.changes],
        )


# --- readings ---------------------------------------------------------------------------


def _column(name: str) -> Any:
    """A field of the readings table, described as :mod:`persistence.readings_table`
    declares it."""
    column = readings_table.BY_NAME[name]
    extra: dict[str, Any] | None = {"format": "date-time"} if column.type == "datetime" else None
    return Field(description=column.description, json_schema_extra=extra)


class ReadingOut(BaseModel):
    """A stored reading: one row of the readings table, the same columns as the CSV page,
    ``mrv readings export`` and ``mrv readings import`` (a test holds them equal)."""

    time: str = _column("time")
    project: str = _column("project")
    site: str = _column("site")
    device: str = _column("device")
    seq: int = _column("seq")
    quantity: str = _column("quantity")
    value: float = _column("value")
    unit: str | None = _column("unit")
    kind: str = _column("kind")
    interval_s: float | None = _column("interval_s")
    raw_value: float = _column("raw_value")
    raw_unit: str = _column("raw_unit")
    historical: bool = _column("historical")
    received: str = _column("received")

    @classmethod
    def of(cls, r: ReadingRow) -> "ReadingOut":
        return cls.model_validate(readings_table.record(r))


class ReadingsPage(BaseModel):
    readings: list[ReadingOut]
    next_cursor: str | None = Field(description="pass back as cursor for the next page")
