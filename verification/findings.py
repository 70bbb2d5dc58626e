"""A report's findings (issue 13): every correction, gap, meter replacement, calibration
lapse, manual entry refused or set aside, open quarantine item and stored object that
could not be used, with its kind, severity, the tonnes at stake and links to its evidence
(readings, entries ``<uuid>@r<revision>`` and their photos, calibrations, quarantine
rows). Pure: computed from the report's own corrections, gaps, step inputs and inputs.

Tonnes at stake are what a finding moved the period's unrounded emission reductions by,
each priced alone as the engine prices corrections (ER with it minus ER without it,
``Correction.effect_tco2``). A gap carries its substitution's effect; a gap that counts
zero, or that a register bridges, moved nothing (its cost is already the credit not
claimed). Severity: material when the tonnes at stake exceed the plan's
``materiality_pct`` of the period's |ER| (default 1 %), or cannot be priced; minor
otherwise; a stored object that could not be used cannot be priced (material). A
calibration lapse or an entry set aside moves nothing by itself: the correction it led
to (if any) carries the tonnes. The headline adds the effects up: a sum of separately
priced effects, exact when the corrections do not interact (each touches one
parameter's total).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from core.plans.schema import Device, MonitoringPlan
from verification.calibration import CalibrationEvidence, calibration_windows
from verification.inputs import EntryRef, QuarantineIn, ReportInputs, UnusableIn
from verification.report_model import (
    Correction,
    Evidence,
    Finding,
    FindingKind,
    FindingsHeadline,
    Gap,
    PointInputs,
    ReadingRef,
)
from verification.resolve.calibrate import overlaps
from verification.resolve.record import Flagged

#: Quarantine ids linked per finding at most (a broken device can fill thousands).
MAX_QUARANTINE_LINKS = 50


@dataclass(frozen=True)
class EntrySources:
    """What findings cite beyond the report's own tables: the entries each correction
    rests on (by correction id), the entries steps set aside (with their symbol), the
    stored objects the loader could not use, and the entries themselves (by id)."""

    cited: Mapping[str, Sequence[str]] = field(default_factory=dict)
    flagged: Sequence[tuple[str, Flagged]] = ()
    unusable: Sequence[UnusableIn] = ()
    entries: Mapping[str, EntryRef] = field(default_factory=dict)


def build_findings(
    corrections: Sequence[Correction],
    gaps: Sequence[Gap],
    points: Sequence[PointInputs],
    quarantine: Sequence[QuarantineIn],
    er_tco2: float,
    materiality_pct: float,
    sources: EntrySources | None = None,
    lapses: Sequence[Lapse] = (),
) -> tuple[list[Finding], FindingsHeadline]:
    """The findings in order (corrections other than gap substitutions, gaps,
    replacements, calibration lapses, entries set aside, quarantine, objects not used),
    numbered F1, F2..., and the headline."""
    threshold = abs(er_tco2) * materiality_pct / 100.0
    src = sources or EntrySources()
    by_point = {(p.symbol, p.monitoring_point): p for p in points}
    drafts: list[_Draft] = []
    for c in corrections:
        if c.kind != "gap":
            draft = _from_correction(c, by_point.get((c.symbol, c.monitoring_point or "")))
            for entry_id in src.cited.get(c.id, ()):
                draft.evidence += _entry(src.entries, entry_id)
            drafts.append(draft)
    substitutions = {(c.symbol, c.monitoring_point, c.start, c.end): c for c in corrections}
    drafts += [_from_gap(g, substitutions.get(_gap_key(g))) for g in gaps]
    drafts += [_from_replacement(p) for p in points if len(_devices(p)) > 1]
    drafts += [_from_lapse(lapse, corrections, src.entries) for lapse in lapses]
    drafts += [_from_flagged(symbol, f, src.entries) for symbol, f in src.flagged]
    drafts += _from_quarantine(quarantine)
    drafts += [_from_unusable(u) for u in src.unusable]
    findings = [d.finding(f"F{i}", threshold) for i, d in enumerate(drafts, 1)]
    material = sum(f.severity == "material" for f in findings)
    headline = FindingsHeadline(
        material=material,
        minor=len(findings) - material,
        net_tco2=math.fsum(f.effect_tco2 for f in findings if f.effect_tco2 is not None),
        threshold_pct=materiality_pct,
        threshold_tco2=threshold,
    )
    return findings, headline


class _Draft:
    """A finding before it is numbered and weighed."""

    def __init__(
        self,
        kind: FindingKind,
        symbol: str | None,
        point: str | None,
        effect: float,
        summary: str,
        evidence: list[Evidence],
    ) -> None:
        self.kind, self.symbol, self.point = kind, symbol, point
        self.effect, self.summary, self.evidence = effect, summary, evidence

    def finding(self, finding_id: str, threshold: float) -> Finding:
        priced = math.isfinite(self.effect)
        stake = abs(self.effect) if priced else math.inf
        return Finding(
            id=finding_id,
            kind=self.kind,
            severity="material" if stake > threshold else "minor",
            symbol=self.symbol,
            monitoring_point=self.point,
            tco2=stake if priced else None,
            effect_tco2=self.effect if priced else None,
            summary=self.summary,
            evidence=self.evidence,
        )


def _reading(r: ReadingRef) -> Evidence:
    return Evidence(kind="reading", key=r.key, time=r.time, value=r.value, unit=r.unit, role=r.role)


def _from_correction(c: Correction, point: PointInputs | None) -> _Draft:
    """A correction, with the readings behind it: for a register rule, the readings
    bracketing the period and each reset, rollover or spike set aside."""
    evidence = [Evidence(kind="correction", key=c.id, role=c.rule)]
    if point is not None and c.kind == "register":
        evidence += [_reading(r) for r in point.readings]
    if point is not None and c.kind == "calibration":
        evidence.append(Evidence(kind="device", key=point.device, role="calibrated meter"))
    kind: FindingKind = c.kind
    summary = (
        f"{c.symbol}{f' at {c.monitoring_point}' if c.monitoring_point else ''}: {c.rule}, "
        f"{c.delta:+.6g} {c.unit}, {_signed(c.effect_tco2)}. {c.note}"
    )
    return _Draft(kind, c.symbol, c.monitoring_point, c.effect_tco2, summary, evidence)


def _gap_key(g: Gap) -> tuple[str, str | None, str, str]:
    return (g.symbol, g.monitoring_point, g.start, g.end)


def _from_gap(g: Gap, substitution: Correction | None) -> _Draft:
    """A gap, with the substitution that stood in for it (if any moved ER)."""
    evidence = [Evidence(kind="gap", key=g.id, role=g.rule)]
    effect = 0.0
    kind: FindingKind = "gap"
    if substitution is not None and substitution.kind == "gap":
        evidence.append(Evidence(kind="correction", key=substitution.id, role=substitution.rule))
        effect = substitution.effect_tco2
        kind = "substitution"
    summary = (
        f"{g.symbol} at {g.monitoring_point} ({g.device}): no data for {g.hours:g} h, "
        f"{g.start} to {g.end}; {g.rule}, {_signed(effect)}. {g.note}"
    )
    return _Draft(kind, g.symbol, g.monitoring_point, effect, summary, evidence)


def _devices(p: PointInputs) -> list[str]:
    return list(dict.fromkeys(r.device for r in p.readings))


def _from_replacement(p: PointInputs) -> _Draft:
    """A meter replaced within the period: the readings each meter's part rests on."""
    devices = _devices(p)
    summary = (
        f"{p.symbol} at {p.monitoring_point}: meter {' replaced by '.join(devices)} within the "
        "period; each meter's readings are counted up to where its successor's begin"
    )
    evidence = [Evidence(kind="device", key=d, role="meter") for d in devices]
    evidence += [_reading(r) for r in p.readings]
    return _Draft("replacement", p.symbol, p.monitoring_point, 0.0, summary, evidence)


