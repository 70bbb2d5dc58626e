"""Everything a report is computed from, as plain data, and its hash.

``ReportInputs`` is what the pure engine (``verification.engine``) consumes; ``load_inputs``
(in ``verification.loading``) fills it from the relational and time-series stores, and
``load_rulebook`` reads the versioned data it is computed with (the methodology's parameter
table, the gap rule sets), so that the engine does no I/O. The
hash ``sha256()`` covers the exact inputs (the plan's text hash, the methodology table's
and gap rules' bytes, every reading of every series used, the field entries, calibration
records and events, and the software version), so identical inputs give an identical
report and a verifier can tell when they did not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from pydantic import JsonValue

from core.plans.schema import MonitoringPlan
from core.times import day_start_ms
from persistence.stores.timeseries import SeriesArrays
from verification.calibration import CalibrationEvidence
from verification.gaps import GapRuleSet, load_gap_rules
from verification.parameters import ParameterTable, load_table

#: Data loaded beyond each end of the period. A gap that starts inside the period is
#: credited only if it ends within 7 days, and the gap rules then look 72 h beyond its
#: end: 10 days, and one more so that a gap that reaches past them is seen as such.
#: The look-ahead never makes a gap: a device that reported up to the period end has none
#: (``verification.resolve.series_gaps``).
MARGIN = timedelta(days=11)


@dataclass(frozen=True)
class Rulebook:
    """The versioned data a report is computed with: the methodology's parameter table,
    the plan's gap rule set and the conservative set (which every parameter keeps but
    methane flow and fraction, see ``Symbol.california``)."""

    table: ParameterTable
    gap_rules: GapRuleSet
    conservative: GapRuleSet


def load_rulebook(plan: MonitoringPlan) -> Rulebook:
    """Read (cached) the table of the plan's methodology version and its gap rule sets."""
    method = plan.project.methodology
    return Rulebook(
        table=load_table(method.id, method.version),
        gap_rules=load_gap_rules(plan.project.gap_rules),
        conservative=load_gap_rules("conservative"),
    )


@dataclass(frozen=True)
class Invoice:
    """An option B record of a transaction (fuel or electricity invoice)."""

    id: str
    number: str
    start: date  # inclusive
    end: date  # inclusive
    value: float
    unit: str
    parameter: str | None
    monitoring_point: str | None
    recorded_ms: int = 0  # when it was entered: of two with one number, the later counts


@dataclass(frozen=True)
class ManualRead:
    """A register read by field staff (canonical unit)."""

    id: str
    device: str
    quantity: str
    time_ms: int
    value: float


@dataclass(frozen=True)
class Ticket:
    """A weighbridge ticket (net mass)."""

    id: str
    number: str
    time_ms: int
    value: float
    unit: str


@dataclass(frozen=True)
class EventIn:
    time_ms: int
    device: str
    quantity: str
    kind: str
    detail: dict[str, JsonValue]  # the event's own JSON object, as stored


@dataclass(frozen=True)
class QuarantineIn:
    """An open quarantine row of the project: data that reached the gateway but is not
    stored as readings, so no report uses it until it is released."""

    id: int
    device: str | None
    reason: str
    detail: str
    received: str  # ISO 8601 UTC
    seq: int | None
    elements: int  # problems of the message this row stands for


@dataclass(frozen=True)
class EntryRef:
    """A field entry as a report cites it: its id, the revision counted and the photos
    it carries (SHA-256 hashes)."""

    id: str
    revision: int
    entry_type: str
    photos: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.id}@r{self.revision}"


@dataclass(frozen=True)
class UnusableIn:
    """A stored object the loader could not use (an entry whose body no longer parses or
    does not fit the plan): named in the report's findings, never silently dropped."""

    kind: str  # "entry"
    key: str  # an entry's id@revision
    what: str  # e.g. "meter_reading entry"
    reason: str
    photos: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReportInputs:
    plan: MonitoringPlan
    plan_sha256: str
    table_sha256: str
    gap_rules_sha256: str
    start: date
    end: date  # inclusive
    series: Mapping[tuple[str, str], SeriesArrays]  # (device, quantity) -> readings
    invoices: Sequence[Invoice] = ()
    reads: Sequence[ManualRead] = ()
    tickets: Sequence[Ticket] = ()
    calibrations: Mapping[str, Sequence[CalibrationEvidence]] = field(default_factory=dict)
    events: Sequence[EventIn] = ()
    quarantine: Sequence[QuarantineIn] = ()
    #: the entries behind invoices, reads, tickets and certificates, by entry id
    entries: Mapping[str, EntryRef] = field(default_factory=dict)
    unusable: Sequence[UnusableIn] = ()
    period_number: int | None = None
    software: str = ""
    #: None: read from the packaged data when the inputs are made (``load_rulebook``)
    rulebook: Rulebook | None = None

    def __post_init__(self) -> None:
        # Inputs built by hand (a recomputation from raw data, a test) get the packaged
        # data, read here and not in the pure engine.
        if self.rulebook is None:
            object.__setattr__(self, "rulebook", load_rulebook(self.plan))

    @property
    def rules(self) -> Rulebook:
        """The rulebook (always set once the inputs exist)."""
        assert self.rulebook is not None
        return self.rulebook

    @property
    def start_ms(self) -> int:
        return day_start_ms(self.start)

    @property
    def end_ms(self) -> int:
        """Exclusive: midnight after the last day."""
        return day_start_ms(self.end + timedelta(days=1))

    def sha256(self) -> str:
        h = hashlib.sha256()

        def put(obj: object) -> None:
            h.update(json.dumps(obj, sort_keys=True, default=str).encode())
            h.update(b"\0")

        put(
            {
                "plan": self.plan_sha256,
                "table": self.table_sha256,
                "gap_rules": self.gap_rules_sha256,
                "period": [self.start.isoformat(), self.end.isoformat(), self.period_number],
                "software": self.software,
            }
        )
        for key in sorted(self.series):
            s = self.series[key]
            put(list(key))
            # Little-endian bytes of the arrays: exact, and fast for millions of readings.
            h.update(s.times_ms.astype("<i8").tobytes())
            h.update(s.values.astype("<f8").tobytes())
            h.update(s.interval_s.astype("<f8").tobytes())
            if s.seq is not None:  # the report names readings by their seq
                h.update(s.seq.astype("<i8").tobytes())
        put([vars(x) for x in sorted(self.invoices, key=lambda i: i.id)])
        put([vars(x) for x in sorted(self.reads, key=lambda i: i.id)])
        put([vars(x) for x in sorted(self.tickets, key=lambda i: i.id)])
        put(
            {
                d: [[r.date, r.result, r.error_pct, r.certificate] for r in recs]
                for d, recs in sorted(self.calibrations.items())
            }
        )
        put([vars(e) for e in self.events])
        if self.quarantine:  # absent from older inputs: their hash stays as it was
            put([vars(q) for q in self.quarantine])
        if self.entries:  # absent from inputs built by hand: their hash stays as it was
            put([vars(e) for _, e in sorted(self.entries.items())])
        if self.unusable:
            put([vars(u) for u in self.unusable])
        return h.hexdigest()
