"""Conservativeness, property-based, on the engine (the pure part of the real path).

Each report is built from what the store would hand it for that period (readings within
the period plus a margin, and the neighbours just outside: ``store_view``), so the
properties hold for the reports ``mrv report`` writes:

- splitting a period into two adjacent periods never yields more total (unrounded)
  emission reductions than the whole period;
- adding a gap to the readings (a stretch without data longer than the gap tolerance)
  never increases them.

Under the plan's default ``conservative`` rule set. (California's mean-before-after
substitution can exceed the data it replaces, by design of that rule.)
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.plans.schema import MonitoringPlan
from core.times import day_start_ms
from persistence.stores.timeseries import SeriesArrays
from tests.support.paths import SOLAR_PLAN
from tests.support.reporting import with_blower_meter
from tests.verification.test_verification_path import CASE_5_PLAN, GAS_PLAN
from verification.engine import build_report
from verification.inputs import MARGIN, ReportInputs
from verification.plan_check import validate_plan_text

START = date(2025, 3, 1)
Series = dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]


def plan_of(text: str) -> MonitoringPlan:
    plan, problems = validate_plan_text(text)
    assert plan is not None and not problems, problems
    return plan


def store_view(series: Series, start: date, end: date) -> dict[tuple[str, str], SeriesArrays]:
    """What ``TimeSeriesStore.series`` returns for a report of [start, end]."""
    lo = day_start_ms(start - MARGIN)
    hi = day_start_ms(end + timedelta(days=1) + MARGIN)
    out = {}
    for key, (t, v) in series.items():
        first = max(int(np.searchsorted(t, lo, "left")) - 1, 0)
        last = min(int(np.searchsorted(t, hi, "right")) + 1, t.size)
        out[key] = SeriesArrays(
            t[first:last].astype(np.int64),
            v[first:last].astype(float),
            np.full(last - first, np.nan),
        )
    return out


def er(plan: MonitoringPlan, series: Series, start: date, end: date) -> float:
    inputs = ReportInputs(
        plan=plan,
        plan_sha256="p",
        table_sha256="t",
        gap_rules_sha256="g",
        start=start,
        end=end,
        series=store_view(series, start, end),
    )
    return build_report(inputs).emission_reductions_tco2.unrounded


def without(series: Series, key: tuple[str, str], a: int, b: int) -> Series:
    t, v = series[key]
    keep = (t < a) | (t > b)
    return {**series, key: (t[keep], v[keep])}


# -- solar: cumulative registers with rollovers and resets ---------------------------

SOLAR = yaml.safe_load(SOLAR_PLAN.read_text())
SOLAR["project"]["crediting_period"]["start"] = "2024-01-01"
for _d in SOLAR["devices"]:
    if _d["id"] == "pv-a-meter":
        _d["register_max"] = 50_000.0
SOLAR_P = plan_of(yaml.safe_dump(SOLAR))
DAYS = 12


@st.composite
def registers(draw: st.DrawFn) -> Series:
    out: Series = {}
    for device in ("pv-a-meter", "pv-b-meter"):
        n = draw(st.integers(4, 60))
        spacing = draw(st.lists(st.integers(60_000, 86_400_000), min_size=n, max_size=n))
        t = day_start_ms(START - timedelta(days=2)) + np.cumsum(spacing)
        rises = draw(st.lists(st.floats(0, 4_000), min_size=n, max_size=n))
        v = (1_000 + np.cumsum(rises)) % 50_000.0
        if draw(st.booleans()):  # a reset somewhere
            k = draw(st.integers(1, n - 1))
            v[k:] = v[k:] - v[k] + draw(st.floats(0, 10))
        out[(device, "energy_export")] = (t, np.abs(v))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series=registers(), split=st.integers(1, DAYS - 1))
def test_solar_split_periods_never_yield_more(series: Series, split: int) -> None:
    end = START + timedelta(days=DAYS - 1)
    whole = er(SOLAR_P, series, START, end)
    first = er(SOLAR_P, series, START, START + timedelta(days=split - 1))
    second = er(SOLAR_P, series, START + timedelta(days=split), end)
    assert first + second <= whole + 1e-6 * max(1.0, abs(whole))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series=registers(), data=st.data())
def test_solar_gap_never_increases(series: Series, data: st.DataObject) -> None:
    """A gap (a stretch without readings longer than the gap tolerance, 2.5 expected
    intervals) added between the readings bracketing the period's boundaries."""
    end = START + timedelta(days=DAYS - 1)
    key = ("pv-a-meter", "energy_export")
    t, _ = series[key]
    s, e = day_start_ms(START), day_start_ms(end + timedelta(days=1))
    after_start, before_end = t[t >= s], t[t <= e]
    if after_start.size == 0 or before_end.size == 0:
        return
    lo, hi = after_start.min(), before_end.max()
    if hi - lo < 3_600_000:
        return
    a = data.draw(st.integers(int(lo) + 1, int(hi) - 1))
    length = data.draw(st.integers(40 * 60_000, 5 * 86_400_000))  # over 2.5 x 15 min
    b = min(a + length, int(hi) - 1)
    whole = er(SOLAR_P, series, START, end)
    gapped = er(SOLAR_P, without(series, key, a, b), START, end)
    assert gapped <= whole + 1e-6 * max(1.0, abs(whole))