def _from_quarantine(items: Sequence[QuarantineIn]) -> list[_Draft]:
    """Open quarantine items, one finding per device and reason: data not used."""
    groups: dict[tuple[str, str], list[QuarantineIn]] = defaultdict(list)
    for q in items:
        groups[(q.device or "(no device)", q.reason)].append(q)
    out = []
    for (device, reason), group in sorted(groups.items()):
        count = sum(q.elements for q in group)
        evidence = [
            Evidence(kind="quarantine", key=str(q.id), time=q.received, role=q.reason)
            for q in group[:MAX_QUARANTINE_LINKS]
        ]
        more = len(group) - len(evidence)
        summary = (
            f"{device}: {count} quarantined item(s), reason {reason}, still open: not used "
            f"in this report (e.g. {group[0].detail})"
            + (f"; {more} more quarantine row(s) not linked here" if more > 0 else "")
        )
        out.append(_Draft("quarantine", None, None, 0.0, summary, evidence))
    return out


def _entry(entries: Mapping[str, EntryRef], entry_id: str, role: str = "") -> list[Evidence]:
    """An entry as evidence (``<uuid>@r<revision>``), with each photo it carries."""
    ref = entries.get(entry_id)
    if ref is None:  # inputs built by hand name entries by id only
        return [Evidence(kind="entry", key=entry_id, role=role)]
    out = [Evidence(kind="entry", key=ref.key, role=role or f"{ref.entry_type} entry")]
    out += [Evidence(kind="photo", key=h, role=f"photo of entry {ref.key}") for h in ref.photos]
    return out


def _from_flagged(symbol: str, f: Flagged, entries: Mapping[str, EntryRef]) -> _Draft:
    """Manual entries a step refused or set aside, each cited with its photos."""
    evidence = [e for entry_id in f.entries for e in _entry(entries, entry_id, f.rule)]
    summary = f"{symbol}{f' at {f.point}' if f.point else ''}: {f.note}"
    return _Draft("out_of_range_entry", symbol, f.point, 0.0, summary, evidence)


