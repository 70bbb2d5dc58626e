"""Evidence bundles: everything a verifier needs to redo one period's report offline.

``export_bundle`` writes a zip of the project's registry rows (the plan in every version
verbatim, devices, periods), the period's readings (``readings.jsonl``: every stored
reading the report reads, in the readings table of ``mrv readings export --format
jsonl``, :mod:`persistence.readings_table`), the entries
with every revision, the photos, the quarantine and the period's events, the project's
chain up to a signed checkpoint, the report, and a manifest of SHA-256s signed with the
installation's key.

``verify_bundle`` checks the manifest's signature and every hash, the chain against the
checkpoint, and the plan file against the parsed plan; then it rebuilds the stores from
the bundle's own files in a temporary folder and computes the report again, figure by
figure. Nothing in a bundle is trusted until checked, and what is read is bounded.
"""

from __future__ import annotations

import base64
import io
import json
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError
from sqlalchemy import Date, DateTime, inspect, select
from sqlalchemy.orm import DeclarativeBase, Session

from core.digests import sha256_bytes
from core.plans.schema import MonitoringPlan
from core.signing import Checkpoint, key_id, parse_public, public_text, signature_valid
from core.times import day_start_ms
from persistence import audit, readings_table
from persistence.engine import Database
from persistence.evidence import checkpoint_of
from persistence.models import (
    AuditEntry,
    Device,
    Entry,
    EntryRevision,
    Event,
    MonitoringPeriod,
    Photo,
    PhotoBlob,
    PlanRevision,
    Project,
    QuarantineEntry,
    QuarantineMessage,
)
from persistence.records import list_periods
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from persistence.stores.timeseries import ReadingRow, TimeSeriesStore
from verification.engine import build_report
from verification.inputs import MARGIN
from verification.loading import load_inputs, series_keys
from verification.plan_check import validate_plan_text
from verification.report_model import Report

FORMAT = "jcm-mrv evidence bundle 1"
MAX_FILES = 100_000
MAX_BYTES = 4 * 1024**3  # uncompressed, every file together
# What the stores are rebuilt from, in the order rows must be inserted.
TABLES: dict[str, type[DeclarativeBase]] = {
    "project.jsonl": Project,
    "plan_revisions.jsonl": PlanRevision,
    "devices.jsonl": Device,
    "periods.jsonl": MonitoringPeriod,
    "entries.jsonl": Entry,
    "entry_revisions.jsonl": EntryRevision,
    "events.jsonl": Event,
}


class BundleError(ValueError):
    """A bundle that cannot be read at all (not a zip, too large, no manifest)."""


# --- rows as JSON and back -------------------------------------------------------------


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def row_json(row: DeclarativeBase) -> dict[str, Any]:
    """Every mapped column of a row, by attribute name, as JSON values."""
    return {a.key: _value(getattr(row, a.key)) for a in inspect(type(row)).column_attrs}


def row_from(model: type[DeclarativeBase], data: dict[str, Any]) -> DeclarativeBase:
    """A row of ``model`` from ``row_json``'s form; an unknown column is an error."""
    attrs = {a.key: a.columns[0].type for a in inspect(model).column_attrs}
    unknown = set(data) - set(attrs)
    if unknown:
        raise ValueError(f"{model.__tablename__}: unknown columns {sorted(unknown)}")
    values: dict[str, Any] = {}
    for key, kind in attrs.items():
        value = data.get(key)
        if isinstance(value, str) and isinstance(kind, DateTime):
            value = datetime.fromisoformat(value)
        elif isinstance(value, str) and isinstance(kind, Date):
            value = date.fromisoformat(value)
        values[key] = value
    return model(**values)


