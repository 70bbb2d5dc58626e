"""Reads and writes of the relational store used by the gateway and the CLI."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session

from core.plans.schema import MonitoringPlan
from core.signing import parse_public
from core.times import day_start_ms, from_ms
from core.units import ReferenceConditions
from core.windows import EARLIEST
from persistence import audit, claims
from persistence.audit import Subject
from persistence.models import (
    Device,
    DeviceActivity,
    DeviceStatus,
    Event,
    PlanRevision,
    Project,
    QuarantineEntry,
    QuarantineMessage,
)


def _insert_ignore(
    session: Session, model: type[DeclarativeBase], rows: Sequence[dict[str, Any]]
) -> int:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL; returns rows inserted."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    stmt: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        stmt = postgresql.insert(model).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(model).on_conflict_do_nothing()
    result = session.connection().execute(stmt, list(rows))
    return max(int(result.rowcount or 0), 0)


# --- plans and devices -------------------------------------------------------------


def load_plan(session: Session, plan: MonitoringPlan, source_text: str, actor: str) -> Project:
    """Register (or update) a project from its plan, with its devices; audited."""
    now = datetime.now(UTC)
    sha = hashlib.sha256(source_text.encode()).hexdigest()
    data = plan.model_dump(mode="json")
    project = session.get(Project, plan.project.id)
    if project is None:
        project = Project(id=plan.project.id)
        session.add(project)
    project.name = plan.project.name
    project.host_country = plan.project.host_country
    project.methodology_id = plan.project.methodology.id
    project.methodology_version = plan.project.methodology.version
    project.plan_version = plan.plan_version
    project.plan = data
    project.plan_sha256 = sha
    project.updated_at = now
    session.flush()
    _insert_ignore(
        session,
        PlanRevision,
        [
            {
                "project_id": plan.project.id,
                "plan_version": plan.plan_version,
                "plan_sha256": sha,
                "source_text": source_text,
                "loaded_at": now,
            }
        ],
    )
    _register_devices(session, plan, now.date())
    session.flush()
    revision = session.scalars(
        select(PlanRevision).where(
            PlanRevision.project_id == plan.project.id, PlanRevision.plan_sha256 == sha
        )
    ).one()
    devices = session.scalars(select(Device).where(Device.project_id == plan.project.id))
    audit.append(
        session,
        action="plan.load",
        actor=actor,
        project_id=plan.project.id,
        subject=claims.plan_subject(plan.plan_version),
        body=claims.plan_claim(project, revision, devices),
    )
    return project


def _register_devices(session: Session, plan: MonitoringPlan, today: date) -> set[str]:
    """The plan's devices as registry rows; returns their ids. Devices dropped from the
    plan are retired, never deleted: their readings stay."""
    in_plan = {d.id for d in plan.devices}
    for record in plan.devices:
        device = session.get(Device, (plan.project.id, record.id)) or Device(
            project_id=plan.project.id, id=record.id
        )
        device.site_id = record.site
        device.type = record.type
        device.serial = record.serial
        device.quantities = list(record.quantities)
        device.register_max = record.register_max
        ref = record.reference_conditions
        device.reference_temperature_c = ref.temperature_c if ref else None
        device.reference_pressure_kpa = ref.pressure_kpa if ref else None
        device.atmosphere_kpa = record.atmosphere_kpa
        device.expected_interval_s = record.expected_interval_s
        device.status = "retired" if record.removed and record.removed <= today else "active"
        device.record = record.model_dump(mode="json")
        session.add(device)
    for device in session.scalars(select(Device).where(Device.project_id == plan.project.id)):
        if device.id not in in_plan:
            device.status = "retired"
    return in_plan


#: No reading, whatever its device or plan, is dated before 2000: a clock that says 1970
#: (or year 1) is a device that lost its time, not a record of that year.
EARLIEST_READING_MS = day_start_ms(EARLIEST)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the gateway needs to know about a device, cached in memory."""

    project: str
    device: str
    site: str
    quantities: frozenset[str]
    register_max: float | None
    reference: ReferenceConditions | None
    atmosphere_kpa: float | None
    active: bool
    expected_interval_s: int = 60
    # A replaced meter's last readings often arrive after it was retired (read from its
    # logger): those timed before the end of its removal day are still its data.
    retired_from_ms: int | None = None
    # Its life begins at the start (UTC) of the day it was installed, when the plan says;
    # no reading counts before 2000 whatever the plan says (life_from_ms: the later of
    # the two). Left out of hash and equality: the decoder keys its caches by DeviceInfo.
    installed_from_ms: int | None = field(default=None, compare=False)
    life_from_ms: int = field(default=EARLIEST_READING_MS, compare=False)
    # Set when the plan requires the device's messages to be signed (core.signing).
    signing_key: Ed25519PublicKey | None = field(default=None, compare=False)
    # What it publishes (core.payloads): native, or a standard payload whose field names
    # map to (quantity, unit or None for the canonical unit); Telegraf's timestamp unit.
    payload: str = field(default="native", compare=False)
    fields: dict[str, tuple[str, str | None]] = field(default_factory=dict, compare=False)
    timestamp_unit: str = field(default="s", compare=False)

    def accepts(self, time_ms: int) -> bool:
        return self.active or (self.retired_from_ms is not None and time_ms < self.retired_from_ms)


