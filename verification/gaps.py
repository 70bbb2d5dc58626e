"""Substitution for missing data (methodologies.md, "Monitoring rules" → "Missing data").

A plan picks a rule set (``project.gap_rules``); its numbers live in versioned data,
``verification/data/gap-rules/<name>-<version>.yaml``, never as constants here, because
the methodology note marks them unconfirmed:

- ``conservative`` (the default for every plan): a gap in a parameter that raises
  reference emissions counts zero; one that raises project emissions takes the largest
  value of the series in the data examined, or the plan's default when that is larger.
- ``california`` (methane flow and fraction, only while the destruction device is shown
  operating): a short gap takes the mean of the samples just before and after it, longer
  gaps the conservative limit of a confidence interval of the mean of the samples in
  longer windows around it, and a gap over the last band gets no credit. The bands, the
  window lengths, the confidence levels and whether the limit is one- or two-sided are
  in ``california-1.0.yaml``.

:func:`substitute_gap` returns a *rate* in the series' own unit (e.g. Nm3/h, or a
fraction); the caller multiplies it by the gap's length. Everything here is pure: the
only I/O is :func:`load_gap_rules` reading (and caching) a rule-set file.

Student-t quantiles are computed here (:func:`student_t_quantile`) because the project
does not depend on scipy: the regularised incomplete beta function by its continued
fraction, inverted by bisection, exact to well below the 3 decimals that matter.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist
from typing import Annotated, Literal, Self

import numpy as np
import yaml
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.times import HOUR_MS
from verification.calibration import Effect

RULES_DIR = Path(__file__).resolve().parent / "data" / "gap-rules"

__all__ = [
    "Band",
    "Effect",
    "GapRuleSet",
    "Substitution",
    "load_gap_rules",
    "student_t_cdf",
    "student_t_quantile",
    "substitute_gap",
]


# --------------------------------------------------------------------------- data model


class Band(BaseModel):
    """One band of gap lengths and how a gap in it is substituted.

    A band covers the gap lengths above the previous band's upper bound (or above 0 h for
    the first band) up to ``up_to_hours``; ``up_to_inclusive`` says whether a gap of
    exactly ``up_to_hours`` belongs to this band (True) or to the next (False). The last
    band has no upper bound (``up_to_hours: null``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["mean", "confidence_limit", "no_credit"]
    up_to_hours: Annotated[float, Field(gt=0)] | None = None
    up_to_inclusive: bool = False
    #: the windows of samples used, h: before = (gap start − before, gap start],
    #: after = [gap end, gap end + after)
    window_before_hours: Annotated[float, Field(ge=0)] | None = None
    window_after_hours: Annotated[float, Field(ge=0)] | None = None
    #: confidence level of the interval of the mean, e.g. 0.90
    confidence: Annotated[float, Field(gt=0, lt=1)] | None = None
    #: "two": the limit of the two-sided interval, t at 1 − (1 − confidence)/2;
    #: "one": a one-sided bound, t at confidence
    sided: Literal["one", "two"] | None = None
    #: fewer samples than this in the windows: no limit can be computed
    min_samples: Annotated[int, Field(ge=2)] = 2

    @model_validator(mode="after")
    def _fields_for_method(self) -> Self:
        windows = (self.window_before_hours, self.window_after_hours)
        if self.method in ("mean", "confidence_limit") and None in windows:
            raise ValueError(f"a {self.method!r} band needs window_before/after_hours")
        if self.method == "confidence_limit" and (self.confidence is None or self.sided is None):
            raise ValueError("a 'confidence_limit' band needs confidence and sided")
        if self.method != "confidence_limit" and (
            self.confidence is not None or self.sided is not None
        ):
            raise ValueError(f"a {self.method!r} band takes no confidence or sided")
        return self

    def contains(self, gap_ms: int, lower_ms: float, lower_inclusive: bool) -> bool:
        """Whether a gap of ``gap_ms`` falls in this band, given the band's lower edge."""
        above = gap_ms >= lower_ms if lower_inclusive else gap_ms > lower_ms
        if self.up_to_hours is None:
            return above
        upper_ms = self.up_to_hours * HOUR_MS
        below = gap_ms <= upper_ms if self.up_to_inclusive else gap_ms < upper_ms
        return above and below


class GapRuleSet(BaseModel):
    """A versioned gap-substitution rule set (``data/gap-rules/<name>-<version>.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1)]
    version: Annotated[str, Field(min_length=1)]
    title: Annotated[str, Field(min_length=1)]
    #: one human sentence describing the rule set, for the report
    note: Annotated[str, Field(min_length=1)]
    source: Annotated[str, Field(min_length=1)]
    status: Literal["confirmed", "unconfirmed"]
    #: "conservative": zero-fill / maximum; "banded": by gap length, per ``bands``
    kind: Literal["conservative", "banded"]
    #: banded sets: substitute only while the destruction device is shown operating
    requires_device_operating: bool = False
    bands: tuple[Band, ...] = ()

    @model_validator(mode="after")
    def _bands_consistent(self) -> Self:
        if self.kind == "conservative":
            if self.bands or self.requires_device_operating:
                raise ValueError("a conservative rule set has no bands or device condition")
            return self
        if not self.bands:
            raise ValueError("a banded rule set needs at least one band")
        *bounded, last = self.bands
        if last.up_to_hours is not None:
            raise ValueError("the last band must be open-ended (up_to_hours: null)")
        uppers: list[float] = []
        for band in bounded:
            if band.up_to_hours is None:
                raise ValueError("only the last band may be open-ended")
            uppers.append(band.up_to_hours)
        if any(b <= a for a, b in itertools.pairwise(uppers)):
            raise ValueError("band upper bounds must increase")
        return self

    def band_for(self, gap_ms: int) -> Band:
        """The band a gap of ``gap_ms`` (> 0) falls in (banded sets only)."""
        lower_ms, lower_inclusive = 0.0, False
        for band in self.bands:
            if band.contains(gap_ms, lower_ms, lower_inclusive):
                return band
            if band.up_to_hours is not None:
                lower_ms = band.up_to_hours * HOUR_MS
                lower_inclusive = not band.up_to_inclusive
        raise AssertionError("the last band is open-ended")  # pragma: no cover


def load_gap_rules(name: str, version: str = "1.0") -> GapRuleSet:
    """The gap rule set ``name`` at ``version``, from ``data/gap-rules/<name>-<version>.yaml``.

    Validated (pydantic) and cached. Raises FileNotFoundError naming the known sets.
    """
    return _load_gap_rules(name, version)


@lru_cache(maxsize=16)
def gap_rules_sha256(name: str, version: str = "1.0") -> str:
    """Hash of the rule set file's bytes: part of a report's inputs."""
    return hashlib.sha256((RULES_DIR / f"{name}-{version}.yaml").read_bytes()).hexdigest()


@lru_cache(maxsize=16)
def _load_gap_rules(name: str, version: str) -> GapRuleSet:
    path = RULES_DIR / f"{name}-{version}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in RULES_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"no gap rule set {name} version {version}; known: {known}")
    rules = GapRuleSet.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    if (rules.name, rules.version) != (name, version):
        raise ValueError(f"{path} declares {rules.name} {rules.version}")
    return rules


# --------------------------------------------------------------------------- statistics


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-15:
            return h
    raise ArithmeticError(f"incomplete beta did not converge (a={a}, b={b}, x={x})")


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b), 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def student_t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` (> 0) degrees of freedom."""
    if df <= 0:
        raise ValueError("df must be positive")
    if math.isinf(df):
        return NormalDist().cdf(t)
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


@lru_cache(maxsize=4096)
def student_t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with ``df`` degrees of freedom (``inf``: normal).

    0 < p < 1. Known values: t(0.95, 10) = 1.812, t(0.975, 10) = 2.228,
    t(0.95, inf) = z(0.95) = 1.645. Bisection on :func:`student_t_cdf` to 1e-12.
    """
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    if df <= 0:
        raise ValueError("df must be positive")
    if math.isinf(df):
        return NormalDist().inv_cdf(p)
    if p < 0.5:
        return -student_t_quantile(1.0 - p, df)
    if p == 0.5:
        return 0.0
    lo, hi = 0.0, 1.0
    while student_t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    while hi - lo > 1e-12 * max(1.0, hi):
        mid = 0.5 * (lo + hi)
        if student_t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


# --------------------------------------------------------------------------- substitution


@dataclass(frozen=True)
class Substitution:
    """What replaces a gap: ``rate`` × the gap's length is the substituted total."""

    rate: float  # the substituted value of the series over the gap, in the series' unit
    rule: str  # machine name, e.g. "mean_before_after", "lower_90_confidence_72h"
    note: str  # one human sentence for the report: what was used and why


def _hours(ms: float) -> str:
    h = ms / HOUR_MS
    if h >= 48 and h % 24 == 0:
        return f"{h / 24:g} days"
    return f"{h:g} h"


def _series(times_ms: ArrayLike, values: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(times_ms, dtype=float).reshape(-1)
    v = np.asarray(values, dtype=float).reshape(-1)
    if t.shape != v.shape:
        raise ValueError(f"times_ms and values differ in length ({t.size} vs {v.size})")
    if np.any(np.diff(t) < 0):
        raise ValueError("times_ms must be in ascending order")
    keep = np.isfinite(t) & np.isfinite(v)  # a NaN sample is missing data, not a value
    return t[keep], v[keep]


def _window(
    t: np.ndarray, v: np.ndarray, start_ms: int, end_ms: int, before_h: float, after_h: float
) -> np.ndarray:
    """Samples in (start − before, start] and [end, end + after)."""
    before = (t > start_ms - before_h * HOUR_MS) & (t <= start_ms)
    after = (t >= end_ms) & (t < end_ms + after_h * HOUR_MS)
    return v[before | after]


def _conservative_project(
    v: np.ndarray, default: float | None, why: str, rule_if_none: str | None = None
) -> Substitution:
    """The conservative set's value for a parameter that raises project emissions:
    the maximum of the series in the data passed, or ``default`` when larger or alone."""
    peak = float(np.max(v)) if v.size else None
    if peak is None and default is None:
        raise ValueError(
            f"{why}: the parameter raises project emissions, the data passed hold no "
            "sample and no default was given; pass the plan's default value"
        )
    if peak is not None and (default is None or peak >= default):
        extra = "" if default is None else f" (not below the default {default:g})"
        return Substitution(
            peak,
            rule_if_none or "period_maximum",
            f"{why}: the parameter raises project emissions, so it takes the maximum "
            f"{peak:g} of the {v.size} samples examined{extra} (conservative).",
        )
    assert default is not None
    extra = "no sample was available" if peak is None else f"it exceeds the maximum {peak:g}"
    return Substitution(
        float(default),
        rule_if_none or "default_value",
        f"{why}: the parameter raises project emissions, so it takes the default "
        f"{default:g} ({extra}; conservative).",
    )


def _substitute_conservative(
    v: np.ndarray, gap_ms: int, effect: Effect, default: float | None
) -> Substitution:
    """methodologies.md "Missing data", conservative default."""
    why = f"gap of {_hours(gap_ms)}"
    if effect == "raises_reference":
        return Substitution(
            0.0,
            "zero_fill",
            f"{why}: the parameter raises reference emissions, so the gap counts zero "
            "(conservative default).",
        )
    return _conservative_project(v, default, why)


def _confidence_limit(
    band: Band, window: np.ndarray, effect: Effect, why: str, v: np.ndarray, default: float | None
) -> Substitution:
    """The conservative limit of the confidence interval of the window's mean."""
    assert band.confidence is not None and band.sided is not None
    n = int(window.size)
    pct = f"{band.confidence * 100:g}".replace(".", "_")
    hours = f"{band.window_before_hours:g}h"
    if band.window_after_hours != band.window_before_hours:
        hours += f"_{band.window_after_hours:g}h"
    side = "lower" if effect == "raises_reference" else "upper"
    rule = f"{side}_{pct}_confidence_{hours}"
    if n < band.min_samples:
        why = f"{why}, only {n} sample(s) around it (at least {band.min_samples} needed)"
        if effect == "raises_reference":
            return Substitution(0.0, "too_few_samples", f"{why}: counted zero (conservative).")
        return _conservative_project(v, default, why)
    mean = float(np.mean(window))
    sem = float(np.std(window, ddof=1)) / math.sqrt(n)
    p = band.confidence if band.sided == "one" else 1.0 - (1.0 - band.confidence) / 2.0
    t = student_t_quantile(p, n - 1)
    # A flow or fraction is never negative, and no gap may cost more than the no-credit
    # rule: a lower limit below zero counts zero (unless the data themselves average below).
    lower, upper = max(mean - t * sem, min(0.0, mean)), mean + t * sem
    rate = lower if effect == "raises_reference" else upper
    sided = "two-sided" if band.sided == "two" else "one-sided"
    return Substitution(
        rate,
        rule,
        f"{why}: the {side} limit {rate:g} of the {sided} {band.confidence * 100:g} % confidence "
        f"interval of the mean {mean:g} of the {n} samples in the {band.window_before_hours:g} h "
        f"before and {band.window_after_hours:g} h after (t = {t:.3f}, {n - 1} degrees of "
        "freedom), the conservative side for this parameter.",
    )


def substitute_gap(
    rules: GapRuleSet,
    gap_start_ms: int,
    gap_end_ms: int,
    times_ms: ArrayLike,
    values: ArrayLike,
    *,
    effect: Effect,
    default: float | None = None,
    device_operating: bool = True,
) -> Substitution:
    """The rate that stands for a series over a gap, by the plan's rule set.

    gap_start_ms / gap_end_ms: the gap, epoch ms; as ``aggregation.integrate_instant``
        reports it: the last sample before and the first sample after (the caller
        multiplies the returned rate by ``gap_end_ms − gap_start_ms``).
    times_ms / values: the series' samples (ascending; canonical unit, e.g. Nm3/h or a
        fraction) around the gap: at least the longest window of the rule set (72 h) on
        either side, possibly more. Samples strictly inside the gap are ignored, NaNs are
        missing data. A window before the gap is (start − W, start], after it
        [end, end + W).
    effect: which way the parameter moves emission reductions ("raises_reference" is
        substituted low, "raises_project" high).
    default: the plan's default value for the parameter (series' unit), if any.
    device_operating: (banded sets) whether the destruction device is shown operating
        throughout the gap; when it is not, the gap gets no credit.

    Rules (methodologies.md, "Missing data"): ``conservative`` zero-fills a parameter that
    raises reference emissions, and gives one that raises project emissions the maximum of
    the data passed (or ``default`` when larger, or when there is no data).
    ``california`` (banded): by the band the gap's length falls in, the mean of the
    samples in the short windows, the conservative confidence limit of the mean of the
    samples in the long windows, or no credit; a parameter raising project emissions gets
    the conservative set's value where the band gives no credit. Case 5: a 3 h gap with
    50, 52, 48, 50 before and 46, 50, 54, 50 after → 50 (Nm3/h), so 150 Nm3.
    """
    gap_ms = int(gap_end_ms) - int(gap_start_ms)
    if gap_ms <= 0:
        raise ValueError(f"gap_end_ms must be after gap_start_ms ({gap_start_ms}, {gap_end_ms})")
    t, v = _series(times_ms, values)
    outside = (t <= gap_start_ms) | (t >= gap_end_ms)
    t, v = t[outside], v[outside]
    if rules.kind == "conservative":
        return _substitute_conservative(v, gap_ms, effect, default)

    return _substitute_banded(
        rules, gap_start_ms, gap_end_ms, t, v, effect, default, device_operating
    )


def _substitute_banded(
    rules: GapRuleSet,
    gap_start_ms: int,
    gap_end_ms: int,
    t: np.ndarray,
    v: np.ndarray,
    effect: Effect,
    default: float | None,
    device_operating: bool,
) -> Substitution:
    """A banded set (California): by the band the gap's length falls in, the mean of the
    short windows, the conservative confidence limit of the long ones, or no credit."""
    gap_ms = int(gap_end_ms) - int(gap_start_ms)
    why = f"gap of {_hours(gap_ms)}"
    if rules.requires_device_operating and not device_operating:
        why += " while the destruction device was not shown operating"
        if effect == "raises_reference":
            return Substitution(
                0.0, "no_credit", f"{why}: no substitution is allowed, so no credit for the gap."
            )
        return _conservative_project(v, default, why)

    band = rules.band_for(gap_ms)
    if band.method == "no_credit":
        why += f" (over {_hours(_last_bound_ms(rules))})"
        if effect == "raises_reference":
            return Substitution(0.0, "no_credit", f"{why}: no credit for the gap.")
        return _conservative_project(v, default, why)

    assert band.window_before_hours is not None and band.window_after_hours is not None
    window = _window(
        t, v, gap_start_ms, gap_end_ms, band.window_before_hours, band.window_after_hours
    )
    if window.size == 0:
        why += (
            f", no sample in the {band.window_before_hours:g} h before or "
            f"{band.window_after_hours:g} h after"
        )
        if effect == "raises_reference":
            return Substitution(0.0, "no_data_around", f"{why}: counted zero (conservative).")
        return _conservative_project(v, default, why, rule_if_none="no_data_around")

    if band.method == "mean":
        mean = float(np.mean(window))
        return Substitution(
            mean,
            "mean_before_after",
            f"{why}: the mean {mean:g} of the {window.size} samples in the "
            f"{band.window_before_hours:g} h before and {band.window_after_hours:g} h after.",
        )
    return _confidence_limit(band, window, effect, why, v, default)


def _last_bound_ms(rules: GapRuleSet) -> float:
    bounds = [b.up_to_hours for b in rules.bands if b.up_to_hours is not None]
    return max(bounds, default=0.0) * HOUR_MS
