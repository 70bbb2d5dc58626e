"""The verification engine's relational inputs: monitoring periods, field entries (with
every revision) and each device's calibration record.

Every function works inside the caller's transaction and appends its audit link there,
so an entry and the link that proves it are committed together or not at all. Errors
are ``RecordError`` subclasses naming the field at fault, for the CLI and the HTTP API
to show as they are (``NotFound`` is a 404, ``Conflict`` a 409, ``EntryRejected`` a 422).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.entries import (
    STATUS_CHANGES,
    CalibrationCertificate,
    CalibrationResult,
    EntryBody,
    EntryIn,
    EntryStatus,
    Gps,
    body_json,
    parse_body,
    validate_against_plan,
    validate_body,
)
from core.errors import Problem, field_path, problems_from
from core.plans.schema import MonitoringPlan
from persistence import audit, claims
from persistence.models import (
    Entry,
    EntryRevision,
    MonitoringPeriod,
    Project,
)
from persistence.photos import missing_photos

MAX_REASON = 2000
MAX_AUTHOR = 128


class RecordError(ValueError):
    """A request the store refuses, naming the field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(RecordError):
    pass


class Conflict(RecordError):
    """The request disagrees with what is stored (same id, other content; stale edit)."""


class EntryRejected(RecordError):
    """An entry that does not fit its schema or the project's plan; every problem."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].field, problems[0].message)
        self.problems = problems

    def __str__(self) -> str:
        return "; ".join(str(p) for p in self.problems)


_sha256 = claims.body_sha256


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def serialise(session: Session) -> None:
    """Take the audit chain's head lock now, before reading what we are about to check.

    Every write here ends with an audit link, which locks the head row anyway; taking it
    first makes check-then-insert atomic across processes (two resends of one entry, two
    operators defining the next period), on SQLite and PostgreSQL alike.
    """
    audit.lock(session)


def stored_plan(session: Session, project_id: str) -> MonitoringPlan:
    """The project's current plan, as loaded by ``mrv plan load``."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound("project", f"unknown project {project_id!r}")
    return MonitoringPlan.model_validate(project.plan)


# --- monitoring periods -----------------------------------------------------------------


@dataclass(frozen=True)
class PeriodRow:
    """A monitoring period; both dates inclusive."""

    project_id: str
    number: int
    start: date
    end: date
    defined_at: datetime
    actor: str


def _period(row: MonitoringPeriod) -> PeriodRow:
    return PeriodRow(
        row.project_id, row.number, row.start, row.end, _aware(row.defined_at), row.actor
    )


def list_periods(session: Session, project_id: str) -> list[PeriodRow]:
    rows = session.scalars(
        select(MonitoringPeriod)
        .where(MonitoringPeriod.project_id == project_id)
        .order_by(MonitoringPeriod.number)
    )
    return [_period(row) for row in rows]


def define_period(
    session: Session, project_id: str, start: date, end: date, actor: str
) -> PeriodRow:
    """Define the project's next monitoring period; audited.

    Periods follow one another without overlap or gap inside the crediting period: the
    first starts on the crediting period's start, each next one the day after the
    previous one ends. Defining an existing period again (same dates) returns it.
    """
    if end < start:
        raise RecordError("end", f"{end} is before the start {start}")
    crediting = stored_plan(session, project_id).project.crediting_period
    outside = f"is outside the crediting period {crediting.start} to {crediting.end}"
    if not crediting.start <= start <= crediting.end:
        raise RecordError("start", f"{start} {outside}")
    if end > crediting.end:
        raise RecordError("end", f"{end} {outside}")
    serialise(session)
    periods = list_periods(session, project_id)
    for period in periods:
        if (period.start, period.end) == (start, end):
            return period
    _check_follows(periods, start, end, crediting.start)
    number = periods[-1].number + 1 if periods else 1
    row = MonitoringPeriod(
        project_id=project_id,
        number=number,
        start=start,
        end=end,
        defined_at=datetime.now(UTC),
        actor=actor,
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        action="period.define",
        actor=actor,
        project_id=project_id,
        subject=claims.period_subject(number),
        body=claims.period_claim(row),
    )
    return _period(row)


