"""Gap substitution rule sets (methodologies.md, "Missing data"; hand-checked case 5)."""

from __future__ import annotations

import fnmatch
import itertools
import math
import tomllib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.support.paths import ROOT
from verification import gaps
from verification.gaps import (
    GapRuleSet,
    load_gap_rules,
    student_t_cdf,
    student_t_quantile,
    substitute_gap,
)

H = 3_600_000  # one hour in ms
DAY = 24 * H

CALIFORNIA = load_gap_rules("california")
CONSERVATIVE = load_gap_rules("conservative")

# Student-t quantiles from published tables (more decimals than the 3 that must hold).
T_95_10 = 1.812461
T_975_10 = 2.228139
T_90_10 = 1.372184


def around(start_ms: int, end_ms: int, before: list[float], after: list[float], step=H):
    """Samples every ``step`` ending at the gap's start and starting at its end."""
    tb = [start_ms - step * (len(before) - 1 - i) for i in range(len(before))]
    ta = [end_ms + step * i for i in range(len(after))]
    return tb + ta, list(before) + list(after)


# ------------------------------------------------------------------ quantiles


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [
        (0.95, 10, 1.812),
        (0.975, 10, 2.228),
        (0.90, 10, 1.372),
        (0.95, 1, 6.314),
        (0.975, 1, 12.706),
        (0.95, 2, 2.920),
        (0.995, 5, 4.032),
        (0.975, 30, 2.042),
        (0.95, 143, 1.656),
        (0.975, 1000, 1.962),
        (0.95, math.inf, 1.645),
        (0.975, math.inf, 1.960),
    ],
)
def test_student_t_quantile_matches_tables_to_3_decimals(p, df, expected):
    assert round(student_t_quantile(p, df), 3) == expected


def test_student_t_quantile_more_decimals_symmetry_and_limits():
    assert student_t_quantile(0.95, 10) == pytest.approx(T_95_10, abs=1e-6)
    assert student_t_quantile(0.975, 10) == pytest.approx(T_975_10, abs=1e-6)
    assert student_t_quantile(0.05, 10) == pytest.approx(-T_95_10, abs=1e-6)
    assert student_t_quantile(0.5, 7) == 0.0
    # tends to the normal quantile from above as df grows
    z = student_t_quantile(0.95, math.inf)
    ts = [student_t_quantile(0.95, df) for df in (5, 50, 500, 5000, 1e6)]
    assert all(a > b for a, b in itertools.pairwise(ts))
    assert ts[-1] == pytest.approx(z, abs=1e-5)
    for df in (1, 3.5, 10, 200):
        for p in (0.6, 0.9, 0.99):
            assert student_t_cdf(student_t_quantile(p, df), df) == pytest.approx(p, abs=1e-10)
    with pytest.raises(ValueError):
        student_t_quantile(1.0, 10)
    with pytest.raises(ValueError):
        student_t_quantile(0.9, 0)


# ------------------------------------------------------------------ hand-checked case 5


def test_case_5_short_gap_takes_the_mean_of_the_4_h_around():
    start, end = 9 * H, 12 * H  # last sample before, first after: 3 h
    times, values = around(start, end, [50, 52, 48, 50], [46, 50, 54, 50])
    # samples outside the 4 h windows must not count
    times, values = [start - 10 * H, *times, end + 10 * H], [999.0, *values, 999.0]
    sub = substitute_gap(CALIFORNIA, start, end, times, values, effect="raises_reference")
    assert sub.rule == "mean_before_after"
    assert sub.rate == pytest.approx(50.0)
    assert sub.rate * (end - start) / H == pytest.approx(150.0)  # Nm3 over the gap
    assert "8 samples" in sub.note
    # same rate whichever way the parameter moves emissions
    project = substitute_gap(CALIFORNIA, start, end, times, values, effect="raises_project")
    assert (project.rule, project.rate) == ("mean_before_after", pytest.approx(50.0))


def test_case_5_ten_day_gap_gets_no_credit():
    start, end = 0, 10 * DAY
    times, values = around(start, end, [50.0] * 72, [50.0] * 72)
    sub = substitute_gap(CALIFORNIA, start, end, times, values, effect="raises_reference")
    assert (sub.rule, sub.rate) == ("no_credit", 0.0)
    assert "no credit" in sub.note
    # a parameter raising project emissions takes the conservative set's value
    project = substitute_gap(
        CALIFORNIA, start, end, times, [*values[:-1], 80.0], effect="raises_project"
    )
    assert (project.rule, project.rate) == ("period_maximum", 80.0)