def _jsonl(rows: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()


def _lines(data: bytes) -> Iterator[dict[str, Any]]:
    for line in data.decode().splitlines():
        if line.strip():
            item = json.loads(line)
            if not isinstance(item, dict):
                raise ValueError("a line that is not a JSON object")
            yield item


# --- export ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    number: int
    start: date
    end: date  # inclusive


def find_period(session: Session, project: str, number: int) -> Period:
    for p in list_periods(session, project):
        if p.number == number:
            return Period(p.number, p.start, p.end)
    raise LookupError(f"project {project} has no period {number} (mrv periods list)")


def period_readings(
    store: TimeSeriesStore, plan: MonitoringPlan, project: str, period: Period
) -> Iterator[ReadingRow]:
    """Every stored reading the report reads: each series over the period with its
    margin, and the reading just beyond each end (the engine interpolates to it)."""
    lo = day_start_ms(period.start - MARGIN)
    hi = day_start_ms(period.end + timedelta(days=1) + MARGIN)
    for device, quantity in series_keys(plan):
        times = store.series(project, device, quantity, lo, hi).times_ms
        if len(times):
            first, last = int(times[0]), int(times[-1])
            yield from store.query(
                project, device=device, quantity=quantity, start_ms=first, end_ms=last + 1
            )


def _readings_jsonl(rows: Iterable[ReadingRow]) -> bytes:
    out = io.StringIO()
    readings_table.write_jsonl(rows, out)
    return out.getvalue().encode()


def _tables(session: Session, project: str, period: Period) -> dict[str, bytes]:
    def rows(model: type[DeclarativeBase], *where: Any) -> bytes:
        return _jsonl(row_json(r) for r in session.scalars(select(model).where(*where)))

    entry_ids = select(Entry.id).where(Entry.project_id == project)
    start_ms, end_ms = day_start_ms(period.start), day_start_ms(period.end + timedelta(days=1))
    return {
        "project.jsonl": rows(Project, Project.id == project),
        "plan_revisions.jsonl": rows(PlanRevision, PlanRevision.project_id == project),
        "devices.jsonl": rows(Device, Device.project_id == project),
        "periods.jsonl": rows(MonitoringPeriod, MonitoringPeriod.project_id == project),
        "entries.jsonl": rows(Entry, Entry.project_id == project),
        "entry_revisions.jsonl": rows(EntryRevision, EntryRevision.entry_id.in_(entry_ids)),
        "events.jsonl": rows(
            Event, Event.project_id == project, Event.time_ms >= start_ms, Event.time_ms < end_ms
        ),
        "quarantine.jsonl": rows(QuarantineEntry, QuarantineEntry.project_id == project),
        # the raw bytes of those entries, once per message (``digest``)
        "quarantine_messages.jsonl": rows(
            QuarantineMessage,
            QuarantineMessage.digest.in_(
                select(QuarantineEntry.digest).where(QuarantineEntry.project_id == project)
            ),
        ),
    }


def _photos(session: Session, project: str) -> dict[str, bytes]:
    query = select(PhotoBlob).join(Photo, Photo.sha256 == PhotoBlob.sha256)
    blobs = session.scalars(query.where(Photo.project_id == project))
    return {f"photos/{b.sha256}": bytes(b.content) for b in blobs}


def _chain(session: Session, project: str, length: int) -> bytes:
    links = (link for link in audit.links(session, project) if link.seq <= length)
    return _jsonl(row_json(link) for link in links)


def export_bundle(
    session: Session, store: TimeSeriesStore, project: str, number: int, key: Ed25519PrivateKey
) -> bytes:
    """The evidence bundle of one monitoring period, as zip bytes, signed with ``key``."""
    period = find_period(session, project, number)
    inputs = load_inputs(session, store, project, period.start, period.end)
    checkpoint = checkpoint_of(session, project, key)
    report = build_report(inputs).model_copy(update={"checkpoint": checkpoint})
    readings = period_readings(store, inputs.plan, project, period)
    files = {
        "report.json": report.to_json().encode(),
        "checkpoint.json": checkpoint.model_dump_json(indent=2).encode(),
        "key.txt": (public_text(key.public_key()) + "\n").encode(),
        "readings.jsonl": _readings_jsonl(readings),
        "chain.jsonl": _chain(session, project, checkpoint.length),
        **_tables(session, project, period),
        **_photos(session, project),
    }
    manifest = {
        "format": FORMAT,
        "project": project,
        "period": {"number": number, "start": str(period.start), "end": str(period.end)},
        "created": datetime.now(UTC).isoformat(),
        "key_id": key_id(key.public_key()),
        "files": {name: sha256_bytes(data) for name, data in sorted(files.items())},
    }
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("manifest.json", manifest_bytes)
        bundle.writestr("manifest.sig", base64.b64encode(key.sign(manifest_bytes)))
        for name, data in sorted(files.items()):
            bundle.writestr(name, data)
    return out.getvalue()


# --- verify ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    name: str
    bundled: object
    recomputed: object

    @property
    def matches(self) -> bool:
        return self.bundled == self.recomputed


@dataclass
class BundleVerdict:
    key_note: str  # whose key the signatures were checked with
    problems: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.figures) and all(f.matches for f in self.figures)