def _check_follows(periods: list[PeriodRow], start: date, end: date, first_day: date) -> None:
    """A new period starts on ``first_day`` (the crediting period's start) or the day
    after the last one ends: no overlap, no gap."""
    if not periods:
        if start != first_day:
            raise RecordError(
                "start",
                f"the first monitoring period must start on the crediting period's start, "
                f"{first_day}",
            )
        return
    last = periods[-1]
    expected = last.end + timedelta(days=1)
    if start < expected:
        clash = next(p for p in periods if p.start <= end and start <= p.end)
        raise RecordError(
            "start",
            f"{start} to {end} overlaps period {clash.number} ({clash.start} to "
            f"{clash.end}); the next period starts on {expected}",
        )
    if start > expected:
        raise RecordError(
            "start",
            f"{start} leaves a gap after period {last.number} (ends {last.end}); the "
            f"next period must start on {expected}",
        )


# --- field entries ----------------------------------------------------------------------


@dataclass(frozen=True)
class StoredEntry:
    """An entry at its current revision, with its body parsed back into its model."""

    id: UUID
    project_id: str
    type: str
    revision: int
    body: EntryBody
    author: str
    recorded_at: datetime
    gps: Gps | None
    status: str
    body_sha256: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "project": self.project_id,
            "type": self.type,
            "revision": self.revision,
            "body": body_json(self.body),
            "author": self.author,
            "recorded_at": self.recorded_at.isoformat(),
            "gps": self.gps.model_dump() if self.gps else None,
            "status": self.status,
            "body_sha256": self.body_sha256,
        }


@dataclass(frozen=True)
class StoredRevision:
    entry_id: UUID
    revision: int
    body: EntryBody
    reason: str | None  # None for the first revision
    author: str
    recorded_at: datetime
    status: str  # the status this revision left the entry in


def _stored(row: Entry) -> StoredEntry:
    gps = (
        Gps(lat=row.gps_lat, lon=row.gps_lon, accuracy_m=row.gps_accuracy_m)
        if row.gps_lat is not None and row.gps_lon is not None
        else None
    )
    return StoredEntry(
        id=UUID(row.id),
        project_id=row.project_id,
        type=row.entry_type,
        revision=row.revision,
        body=parse_body(row.entry_type, row.body),
        author=row.author,
        recorded_at=_aware(row.recorded_at),
        gps=gps,
        status=row.status,
        body_sha256=row.body_sha256,
    )


def _resend_matches(session: Session, row: Entry, sha: str) -> bool:
    if sha == row.body_sha256:
        return True
    # An edit may have happened since; a late resend of the original is still a resend.
    first = session.get(EntryRevision, (row.id, 1))
    return first is not None and _sha256(first.body) == sha


def stored_resend(session: Session, project_id: str, entry: EntryIn) -> StoredEntry | None:
    """The stored entry if ``entry`` is a resend of it (same project, type and body), else
    None. A read only: resends, the common case of a field app on a poor link, need no
    write lock. Anything else (new, or a conflict) goes through ``add_entry``."""
    row = session.get(Entry, str(entry.id))
    if row is None or row.project_id != project_id or row.entry_type != entry.type:
        return None
    return _stored(row) if _resend_matches(session, row, _sha256(body_json(entry.body))) else None


def add_entry(
    session: Session,
    project_id: str,
    entry: EntryIn,
    plan: MonitoringPlan | None = None,
    *,
    now: datetime | None = None,
) -> tuple[StoredEntry, bool]:
    """Store a new entry, checked against the plan (the stored one if not given); audited.

    Idempotent on the entry's id: the same type and body again returns the stored entry
    with ``created`` False; other content under a stored id is a ``Conflict``.
    """
    entry_id = str(entry.id)
    data = body_json(entry.body)
    sha = _sha256(data)
    serialise(session)
    existing = session.get(Entry, entry_id)
    if existing is not None:
        return _resent(session, existing, project_id, entry.type, sha), False
    if plan is None:
        plan = stored_plan(session, project_id)
    elif session.get(Project, project_id) is None:
        raise NotFound("project", f"unknown project {project_id!r}")
    if plan.project.id != project_id:
        raise RecordError("project", f"the plan given is of project {plan.project.id}")
    problems = validate_against_plan(entry, plan, now=now)
    problems += _photo_problems(session, project_id, entry.body)
    if problems:
        raise EntryRejected(problems)
    recorded_at = (entry.recorded_at or now or datetime.now(UTC)).astimezone(UTC)
    row = _insert_entry(session, project_id, entry, data, sha, recorded_at)
    audit.append(
        session,
        action="entry.add",
        actor=entry.author,
        project_id=project_id,
        subject=claims.entry_subject(entry_id),
        body={
            "id": entry_id,
            "type": entry.type,
            "revision": 1,
            "body_sha256": sha,
            "status": "active",
        },
    )
    return _stored(row), True