# ------------------------------------------------------------------ California bands

# 11 samples (df = 10) in the 72 h windows: 6 before, 5 after, 6 h apart
BEFORE = [40.0, 55.0, 47.0, 62.0, 51.0, 45.0]
AFTER = [58.0, 44.0, 53.0, 49.0, 56.0]
SAMPLES = np.array(BEFORE + AFTER)
MEAN = float(SAMPLES.mean())
SEM = float(SAMPLES.std(ddof=1)) / math.sqrt(SAMPLES.size)


def band_case(gap_ms: int, effect, *, rules=CALIFORNIA):
    times, values = around(0, gap_ms, BEFORE, AFTER, step=6 * H)
    # an hourly sample exactly 72 h before the start lies outside (start - 72 h, start]
    times, values = [-72 * H, *times], [1000.0, *values]
    return substitute_gap(rules, 0, gap_ms, times, values, effect=effect)


@pytest.mark.parametrize(
    ("gap_ms", "rule", "t"),
    [
        (6 * H, "lower_90_confidence_72h", T_95_10),  # exactly 6 h: the 90 % band
        (12 * H, "lower_90_confidence_72h", T_95_10),
        (24 * H - 1, "lower_90_confidence_72h", T_95_10),
        (24 * H, "lower_95_confidence_72h", T_975_10),  # exactly 24 h: the 95 % band
        (3 * DAY, "lower_95_confidence_72h", T_975_10),
        (7 * DAY, "lower_95_confidence_72h", T_975_10),  # exactly 7 days: still 95 %
    ],
)
def test_confidence_bands_take_the_lower_limit_for_reference(gap_ms, rule, t):
    sub = band_case(gap_ms, "raises_reference")
    assert sub.rule == rule
    assert sub.rate == pytest.approx(MEAN - t * SEM, abs=1e-5)
    assert sub.rate < MEAN
    assert "11 samples" in sub.note and "two-sided" in sub.note


@pytest.mark.parametrize(
    ("gap_ms", "rule", "t"),
    [
        (6 * H, "upper_90_confidence_72h", T_95_10),
        (24 * H, "upper_95_confidence_72h", T_975_10),
        (7 * DAY, "upper_95_confidence_72h", T_975_10),
    ],
)
def test_confidence_bands_take_the_upper_limit_for_project(gap_ms, rule, t):
    sub = band_case(gap_ms, "raises_project")
    assert sub.rule == rule
    assert sub.rate == pytest.approx(MEAN + t * SEM, abs=1e-5)


def test_band_edges_just_below_6_h_and_just_over_7_days():
    assert band_case(6 * H - 1, "raises_reference").rule == "mean_before_after"
    over = band_case(7 * DAY + 1, "raises_reference")
    assert (over.rule, over.rate) == ("no_credit", 0.0)
    over_project = band_case(7 * DAY + 1, "raises_project")
    assert (over_project.rule, over_project.rate) == ("period_maximum", 1000.0)


def test_one_sided_setting_uses_the_one_sided_quantile():
    data = CALIFORNIA.model_dump()
    for band in data["bands"]:
        if band["method"] == "confidence_limit":
            band["sided"] = "one"
    one_sided = GapRuleSet.model_validate(data)
    sub = band_case(12 * H, "raises_reference", rules=one_sided)
    assert sub.rate == pytest.approx(MEAN - T_90_10 * SEM, abs=1e-5)
    assert "one-sided" in sub.note


def test_lower_limit_never_below_zero_for_a_nonnegative_series():
    times, values = around(0, 12 * H, [0.0, 0.0, 0.0, 90.0], [0.0, 0.0, 0.0])
    sub = substitute_gap(CALIFORNIA, 0, 12 * H, times, values, effect="raises_reference")
    assert sub.rule == "lower_90_confidence_72h" and sub.rate == 0.0


def test_too_few_samples_for_a_confidence_limit():
    times, values = [-H, 30 * H], [50.0, 70.0]
    ref = substitute_gap(CALIFORNIA, 0, 12 * H, times[:1], values[:1], effect="raises_reference")
    assert (ref.rule, ref.rate) == ("too_few_samples", 0.0)
    project = substitute_gap(
        CALIFORNIA, 0, 12 * H, times[:1], values[:1], effect="raises_project", default=60.0
    )
    assert (project.rule, project.rate) == ("default_value", 60.0)


