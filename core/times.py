"""Time as the product keeps it: epoch milliseconds in UTC inside, RFC 3339 at the edges.

Every conversion between ``datetime``, ``date`` and epoch milliseconds goes through here,
in integer arithmetic (``datetime.timestamp() * 1000`` is a float and can land a
millisecond low: 0.123 s is 122.99999 ms).
"""

from __future__ import annotations

import calendar
import time
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, timedelta
from datetime import time as clock_time

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware ``datetime`` (a naive one is taken as UTC),
    rounded down to the millisecond."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // MS


def from_ms(time_ms: int) -> datetime:
    """The aware UTC ``datetime`` of epoch milliseconds."""
    return EPOCH + timedelta(milliseconds=time_ms)


def day_start_ms(day: date) -> int:
    """Epoch milliseconds of 00:00 UTC on ``day``."""
    return to_ms(datetime.combine(day, clock_time(0), tzinfo=UTC))


def now_ms() -> int:
    """The wall clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with millisecond precision and a Z suffix (a naive ``datetime``,
    as SQLite hands back, is taken as UTC, not as the machine's local time)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_ms(time_ms: int) -> str:
    """RFC 3339 (UTC, milliseconds, Z) of epoch milliseconds."""
    return format_time(from_ms(time_ms))


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole calendar months, kept inside the month it lands in
    (31 January + 1 month is 28 or 29 February). Past either end of the calendar it stops
    there: a calibration stored as of 9999-12-31 is next due on that day, not an error
    that fails every report of its project."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    if year > MAXYEAR:
        return date.max
    if year < MINYEAR:
        return date.min
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))
