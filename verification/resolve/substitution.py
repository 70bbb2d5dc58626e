"""The plan's gap rule applied to a monitoring point: the rate that stands for its
series over a gap (``verification.gaps.substitute_gap``), from the samples around it."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from core import quantities
from core.plans.schema import Device
from core.quantities import Kind
from verification.gaps import Substitution, substitute_gap
from verification.resolve.context import SUBSTITUTION_WINDOW_MS, Context
from verification.resolve.record import iso
from verification.series_parts import PointSeries, rated_rate


def substitute(
    ctx: Context, a: float, b: float, parts: list[PointSeries], spec: quantities.QuantitySpec
) -> Substitution:
    """The rule for the whole gap [a, b) of a point measured by ``parts``, from their
    per-hour rates around it."""
    rates = [pt.rates() for pt in parts]
    t = np.concatenate([r[0] for r in rates])
    v = np.concatenate([r[1] for r in rates])
    order = np.argsort(t, kind="stable")
    return substitute_samples(ctx, a, b, t[order], v[order], spec, parts[-1].device)


def substitute_samples(
    ctx: Context,
    a: float,
    b: float,
    t: NDArray[np.float64],
    v: NDArray[np.float64],
    spec: quantities.QuantitySpec,
    device: Device,
) -> Substitution:
    """The rule for the whole gap [a, b), from the samples within a fixed window
    around it: the same whichever period the gap is reported in, since every report
    loads more than this window beyond its ends."""
    lo, hi = np.searchsorted(t, [a - SUBSTITUTION_WINDOW_MS, b + SUBSTITUTION_WINDOW_MS])
    try:
        return substitute_gap(ctx.gap_rules, int(a), int(b), t[lo:hi], v[lo:hi], effect=ctx.effect)
    except ValueError:
        if ctx.effect != "raises_project":
            raise
    # Nothing measured around the gap of a parameter that raises project emissions:
    # the most the device can show (its rated power, or the quantity's range).
    ceiling = ceiling_rate(spec, device)
    if ceiling is None:
        raise ValueError(
            f"{ctx.symbol}: no data around the gap {iso(a)} to {iso(b)} and no "
            f"rated capacity for {device.id}: no conservative value exists; give the "
            "device a nameplate rated_kw, or enter the value (option B)"
        )
    return substitute_gap(
        ctx.gap_rules, int(a), int(b), t[:0], v[:0], effect=ctx.effect, default=ceiling
    )


def ceiling_rate(spec: quantities.QuantitySpec, device: Device) -> float | None:
    """The largest rate a device can show, per hour in the canonical unit: its rated
    power or design flow, else for a sample the quantity's range."""
    rated = rated_rate(spec, device)
    if rated is not None:
        return rated
    if spec.default_kind == Kind.INSTANT:
        return spec.maximum
    return None


def whole_gap_note(note: str, a: float, b: float, wa: float, wb: float) -> str:
    """A substitution's note, saying when the gap reaches beyond the period."""
    if (a, b) == (wa, wb):
        return note
    return f"{note} (the gap runs from {iso(wa)} to {iso(wb)}; judged by its whole length)"