def _resent(
    session: Session, existing: Entry, project_id: str, type_: str, sha: str
) -> StoredEntry:
    """The stored entry again if this is a resend of it; a ``Conflict`` if the id holds
    something else."""
    if existing.project_id != project_id or existing.entry_type != type_:
        raise Conflict(
            "id",
            f"entry {existing.id} is already stored as a {existing.entry_type} of project "
            f"{existing.project_id}",
        )
    if _resend_matches(session, existing, sha):
        return _stored(existing)
    raise Conflict(
        "id",
        f"entry {existing.id} is already stored (revision {existing.revision}) with a "
        f"different body; edit it with a reason instead",
    )


def _insert_entry(
    session: Session,
    project_id: str,
    entry: EntryIn,
    data: dict[str, Any],
    sha: str,
    recorded_at: datetime,
) -> Entry:
    """The entry's row and its first revision."""
    entry_id = str(entry.id)
    row = Entry(
        id=entry_id,
        project_id=project_id,
        entry_type=entry.type,
        revision=1,
        body=data,
        author=entry.author,
        recorded_at=recorded_at,
        gps_lat=entry.gps.lat if entry.gps else None,
        gps_lon=entry.gps.lon if entry.gps else None,
        gps_accuracy_m=entry.gps.accuracy_m if entry.gps else None,
        status="active",
        body_sha256=sha,
    )
    session.add(row)
    session.flush()  # the entry before its revision: PostgreSQL checks the foreign key
    session.add(
        EntryRevision(
            entry_id=entry_id,
            revision=1,
            body=data,
            reason=None,
            author=entry.author,
            recorded_at=recorded_at,
            status="active",
        )
    )
    session.flush()
    return row


def _photo_problems(session: Session, project_id: str, body: EntryBody) -> list[Problem]:
    missing = set(missing_photos(session, project_id, body.photos))
    return [
        Problem(
            field_path(("photos", i), "body"),
            f"no photo {h} in project {project_id}: upload it first",
        )
        for i, h in enumerate(body.photos)
        if h in missing
    ]


def _check_author(author: str) -> str:
    author = author.strip()
    if not author or len(author) > MAX_AUTHOR:
        raise RecordError("author", f"must be 1 to {MAX_AUTHOR} characters")
    return author


def _check_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise RecordError("reason", "an edit needs a reason")
    if len(reason) > MAX_REASON:
        raise RecordError("reason", f"at most {MAX_REASON} characters")
    return reason


def _active_entry(session: Session, entry_id: UUID | str) -> Entry:
    row = session.get(Entry, str(entry_id))
    if row is None:
        raise NotFound("id", f"no entry {entry_id}")
    if row.status != "active":
        raise Conflict("status", f"entry {entry_id} is {row.status}")
    return row


def edit_entry(
    session: Session,
    entry_id: UUID | str,
    body: EntryBody | Mapping[str, Any],
    reason: str,
    author: str,
    *,
    plan: MonitoringPlan | None = None,
    base_revision: int | None = None,
    recorded_at: datetime | None = None,
    now: datetime | None = None,
) -> StoredEntry:
    """Replace an entry's body, keeping every earlier revision; audited.

    reason: why (required). base_revision: the revision the editor saw; if another edit
    came first this is a ``Conflict`` rather than a silent overwrite. An edit that
    changes nothing (e.g. a resend) adds no revision.
    """
    reason = _check_reason(reason)
    author = _check_author(author)
    serialise(session)
    row = _active_entry(session, entry_id)
    try:
        typed = parse_body(row.entry_type, body)
    except ValidationError as exc:
        raise EntryRejected(problems_from(exc, "body")) from None
    data = body_json(typed)
    sha = _sha256(data)
    if sha == row.body_sha256:
        return _stored(row)
    if base_revision is not None and base_revision != row.revision:
        raise Conflict(
            "revision",
            f"entry {entry_id} is at revision {row.revision}, not {base_revision}: it was "
            f"edited since",
        )
    if plan is None:
        plan = stored_plan(session, row.project_id)
    problems = validate_body(typed, plan, prefix="body", now=now)
    problems += _photo_problems(session, row.project_id, typed)
    if problems:
        raise EntryRejected(problems)
    when = (recorded_at or now or datetime.now(UTC)).astimezone(UTC)
    _add_revision(session, row, data, sha, reason=reason, author=author, recorded_at=when)
    return _stored(row)


