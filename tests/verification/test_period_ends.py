"""Honest period ends, through the real path (plan -> gateway pipeline -> SQLite store ->
report): a gap is a gap only where data are missing inside the period. A device that
reported up to the period end has none there, though nothing is stored after it (the
report looks 11 days past the end); a device that fell silent inside the period still
has its gap, and so does a real gap in the middle."""

from __future__ import annotations

from datetime import date

import pytest

from tests.support.reporting import ProjectUnderTest, ms
from tests.verification.test_verification_path import CASE_5_PLAN
from tests.verification.test_verification_rules import solar

D = date.fromisoformat
HOUR = 3_600_000
QUARTER = 900_000  # pv-a-meter's expected interval


@pytest.fixture
def project(tmp_path):
    made: list[ProjectUnderTest] = []

    def make(plan_text: str) -> ProjectUnderTest:
        folder = tmp_path / f"p{len(made)}"
        folder.mkdir()
        made.append(ProjectUnderTest(folder, plan_text))
        return made[-1]

    yield make
    for p in made:
        p.close()


def register_rows(first_ms: int, last_ms: int, skip: tuple[int, int] | None = None) -> list:
    """pv-a-meter every 15 min from first to last (inclusive), 10 kWh a reading, with no
    readings strictly inside ``skip``."""
    rows, value, t = [], 1_000.0, first_ms
    while t <= last_ms:
        if skip is None or not skip[0] < t < skip[1]:
            rows.append((t, "pv-a-meter", "energy_export", value, "kWh"))
        value += 10.0
        t += QUARTER
    return rows


def mp_a_gaps(report) -> list:
    return [g for g in report.gaps if g.monitoring_point == "MP-A"]


def mp_a(report):
    return next(x for x in report.parameters if x.monitoring_point == "MP-A")


def test_a_register_that_reported_up_to_the_end_has_no_end_gap(project) -> None:
    p = project(solar())
    start, end = ms("2025-03-01T00:00:00Z"), ms("2025-03-03T00:00:00Z")
    # from the period start to 5 minutes before its end; nothing stored after it
    p.readings(register_rows(start, end - 5 * 60_000 - 10 * 60_000))
    r = p.report(D("2025-03-01"), D("2025-03-02"))
    assert mp_a_gaps(r) == []
    assert mp_a(r).completeness == 1.0
    # measured up to the last reading: 191 rises of 10 kWh
    assert mp_a(r).value == pytest.approx(191 * 10 / 1000)


def test_a_register_silent_before_the_end_has_its_gap_and_a_middle_gap_is_found(
    project,
) -> None:
    p = project(solar())
    start, end = ms("2025-03-01T00:00:00Z"), ms("2025-03-03T00:00:00Z")
    middle = (start + 10 * HOUR, start + 15 * HOUR)
    silent = end - 6 * HOUR  # the meter's last reading
    p.readings(register_rows(start - HOUR, silent, skip=middle))
    r = p.report(D("2025-03-01"), D("2025-03-02"))
    gaps = mp_a_gaps(r)
    assert [(g.start, g.end, g.rule) for g in gaps] == [
        ("2025-03-01T10:00:00.000Z", "2025-03-01T15:00:00.000Z", "register_bridged"),
        ("2025-03-02T18:00:00.000Z", "2025-03-03T00:00:00.000Z", "zero_fill"),
    ]
    # nothing after the silence: it counts as reaching past the 11 days looked at
    assert "to 2025-03-14T00:00:00.000Z" in gaps[1].note
    assert mp_a(r).completeness == pytest.approx(1 - 6 / 48)


def test_a_register_that_starts_just_after_the_period_start_has_no_start_gap(project) -> None:
    p = project(solar())
    start = ms("2025-03-01T00:00:00Z")
    # a new meter's first reading 20 minutes in, then every 15 min past the period end
    p.readings(register_rows(start + 20 * 60_000, start + 26 * HOUR))
    r = p.report(D("2025-03-01"), D("2025-03-01"))
    assert mp_a_gaps(r) == []


def test_interval_totals_and_samples_up_to_the_end_have_no_end_gap(project) -> None:
    p = project(CASE_5_PLAN)
    t0 = ms("2026-04-01T00:00:00Z")
    rows = []
    for h in range(24):
        # the last hour's total and the samples at the period end not stored (yet)
        if h < 23:
            rows.append(
                (t0 + (h + 1) * HOUR, "fm", "gas_volume_normal", 50.0, "Nm3", "interval", 3600)
            )
        rows.append((t0 + h * HOUR, "an", "ch4_fraction", 0.5, ""))
        rows.append((t0 + h * HOUR, "tc", "flare_temperature", 850.0, "degC"))
    p.readings(rows)
    r = p.report(D("2026-04-01"), D("2026-04-01"))
    assert r.gaps == []
    calc = {c.label: c.value for c in r.calculation}
    assert calc["Σ LFG_flare"] == pytest.approx(23 * 50.0)


def test_interval_totals_that_stop_inside_the_period_leave_a_gap(project) -> None:
    p = project(CASE_5_PLAN)
    t0 = ms("2026-04-01T00:00:00Z")
    rows = []
    for h in range(25):
        if h < 20:
            rows.append(
                (t0 + (h + 1) * HOUR, "fm", "gas_volume_normal", 50.0, "Nm3", "interval", 3600)
            )
        rows.append((t0 + h * HOUR, "an", "ch4_fraction", 0.5, ""))
        rows.append((t0 + h * HOUR, "tc", "flare_temperature", 850.0, "degC"))
    p.readings(rows)
    r = p.report(D("2026-04-01"), D("2026-04-01"))
    gap = next(g for g in r.gaps if g.monitoring_point == "MP-V")
    assert (gap.start, gap.end, gap.hours) == (
        "2026-04-01T20:00:00.000Z",
        "2026-04-02T00:00:00.000Z",
        4,
    )
    # its end unknown, it is judged as reaching past the data loaded: over 7 days
    assert gap.rule == "no_credit"
    assert [g.monitoring_point for g in r.gaps] == ["MP-V"]