def _read_zip(data: bytes) -> dict[str, bytes]:
    try:
        bundle = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise BundleError(f"not a zip file: {exc}") from None
    with bundle:
        members = bundle.infolist()
        if len(members) > MAX_FILES or sum(m.file_size for m in members) > MAX_BYTES:
            raise BundleError(f"more than {MAX_FILES} files or {MAX_BYTES} bytes unpacked")
        try:
            return {m.filename: bundle.read(m) for m in members if not m.is_dir()}
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise BundleError(f"a damaged zip member: {exc}") from None


def _key(files: dict[str, bytes], pinned: Ed25519PublicKey | None) -> tuple[Ed25519PublicKey, str]:
    if pinned is not None:
        return pinned, f"signatures checked with the pinned key {key_id(pinned)}"
    try:
        key = parse_public(files.get("key.txt", b"").decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"key.txt: {exc}") from None
    return key, (
        f"signatures checked with the key in the bundle ({key_id(key)}), which anyone "
        "could have put there: pin the installation's key with --key"
    )


def _manifest_problems(
    files: dict[str, bytes], key: Ed25519PublicKey
) -> tuple[dict[str, Any], list[str]]:
    raw, signature = files.pop("manifest.json", None), files.pop("manifest.sig", b"")
    if raw is None:
        raise BundleError("no manifest.json")
    manifest = json.loads(raw)
    problems: list[str] = []
    try:
        key.verify(base64.b64decode(signature, validate=True), raw)
    except (ValueError, InvalidSignature):
        problems.append("manifest.sig: the manifest is not signed by this key")
    listed: dict[str, str] = manifest.get("files", {})
    for name in sorted(set(listed) | set(files)):
        if name not in files:
            problems.append(f"{name}: listed in the manifest, missing from the bundle")
        elif name not in listed:
            problems.append(f"{name}: in the bundle, not in the manifest")
        elif sha256_bytes(files[name]) != listed[name]:
            problems.append(f"{name}: its SHA-256 is not the manifest's")
    return manifest, problems


def _chain_problems(files: dict[str, bytes], key: Ed25519PublicKey) -> list[str]:
    """The chain segment recomputed, ending where the signed checkpoint says."""
    checkpoint = Checkpoint.model_validate_json(files["checkpoint.json"])
    problems = [] if signature_valid(checkpoint, key) else ["checkpoint.json: bad signature"]
    prev, length = audit.GENESIS, 0
    for data in _lines(files["chain.jsonl"]):
        link = row_from(AuditEntry, data)
        assert isinstance(link, AuditEntry)
        if (
            link.seq != length + 1
            or link.prev_hash != prev
            or audit.recomputed(link, prev) != link.hash
        ):
            return [*problems, f"chain.jsonl: link {length + 1} does not verify"]
        prev, length = link.hash, length + 1
    if (length, prev) != (checkpoint.length, checkpoint.head):
        problems.append(f"chain.jsonl: {length} links, the checkpoint signed {checkpoint.length}")
    return problems