# -- methane: instant series step by step, project emissions from a register ---------

GAS = yaml.safe_load(GAS_PLAN)
GAS["project"]["gap_rules"] = "conservative"
for _d in GAS["devices"]:
    _d["expected_interval_s"] = 600
GAS["devices"][0]["quantities"] = ["gas_flow_normal"]
GAS["devices"][0]["reference_conditions"] = {"temperature_c": 0.0, "pressure_kpa": 101.325}
GAS["monitoring_points"][0]["quantity"] = "gas_flow_normal"
GAS["parameters"] = [p for p in GAS["parameters"] if p["symbol"] not in ("T_LFG", "P_LFG")]
GAS["parameters"][0]["unit"] = "Nm3"
with_blower_meter(GAS)
GAS_P = plan_of(yaml.safe_dump(GAS))
GAS_DAYS = 3
TEN_MIN = 600_000


@st.composite
def gas_series(draw: st.DrawFn) -> Series:
    t0 = day_start_ms(START - timedelta(days=1))
    n = (GAS_DAYS + 2) * 144
    t = t0 + np.arange(n) * TEN_MIN
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    hours = t0 + np.arange((GAS_DAYS + 2) * 24 + 1) * 3_600_000
    return {
        ("fm", "gas_flow_normal"): (t, rng.uniform(0, 900, n)),
        ("an", "ch4_fraction"): (t, rng.uniform(0.3, 0.6, n)),
        ("tc", "flare_temperature"): (t, rng.choice([300.0, 800.0, 900.0], n, p=[0.1, 0.45, 0.45])),
        ("em", "energy_consumed"): (hours, np.cumsum(rng.uniform(0, 40, hours.size))),
    }


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series=gas_series(), split=st.integers(1, GAS_DAYS - 1))
def test_methane_split_periods_never_yield_more(series: Series, split: int) -> None:
    end = START + timedelta(days=GAS_DAYS - 1)
    whole = er(GAS_P, series, START, end)
    parts = er(GAS_P, series, START, START + timedelta(days=split - 1)) + er(
        GAS_P, series, START + timedelta(days=split), end
    )
    assert parts <= whole + 1e-6 * max(1.0, abs(whole))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    series=gas_series(),
    which=st.sampled_from(
        [
            ("fm", "gas_flow_normal"),
            ("an", "ch4_fraction"),
            ("tc", "flare_temperature"),
            ("em", "energy_consumed"),
        ]
    ),
    offset_min=st.integers(-600, GAS_DAYS * 1440),
    length_min=st.integers(40, 2 * 1440),
)
def test_methane_gap_never_increases(
    series: Series, which: tuple[str, str], offset_min: int, length_min: int
) -> None:
    end = START + timedelta(days=GAS_DAYS - 1)
    a = day_start_ms(START) + offset_min * 60_000
    if which[0] == "em":
        length_min = max(length_min, 200)  # hourly register: a gap is over 2.5 h
    whole = er(GAS_P, series, START, end)
    gapped = er(GAS_P, without(series, which, a, a + length_min * 60_000), START, end)
    assert gapped <= whole + 1e-6 * max(1.0, abs(whole))


# -- California rules: a gap is judged whole, whichever period reports it ------------

CALIFORNIA = yaml.safe_load(CASE_5_PLAN)
CALIFORNIA_P = plan_of(yaml.safe_dump(CALIFORNIA))
CAL_DAYS = 20


