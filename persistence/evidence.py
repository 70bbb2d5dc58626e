"""Verify a project's evidence: its chain, and every object against what the chain says.

``verify_project`` walks the project's chain (``persistence.audit.verify``), then
recomputes from the stored rows what each link states (``persistence.claims``): entry
revisions, plans (verbatim and parsed), device rows, periods, tokens, photos and the
readings of every batch, in whichever time-series store holds them. It names each
object that changed, went missing or appeared without a link, by kind and id. Damaged
rows give findings, never an exception.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.digests import sha256_bytes, sha256_json, sha256_text
from core.signing import Checkpoint, sign_checkpoint
from persistence import audit, claims
from persistence.audit import ChainVerdict
from persistence.models import (
    ApiToken,
    AuditChain,
    AuditEntry,
    Device,
    Entry,
    EntryRevision,
    MonitoringPeriod,
    Photo,
    PhotoBlob,
    PlanRevision,
    Project,
    QuarantineEntry,
)
from persistence.stores.timeseries import TimeSeriesStore


@dataclass(frozen=True)
class Change:
    """One object that is not as its chain recorded it."""

    kind: str  # entry, plan, device, period, token, photo, readings, chain
    id: str
    what: str

    @property
    def unlinked(self) -> bool:
        """Stored without a link (or a count of more such): adoptable, not a change."""
        return self.what == UNLINKED or self.what.endswith("more stored without a link")


@dataclass(frozen=True)
class Evidence:
    chain: ChainVerdict
    changes: tuple[Change, ...]
    checked: dict[str, int] = field(default_factory=dict)  # objects checked, per kind

    @property
    def intact(self) -> bool:
        return self.chain.intact and not self.changes


#: What verification says of an object no link claims (``persistence.adopt`` adopts them).
UNLINKED = "stored without a link in the chain"

Links = dict[str, list[AuditEntry]]  # subject kind -> the chain's links about it, in order
Checker = Callable[[Session, str, Links], tuple[int, list[Change]]]


def _last_by_id(links: Iterable[AuditEntry]) -> dict[str, AuditEntry]:
    last: dict[str, AuditEntry] = {}
    for link in links:
        last[link.subject_id or ""] = link
    return last


def check_entries(session: Session, project: str, links: Links) -> tuple[int, list[Change]]:
    """Each revision a link names hashes as recorded; each entry is at its last revision."""
    changes: list[Change] = []
    for link in links.get("entry", []):
        entry_id, revision = link.subject_id or "", int(link.body["revision"])
        stored = session.get(EntryRevision, (entry_id, revision))
        if stored is None:
            changes.append(Change("entry", entry_id, f"revision {revision} is missing"))
        elif claims.body_sha256(stored.body) != link.body["body_sha256"]:
            changes.append(Change("entry", entry_id, f"revision {revision} was changed"))
        elif stored.status != _status(link):
            what = f"revision {revision} is {stored.status}, the chain says {_status(link)}"
            changes.append(Change("entry", entry_id, what))
    rows = session.scalars(select(Entry).where(Entry.project_id == project)).all()
    return len(rows), changes + _current_entries(rows, _last_by_id(links.get("entry", [])))


def _status(link: AuditEntry) -> str:
    """The status a link put its entry in (links before statuses were stated: active)."""
    return str(link.body.get("status", "active"))


def _current_entries(rows: Iterable[Entry], last: dict[str, AuditEntry]) -> list[Change]:
    changes: list[Change] = []
    for row in rows:
        link = last.pop(row.id, None)
        if link is None:
            changes.append(Change("entry", row.id, UNLINKED))
        elif row.revision != int(link.body["revision"]):
            what = f"at revision {row.revision}, the chain's last is {link.body['revision']}"
            changes.append(Change("entry", row.id, what))
        elif claims.body_sha256(row.body) != link.body["body_sha256"]:
            changes.append(Change("entry", row.id, "its current body was changed"))
        elif row.status != _status(link):
            what = f"is {row.status}, the chain's last link says {_status(link)}"
            changes.append(Change("entry", row.id, what))
    return changes + [Change("entry", entry_id, "deleted") for entry_id in last]


def check_plans(session: Session, project: str, links: Links) -> tuple[int, list[Change]]:
    """Every plan file loaded, verbatim; the current parsed plan and each device row."""
    changes: list[Change] = []
    plan_links = links.get("plan", [])
    stored = {
        (r.plan_version, r.plan_sha256): r
        for r in session.scalars(select(PlanRevision).where(PlanRevision.project_id == project))
    }
    claimed = {(int(k.body["plan_version"]), str(k.body["source_sha256"])) for k in plan_links}
    for version, sha in sorted(claimed):
        row = stored.pop((version, sha), None)
        if row is None:
            changes.append(Change("plan", str(version), "this version's file is missing"))
        elif sha256_text(row.source_text) != sha:
            changes.append(Change("plan", str(version), "this version's file was changed"))
    changes += [Change("plan", str(version), UNLINKED) for version, _ in stored]
    count = len(claimed) + len(stored)
    if not plan_links:
        return count, changes
    return count, changes + _current_plan(session, project, plan_links[-1])


def _current_plan(session: Session, project: str, link: AuditEntry) -> list[Change]:
    changes: list[Change] = []
    row = session.get(Project, project)
    version = str(link.body["plan_version"])
    if row is None or row.plan_version != int(version):
        changes.append(Change("plan", version, "the project's current plan is another version"))
    elif sha256_json(row.plan) != link.body["plan_sha256"]:
        changes.append(Change("plan", version, "the parsed plan that reports read was changed"))
    devices: dict[str, str] = dict(link.body.get("devices", {}))
    for device in session.scalars(select(Device).where(Device.project_id == project)):
        digest = devices.pop(device.id, None)
        if digest is None:
            changes.append(Change("device", device.id, UNLINKED))
        elif claims.device_digest(device) != digest:
            changes.append(Change("device", device.id, "its registry row was changed"))
    changes += [Change("device", d, "deleted") for d in devices]
    return changes


def check_periods(session: Session, project: str, links: Links) -> tuple[int, list[Change]]:
    changes: list[Change] = []
    last = _last_by_id(links.get("period", []))
    rows = session.scalars(
        select(MonitoringPeriod).where(MonitoringPeriod.project_id == project)
    ).all()
    for row in rows:
        link = last.pop(str(row.number), None)
        if link is None:
            changes.append(Change("period", str(row.number), UNLINKED))
        elif claims.period_claim(row) != {k: link.body.get(k) for k in ("number", "start", "end")}:
            changes.append(Change("period", str(row.number), "its dates were changed"))
    changes += [Change("period", number, "deleted") for number in last]
    return len(rows), changes


def check_tokens(session: Session, project: str, links: Links) -> tuple[int, list[Change]]:
    """Every token that grants this project (or, in ``*``, every project) as recorded."""
    changes: list[Change] = []
    last = _last_by_id(links.get("token", []))
    mine = [
        t
        for t in session.scalars(select(ApiToken))
        if project in (list(t.projects) or [audit.INSTALLATION])
    ]
    for token in mine:
        link = last.pop(str(token.id), None)
        if link is None:
            changes.append(Change("token", str(token.id), UNLINKED))
        elif claims.token_claim(token)["sha256"] != link.body.get("sha256"):
            changes.append(Change("token", str(token.id), "its role, projects or life changed"))
    gone = "deleted, or no longer grants this project"
    changes += [Change("token", token_id, gone) for token_id in last]
    return len(mine), changes


def check_photos(session: Session, project: str, links: Links) -> tuple[int, list[Change]]:
    changes: list[Change] = []
    last = _last_by_id(links.get("photo", []))
    rows = session.scalars(select(Photo).where(Photo.project_id == project)).all()
    for row in rows:
        if last.pop(row.sha256, None) is None:
            changes.append(Change("photo", row.sha256, UNLINKED))
            continue
        blob = session.get(PhotoBlob, row.sha256)
        if blob is None:
            changes.append(Change("photo", row.sha256, "its bytes are missing"))
        elif sha256_bytes(bytes(blob.content)) != row.sha256:
            changes.append(Change("photo", row.sha256, "its bytes were changed"))
    changes += [Change("photo", sha, "deleted") for sha in last]
    return len(rows), changes


def check_quarantine(session: Session, project: str, links: Links) -> tuple[int, list[Change]]:
    """Every quarantine row as the chain last stated it (in, or after a release)."""
    claimed: dict[str, str] = {}
    for link in links.get("quarantine", []):
        claimed.update(link.body.get("items", {}))
    mine = (
        QuarantineEntry.project_id.is_(None)  # a topic of no project: the installation's
        if project == audit.INSTALLATION
        else QuarantineEntry.project_id == project
    )
    rows = session.scalars(select(QuarantineEntry).where(mine)).all()
    changes: list[Change] = []
    for row in rows:
        key = claims.quarantine_key(row.digest, row.item)
        state = claimed.pop(key, None)
        if state is None:
            changes.append(Change("quarantine", str(row.id), UNLINKED))
        elif claims.quarantine_row_state(row) != state:
            changes.append(
                Change("quarantine", str(row.id), "its reason, detail or status changed")
            )
    changes += [Change("quarantine", key, "deleted") for key in claimed]
    return len(rows), changes


CHECKS: dict[str, Checker] = {
    "entries": check_entries,
    "plans": check_plans,
    "periods": check_periods,
    "tokens": check_tokens,
    "photos": check_photos,
    "quarantine": check_quarantine,
}


class Batches:
    """The readings batches of a chain, to find the batches a stored reading belongs to.

    A reading may be claimed by more than one batch, rightly: a gateway killed between
    writing a batch's link and its readings writes the link again when the broker
    redelivers, and two gateways racing on one redelivered message both write theirs
    before one of them stores the rows. Each such batch recomputes its digest from the
    same stored rows, so each still verifies."""

    def __init__(self, links: list[AuditEntry]) -> None:
        self.links = links
        self.lines: list[list[str]] = [[] for _ in links]
        # (device, quantity) -> spans (first seq, last seq, batch index) sorted, and the
        # running maximum of their last seq (to stop looking back early)
        spans: dict[tuple[str, str], list[tuple[int, int, int]]] = defaultdict(list)
        for index, link in enumerate(links):
            for device, by_quantity in link.body["series"].items():
                for quantity, ranges in by_quantity.items():
                    for first, last in ranges:
                        spans[(device, quantity)].append((int(first), int(last), index))
        self.spans = {key: sorted(found) for key, found in spans.items()}
        self.reach = {
            key: list(accumulate((s[1] for s in found), max)) for key, found in self.spans.items()
        }

    def batches_of(self, device: str, quantity: str, seq: int) -> list[int]:
        """The index of every batch that claims the reading (none: stored unseen)."""
        spans = self.spans.get((device, quantity), [])
        reach = self.reach.get((device, quantity), [])
        at = bisect.bisect_right(spans, (seq, float("inf"), 0)) - 1
        found: list[int] = []
        while at >= 0 and reach[at] >= seq:
            first, last, index = spans[at]
            if first <= seq <= last:
                found.append(index)
            at -= 1
        return found


def check_readings(store: TimeSeriesStore, project: str, links: Links) -> tuple[int, list[Change]]:
    """Recompute each batch's digest from the readings stored now; a reading that no
    batch claims was stored unseen."""
    batches = Batches(links.get("readings", []))
    changes: list[Change] = []
    unclaimed = 0
    count = 0
    for row in store.query(project):
        count += 1
        found = batches.batches_of(row.device, row.quantity, row.seq)
        if not found:
            unclaimed += 1
            if unclaimed <= 20:
                key = f"{row.device}/{row.quantity}/{row.seq}"
                changes.append(Change("reading", key, UNLINKED))
            continue
        line = claims.reading_line(row)
        for index in found:
            batches.lines[index].append(line)
    if unclaimed > 20:
        changes.append(Change("reading", "*", f"{unclaimed - 20} more stored without a link"))
    for link, lines in zip(batches.links, batches.lines, strict=True):
        if len(lines) != link.body["readings"] or claims.lines_digest(lines) != link.body["sha256"]:
            what = f"{len(lines)} stored of {link.body['readings']}, digest differs"
            changes.append(Change("readings", link.subject_id or "", f"batch changed: {what}"))
    return count, changes


def links_by_kind(session: Session, chain: str) -> Links:
    by_kind: Links = defaultdict(list)
    for link in audit.links(session, chain):
        if link.subject_kind is not None:
            by_kind[link.subject_kind].append(link)
    return by_kind


def verify_project(session: Session, store: TimeSeriesStore | None, project: str) -> Evidence:
    """The project's chain and every object it covers, recomputed from the stores
    (readings only when a time-series store is given)."""
    verdict = audit.verify(session, project)
    changes: list[Change] = []
    checked: dict[str, int] = {}
    try:
        links = links_by_kind(session, project)
    except (SQLAlchemyError, ValueError, TypeError) as exc:
        return Evidence(verdict, (Change("chain", project, f"links unreadable: {exc}"),))

    def readings(session: Session, project: str, links: Links) -> tuple[int, list[Change]]:
        assert store is not None
        return check_readings(store, project, links)

    steps = {**CHECKS, **({"readings": readings} if store is not None else {})}
    for name, check in steps.items():
        try:
            checked[name], found = check(session, project, links)
        except (SQLAlchemyError, ValueError, TypeError, KeyError, AttributeError) as exc:
            checked[name], found = 0, [Change(name, "*", f"could not be checked: {exc}")]
        changes += found
    return Evidence(verdict, tuple(changes), checked)


def as_json(evidence: Evidence) -> dict[str, Any]:
    return {
        "intact": evidence.intact,
        "chain": evidence.chain.chain,
        "length": evidence.chain.length,
        "head": evidence.chain.head,
        "broken_at": evidence.chain.broken_at,
        "reason": evidence.chain.reason,
        "checked": evidence.checked,
        "changes": [{"kind": c.kind, "id": c.id, "what": c.what} for c in evidence.changes],
    }


def against_checkpoint(session: Session, checkpoint: Checkpoint) -> list[str]:
    """What became of the chain since ``checkpoint`` (already signature-checked): the
    link it ended on must still be there with the same hash, and nothing before it may
    have gone. Empty when the chain still extends the checkpoint."""
    tip = session.get(AuditChain, checkpoint.project)
    length = tip.length if tip else 0
    if checkpoint.length == 0:
        return []
    if length < checkpoint.length:
        return [
            f"truncated or rolled back: the chain has {length} links, the checkpoint of "
            f"{checkpoint.time.isoformat()} covered {checkpoint.length}"
        ]
    link = session.scalar(
        select(AuditEntry).where(
            AuditEntry.chain == checkpoint.project, AuditEntry.seq == checkpoint.length
        )
    )
    if link is None:
        return [f"link {checkpoint.length}, the checkpoint's last, is missing"]
    if link.hash != checkpoint.head:
        return [
            f"rewritten: link {checkpoint.length} is not the one the checkpoint of "
            f"{checkpoint.time.isoformat()} signed"
        ]
    return []


def checkpoint_of(session: Session, project: str, key: Ed25519PrivateKey) -> Checkpoint:
    """A signed checkpoint of the project's chain as it is now."""
    tip = session.get(AuditChain, project)
    length, head = (tip.length, tip.hash) if tip else (0, audit.GENESIS)
    return sign_checkpoint(key, project, length, head, datetime.now(UTC))