def _add_revision(
    session: Session,
    row: Entry,
    data: dict[str, Any],
    sha: str,
    *,
    reason: str,
    author: str,
    recorded_at: datetime,
) -> None:
    """Make ``data`` the entry's next revision, keeping the one before; audited."""
    previous = row.body_sha256
    row.revision += 1
    row.body = data
    row.body_sha256 = sha
    session.add(
        EntryRevision(
            entry_id=row.id,
            revision=row.revision,
            body=data,
            reason=reason,
            author=author,
            recorded_at=recorded_at,
            status=row.status,
        )
    )
    session.flush()
    audit.append(
        session,
        action="entry.edit",
        actor=author,
        project_id=row.project_id,
        subject=claims.entry_subject(row.id),
        body={
            "id": row.id,
            "type": row.entry_type,
            "revision": row.revision,
            "body_sha256": sha,
            "previous_sha256": previous,
            "status": row.status,
            "reason": reason,
        },
    )


#: The audit action of each change of status, by the status it leads to.
STATUS_ACTIONS = {
    "withdrawn": "entry.withdraw",
    "active": "entry.reinstate",
    "deleted": "entry.delete",
}


def change_entry_status(
    session: Session,
    entry_id: UUID | str,
    status: EntryStatus,
    reason: str,
    author: str,
    *,
    base_revision: int | None = None,
    now: datetime | None = None,
) -> StoredEntry:
    """Withdraw, reinstate or delete an entry: a new revision with the same body, the new
    status and the reason; audited. Nothing is erased: a deleted entry keeps every
    revision, and it no longer counts in a report (nor does a withdrawn one).

    Changing to the status it has already is a no-op (a resend); a change
    ``STATUS_CHANGES`` does not allow (e.g. from deleted) is a ``Conflict``.
    """
    reason = _check_reason(reason)
    author = _check_author(author)
    serialise(session)
    row = session.get(Entry, str(entry_id))
    if row is None:
        raise NotFound("id", f"no entry {entry_id}")
    if row.status == status:
        return _stored(row)
    if status not in STATUS_CHANGES[row.status]:
        raise Conflict("status", f"entry {entry_id} is {row.status}: it cannot become {status}")
    if base_revision is not None and base_revision != row.revision:
        raise Conflict(
            "revision",
            f"entry {entry_id} is at revision {row.revision}, not {base_revision}: it was "
            f"changed since",
        )
    previous, row.status = row.status, status
    when = (now or datetime.now(UTC)).astimezone(UTC)
    row.revision += 1
    session.add(
        EntryRevision(
            entry_id=row.id,
            revision=row.revision,
            body=row.body,
            reason=reason,
            author=author,
            recorded_at=when,
            status=status,
        )
    )
    session.flush()
    audit.append(
        session,
        action=STATUS_ACTIONS[status],
        actor=author,
        project_id=row.project_id,
        subject=claims.entry_subject(row.id),
        body={
            "id": row.id,
            "type": row.entry_type,
            "revision": row.revision,
            "body_sha256": row.body_sha256,
            "status": status,
            "previous_status": previous,
            "reason": reason,
        },
    )
    return _stored(row)


def get_entry(session: Session, entry_id: UUID | str) -> StoredEntry | None:
    row = session.get(Entry, str(entry_id))
    return _stored(row) if row is not None else None


def entries_for(
    session: Session,
    project_id: str,
    types: Iterable[str] | None = None,
    *,
    statuses: Iterable[str] = ("active",),
    after: str | None = None,
    limit: int | None = None,
) -> list[StoredEntry]:
    """A project's entries at their current revision, in the order they were recorded.

    statuses: which to list (by default the active ones, those a report counts).
    after: the id of the last entry of the previous page (the next page starts after
    it); limit: at most this many. Raises NotFound for an ``after`` not in the project.
    """
    query = select(Entry).where(Entry.project_id == project_id)
    if types is not None:
        query = query.where(Entry.entry_type.in_(list(types)))
    query = query.where(Entry.status.in_(list(statuses)))
    if after is not None:
        last = session.get(Entry, after)
        if last is None or last.project_id != project_id:
            raise NotFound("cursor", f"no entry {after} in project {project_id}")
        # Compared with the stored value itself, so that the store's own representation
        # of the time (naive on SQLite) never matters.
        query = query.where(
            (Entry.recorded_at > last.recorded_at)
            | ((Entry.recorded_at == last.recorded_at) & (Entry.id > last.id))
        )
    query = query.order_by(Entry.recorded_at, Entry.id)
    if limit is not None:
        query = query.limit(limit)
    return [_stored(row) for row in session.scalars(query)]


@dataclass(frozen=True)
class UnreadableEntry:
    """An active entry whose stored body no longer parses as its type (its model changed
    since it was recorded): kept, and named wherever it would have counted."""

    id: str
    type: str
    revision: int
    body: dict[str, Any]
    reason: str