@st.composite
def hourly_with_gaps(draw: st.DrawFn) -> Series:
    """Hourly gas volumes (interval totals) over the period and its margins, with up to
    three gaps of up to twelve days; methane fraction and flare evidence throughout."""
    t0 = day_start_ms(START - timedelta(days=9))
    hours = (CAL_DAYS + 18) * 24
    ends = t0 + (np.arange(hours) + 1) * 3_600_000
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    keep = np.ones(hours, dtype=bool)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, hours - 1))
        keep[at : at + draw(st.integers(1, 12 * 24))] = False
    samples = t0 + np.arange(hours + 1) * 3_600_000
    return {
        ("fm", "gas_volume_normal"): (ends[keep], rng.uniform(20, 80, hours)[keep]),
        ("an", "ch4_fraction"): (samples, np.full(samples.size, 0.5)),
        ("tc", "flare_temperature"): (samples, np.full(samples.size, 850.0)),
    }


def interval_view(series: Series, start: date, end: date) -> dict[tuple[str, str], SeriesArrays]:
    view = store_view(series, start, end)
    t, v, *_ = view[("fm", "gas_volume_normal")]
    view[("fm", "gas_volume_normal")] = SeriesArrays(t, v, np.full(t.size, 3600.0))
    return view


def er_interval(series: Series, start: date, end: date) -> float:
    inputs = ReportInputs(
        plan=CALIFORNIA_P,
        plan_sha256="p",
        table_sha256="t",
        gap_rules_sha256="g",
        start=start,
        end=end,
        series=interval_view(series, start, end),
    )
    return build_report(inputs).emission_reductions_tco2.unrounded


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series=hourly_with_gaps(), split=st.integers(1, CAL_DAYS - 1))
def test_california_split_periods_never_yield_more(series: Series, split: int) -> None:
    end = START + timedelta(days=CAL_DAYS - 1)
    whole = er_interval(series, START, end)
    parts = er_interval(series, START, START + timedelta(days=split - 1)) + er_interval(
        series, START + timedelta(days=split), end
    )
    assert parts <= whole + 1e-6 * max(1.0, abs(whole))


# -- a corrupted register reading never raises the reductions -------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    series=registers(),
    data=st.data(),
    bad=st.sampled_from([0.0, 1e9, -1.0]),
)
def test_a_corrupted_register_reading_never_raises_reductions(
    series: Series, data: st.DataObject, bad: float
) -> None:
    end = START + timedelta(days=DAYS - 1)
    key = ("pv-b-meter", "energy_export")  # no rollover: register_max is large
    t, v = series[key]
    if t.size < 3 or np.any(np.diff(v) < 0):
        return
    k = data.draw(st.integers(1, t.size - 2))
    corrupted = v.copy()
    corrupted[k] = abs(bad) if bad >= 0 else v[k - 1] * 0.5
    clean = er(SOLAR_P, series, START, end)
    dirty = er(SOLAR_P, {**series, key: (t, corrupted)}, START, end)
    assert dirty <= clean + 1e-6 * max(1.0, abs(clean))


def test_a_zero_before_a_period_without_data_credits_nothing() -> None:
    """Found by the property test above with a random seed: pv-b's register steps from
    1000 to 1001 kWh the day before the period; a corrupted 0 just before the start, read
    as a reset, made the climb past the old high look as if it happened in the minute
    across the boundary, so the period got a share of a rise that was before it. Counting
    only new highs, the rise belongs to the whole stretch from the last reading at the old
    high (a day before), and a boundary inside that stretch gets none of it."""
    t0 = 1_740_614_460_000  # 2025-02-27T00:01Z, two days before START
    a = (t0 + 60_000 * np.arange(60), np.full(60, 1000.0))
    times = [t0 + 60_000 * i for i in range(6)] + [1_740_700_741_151, 1_740_787_141_151]
    times += [1_740_787_201_201 + 60_000 * i for i in range(10)]
    values = np.array([1000.0] * 7 + [1001.0] * 11)
    corrupted = values.copy()
    corrupted[7] = 0.0
    end = START + timedelta(days=DAYS - 1)
    b = ("pv-b-meter", "energy_export")
    clean = er(
        SOLAR_P, {("pv-a-meter", "energy_export"): a, b: (np.array(times), values)}, START, end
    )
    dirty = er(
        SOLAR_P, {("pv-a-meter", "energy_export"): a, b: (np.array(times), corrupted)}, START, end
    )
    # the rise was before the period, and the period has no data after its first minutes
    assert clean == 0.0
    assert dirty == 0.0