def _from_unusable(u: UnusableIn) -> _Draft:
    """A stored object the report could not use: named; what it would have moved is
    unknown."""
    evidence = [Evidence(kind="entry", key=u.key, role="not used")]
    evidence += [Evidence(kind="photo", key=h, role=f"photo of entry {u.key}") for h in u.photos]
    summary = f"{u.what} {u.key} could not be used, so it is not counted: {u.reason}"
    return _Draft("unusable", None, None, math.nan, summary, evidence)


# -- calibration lapses --


@dataclass(frozen=True)
class Lapse:
    """A meter whose calibration was overdue, late or out of tolerance in the period:
    what went wrong (in words) and the calibration records around the period."""

    device: str
    problems: tuple[str, ...]
    records: tuple[CalibrationEvidence, ...]


def calibration_lapses(inputs: ReportInputs) -> list[Lapse]:
    """Each metered device in service in the period whose calibration lapsed in it, by
    the rules of ``verification.calibration``, whether or not a correction resulted (a
    beyond-tolerance error against the project corrects nothing, but is still found)."""
    start, end = inputs.start, inputs.end
    out = []
    for device in _metered(inputs.plan):
        if device.calibration is None or not _in_service(device, start, end):
            continue
        records = sorted(inputs.calibrations.get(device.id, ()), key=lambda r: r.date)
        tolerance = (
            device.max_permissible_error_pct or inputs.rules.table.default_meter_tolerance_pct
        )
        # the direction only decides which errors correct, not whether a lapse happened
        windows = calibration_windows(
            records,
            device.calibration.interval_months,
            tolerance,
            "raises_reference",
            device.installed,
        )
        problems = [
            w.note for w in windows if w.rule != "calibration_error" and overlaps(w, start, end)
        ]
        problems += [
            f"calibration of {r.date} ({r.certificate or 'no certificate'}) found "
            f"{r.error_pct:+g} %, beyond tolerance: the data measured since the one before "
            "it are in question"
            for i, r in enumerate(records)
            if r.result == "out_of_tolerance"
            and r.date >= start
            and (i == 0 or records[i - 1].date <= end)
        ]
        if problems:
            out.append(Lapse(device.id, tuple(problems), _around(records, start, end)))
    return out


def _metered(plan: MonitoringPlan) -> list[Device]:
    """The devices (with those they replaced) of every measured parameter's points."""
    points = {p.id: p for p in plan.monitoring_points}
    devices: dict[str, Device] = {}
    for param in plan.parameters:
        for point_id in param.monitoring_points:
            devices.update((d.id, d) for d in plan.lineage(points[point_id].device))
    return list(devices.values())


def _in_service(device: Device, start: date, end: date) -> bool:
    return (device.installed is None or device.installed <= end) and (
        device.removed is None or device.removed > start
    )


def _around(
    records: Sequence[CalibrationEvidence], start: date, end: date
) -> tuple[CalibrationEvidence, ...]:
    """The records in the period, with the last before it and the first after it."""
    before = [r for r in records if r.date < start][-1:]
    after = [r for r in records if r.date > end][:1]
    return (*before, *(r for r in records if start <= r.date <= end), *after)


def _from_lapse(
    lapse: Lapse, corrections: Sequence[Correction], entries: Mapping[str, EntryRef]
) -> _Draft:
    """A calibration lapse: the device, its calibration records (a certificate entry
    cited as ``<uuid>@r<revision>`` with its photos) and the corrections it led to."""
    evidence = [Evidence(kind="device", key=lapse.device, role="meter")]
    for r in lapse.records:
        evidence += _calibration(lapse.device, r, entries)
    evidence += [
        Evidence(kind="correction", key=c.id, role=c.rule)
        for c in corrections
        if c.kind == "calibration" and c.note.startswith(f"{lapse.device}:")
    ]
    summary = f"{lapse.device}: " + "; ".join(lapse.problems)
    return _Draft("calibration_lapse", None, None, 0.0, summary, evidence)


def _calibration(
    device: str, r: CalibrationEvidence, entries: Mapping[str, EntryRef]
) -> list[Evidence]:
    role = f"calibration {r.result}" + (f", certificate {r.certificate}" if r.certificate else "")
    source = getattr(r, "source", "plan")
    found = Evidence(
        kind="calibration",
        key=f"{device}@{r.date}",
        time=r.date.isoformat(),
        value=r.error_pct,
        unit="%",
        role=role + ", plan",
    )
    if isinstance(source, str) and source.startswith("entry:"):
        linked = _entry(entries, source.removeprefix("entry:"), role)
        first = found.model_copy(update={"kind": "entry", "key": linked[0].key, "role": role})
        return [first, *linked[1:]]
    return [found]


def _signed(effect: float) -> str:
    if not math.isfinite(effect):
        return "effect on ER not computable"
    return f"{effect:+,.3f} tCO2 on ER"
