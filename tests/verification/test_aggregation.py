"""Cumulative registers to period totals: interpolation, rollover, reset, additivity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verification.aggregation import cumulative_total

H = 3_600_000  # one hour in ms


def test_boundaries_are_interpolated_between_bracketing_readings():
    times = [0, H, 2 * H, 3 * H]
    values = [1000.0, 1010.0, 1030.0, 1060.0]
    total = cumulative_total(times, values, H // 2, 2 * H + H // 2, 99999.9)
    # 1005 at 00:30 and 1045 at 02:30
    assert total.total == pytest.approx(40.0)
    assert total.start_interpolated and total.end_interpolated
    assert total.start_covered and total.end_covered
    assert total.readings == 4
    exact = cumulative_total(times, values, H, 2 * H, 99999.9)
    assert exact.total == pytest.approx(20.0)
    assert not exact.start_interpolated and not exact.end_interpolated


def test_rollover_adds_the_register_span_back():
    total = cumulative_total([0, H, 2 * H], [99990.0, 99995.0, 4.0], 0, 2 * H, 99999.9)
    assert total.total == pytest.approx(5.0 + 8.9)
    assert (total.rollovers, total.resets) == (1, 0)


def test_reset_interval_counts_zero_never_negative():
    total = cumulative_total([0, H, 2 * H, 3 * H], [100.0, 110.0, 2.0, 12.0], 0, 3 * H, 99999.9)
    assert total.total == pytest.approx(20.0)
    assert (total.rollovers, total.resets) == (0, 1)
    # without a register size, every decrease is a reset
    assert cumulative_total([0, H], [99995.0, 4.0], 0, H, None).total == 0.0


def test_counting_new_highs_a_climb_past_the_old_high_spans_the_readings_below_it():
    # 100 at 0 h, a failed read stored as 0 at 23 h, 101 at 25 h: the 1 above the old
    # high came at some time between 0 h and 25 h, not in the last two hours
    times, values = [0, 23 * H, 25 * H], [100.0, 0.0, 101.0]
    whole = cumulative_total(times, values, 0, 25 * H, None, envelope=True)
    assert whole.total == pytest.approx(1.0)
    late = cumulative_total(times, values, 24 * H, 25 * H, None, envelope=True)
    assert late.total == pytest.approx(1.0 / 25)  # spread evenly, not 1/2
    # inside a gap longer than the readings' spacing, counting least: none of it
    low = cumulative_total(
        times, values, 24 * H, 26 * H, None, envelope=True, max_gap_ms=3 * H, boundary="low"
    )
    assert low.total == 0.0 and low.start_in_gap
    # readings that stay at the high (a night without output) keep their place
    flat = ([0, H, 2 * H, 3 * H, 4 * H, 5 * H], [5.0, 5.0, 5.0, 6.0, 0.0, 7.0])
    assert cumulative_total(*flat, 2 * H, 3 * H, None, envelope=True).total == pytest.approx(1.0)


def test_no_extrapolation_past_the_readings():
    total = cumulative_total([2 * H, 3 * H], [10.0, 20.0], 0, 4 * H, None)
    assert total.total == pytest.approx(10.0)
    assert not total.start_covered and not total.end_covered


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.floats(-50, 100, allow_nan=False), min_size=1, max_size=40),
    gaps=st.lists(st.integers(1, 5 * H), min_size=40, max_size=40),
    cut=st.floats(0, 1),
    span=st.tuples(st.floats(-0.2, 0.6), st.floats(0.5, 1.2)),
)
def test_splitting_a_period_never_adds_energy(steps, gaps, cut, span):
    values = np.concatenate(([500.0], 500.0 + np.cumsum(steps)))
    values = np.where(values < 0, values % 1000.0, values)
    times = np.concatenate(([0], np.cumsum(gaps[: len(steps)])))
    length = float(times[-1]) or 1.0
    a = int(span[0] * length)
    b = max(a + 1, int(span[1] * length))
    m = a + int(cut * (b - a))
    whole = cumulative_total(times, values, a, b, 999.9)
    first = cumulative_total(times, values, a, m, 999.9)
    second = cumulative_total(times, values, m, b, 999.9)
    assert whole.total >= -1e-9 and first.total >= -1e-9 and second.total >= -1e-9
    assert first.total + second.total == pytest.approx(whole.total, abs=1e-6)


def test_instant_flow_is_integrated_and_gaps_count_zero():
    from verification.aggregation import integrate_instant

    # hourly flow of 50 Nm3/h for 24 h, with samples 10-13 missing (a 4 h hole)
    times = [h * H for h in range(25) if not 10 <= h <= 13]
    rates = [50.0] * len(times)
    result = integrate_instant(times, rates, 0, 24 * H, max_gap_ms=3 * H)
    assert result.gaps == [(9 * H, 14 * H)]
    assert result.total == pytest.approx(50.0 * 19)  # 24 h minus the 5 h gap
    assert result.covered_ms == 19 * H
    # within max_gap the trapezoid bridges the samples
    bridged = integrate_instant(times, rates, 0, 24 * H, max_gap_ms=6 * H)
    assert bridged.gaps == [] and bridged.total == pytest.approx(50.0 * 24)


def test_instant_boundaries_are_interpolated_and_periods_add_up():
    from verification.aggregation import integrate_instant

    times = [0, H, 2 * H]
    rates = [0.0, 10.0, 20.0]
    whole = integrate_instant(times, rates, 0, 2 * H, max_gap_ms=H)
    a = integrate_instant(times, rates, 0, H // 2, max_gap_ms=H)
    b = integrate_instant(times, rates, H // 2, 2 * H, max_gap_ms=H)
    assert whole.total == pytest.approx(20.0)
    assert a.total == pytest.approx(1.25)  # ramp 0 -> 5 over half an hour
    assert a.total + b.total == pytest.approx(whole.total)
    edge = integrate_instant(times, rates, -5 * H, 2 * H, max_gap_ms=H)
    assert edge.gaps == [(-5 * H, 0)] and edge.total == pytest.approx(20.0)