def _plan_problems(files: dict[str, bytes]) -> list[str]:
    """The parsed plan the report reads is the plan file's, parsed again here."""
    project = next(_lines(files["project.jsonl"]))
    revisions = [r for r in _lines(files["plan_revisions.jsonl"])]
    current = [r for r in revisions if r["plan_sha256"] == project["plan_sha256"]]
    if not current or sha256_bytes(current[0]["source_text"].encode()) != project["plan_sha256"]:
        return ["plan_revisions.jsonl: no file hashes to the project's plan_sha256"]
    plan, problems = validate_plan_text(current[0]["source_text"])
    if plan is None or problems:
        return ["the project's plan file does not validate"]
    if plan.model_dump(mode="json") != project["plan"]:
        return ["project.jsonl: the parsed plan is not the plan file's"]
    return []


def _rebuild(files: dict[str, bytes], folder: Path) -> tuple[Database, SQLiteTimeSeriesStore]:
    """The relational and time-series stores as the bundle's files say they were."""
    db = Database(f"sqlite:///{folder / 'mrv.sqlite'}")
    with db.session() as session, session.begin():
        for name, model in TABLES.items():
            session.add_all(row_from(model, row) for row in _lines(files[name]))
            session.flush()  # parents before children: PostgreSQL-style foreign keys
    store = SQLiteTimeSeriesStore(folder / "readings.sqlite")
    rows = [readings_table.row_of(row) for row in _lines(files["readings.jsonl"])]
    for at in range(0, len(rows), 10_000):
        store.insert(rows[at : at + 10_000])
    return db, store


def figures(report: Report) -> dict[str, object]:
    """Every figure of a report a verifier compares, by a name that says where it is."""
    er = report.emission_reductions_tco2
    out: dict[str, object] = {
        "emission reductions (tCO2)": er.value,
        "emission reductions, unrounded (tCO2)": er.unrounded,
        "reference emissions (tCO2)": report.reference_emissions_tco2,
        "project emissions (tCO2)": report.project_emissions_tco2,
        "inputs_sha256": report.inputs_sha256,
    }
    for row in report.parameters:
        where = f"{row.symbol} at {row.monitoring_point}" if row.monitoring_point else row.symbol
        out[f"parameter {where} ({row.unit})"] = row.value
    for step in report.calculation:
        out[f"calculation {step.label}"] = step.value
    out.update({f"correction {c.id} (tCO2)": c.effect_tco2 for c in report.corrections})
    return out


def _recompute(files: dict[str, bytes], manifest: dict[str, Any]) -> list[Figure]:
    bundled = Report.model_validate_json(files["report.json"])
    period = manifest["period"]
    start, end = date.fromisoformat(period["start"]), date.fromisoformat(period["end"])
    with tempfile.TemporaryDirectory(prefix="mrv-bundle-") as folder:
        db, store = _rebuild(files, Path(folder))
        try:
            with db.session() as session:
                inputs = load_inputs(session, store, bundled.project.id, start, end)
            again = build_report(inputs)
        finally:
            store.close()
            db.dispose()
    mine, theirs = figures(again), figures(bundled)
    return [Figure(n, theirs.get(n), mine.get(n)) for n in sorted(set(mine) | set(theirs))]


def verify_bundle(data: bytes, pinned: Ed25519PublicKey | None = None) -> BundleVerdict:
    """Check a bundle offline and compute its report again from its own files."""
    files = _read_zip(data)
    key, note = _key(files, pinned)
    verdict = BundleVerdict(note)
    try:
        manifest, verdict.problems = _manifest_problems(files, key)
        verdict.problems += _chain_problems(files, key)
        verdict.problems += _plan_problems(files)
        verdict.figures = _recompute(files, manifest)
    except (KeyError, ValueError, TypeError, ValidationError, StopIteration) as exc:
        verdict.problems.append(
            f"the bundle could not be read through: {type(exc).__name__}: {exc}"
        )
    return verdict
