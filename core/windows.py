"""The windows of time an input may lie in, each defined once, for the entry checks, the
HTTP API and the CLI alike (SPEC section 9: dates checked by sense, nothing in the future
that cannot be, nothing before 2000).

- A moment someone recorded (a meter read, a ticket, a visit, an entry's ``recorded_at``)
  lies between :data:`EARLIEST` and the server's clock plus :data:`MOMENT_AHEAD` (a
  phone's clock drifts), and can be expressed in UTC at all (``0001-01-01T00:00+23:59``
  cannot).
- A day someone recorded (a calibration, an invoice's first day) lies between
  :data:`EARLIEST` and tomorrow in UTC (:data:`DAY_AHEAD`: somewhere on Earth it is
  already tomorrow).
- A range someone asks about (a report, readings from ``start`` to ``end``) lies between
  :data:`EARLIEST` and the 31st of December of next year: far enough ahead to ask for a
  whole year in progress, and every date in it converts to epoch milliseconds and back.
- A stored reading's time, as a paging cursor carries it, is a moment every store can
  hold (:data:`STORED_MIN_MS` to :data:`STORED_MAX_MS`).

Each check returns a message (a sentence about the value) or None; the caller names the
field as its client wrote it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from core.times import day_start_ms, to_ms

#: Nothing a person records or asks about is before this day.
EARLIEST = date(2000, 1, 1)
EARLIEST_MOMENT = datetime(2000, 1, 1, tzinfo=UTC)
#: How far ahead of the server's clock a recorded moment may be.
MOMENT_AHEAD = timedelta(minutes=10)
#: How far ahead of the server's UTC date a recorded day may be.
DAY_AHEAD = timedelta(days=1)
#: Readings stored at any time the stores and ``datetime`` can both represent.
STORED_MIN_MS = to_ms(datetime(1, 1, 2, tzinfo=UTC))
STORED_MAX_MS = to_ms(datetime(9999, 12, 31, tzinfo=UTC))
#: Identifiers the relational store hands out (quarantine ids, revisions...): positive
#: and within a signed 64-bit integer.
MAX_ID = 2**63 - 1


def utc_now(now: datetime | None = None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def in_utc(moment: datetime) -> datetime | None:
    """``moment`` in UTC, or None when that falls outside the calendar (year 0 or 10000)."""
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def representable(moment: datetime) -> datetime:
    """A pydantic ``AfterValidator``: ``moment`` unchanged if it has a time in UTC."""
    if moment.tzinfo is not None and in_utc(moment) is None:
        raise ValueError(
            f"{moment.isoformat()} has no time in UTC (its offset leaves the calendar)"
        )
    return moment


def latest_moment(now: datetime | None = None) -> datetime:
    return utc_now(now) + MOMENT_AHEAD


def latest_day(now: datetime | None = None) -> date:
    return (utc_now(now) + DAY_AHEAD).astimezone(UTC).date()


def moment_problem(moment: datetime, now: datetime | None = None) -> str | None:
    """Why a recorded moment is out of sense, or None."""
    moment_utc = in_utc(moment)
    if moment_utc is None:
        return f"{moment.isoformat()} has no time in UTC (its offset leaves the calendar)"
    if moment_utc < EARLIEST_MOMENT:
        return f"{moment.isoformat()} is before {EARLIEST}"
    if moment_utc > latest_moment(now):
        return f"{moment.isoformat()} is in the future"
    return None


def day_problem(day: date, now: datetime | None = None) -> str | None:
    """Why a recorded day is out of sense, or None."""
    if day < EARLIEST:
        return f"{day} is before {EARLIEST}"
    if day > latest_day(now):
        return f"{day} is in the future"
    return None


def range_window(now: datetime | None = None) -> tuple[date, date]:
    """The first and last days a report or a query may cover."""
    return EARLIEST, date(utc_now(now).astimezone(UTC).year + 1, 12, 31)


def range_problems(
    start: date | None, end: date | None, now: datetime | None = None
) -> list[tuple[str, str]]:
    """(``start`` or ``end``, why) for each end of a range outside the window; a range
    outside the crediting period but inside the window is for the report to judge."""
    first, last = range_window(now)
    problems = []
    for name, day in (("start", start), ("end", end)):
        if day is None:
            continue
        if day < first:
            problems.append((name, f"{day} is before {first}: no report covers it"))
        elif day > last:
            problems.append((name, f"{day} is after {last}: no report covers it yet"))
    return problems


def moment_range_problems(
    start: datetime | None, end: datetime | None, now: datetime | None = None
) -> list[tuple[str, str]]:
    """As :func:`range_problems`, for the moments of a query (e.g. readings from
    ``start`` to ``end``): both between the window's first day and the end of its last."""
    first, last = range_window(now)
    problems = []
    for name, moment in (("start", start), ("end", end)):
        if moment is None:
            continue
        moment_utc = in_utc(moment) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        if moment_utc is None:
            problems.append((name, f"{moment.isoformat()} has no time in UTC"))
        elif to_ms(moment_utc) < day_start_ms(first):
            problems.append((name, f"{moment.isoformat()} is before {first}"))
        elif to_ms(moment_utc) >= day_start_ms(last + timedelta(days=1)):
            problems.append((name, f"{moment.isoformat()} is after {last}"))
    return problems
