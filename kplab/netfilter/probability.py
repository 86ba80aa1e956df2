"""The probability of `-m statistic --mode random`, as the kernel stores it.

iptables turns `--probability p` into a 31-bit fixed-point threshold, `lround(p * 2^31)`, and the kernel's
xt_statistic matches when `(get_random_u32() & 0x7FFFFFFF) < threshold`. So the kernel's real probability is
`threshold / 2^31`, and `iptables-save` prints it with `%.11f` (that is where kube-proxy's 1/3 shows up as
`0.33333333349`: 1/3 * 2^31 = 715827882.67, rounded to 715827883).

`Probability.kernel` is that exact kernel value. `Probability.intended` is the simplest fraction the kernel would
have rounded to the same threshold: for kube-proxy's `1/n` rules it is exactly `1/n` (the rounding step, 2^-31, is far
finer than the gap between 1/n and 1/(n+1) for any n below 46,000). Outcome enumeration reports `intended` by default,
so a 1/3, 1/2, 1 chain gives three outcomes of exactly 1/3; pass `exact_kernel=True` to get the kernel's value
(which differs from 1/3 by less than 2^-32).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction

SCALE = 1 << 31


def _round_half_away(x: Fraction) -> int:
    """C's lround for non-negative values."""
    return math.floor(x + Fraction(1, 2))


def _simplest_between(lo: Fraction, hi: Fraction) -> Fraction:
    """The fraction with the smallest denominator in the closed interval [lo, hi] (0 <= lo <= hi)."""
    floor_lo = math.floor(lo)
    if lo == floor_lo:
        return Fraction(floor_lo)
    if floor_lo + 1 <= hi:
        return Fraction(floor_lo + 1)
    rest = _simplest_between(1 / (hi - floor_lo), 1 / (lo - floor_lo))
    return floor_lo + 1 / rest


@functools.lru_cache(maxsize=4096)
def _intended(threshold: int) -> Fraction:
    """Probability.intended, worked out once per threshold (a walk asks for it at every random rule it meets, and
    a cluster's rules hold only a few distinct thresholds: 1/2, 1/3 ...)."""
    if threshold in (0, SCALE):
        return Fraction(threshold, SCALE)
    lo = Fraction(2 * threshold - 1, 2 * SCALE)
    hi = Fraction(2 * threshold + 1, 2 * SCALE)
    guess = _simplest_between(lo, hi)
    # lround's half-way points: make sure the guess really rounds to our threshold.
    return guess if _round_half_away(guess * SCALE) == threshold else Fraction(threshold, SCALE)


@dataclass(frozen=True)
class Probability:
    threshold: int  # the kernel's u32 field: matches when (random & 0x7FFFFFFF) < threshold

    @classmethod
    def parse(cls, text: str) -> "Probability":
        try:
            value = Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"bad probability {text!r}") from None
        if not 0 <= value <= 1:
            raise ValueError(f"probability {text} is not between 0 and 1")
        return cls(_round_half_away(value * SCALE))

    @property
    def kernel(self) -> Fraction:
        return Fraction(self.threshold, SCALE)

    @property
    def intended(self) -> Fraction:
        return _intended(self.threshold)

    def text(self) -> str:
        """As iptables-save prints it."""
        return f"{self.threshold / SCALE:.11f}"

    def hits(self, random_u32: int) -> bool:
        return (random_u32 & 0x7FFFFFFF) < self.threshold