def readable_entries(
    session: Session, project_id: str
) -> tuple[list[StoredEntry], list[UnreadableEntry]]:
    """A project's active entries at their current revision, in the order they were
    recorded, and apart those whose body no longer parses (instead of failing on them,
    as ``entries_for`` does)."""
    query = (
        select(Entry)
        .where(Entry.project_id == project_id, Entry.status == "active")
        .order_by(Entry.recorded_at, Entry.id)
    )
    readable: list[StoredEntry] = []
    unreadable: list[UnreadableEntry] = []
    for row in session.scalars(query):
        try:
            readable.append(_stored(row))
        except (ValueError, KeyError) as e:  # a pydantic ValidationError is a ValueError
            body = row.body if isinstance(row.body, dict) else {"value": row.body}
            unreadable.append(
                UnreadableEntry(row.id, row.entry_type, row.revision, body, _unparsed(e))
            )
    return readable, unreadable


def _unparsed(e: Exception) -> str:
    """Why a stored body does not parse, in a line (the first few fields wrong)."""
    if isinstance(e, ValidationError):
        return "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or 'body'}: {err['msg']}"
            for err in e.errors()[:3]
        )
    if isinstance(e, KeyError):
        return f"unknown entry type {e}"
    return str(e)


def entry_history(session: Session, entry_id: UUID | str) -> list[StoredRevision]:
    """Every revision of an entry, the first one first."""
    row = session.get(Entry, str(entry_id))
    if row is None:
        raise NotFound("id", f"no entry {entry_id}")
    revisions = session.scalars(
        select(EntryRevision)
        .where(EntryRevision.entry_id == row.id)
        .order_by(EntryRevision.revision)
    )
    return [
        StoredRevision(
            entry_id=UUID(r.entry_id),
            revision=r.revision,
            body=parse_body(row.entry_type, r.body),
            reason=r.reason,
            author=r.author,
            recorded_at=_aware(r.recorded_at),
            status=r.status,
        )
        for r in revisions
    ]


# --- calibration records ----------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationRecord:
    """One calibration of a device. error_pct is signed: positive = over-reads.

    source: "plan" (the plan's calibration.last or history) or "entry:<uuid>" (a
    calibration_certificate entry).
    """

    device: str
    date: date
    result: CalibrationResult
    error_pct: float
    certificate: str | None
    source: str


def calibration_records(
    session: Session,
    project_id: str,
    plan: MonitoringPlan | None = None,
    entries: Iterable[StoredEntry] | None = None,
) -> dict[str, list[CalibrationRecord]]:
    """Each device's calibrations, in date order, from the plan and from certificates.

    entries: the project's active entries, already read (``readable_entries``); None:
    read here.

    The plan's ``calibration.last`` counts as a calibration within tolerance with no error
    found, unless its history or a certificate entry of the same day says what was found.
    Every device of the plan has a key, with an empty list if it has no record.
    """
    if plan is None:
        plan = stored_plan(session, project_id)
    by_device: dict[str, list[CalibrationRecord]] = {d.id: [] for d in plan.devices}
    from_entries: dict[str, list[CalibrationRecord]] = {}
    if entries is None:
        entries = entries_for(session, project_id, ["calibration_certificate"])
    for entry in entries:
        body = entry.body
        if not isinstance(body, CalibrationCertificate):
            continue
        from_entries.setdefault(body.device, []).append(
            CalibrationRecord(
                device=body.device,
                date=body.calibrated_on,
                result=body.result,
                error_pct=body.error_pct,
                certificate=body.certificate,
                source=f"entry:{entry.id}",
            )
        )
    for device in plan.devices:
        calibration = device.calibration
        if calibration is None:
            continue
        records = by_device[device.id]
        for event in calibration.history:
            certificate = event.certificate
            if certificate is None and event.date == calibration.last:
                certificate = calibration.certificate
            records.append(
                CalibrationRecord(
                    device.id, event.date, event.result, event.error_pct, certificate, "plan"
                )
            )
        last = calibration.last
        stated = {r.date for r in records} | {r.date for r in from_entries.get(device.id, [])}
        if last is not None and last not in stated:
            records.append(
                CalibrationRecord(
                    device.id, last, "within_tolerance", 0.0, calibration.certificate, "plan"
                )
            )
    for device_id, records in from_entries.items():
        by_device.setdefault(device_id, []).extend(records)
    for records in by_device.values():
        # Same day: the plan's record first, then entries in id order (deterministic).
        records.sort(key=lambda r: (r.date, r.source != "plan", r.source))
    return by_device
