"""What an audit link states about its subject: the digests of the subject as stored.

One function per kind of object, used where the link is written (records, repo,
devices, photos, tokens, the gateway's batches) and where verification recomputes it
from the stored rows (``persistence.evidence``), so the two cannot drift apart.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from core.digests import sha256_json, sha256_text
from persistence.audit import Subject
from persistence.models import (
    ApiToken,
    Device,
    MonitoringPeriod,
    PlanRevision,
    Project,
    QuarantineEntry,
)
from persistence.stores.timeseries import ReadingRow


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="microseconds")


# --- entries --------------------------------------------------------------------------


def entry_subject(entry_id: str) -> Subject:
    return Subject("entry", entry_id)


def body_sha256(body: dict[str, Any]) -> str:
    """An entry revision's body digest (canonical JSON)."""
    return sha256_json(body)


# --- plans and devices -----------------------------------------------------------------


def plan_subject(version: int) -> Subject:
    return Subject("plan", str(version))


def device_digest(device: Device) -> str:
    """Every column of a device's registry row that a report or the gateway reads."""
    return sha256_json(
        {
            "site": device.site_id,
            "type": device.type,
            "serial": device.serial,
            "quantities": device.quantities,
            "register_max": device.register_max,
            "reference_temperature_c": device.reference_temperature_c,
            "reference_pressure_kpa": device.reference_pressure_kpa,
            "atmosphere_kpa": device.atmosphere_kpa,
            "expected_interval_s": device.expected_interval_s,
            "status": device.status,
            "record": device.record,
        }
    )


def plan_claim(
    project: Project, revision: PlanRevision, devices: Iterable[Device]
) -> dict[str, Any]:
    """The plan file verbatim, the parsed plan that reports read, and each device row."""
    return {
        "plan_version": revision.plan_version,
        "source_sha256": sha256_text(revision.source_text),
        "plan_sha256": sha256_json(project.plan),
        "devices": {d.id: device_digest(d) for d in devices},
    }


# --- periods -----------------------------------------------------------------------------


def period_subject(number: int) -> Subject:
    return Subject("period", str(number))


def period_claim(period: MonitoringPeriod) -> dict[str, Any]:
    return {
        "number": period.number,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
    }


# --- tokens ------------------------------------------------------------------------------


def token_subject(token_id: int) -> Subject:
    return Subject("token", str(token_id))


def token_claim(token: ApiToken) -> dict[str, Any]:
    """Who may do what with a token: role, projects, person, life; and its hash."""
    return {
        "token_id": token.id,
        "role": token.role,
        "projects": token.projects,
        "label": token.label,
        "sha256": sha256_json(
            {
                "token_sha256": token.token_sha256,
                "role": token.role,
                "projects": token.projects,
                "label": token.label,
                "created_at": _iso(token.created_at),
                "expires_at": _iso(token.expires_at),
                "revoked_at": _iso(token.revoked_at),
            }
        ),
    }


def token_chains(token: ApiToken) -> list[str | None]:
    """The projects whose chains record a token: those it grants, or none (the
    installation's chain) for a token of every project."""
    return list(token.projects) or [None]


# --- photos ------------------------------------------------------------------------------


def photo_subject(sha256: str) -> Subject:
    return Subject("photo", sha256)


# --- readings ----------------------------------------------------------------------------


def readings_subject(claim: dict[str, Any]) -> Subject:
    return Subject("readings", str(claim["sha256"])[:32])


def reading_line(row: ReadingRow) -> str:
    """What a batch digest covers of one stored reading: its identity, time and value."""
    return f"{row.device}|{row.seq}|{row.quantity}|{row.time_ms}|{row.value!r}\n"


def lines_digest(lines: Iterable[str]) -> str:
    """SHA-256 over the lines in sorted order: the same rows give the same digest in
    whatever order a store returns them."""
    # One update over the joined lines: the same digest as one update per line, with
    # one encode and one call instead of one per reading.
    return hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()


def _ranges(seqs: Iterable[int]) -> list[list[int]]:
    """Sorted sequence numbers as inclusive ranges: 1,2,3,7 -> [[1, 3], [7, 7]]."""
    out: list[list[int]] = []
    for seq in sorted(set(seqs)):
        if out and seq == out[-1][1] + 1:
            out[-1][1] = seq
        else:
            out.append([seq, seq])
    return out


def readings_claims(rows: Iterable[ReadingRow]) -> dict[str, dict[str, Any]]:
    """Per project, what a batch of newly stored readings was: how many, which (device,
    quantity, seq ranges) and the digest of their identities, times and values."""
    by_project: dict[str, list[ReadingRow]] = defaultdict(list)
    for row in rows:
        by_project[row.project].append(row)
    claims: dict[str, dict[str, Any]] = {}
    for project, batch in by_project.items():
        seqs: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for row in batch:
            seqs[row.device][row.quantity].append(row.seq)
        claims[project] = {
            "readings": len(batch),
            "series": {
                device: {quantity: _ranges(s) for quantity, s in sorted(by_q.items())}
                for device, by_q in sorted(seqs.items())
            },
            "sha256": lines_digest(reading_line(r) for r in batch),
        }
    return claims


# --- quarantine ----------------------------------------------------------------------------

QUARANTINE_STATE = ("reason", "field", "detail", "status", "elements", "device_id", "seq")


def quarantine_key(digest: str, item: str) -> str:
    """A quarantine row's identity in claims: its message's digest and which part."""
    return f"{digest}/{item}"


def quarantine_state(values: dict[str, Any]) -> str:
    """The digest of what a quarantine row says about its problem and where it stands."""
    return sha256_json({k: values.get(k) for k in QUARANTINE_STATE})


def quarantine_row_state(row: QuarantineEntry) -> str:
    return quarantine_state({k: getattr(row, k) for k in QUARANTINE_STATE})


def quarantine_claims(rows: Iterable[dict[str, Any]]) -> dict[str | None, dict[str, Any]]:
    """Per project (None: a topic of no project), the new quarantine rows of a batch."""
    out: dict[str | None, dict[str, Any]] = {}
    for row in rows:
        claim = out.setdefault(row.get("project_id"), {"items": {}})
        values = {"status": "open", "elements": 1, **row}
        claim["items"][quarantine_key(row["digest"], row["item"])] = quarantine_state(values)
    return out
