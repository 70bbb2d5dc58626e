"""Stable, seedable noise for the physics models.

Python's ``hash()`` of a string changes from one process to the next, and a
``random.Random`` per sample is slow; the simulator needs noise that is a pure function
of (seed, time) so that a reading depends only on the plan, the seed and the moment.
"""

from __future__ import annotations

import hashlib
import math

_MASK64 = (1 << 64) - 1


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from any reprs (same in every process, unlike ``hash()``)."""
    digest = hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def hash01(seed: int, index: int) -> float:
    """A uniform number in [0, 1) for (seed, index): SplitMix64 finaliser."""
    z = (seed + (index + 1) * 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    z ^= z >> 31
    return (z >> 11) / float(1 << 53)


def value_noise(seed: int, t_s: float, period_s: float) -> float:
    """Smooth noise in [0, 1): random knots every ``period_s`` seconds, cosine-blended.

    Used for weather-like signals (cloud cover, gas quality) that wander rather than jump.
    """
    x = t_s / period_s
    knot = math.floor(x)
    frac = x - knot
    a = hash01(seed, knot)
    b = hash01(seed, knot + 1)
    weight = (1.0 - math.cos(math.pi * frac)) * 0.5
    return a + (b - a) * weight


def centred(seed: int, t_s: float, period_s: float) -> float:
    """Smooth noise in [-1, 1)."""
    return 2.0 * value_noise(seed, t_s, period_s) - 1.0


def clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value