def test_samples_inside_the_gap_and_nans_are_ignored():
    times, values = around(9 * H, 12 * H, [50, 52, 48, 50], [46, 50, 54, 50])
    times += [10 * H, 11 * H, 13 * H + H // 2]
    values += [500.0, 500.0, float("nan")]
    order = np.argsort(times)
    sub = substitute_gap(
        CALIFORNIA,
        9 * H,
        12 * H,
        np.asarray(times)[order],
        np.asarray(values)[order],
        effect="raises_reference",
    )
    assert sub.rate == pytest.approx(50.0)


# ------------------------------------------------------------------ device, no data


def test_device_not_operating_gets_no_credit():
    times, values = around(9 * H, 12 * H, [50, 52, 48, 50], [46, 50, 54, 50])
    sub = substitute_gap(
        CALIFORNIA, 9 * H, 12 * H, times, values, effect="raises_reference", device_operating=False
    )
    assert (sub.rule, sub.rate) == ("no_credit", 0.0)
    assert "not shown operating" in sub.note
    project = substitute_gap(
        CALIFORNIA, 9 * H, 12 * H, times, values, effect="raises_project", device_operating=False
    )
    assert (project.rule, project.rate) == ("period_maximum", 54.0)
    # the conservative set has no device condition
    cons = substitute_gap(
        CONSERVATIVE, 9 * H, 12 * H, times, values, effect="raises_project", device_operating=False
    )
    assert cons.rate == 54.0


@pytest.mark.parametrize("gap_ms", [3 * H, 12 * H, 3 * DAY])
def test_no_data_around_the_gap(gap_ms):
    sub = substitute_gap(CALIFORNIA, 0, gap_ms, [], [], effect="raises_reference")
    assert (sub.rule, sub.rate) == ("no_data_around", 0.0)
    with_default = substitute_gap(
        CALIFORNIA, 0, gap_ms, [], [], effect="raises_project", default=75.0
    )
    assert (with_default.rule, with_default.rate) == ("no_data_around", 75.0)
    assert "default 75" in with_default.note
    with pytest.raises(ValueError, match="no default"):
        substitute_gap(CALIFORNIA, 0, gap_ms, [], [], effect="raises_project")
    # samples far outside the windows: the maximum of the data passed, still flagged
    far = substitute_gap(
        CALIFORNIA, 0, gap_ms, [-100 * H, gap_ms + 100 * H], [10.0, 20.0], effect="raises_project"
    )
    assert (far.rule, far.rate) == ("no_data_around", 20.0)


# ------------------------------------------------------------------ conservative set


def test_conservative_zero_fills_reference_parameters():
    times, values = around(0, 5 * DAY, [50.0] * 72, [60.0] * 72)
    for gap in (H, 12 * H, 5 * DAY, 30 * DAY):
        sub = substitute_gap(CONSERVATIVE, 0, gap, times, values, effect="raises_reference")
        assert (sub.rule, sub.rate) == ("zero_fill", 0.0)
        assert "counts zero" in sub.note


def test_conservative_project_parameters_take_the_maximum_or_the_default():
    times, values = around(0, 2 * H, [3.0, 9.0, 4.0], [5.0, 2.0])
    peak = substitute_gap(CONSERVATIVE, 0, 2 * H, times, values, effect="raises_project")
    assert (peak.rule, peak.rate) == ("period_maximum", 9.0)
    assert "maximum 9" in peak.note
    smaller_default = substitute_gap(
        CONSERVATIVE, 0, 2 * H, times, values, effect="raises_project", default=7.0
    )
    assert (smaller_default.rule, smaller_default.rate) == ("period_maximum", 9.0)
    assert "not below the default 7" in smaller_default.note
    larger_default = substitute_gap(
        CONSERVATIVE, 0, 2 * H, times, values, effect="raises_project", default=12.0
    )
    assert (larger_default.rule, larger_default.rate) == ("default_value", 12.0)
    assert "exceeds the maximum 9" in larger_default.note
    no_data = substitute_gap(CONSERVATIVE, 0, 2 * H, [], [], effect="raises_project", default=4.0)
    assert (no_data.rule, no_data.rate) == ("default_value", 4.0)
    with pytest.raises(ValueError, match="no default"):
        substitute_gap(CONSERVATIVE, 0, 2 * H, [], [], effect="raises_project")


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="after"):
        substitute_gap(CONSERVATIVE, H, H, [], [], effect="raises_reference")
    with pytest.raises(ValueError, match="ascending"):
        substitute_gap(CALIFORNIA, 0, H, [2 * H, H], [1.0, 2.0], effect="raises_reference")
    with pytest.raises(ValueError, match="length"):
        substitute_gap(CALIFORNIA, 0, H, [H], [1.0, 2.0], effect="raises_reference")


