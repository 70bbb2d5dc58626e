"""A report's findings (issue 13, part 1): every correction, gap, meter replacement and
open quarantine item, with its kind, severity, the tonnes at stake and links to its
evidence. Pure: computed from the report's own corrections, gaps and step inputs.

Tonnes at stake are what a finding moved the period's unrounded emission reductions by,
each priced alone as the engine prices corrections (ER with it minus ER without it,
``Correction.effect_tco2``). A gap carries its substitution's effect; a gap that counts
zero, or that a register bridges, moved nothing (its cost is already the credit not
claimed). Severity: material when the tonnes at stake exceed the plan's
``materiality_pct`` of the period's |ER| (default 1 %), or cannot be priced; minor
otherwise. The headline adds the effects up: a sum of separately priced effects, exact
when the corrections do not interact (each touches one parameter's total).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from verification.inputs import QuarantineIn
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

#: Quarantine ids linked per finding at most (a broken device can fill thousands).
MAX_QUARANTINE_LINKS = 50


def build_findings(
    corrections: Sequence[Correction],
    gaps: Sequence[Gap],
    points: Sequence[PointInputs],
    quarantine: Sequence[QuarantineIn],
    er_tco2: float,
    materiality_pct: float,
) -> tuple[list[Finding], FindingsHeadline]:
    """The findings in order (corrections other than gap substitutions, gaps,
    replacements, quarantine), numbered F1, F2..., and the headline."""
    threshold = abs(er_tco2) * materiality_pct / 100.0
    by_point = {(p.symbol, p.monitoring_point): p for p in points}
    drafts: list[_Draft] = []
    for c in corrections:
        if c.kind != "gap":
            drafts.append(_from_correction(c, by_point.get((c.symbol, c.monitoring_point or ""))))
    substitutions = {(c.symbol, c.monitoring_point, c.start, c.end): c for c in corrections}
    drafts += [_from_gap(g, substitutions.get(_gap_key(g))) for g in gaps]
    drafts += [_from_replacement(p) for p in points if len(_devices(p)) > 1]
    drafts += _from_quarantine(quarantine)
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


def _signed(effect: float) -> str:
    if not math.isfinite(effect):
        return "effect on ER not computable"
    return f"{effect:+,.3f} tCO2 on ER"
