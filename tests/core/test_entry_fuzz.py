"""Entry bodies from hypothesis: whatever a client sends as the body of any entry type is
either accepted or refused with problems that each name a field under ``body``; nothing
else is raised (no overflow, no crash in a unit conversion, no check that assumes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from core.entries import ENTRY_TYPES, parse_body, validate_body
from core.errors import problems_from
from tests.support.paths import SOLAR_PLAN
from verification.plan_check import load_plan_file

PLAN = load_plan_file(SOLAR_PLAN)
NOW = datetime(2026, 12, 7, tzinfo=UTC)

VALID: dict[str, dict[str, Any]] = {
    "meter_reading": {"device": "pv-a-meter", "quantity": "energy_export",
                      "time": "2026-06-01T00:00:00Z", "value": 100.0, "unit": "kWh"},
    "fuel_invoice": {"invoice_number": "INV-1", "period_start": "2026-05-01",
                     "period_end": "2026-05-31", "value": 120.0, "unit": "L"},
    "calibration_certificate": {"device": "pv-a-meter", "calibrated_on": "2026-06-20",
                                "certificate": "C-1", "result": "within_tolerance",
                                "error_pct": 0.1},
    "weighbridge_ticket": {"ticket_number": "T-1", "time": "2026-06-01T08:00:00Z",
                           "net_mass": {"value": 10.0, "unit": "t"}, "material": "waste"},
    "site_visit_checklist": {"visited_at": "2026-06-01T08:00:00Z", "items": {"meter sealed": True}},
}  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["0001-01-01", "9999-12-31", "2026-02-30", "0001-01-01T00:00:00+23:59",
                     "9999-12-31T23:59:59-23:59", "1e309", "kWh", "degC", "MWh", "\x00"]),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, Any]:
    entry_type = draw(st.sampled_from(ENTRY_TYPES))
    body = dict(VALID[entry_type])
    for key in draw(st.lists(st.sampled_from([*body, "extra"]), max_size=3, unique=True)):
        body[key] = draw(values)  # one field or more replaced by anything
    if draw(st.booleans()):
        body.pop(draw(st.sampled_from(sorted(body))), None)
    return entry_type, draw(st.one_of(st.just(body), values))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=bodies())
def test_any_body_is_accepted_or_refused_naming_its_field(case: tuple[str, Any]) -> None:
    entry_type, body = case
    try:
        typed = parse_body(entry_type, body)
    except ValidationError as exc:
        problems = problems_from(exc, "body")
    else:
        problems = validate_body(typed, PLAN, prefix="body", now=NOW)
    for problem in problems:
        assert problem.field == "body" or problem.field.startswith(("body.", "body[")), problem
        assert str(problem)


def test_the_valid_bodies_are_valid() -> None:
    for entry_type, body in VALID.items():
        assert validate_body(parse_body(entry_type, body), PLAN, prefix="body", now=NOW) == []
