"""SQLAlchemy 2 models of the relational store. Migrations live in mrv/migrations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    host_country: Mapped[str] = mapped_column(String(80))
    methodology_id: Mapped[str] = mapped_column(String(64))
    methodology_version: Mapped[str] = mapped_column(String(16))
    plan_version: Mapped[int] = mapped_column(Integer)
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    plan_sha256: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PlanRevision(Base):
    """Every plan ever loaded, kept verbatim so a report can name the plan it used."""

    __tablename__ = "plan_revisions"
    __table_args__ = (UniqueConstraint("project_id", "plan_sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    plan_version: Mapped[int] = mapped_column(Integer)
    plan_sha256: Mapped[str] = mapped_column(String(64))
    source_text: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Device(Base):
    __tablename__ = "devices"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(64))
    serial: Mapped[str] = mapped_column(String(64))
    quantities: Mapped[list[str]] = mapped_column(JSON)
    register_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    reference_temperature_c: Mapped[float | None] = mapped_column(Float, nullable=True)
    reference_pressure_kpa: Mapped[float | None] = mapped_column(Float, nullable=True)
    atmosphere_kpa: Mapped[float | None] = mapped_column(Float, nullable=True)
    expected_interval_s: Mapped[int] = mapped_column(Integer, default=60)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | retired
    record: Mapped[dict[str, Any]] = mapped_column(JSON)  # the plan's device entry


class QuarantineMessage(Base):
    """The raw bytes of a quarantined message, kept once however many of its parts are
    quarantined and however often it is redelivered: addressed by its digest."""

    __tablename__ = "quarantine_messages"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256(topic NUL payload)
    topic: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    size_bytes: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # first received
    # MQTT 5's content type as published (a SenML pack may be known only by it): a
    # release decodes the message as it was first decoded
    content_type: Mapped[str | None] = mapped_column(String(128), nullable=True)


class QuarantineEntry(Base):
    """A message (or one part of it) that was not stored, and why; the raw bytes are its
    ``QuarantineMessage`` (by ``digest``). One message's rows are capped: past the cap, one
    row (reason ``not_itemised``, item ``more``) counts the remaining problems in
    ``elements``, so the rows of a message always add up to all of its problems."""

    __tablename__ = "quarantine"
    __table_args__ = (
        # Idempotency: a redelivered poison message is quarantined once.
        UniqueConstraint("digest", "item", name="uq_quarantine_digest_item"),
        Index("ix_quarantine_project_status", "project_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(
        ForeignKey("quarantine_messages.digest", name="fk_quarantine_digest")
    )
    item: Mapped[str] = mapped_column(String(64))  # which part: "message", "[3]", "[3].readings[1]"
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    topic: Mapped[str] = mapped_column(String(512))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    field: Mapped[str | None] = mapped_column(String(128), nullable=True)
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    device_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|released|resolved
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    release_outcome: Mapped[str | None] = mapped_column(Text, nullable=True)
    # How many problems of the message this row stands for: 1, or the count of a note.
    elements: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class Event(Base):
    """A data-quality event: register reset or rollover, conflict, gap in arrival."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("project_id", "device_id", "quantity", "time_ms", "kind"),
        Index("ix_events_project_time", "project_id", "time_ms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[str] = mapped_column(String(64))
    time_ms: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))  # reset | rollover | conflict | arrival_gap
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One link of a project's audit chain (``chain`` is the project id, or ``*`` for
    what belongs to no one project): hash = sha256(prev_hash | canonical fields). The
    link names its ``subject`` (kind and id) and its body states digests of the subject
    as stored, which verification recomputes (``persistence.evidence``)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        UniqueConstraint("chain", "seq", name="uq_audit_chain_seq"),
        Index("ix_audit_subject", "chain", "subject_kind", "subject_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)  # 1, 2, ... within the chain
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    subject_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    subject_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """A single row every writer updates first: it serialises appenders and the
    check-then-write of records across processes (``persistence.records.serialise``)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    length: Mapped[int] = mapped_column(BigInteger)  # links in every chain together
    hash: Mapped[str] = mapped_column(String(64))  # the newest link's, in any chain


class AuditChain(Base):
    """The tip of one chain: its length and its newest link's hash."""

    __tablename__ = "audit_chains"

    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    length: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class SecurityEvent(Base):
    """A denied request or a failed sign-in: kept apart from the evidence chain (anyone
    can cause one) and bounded (``persistence.security``)."""

    __tablename__ = "security_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class DeviceStatus(Base):
    """The last birth / last-will status a device published (retained on its topic)."""

    __tablename__ = "device_status"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # online | offline
    firmware: Mapped[str | None] = mapped_column(String(64), nullable=True)
    buffered: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    received_ms: Mapped[int] = mapped_column(BigInteger)


class DeviceActivity(Base):
    """When the newest message on a device's readings topic arrived (the gateway's clock,
    epoch ms): how long the device has been silent. Kept apart from ``device_status``,
    which holds what the device said of itself (birth and last will)."""

    __tablename__ = "device_activity"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_message_ms: Mapped[int] = mapped_column(BigInteger)


class MessageReceipt(Base):
    """When a gateway session first received a message whose readings carry no time of
    their own (ThingsBoard without ``ts``, SenML without times): they are dated on
    receipt, and a redelivery after a kill (same session, same packet id, same bytes,
    MQTT DUP set) must get that first time back, or it would be stored again, later."""

    __tablename__ = "message_receipts"

    session_id: Mapped[str] = mapped_column(String(160), primary_key=True)  # the actor
    packet_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256(topic NUL payload)
    received_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class MonitoringPeriod(Base):
    """A monitoring period of a project: dates inclusive, numbered from 1, contiguous."""

    __tablename__ = "monitoring_periods"
    __table_args__ = (UniqueConstraint("project_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    number: Mapped[int] = mapped_column(Integer)
    # "end" is a reserved word in SQL: the columns carry a suffix so that a verifier's
    # hand-written queries need no quoting.
    start: Mapped[date] = mapped_column("start_date", Date)
    end: Mapped[date] = mapped_column("end_date", Date)
    defined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))


class Entry(Base):
    """A field entry (manual reading, invoice, certificate, ticket, checklist), its
    current revision. The id is the client's UUID, so a resend is recognised."""

    __tablename__ = "entries"
    __table_args__ = (Index("ix_entries_project_type", "project_id", "entry_type"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    entry_type: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    author: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    gps_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    gps_lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    gps_accuracy_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    # active | withdrawn | deleted: only active entries count in reports (ENTRY_STATUSES)
    status: Mapped[str] = mapped_column(String(16), default="active")
    body_sha256: Mapped[str] = mapped_column(String(64))


class EntryRevision(Base):
    """Every revision of an entry, the first included; an edit, a withdrawal, a
    reinstatement or a deletion names its reason and the status it left the entry in."""

    __tablename__ = "entry_revisions"

    entry_id: Mapped[str] = mapped_column(ForeignKey("entries.id"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    author: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")


class ApiToken(Base):
    """A bearer token of the HTTP API, stored hashed (the token is shown once)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # field | verifier | operator | admin
    projects: Mapped[list[str]] = mapped_column(JSON)  # empty: every project (admin)
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PhotoBlob(Base):
    """A photo's bytes, addressed by their SHA-256: the same picture attached in two
    projects (or sent twice) is stored once. Kept in the relational store so that every
    API instance sees it and a backup of the database carries the evidence with it."""

    __tablename__ = "photo_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class Photo(Base):
    """A photo as uploaded to a project: who sent it and when. Access is per project,
    so a blob shared by two projects is visible in each only through its own row."""

    __tablename__ = "photos"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("photo_blobs.sha256"), primary_key=True)
    uploaded_by: Mapped[str] = mapped_column(String(128))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
