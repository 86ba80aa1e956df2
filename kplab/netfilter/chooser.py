"""Random choices of `-m statistic --mode random`, made by a Chooser the caller passes in.

`SeededChooser(seed)` draws like the kernel: a random u32, masked to 31 bits, compared with the rule's fixed-point
threshold. `enumerate_outcomes(run)` instead explores every decision sequence depth first: `run(chooser)` is
called once per distinct sequence, and each result comes with its exact probability (a Fraction). `run` may walk a
packet across several hosts; it must start from fresh state each time (e.g. `stack.copy()` inside `run`).
"""
from __future__ import annotations

import random
from fractions import Fraction
from typing import Any, Callable, Protocol, TypeVar

from kplab.netfilter.probability import Probability

T = TypeVar("T")


class Chooser(Protocol):
    def choose(self, probability: Probability, rule: Any = None) -> bool:
        """True when the statistic match hits."""

    def assume(self, rule: Any, depends_on: str) -> bool:
        """True when a state-dependent match is taken to match (see dependency.py)."""


class SeededChooser:
    def __init__(self, seed: int = 0):
        self.seed = seed
        self._random = random.Random(seed)

    def choose(self, probability: Probability, rule: Any = None) -> bool:
        return probability.hits(self._random.getrandbits(32))

    def assume(self, rule: Any, depends_on: str) -> bool:
        return True  # one walk: the matching branch (the walk records the assumption)


class _ScriptedChooser:
    """Replays a prefix of decisions, then takes 'hit' for every new decision (the DFS goes left first)."""

    def __init__(self, prefix: list[bool], exact_kernel: bool):
        self.prefix = prefix
        self.exact_kernel = exact_kernel
        self.decisions: list[bool] = []
        self.weight = Fraction(1)

    def choose(self, probability: Probability, rule: Any = None) -> bool:
        p = probability.kernel if self.exact_kernel else probability.intended
        if p == 0:
            return False
        if p == 1:
            return True
        k = len(self.decisions)
        hit = self.prefix[k] if k < len(self.prefix) else True
        self.decisions.append(hit)
        self.weight *= p if hit else 1 - p
        return hit

    def assume(self, rule: Any, depends_on: str) -> bool:
        """Both branches are explored; the weight is unchanged, because kplab knows no probability for state it
        does not have: each branch's outcomes are conditional on its recorded assumptions."""
        k = len(self.decisions)
        hit = self.prefix[k] if k < len(self.prefix) else True
        self.decisions.append(hit)
        return hit


def enumerate_outcomes(run: Callable[[Chooser], T], exact_kernel: bool = False,
                       limit: int = 100_000) -> list[tuple[Fraction, T]]:
    """Every distinct outcome of `run` with its exact probability; the probabilities sum to 1 (for each set of
    assumptions, when the walk reached state-dependent rules: see dependency.py).

    By default a rule's probability is the fraction its author meant (kube-proxy's `0.33333333349` is 1/3, see
    probability.py); `exact_kernel=True` uses the kernel's 31-bit fixed-point value instead.
    """
    outcomes: list[tuple[Fraction, T]] = []
    prefix: list[bool] = []
    while True:
        chooser = _ScriptedChooser(prefix, exact_kernel)
        result = run(chooser)
        outcomes.append((chooser.weight, result))
        if len(outcomes) > limit:
            raise RuntimeError(f"more than {limit} outcomes")
        decisions = chooser.decisions
        while decisions and decisions[-1] is False:
            decisions.pop()
        if not decisions:
            return outcomes
        decisions[-1] = False
        prefix = decisions