@dataclass
class Registry:
    devices: dict[tuple[str, str], DeviceInfo] = field(default_factory=dict)

    def get(self, project: str, device: str) -> DeviceInfo | None:
        return self.devices.get((project, device))


def _signing_key(record: dict[str, Any], project_signs: bool) -> Ed25519PublicKey | None:
    """The device's public key if the plan requires its messages signed (validated with
    the plan; a key that does not parse here refuses every message: fail closed)."""
    signing = record.get("signing")
    if not (signing == "required" or (signing is None and project_signs)):
        return None
    try:
        return parse_public(str(record.get("public_key") or ""))
    except ValueError:
        return Ed25519PrivateKey.generate().public_key()  # no message can match it


def load_registry(session: Session) -> Registry:
    registry = Registry()
    signs = {
        p.id: bool(p.plan.get("project", {}).get("signed_messages", False))
        for p in session.scalars(select(Project))
    }
    for row in session.scalars(select(Device)):
        installed = _day_start_ms(row.record.get("installed"))
        ref = (
            ReferenceConditions(row.reference_temperature_c, row.reference_pressure_kpa)
            if row.reference_temperature_c is not None and row.reference_pressure_kpa is not None
            else None
        )
        registry.devices[(row.project_id, row.id)] = DeviceInfo(
            project=row.project_id,
            device=row.id,
            site=row.site_id,
            quantities=frozenset(row.quantities),
            register_max=row.register_max,
            reference=ref,
            atmosphere_kpa=row.atmosphere_kpa,
            active=row.status == "active",
            expected_interval_s=row.expected_interval_s,
            retired_from_ms=_day_after_ms(row.record.get("removed")),
            installed_from_ms=installed,
            life_from_ms=max(installed or EARLIEST_READING_MS, EARLIEST_READING_MS),
            signing_key=_signing_key(row.record, signs.get(row.project_id, False)),
            **_payload_settings(row.record, row.quantities),
        )
    return registry


def _payload_settings(record: dict[str, Any], quantities: list[str]) -> dict[str, Any]:
    """The device's payload format, its field names (default: each quantity id in its
    canonical unit) and Telegraf's timestamp unit, as its plan record states them."""
    fields = record.get("fields")
    mapped = (
        {str(name): (str(spec["quantity"]), spec.get("unit")) for name, spec in fields.items()}
        if isinstance(fields, dict)
        else {q: (q, None) for q in quantities}
    )
    return {
        "payload": str(record.get("payload") or "native"),
        "fields": mapped,
        "timestamp_unit": str(record.get("timestamp_unit") or "s"),
    }


def _day_start_ms(day: object) -> int | None:
    return day_start_ms(date.fromisoformat(day)) if isinstance(day, str) else None


def _day_after_ms(day: object) -> int | None:
    if not isinstance(day, str):
        return None
    after = date.fromisoformat(day) + timedelta(days=1)
    return day_start_ms(after)


