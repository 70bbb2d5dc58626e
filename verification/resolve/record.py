"""What resolving a parameter produces besides its value, as immutable values.

Each step of the resolver returns its value and ``Notes`` (messages, gaps, corrections
and cross-checks, in the order they arose); the caller adds the notes up. Gaps and
corrections are numbered only when everything is assembled (``assemble``), so that no
step needs to know what others recorded: ``G1``, ``G2``… and ``C1``, ``C2``… in the order
of the parameters, their points and the steps within.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from core.times import HOUR_MS, format_ms
from verification.model import Resolved
from verification.report_model import Correction, CrossCheck, Gap, Message, ParameterRow

#: Takes a correction back out of a resolved parameter (to price it in tCO2).
Undo = Callable[[Resolved], Resolved]
CorrectionKind = Literal["gap", "calibration", "register", "plausibility", "apportionment"]


def iso(ms: float) -> str:
    return format_ms(int(ms))


@dataclass(frozen=True)
class Adjustment:
    """A correction of one parameter's value, not yet numbered: what changed (``delta``
    in the parameter's unit), over which time, by which rule, and how to take it back."""

    kind: CorrectionKind
    point: str | None
    start_ms: float
    end_ms: float
    rule: str
    note: str
    delta: float
    undo: Undo
    entries: tuple[str, ...] = ()  # ids of the field entries the corrected value rests on


@dataclass(frozen=True)
class Flagged:
    """Field entries a step refused or set aside (a mistyped manual read, two reads of
    one time that disagree), with the rule and why: a finding citing each entry."""

    point: str | None
    entries: tuple[str, ...]  # entry ids
    rule: str
    note: str


@dataclass(frozen=True)
class GapSpan:
    """A gap in a monitoring point's data inside the period, and what stood in for it."""

    point: str
    device: str
    start_ms: float
    end_ms: float
    rule: str
    note: str


@dataclass(frozen=True)
class Notes:
    """What one or more steps recorded, each list in the order it arose."""

    messages: tuple[Message, ...] = ()
    gaps: tuple[GapSpan, ...] = ()
    adjustments: tuple[Adjustment, ...] = ()
    cross_checks: tuple[CrossCheck, ...] = ()
    flagged: tuple[Flagged, ...] = ()

    def __add__(self, other: Notes) -> Notes:
        return Notes(
            self.messages + other.messages,
            self.gaps + other.gaps,
            self.adjustments + other.adjustments,
            self.cross_checks + other.cross_checks,
            self.flagged + other.flagged,
        )

    def citing(self, entries: Iterable[str]) -> Notes:
        """These notes with each correction that names no entries resting on
        ``entries`` (a value from field entries: every correction of it does)."""
        ids = tuple(entries)
        adjustments = tuple(a if a.entries else replace(a, entries=ids) for a in self.adjustments)
        return replace(self, adjustments=adjustments)

    @staticmethod
    def total(notes: Iterable[Notes]) -> Notes:
        out = Notes()
        for n in notes:
            out += n
        return out


@dataclass(frozen=True)
class Part:
    """A row of the parameter table with what was recorded on the way to it: the row's
    corrections are exactly the adjustments in ``notes``. ``row`` None: notes only (the
    invoice cross-check after a parameter's rows)."""

    row: ParameterRow | None
    notes: Notes


@dataclass(frozen=True)
class Outcome:
    """One parameter resolved: its value and the rows (with notes) that report it."""

    resolved: Resolved
    parts: tuple[Part, ...]


@dataclass(frozen=True)
class Applied:
    """A numbered correction, with the symbol it applies to and how to undo it."""

    correction: Correction
    symbol: str
    undo: Undo
    entries: tuple[str, ...] = ()  # the field entries it rests on (ids)


@dataclass(frozen=True)
class Resolution:
    """Every parameter resolved, with the report's rows, gaps, corrections, cross-checks
    and messages."""

    values: Mapping[str, Resolved]
    rows: tuple[ParameterRow, ...]
    gaps: tuple[Gap, ...]
    corrections: tuple[Applied, ...]
    cross_checks: tuple[CrossCheck, ...]
    messages: tuple[Message, ...]
    flagged: tuple[tuple[str, Flagged], ...] = ()  # (symbol, entries set aside)


def assemble(outcomes: Mapping[str, Outcome], messages: Iterable[Message]) -> Resolution:
    """Number the gaps and corrections in order and collect everything for the report;
    ``messages`` come after the parameters'."""
    rows: list[ParameterRow] = []
    gaps: list[Gap] = []
    applied: list[Applied] = []
    checks: list[CrossCheck] = []
    found: list[Message] = []
    flagged: list[tuple[str, Flagged]] = []
    for outcome in outcomes.values():
        symbol, unit = outcome.resolved.symbol, outcome.resolved.unit
        for part in outcome.parts:
            notes = part.notes
            gaps += [_gap(g, symbol, len(gaps) + k + 1) for k, g in enumerate(notes.gaps)]
            numbered = [
                _applied(a, symbol, unit, len(applied) + k + 1)
                for k, a in enumerate(notes.adjustments)
            ]
            applied += numbered
            if part.row is not None:
                ids = [a.correction.id for a in numbered]
                rows.append(part.row.model_copy(update={"corrections": ids}))
            else:
                assert not numbered, "a correction belongs to a row"
            checks += notes.cross_checks
            found += notes.messages
            flagged += [(symbol, f) for f in notes.flagged]
    values = {symbol: outcome.resolved for symbol, outcome in outcomes.items()}
    return Resolution(
        values,
        tuple(rows),
        tuple(gaps),
        tuple(applied),
        tuple(checks),
        (*found, *messages),
        tuple(flagged),
    )


def _gap(g: GapSpan, symbol: str, number: int) -> Gap:
    return Gap(
        id=f"G{number}",
        symbol=symbol,
        monitoring_point=g.point,
        device=g.device,
        start=iso(g.start_ms),
        end=iso(g.end_ms),
        hours=round((g.end_ms - g.start_ms) / HOUR_MS, 6),
        rule=g.rule,
        note=g.note,
    )


def _applied(a: Adjustment, symbol: str, unit: str, number: int) -> Applied:
    correction = Correction(
        id=f"C{number}",
        kind=a.kind,
        symbol=symbol,
        monitoring_point=a.point,
        start=iso(a.start_ms),
        end=iso(a.end_ms),
        rule=a.rule,
        note=a.note,
        delta=a.delta,
        unit=unit,
        effect_tco2=0.0,
    )
    return Applied(correction, symbol, a.undo, a.entries)


def undo_point(index: int, delta: float, delta_steps: NDArray[np.float64] | None) -> Undo:
    """Take ``delta`` (and ``delta_steps``) back off point ``index``'s value."""

    def undo(r: Resolved) -> Resolved:
        points = list(r.points)
        p = points[index]
        steps = p.steps
        if steps is not None and delta_steps is not None:
            steps = steps - delta_steps
        points[index] = replace(p, value=p.value - delta, steps=steps)
        return replace(r, points=points)

    return undo


def undo_steps(index: int, where: NDArray[np.bool_], before: NDArray[np.float64]) -> Undo:
    """Put back a point's per-step values where a substitution changed them (NaN where
    there was no value: not 0, which would read as a measured zero)."""

    def undo(r: Resolved) -> Resolved:
        points = list(r.points)
        p = points[index]
        if p.steps is None:
            return r
        points[index] = replace(p, steps=np.where(where, before, p.steps))
        return replace(r, points=points)

    return undo
