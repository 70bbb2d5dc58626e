"""The windows of time inputs may lie in (core.windows) and the entry checks built on them
(core.entries): dates by sense, calibrations not in the future, invoices inside the
crediting period, moments that have a time in UTC."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from core.entries import EntryIn, validate_against_plan, validate_body
from core.errors import problems_from
from core.plans.schema import MonitoringPlan
from core.times import add_months
from core.windows import (
    EARLIEST,
    day_problem,
    moment_problem,
    moment_range_problems,
    range_problems,
    range_window,
)
from tests.support.paths import SOLAR_PLAN

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
# crediting period 2026-01-01 to 2030-12-31
PLAN = MonitoringPlan.model_validate(yaml.safe_load(SOLAR_PLAN.read_text()))


def _entry(entry_type: str, body: dict[str, Any], **envelope: Any) -> EntryIn:
    return EntryIn.model_validate(
        {"id": str(uuid.uuid4()), "type": entry_type, "body": body, "author": "somchai"} | envelope
    )


def _certificate(on: str) -> EntryIn:
    body = {
        "device": "pv-a-meter",
        "calibrated_on": on,
        "certificate": "CAL-1",
        "result": "within_tolerance",
        "error_pct": 0.1,
    }
    return _entry("calibration_certificate", body)


def _invoice(start: str, end: str) -> EntryIn:
    body = {
        "invoice_number": "EGAT-1",
        "period_start": start,
        "period_end": end,
        "value": 88.1,
        "unit": "MWh",
        "monitoring_point": "MP-A",
    }
    return _entry("fuel_invoice", body)


def _reading(time: str) -> dict[str, Any]:
    return {
        "device": "pv-a-meter",
        "quantity": "energy_export",
        "time": time,
        "value": 100.0,
        "unit": "MWh",
    }


def _fields(entry: EntryIn, now: datetime = NOW) -> list[str]:
    return [p.field for p in validate_against_plan(entry, PLAN, now=now)]


def test_days_lie_between_2000_and_tomorrow() -> None:
    assert day_problem(EARLIEST, NOW) is None
    assert day_problem(date(2026, 11, 27), NOW) is None  # tomorrow: somewhere it is today
    assert "before 2000-01-01" in (day_problem(date(1999, 12, 31), NOW) or "")
    assert "in the future" in (day_problem(date(2026, 11, 28), NOW) or "")
    assert "in the future" in (day_problem(date.max, NOW) or "")
    assert day_problem(date.min, NOW) is not None


def test_moments_lie_between_2000_and_ten_minutes_ahead_and_have_a_utc_time() -> None:
    assert moment_problem(datetime(2000, 1, 1, tzinfo=UTC), NOW) is None
    assert moment_problem(NOW + timedelta(minutes=9), NOW) is None
    assert "in the future" in (moment_problem(NOW + timedelta(minutes=11), NOW) or "")
    before = datetime.fromisoformat("2000-01-01T00:30:00+01:00")  # 1999 in UTC
    assert "before 2000-01-01" in (moment_problem(before, NOW) or "")
    for text in ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"]:
        assert "no time in UTC" in (moment_problem(datetime.fromisoformat(text), NOW) or "")


def test_ranges_lie_between_2000_and_the_end_of_next_year() -> None:
    assert range_window(NOW) == (date(2000, 1, 1), date(2027, 12, 31))
    assert range_problems(date(2000, 1, 1), date(2027, 12, 31), NOW) == []
    # outside the crediting period but inside the window: for the report to judge
    assert range_problems(date(2019, 1, 1), date(2019, 12, 31), NOW) == []
    assert [f for f, _ in range_problems(date(1, 1, 1), date(2026, 1, 1), NOW)] == ["start"]
    assert [f for f, _ in range_problems(date(2026, 1, 1), date(9999, 12, 20), NOW)] == ["end"]
    assert [f for f, _ in range_problems(date.min, date.max, NOW)] == ["start", "end"]
    late = datetime(2028, 1, 1, tzinfo=UTC)
    assert [f for f, _ in moment_range_problems(None, late, NOW)] == ["end"]
    assert moment_range_problems(None, late - timedelta(milliseconds=1), NOW) == []
    overflow = datetime.fromisoformat("0001-01-01T00:00:00+23:59")
    assert [f for f, _ in moment_range_problems(overflow, None, NOW)] == ["start"]


def test_add_months_stops_at_the_ends_of_the_calendar() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(9999, 12, 31), 12) == date.max
    assert add_months(date(9999, 6, 1), 24) == date.max
    assert add_months(date(1, 1, 1), -1) == date.min
    assert add_months(date(9998, 12, 31), 12) == date(9999, 12, 31)


def test_a_calibration_in_the_future_is_refused() -> None:
    assert _fields(_certificate("2026-11-26")) == []
    assert _fields(_certificate("2026-11-27")) == []
    assert _fields(_certificate("2026-11-28")) == ["body.calibrated_on"]
    assert _fields(_certificate("9999-12-31")) == ["body.calibrated_on"]
    assert _fields(_certificate("1999-12-31")) == ["body.calibrated_on"]
    # an edit is checked as a new entry is
    body = _certificate("9999-12-31").body
    assert [p.field for p in validate_body(body, PLAN, now=NOW)] == ["body.calibrated_on"]


def test_invoices_lie_inside_the_crediting_period_and_have_begun() -> None:
    assert _fields(_invoice("2026-06-01", "2026-06-30")) == []
    # an annual contract billed before its year is out
    assert _fields(_invoice("2026-04-01", "2027-03-31")) == []
    assert _fields(_invoice("0001-01-01", "0001-01-31")) == ["body.period_start"]
    assert _fields(_invoice("2025-12-01", "2026-01-31")) == ["body.period_start"]
    assert _fields(_invoice("2026-06-01", "9999-12-31")) == ["body.period_end"]
    at_the_end = datetime(2030, 12, 15, tzinfo=UTC)
    assert _fields(_invoice("2030-12-01", "2031-01-31"), now=at_the_end) == ["body.period_end"]
    assert _fields(_invoice("9999-01-01", "9999-12-31")) == ["body.period_start"]
    assert _fields(_invoice("2026-12-01", "2026-12-31")) == ["body.period_start"]
    assert (
        _fields(_invoice("2026-12-01", "2026-12-31"), now=datetime(2026, 12, 1, tzinfo=UTC)) == []
    )


def test_entry_times_are_checked_by_sense() -> None:
    reading = _entry("meter_reading", _reading("2026-06-01T00:00:00Z"))
    assert _fields(reading) == []
    for time in ["1999-12-31T23:59:59Z", "2026-11-27T00:00:00Z", "9999-12-31T00:00:00Z"]:
        assert _fields(_entry("meter_reading", _reading(time))) == ["body.time"], time
    ticket = {
        "ticket_number": "WB-1",
        "time": "1970-01-01T00:00:00Z",
        "net_mass": {"value": 12.0, "unit": "t"},
        "material": "rice husk",
    }
    assert _fields(_entry("weighbridge_ticket", ticket)) == ["body.time"]
    visit = {"visited_at": "1900-01-01T00:00:00Z", "items": {"seals intact": True}}
    assert _fields(_entry("site_visit_checklist", visit)) == ["body.visited_at"]
    old = _entry("meter_reading", _reading("2026-06-01T00:00:00Z"), recorded_at="1999-01-01T00:00Z")
    assert _fields(old) == ["recorded_at"]
    ahead = _entry(
        "meter_reading", _reading("2026-06-01T00:00:00Z"), recorded_at="2030-01-01T00:00Z"
    )
    assert _fields(ahead) == ["recorded_at"]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"])
def test_a_moment_with_no_time_in_utc_is_refused_by_the_schema(moment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _entry("meter_reading", _reading("2026-06-01T00:00:00Z"), recorded_at=moment)
    assert [p.field for p in problems_from(caught.value)] == ["recorded_at"]
    with pytest.raises(ValidationError) as caught:
        _entry("meter_reading", _reading(moment))
    assert [p.field for p in problems_from(caught.value)] == ["body.time"]
