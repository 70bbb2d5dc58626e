"""Conservative corrections for calibration lapses (methodologies.md, monitoring rules)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

from core.times import add_months

#: Which way a parameter moves emission reductions: a parameter that raises reference
#: emissions is corrected down, one that raises project emissions is corrected up.
Effect = Literal["raises_reference", "raises_project"]


def conservative_factor(error_pct: float, effect: Effect) -> float:
    """The factor that moves a measured value against the project by ``error_pct``.

    error_pct: the meter's maximum permissible error (late calibration within tolerance)
        or the error found (beyond tolerance), in percent, >= 0.
    Example (hand-checked case 6): 0.2 % on an export meter -> 0.998.
    """
    if error_pct < 0:
        raise ValueError("error_pct is a magnitude in percent (>= 0)")
    share = error_pct / 100.0
    return 1.0 - share if effect == "raises_reference" else 1.0 + share


@dataclass(frozen=True)
class CalibrationWindow:
    """A stretch of time whose data is corrected by ``factor`` (rule and why)."""

    start: date
    end: date | None  # exclusive; None: still open (calibration overdue)
    factor: float
    rule: Literal["calibration_late", "calibration_overdue", "calibration_error"]
    note: str


class CalibrationEvidence(Protocol):
    """One calibration of a device (from the plan or a certificate entry)."""

    @property
    def date(self) -> date: ...
    @property
    def result(self) -> str: ...  # within_tolerance | out_of_tolerance
    @property
    def error_pct(self) -> float: ...  # signed: positive means the instrument over-read
    @property
    def certificate(self) -> str | None: ...


def calibration_windows(
    records: Sequence[CalibrationEvidence],
    interval_months: int,
    tolerance_pct: float,
    effect: Effect,
    since: date | None = None,
) -> list[CalibrationWindow]:
    """Where a device's data must be corrected, from its calibration history.

    since: when the device was installed (its data start); None: unknown, as early as
    data can be.

    - Calibration late, result within tolerance: from the due date to the calibration,
      the maximum permissible error ``tolerance_pct`` against the project.
    - Result beyond tolerance: the data since the last valid calibration corrected by the
      error found, when the error favoured the project (an over-reading meter of a
      parameter that raises reference emissions, an under-reading one of a parameter that
      raises project emissions); otherwise kept as is (Québec landfill rule).
    - No calibration since the due date: the tolerance applies from the due date on.
    - Never calibrated: the tolerance applies from one interval after installation (or
      throughout, when the installation date is unknown).
    - The first calibration on record beyond tolerance: the data before it are
      corrected as above, from the installation on.
    records: the device's calibrations in date order.
    """
    ordered = sorted(records, key=lambda r: r.date)
    if not ordered:
        return [_never_calibrated(since, interval_months, tolerance_pct, effect)]
    windows = _before_first(ordered[0], since or date.min, effect)
    for rec, nxt in zip(ordered, [*ordered[1:], None], strict=True):
        window = _after(rec, nxt, interval_months, tolerance_pct, effect)
        if window is not None:
            windows.append(window)
    return windows


def _favoured(error_pct: float, effect: Effect) -> bool:
    """Whether a meter's error favoured the project: an over-reading meter of a
    parameter that raises reference emissions, an under-reading one of a parameter that
    raises project emissions."""
    return error_pct > 0 if effect == "raises_reference" else error_pct < 0


def _never_calibrated(
    since: date | None, interval_months: int, tolerance_pct: float, effect: Effect
) -> CalibrationWindow:
    """No calibration on record: the tolerance from one interval after installation on
    (throughout when the installation date is unknown)."""
    due = add_months(since, interval_months) if since else date.min
    return CalibrationWindow(
        due,
        None,
        conservative_factor(tolerance_pct, effect),
        "calibration_overdue",
        "no calibration on record"
        + (f" since installation on {since}" if since else "")
        + f": maximum permissible error {tolerance_pct:g} % applied against the project",
    )


def _before_first(
    first: CalibrationEvidence, start: date, effect: Effect
) -> list[CalibrationWindow]:
    """The first calibration on record beyond tolerance, in the project's favour: the
    data before it (from the installation on) corrected by the error found."""
    if first.result != "out_of_tolerance":
        return []
    if not (_favoured(first.error_pct, effect) and first.date > start):
        return []
    error = abs(first.error_pct)
    return [
        CalibrationWindow(
            start,
            first.date,
            conservative_factor(error, effect),
            "calibration_error",
            f"first calibration on record, {first.date} "
            f"({first.certificate or 'no certificate'}), found {first.error_pct:+g} %, "
            f"beyond tolerance: data before it corrected by {error:g} %",
        )
    ]


def _after(
    rec: CalibrationEvidence,
    nxt: CalibrationEvidence | None,
    interval_months: int,
    tolerance_pct: float,
    effect: Effect,
) -> CalibrationWindow | None:
    """The window between a calibration and the next (None: the last on record): the
    next found an error in the project's favour, or came late, or has not come."""
    due = add_months(rec.date, interval_months)
    if nxt is not None and nxt.result == "out_of_tolerance":
        error = nxt.error_pct
        if not _favoured(error, effect):
            return None
        return CalibrationWindow(
            rec.date,
            nxt.date,
            conservative_factor(abs(error), effect),
            "calibration_error",
            f"calibration of {nxt.date} ({nxt.certificate or 'no certificate'}) "
            f"found {error:+g} %, beyond tolerance: data since the last valid "
            f"calibration ({rec.date}) corrected by {abs(error):g} %",
        )
    factor = conservative_factor(tolerance_pct, effect)
    if nxt is None:
        return CalibrationWindow(
            due,
            None,
            factor,
            "calibration_overdue",
            f"calibration due {due} and not yet recorded: maximum permissible "
            f"error {tolerance_pct:g} % applied against the project from then on",
        )
    if nxt.date > due:
        return CalibrationWindow(
            due,
            nxt.date,
            factor,
            "calibration_late",
            f"calibration due {due} done {nxt.date} within tolerance: maximum "
            f"permissible error {tolerance_pct:g} % applied against the project",
        )
    return None