# ------------------------------------------------------------------ data files


def test_rule_sets_load_from_versioned_data_with_source_and_status():
    assert (CALIFORNIA.name, CALIFORNIA.version, CALIFORNIA.kind) == ("california", "1.0", "banded")
    assert CALIFORNIA.status == "unconfirmed" and CALIFORNIA.source
    assert CALIFORNIA.requires_device_operating
    assert (CONSERVATIVE.kind, CONSERVATIVE.bands) == ("conservative", ())
    assert CONSERVATIVE.note and CONSERVATIVE.title
    assert load_gap_rules("california", "1.0") is CALIFORNIA  # cached
    with pytest.raises(FileNotFoundError, match=r"california-1\.0"):
        load_gap_rules("california", "9.9")


def test_rule_set_files_ship_as_package_data():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["verification"]
    files = sorted((ROOT / "verification" / "data" / "gap-rules").glob("*.yaml"))
    assert len(files) >= 2
    for path in files:
        rel = path.relative_to(ROOT / "verification").as_posix()
        assert any(fnmatch.fnmatch(rel, g) for g in globs), rel


def test_a_file_declaring_another_version_is_refused(tmp_path, monkeypatch):
    text = (gaps.RULES_DIR / "conservative-1.0.yaml").read_text(encoding="utf-8")
    (tmp_path / "conservative-2.0.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setattr(gaps, "RULES_DIR", tmp_path)
    gaps._load_gap_rules.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"declares conservative 1\.0"):
            load_gap_rules("conservative", "2.0")
    finally:
        gaps._load_gap_rules.cache_clear()


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["bands"].pop(),  # last band no longer open-ended
        lambda d: d["bands"][1].update(up_to_hours=5.0),  # bounds not increasing
        lambda d: d["bands"][1].pop("confidence"),
        lambda d: d["bands"][0].update(confidence=0.9),  # a mean band takes no confidence
        lambda d: d["bands"][1].update(sided="both"),
        lambda d: d.update(status="maybe"),
        lambda d: d.update(kind="conservative"),  # with bands
        lambda d: d.update(extra_key=1),
    ],
)
def test_invalid_rule_sets_are_refused(change):
    data = CALIFORNIA.model_dump()
    data["bands"] = list(data["bands"])
    change(data)
    with pytest.raises(ValidationError):
        GapRuleSet.model_validate(data)


# ------------------------------------------------------------------ property


def window_mean(times, values, start, end, hours):
    t, v = np.asarray(times, float), np.asarray(values, float)
    mask = ((t > start - hours * H) & (t <= start)) | ((t >= end) & (t < end + hours * H))
    return float(v[mask].mean()) if mask.any() else None


@settings(max_examples=300, deadline=None)
@given(
    step_min=st.sampled_from([15, 30, 60, 120, 360]),
    gap_ms=st.integers(H // 4, 12 * DAY),
    before=st.lists(st.floats(0, 1e4, allow_nan=False), min_size=0, max_size=80),
    after=st.lists(st.floats(0, 1e4, allow_nan=False), min_size=0, max_size=80),
    rule_set=st.sampled_from(["california", "conservative"]),
    effect=st.sampled_from(["raises_reference", "raises_project"]),
    operating=st.booleans(),
)
def test_substitution_is_never_on_the_generous_side_of_the_72_h_mean(
    step_min, gap_ms, before, after, rule_set, effect, operating
):
    rules = load_gap_rules(rule_set)
    times, values = around(0, gap_ms, before, after, step=step_min * 60_000)
    mean72 = window_mean(times, values, 0, gap_ms, 72)
    default = 1.0
    sub = substitute_gap(
        rules,
        0,
        gap_ms,
        times,
        values,
        effect=effect,
        default=default,
        device_operating=operating,
    )
    assert math.isfinite(sub.rate) and sub.rule and sub.note
    if sub.rule == "mean_before_after":
        # under 6 h the rule is the mean of the 4 h windows, by definition (not the 72 h one)
        assert gap_ms < 6 * H
        assert sub.rate == pytest.approx(window_mean(times, values, 0, gap_ms, 4), rel=1e-9)
        return
    if mean72 is None:
        return
    tol = 1e-9 * max(1.0, abs(mean72))
    if effect == "raises_reference":
        assert 0.0 <= sub.rate <= mean72 + tol
    else:
        assert sub.rate >= mean72 - tol