# --- quarantine and events -----------------------------------------------------------


def payload_digest(topic: str, payload: bytes) -> str:
    return hashlib.sha256(topic.encode("utf-8", "replace") + b"\0" + payload).hexdigest()


#: A quarantine row's ``detail`` is cut to this many characters.
MAX_DETAIL = 500
#: One message's problems get at most this many rows of their own...
MAX_ITEM_ROWS = 1000
#: ...and those rows at most this many (estimated) bytes per byte of the message, plus
#: ROW_ALLOWANCE, so that a small message still has its few problems itemised. The raw
#: bytes (1x), the rows and their share of pages and indexes stay within 5x on disk.
ROW_BUDGET_FACTOR = 2
ROW_ALLOWANCE = 4096
#: The bytes a row costs besides its strings: integers, timestamp, record and cell
#: headers, and its entries in the (digest, item) and (project, status) indexes
#: (measured on SQLite: tests/persistence/test_quarantine_messages.py).
ROW_OVERHEAD = 200
#: The row that counts a capped message's remaining problems.
NOTE_ITEM = "more"
NOTE_REASON = "not_itemised"


@dataclass(frozen=True, slots=True)
class QuarantineItem:
    topic: str
    payload: bytes
    received_ms: int
    reason: str
    detail: str
    item: str = "message"
    field: str | None = None
    project: str | None = None
    device: str | None = None
    seq: int | None = None
    content_type: str | None = None  # MQTT 5's, as published

    def row(self, digest: str) -> dict[str, Any]:
        """The quarantine row of this problem; its raw bytes are the message's (digest)."""
        return {
            "digest": digest,
            "item": self.item[:64],
            "received_at": from_ms(self.received_ms),
            "topic": self.topic[:512],
            "reason": self.reason[:32],
            "detail": _cut(self.detail, MAX_DETAIL),
            "field": self.field[:128] if self.field else None,
            "project_id": self.project[:64] if self.project else None,
            "device_id": self.device[:64] if self.device else None,
            "seq": self.seq,
            "status": "open",
            "elements": 1,
        }


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _row_cost(row: dict[str, Any]) -> int:
    """Estimated bytes of a quarantine row on disk, its index entries included."""
    strings = (row["item"], row["topic"], row["reason"], row["detail"], row["field"] or "")
    keys = (row["digest"], row["item"], row["project_id"] or "", row["status"])
    return (
        ROW_OVERHEAD
        + sum(len(v.encode()) for v in strings)
        + len(row["digest"])
        + len(row["project_id"] or "")
        + len(row["device_id"] or "")
        + len(row["status"])
        + sum(len(k.encode()) for k in keys)
    )


def quarantine_rows(
    items: Iterable[QuarantineItem],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of ``quarantine_messages`` (each message's raw bytes, once) and of
    ``quarantine`` (its problems, each naming its part) for a batch's problems.

    A message's problems are itemised in order, at most MAX_ITEM_ROWS rows and about
    ROW_BUDGET_FACTOR times the message's size; one note row (item ``more``, reason
    ``not_itemised``) counts the rest, by reason, in ``elements``. Deterministic for a
    given message, so a redelivery writes the same rows (and inserts none of them)."""
    digests: dict[tuple[str, bytes], str] = {}
    messages: dict[str, dict[str, Any]] = {}
    problems: dict[str, dict[str, QuarantineItem]] = {}
    for q in items:
        key = (q.topic, q.payload)
        digest = digests.get(key)
        if digest is None:
            digest = digests[key] = payload_digest(q.topic, q.payload)
        if digest not in messages:
            messages[digest] = {
                "digest": digest,
                "topic": q.topic,
                "payload": q.payload,
                "size_bytes": len(q.payload),
                "received_at": from_ms(q.received_ms),
                "content_type": q.content_type[:128] if q.content_type else None,
            }
            problems[digest] = {}
        problems[digest].setdefault(q.item[:64], q)  # one row per part: the first problem
    rows: list[dict[str, Any]] = []
    for digest, found in problems.items():
        rows += _capped(digest, list(found.values()), messages[digest]["size_bytes"])
    return list(messages.values()), rows


def _capped(digest: str, found: list[QuarantineItem], size: int) -> list[dict[str, Any]]:
    budget = ROW_BUDGET_FACTOR * size + ROW_ALLOWANCE
    rows: list[dict[str, Any]] = []
    spent = 0
    for k, q in enumerate(found):
        row = q.row(digest)
        spent += _row_cost(row)
        if k and (k >= MAX_ITEM_ROWS or spent > budget):
            rows.append(note_row(digest, found[k:], k))
            break
        rows.append(row)
    return rows


def note_row(digest: str, rest: Sequence[QuarantineItem], itemised: int) -> dict[str, Any]:
    """The row that counts a message's problems past its first ``itemised`` rows."""
    first = rest[0]
    by_reason = ", ".join(f"{r} {n}" for r, n in Counter(q.reason for q in rest).most_common())
    detail = (
        f"{len(rest)} more problems of this message are not itemised ({by_reason}): past "
        f"{itemised} rows a message's quarantine is capped, to stay within a few times its "
        "size. They were not stored: like the rows above they stay quarantined with the "
        "message's raw bytes, kept whole, and releasing this entry re-processes the whole "
        f"message. The first of them: {first.detail}"
    )
    row = first.row(digest)
    row.update(
        item=NOTE_ITEM,
        reason=NOTE_REASON,
        detail=_cut(detail, 2 * MAX_DETAIL),
        field=None,
        seq=None,
        elements=len(rest),
    )
    return row


#: The data-quality events the gateway records (``EventItem.kind``): a register that went
#: down (reset) or wrapped (rollover), a reading that conflicts with the stored one, a
#: device silent for longer than it should be.
EventKind = Literal["reset", "rollover", "conflict", "arrival_gap"]


@dataclass(frozen=True, slots=True)
class EventItem:
    project: str
    device: str
    quantity: str
    time_ms: int
    kind: str
    detail: dict[str, Any]

    def row(self, now: datetime) -> dict[str, Any]:
        return {
            "project_id": self.project,
            "device_id": self.device,
            "quantity": self.quantity,
            "time_ms": self.time_ms,
            "kind": self.kind,
            "detail": self.detail,
            "recorded_at": now,
        }


@dataclass(frozen=True, slots=True)
class StatusItem:
    project: str
    site: str
    device: str
    state: str
    firmware: str | None
    buffered: int | None
    reported_at: datetime | None
    received_ms: int


def upsert_statuses(session: Session, statuses: Iterable[StatusItem]) -> None:
    """Keep each device's newest status; an older one arriving late changes nothing."""
    dialect = session.get_bind().dialect.name
    # in key order, like every other per-device row, so two gateways lock them alike
    for s in sorted(statuses, key=lambda s: (s.project, s.device)):
        values = {
            "project_id": s.project,
            "device_id": s.device,
            "site_id": s.site,
            "state": s.state,
            "firmware": s.firmware,
            "buffered": s.buffered,
            "reported_at": s.reported_at,
            "received_ms": s.received_ms,
        }
        insert = (
            postgresql.insert(DeviceStatus)
            if dialect == "postgresql"
            else sqlite.insert(DeviceStatus)
        )
        stmt = insert.values(**values).on_conflict_do_update(
            index_elements=["project_id", "device_id"],
            set_={k: v for k, v in values.items() if k not in ("project_id", "device_id")},
            where=DeviceStatus.received_ms <= s.received_ms,
        )
        session.connection().execute(stmt)


def _touch_statement(dialect: str) -> Any:
    """The upsert of ``touch_devices`` for a dialect, built once (building and compiling
    it again per batch cost more than running it)."""
    stmt = _TOUCH.get(dialect)
    if stmt is None:
        insert = (
            postgresql.insert(DeviceActivity)
            if dialect == "postgresql"
            else sqlite.insert(DeviceActivity)
        )
        stmt = _TOUCH[dialect] = insert.on_conflict_do_update(
            index_elements=["project_id", "device_id"],
            set_={"last_message_ms": insert.excluded.last_message_ms},
            where=DeviceActivity.last_message_ms < insert.excluded.last_message_ms,
        )
    return stmt


_TOUCH: dict[str, Any] = {}


def touch_devices(session: Session, seen: dict[tuple[str, str], int]) -> None:
    """Record when each device's newest message arrived ((project, device) -> epoch ms):
    one row per device, only ever moved forward (a late batch changes nothing). One
    statement per batch; rows in key order, so that two gateways writing the same
    devices on PostgreSQL lock them in the same order."""
    if not seen:
        return
    rows = [
        {"project_id": p, "device_id": d, "last_message_ms": ms}
        for (p, d), ms in sorted(seen.items())
    ]
    session.connection().execute(_touch_statement(session.get_bind().dialect.name), rows)


def record_outcome(
    session: Session,
    quarantine: Iterable[QuarantineItem],
    events: Iterable[EventItem],
    batches: dict[str, dict[str, Any]],
    actor: str,
    statuses: Iterable[StatusItem] = (),
    seen: dict[tuple[str, str], int] | None = None,
) -> tuple[int, int]:
    """Write a batch's quarantine entries and events (both idempotent), device statuses,
    when its devices were last heard (``seen``: (project, device) -> epoch ms) and, per
    project, the audit link of the readings it stored (``batches``, from
    ``persistence.claims.readings_claims``)."""
    now = datetime.now(UTC)
    raw_rows, q_rows = quarantine_rows(quarantine)
    e_rows = [e.row(now) for e in events]
    # Row locks in one order in every gateway, or two of them deadlock on PostgreSQL:
    # the plain rows first (devices in key order), the audit chains' heads last, project
    # by project in sorted order.
    upsert_statuses(session, statuses)
    touch_devices(session, seen or {})
    _insert_ignore(session, QuarantineMessage, raw_rows)  # before the rows that refer to it
    fresh = _not_yet_quarantined(session, q_rows)
    q_new = _insert_ignore(session, QuarantineEntry, q_rows)
    e_new = _insert_ignore(session, Event, e_rows)
    quarantined = claims.quarantine_claims(fresh)
    for project in sorted({*quarantined, *batches}, key=str):
        if project in quarantined:
            claim = quarantined[project]
            audit.append(
                session,
                action="quarantine.in",
                actor=actor,
                project_id=project,
                subject=Subject("quarantine", f"{len(claim['items'])} items"),
                body=claim,
            )
        if project in batches:
            audit.append(
                session,
                action="readings.batch",
                actor=actor,
                project_id=project,
                subject=claims.readings_subject(batches[project]),
                body=batches[project],
            )
    return q_new, e_new


def _not_yet_quarantined(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows a redelivery has not stored already (only those are claimed anew)."""
    if not rows:
        return []
    digests = {r["digest"] for r in rows}
    query = select(QuarantineEntry.digest, QuarantineEntry.item)
    stored = {(d, i) for d, i in session.execute(query.where(QuarantineEntry.digest.in_(digests)))}
    return [r for r in rows if (r["digest"], r["item"]) not in stored]


def quarantine_counts(session: Session) -> dict[tuple[str | None, str], int]:
    """Open problems by project and reason (a note counts the problems it stands for)."""
    rows = session.execute(
        select(
            QuarantineEntry.project_id, QuarantineEntry.reason, func.sum(QuarantineEntry.elements)
        )
        .where(QuarantineEntry.status == "open")
        .group_by(QuarantineEntry.project_id, QuarantineEntry.reason)
    )
    return {(p, r): int(n) for p, r, n in rows}


def raw_messages(session: Session, digests: Iterable[str]) -> dict[str, QuarantineMessage]:
    """The raw messages (topic and bytes) of quarantine rows, by digest: one query."""
    wanted = sorted(set(digests))
    found: dict[str, QuarantineMessage] = {}
    for k in range(0, len(wanted), 500):
        query = select(QuarantineMessage).where(QuarantineMessage.digest.in_(wanted[k : k + 500]))
        found.update((m.digest, m) for m in session.scalars(query))
    return found
