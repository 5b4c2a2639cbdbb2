"""Reward-to-success maps: how an environment's rewards become the success
probabilities rho of a case (SPEC §2).

Three maps, parsed from the strings the command line takes:

* ``goal`` -- success is the event "the episode terminates in a goal within the
  horizon" (a terminating step with a positive reward; a source may name its
  goal states instead). Every step has rho = 1; a state at the horizon that has
  not reached a goal has rho_T = 0. Exact.
* ``exp:BETA`` (BETA > 0) -- each step of the episode succeeds with probability
  rho = exp(BETA (r - r_max)), r_max the largest reward the source can give, so
  success of the whole episode has probability exp(BETA (return - n r_max)) for
  an episode of n steps. The values are float64 (written as JSON numbers and read
  as their exact binary values).
* ``return>=X`` -- success is the event "the episode's return (the sum of its
  rewards up to termination or the horizon) is at least X", built exactly with
  the accumulated return in the state; needs rewards that take few values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from coherence._numbers import format_rational, parse_rational

__all__ = ["MAP_KINDS", "SuccessMap", "parse_success_map"]

MAP_KINDS = ("goal", "exp", "return>=")

#: exp(BETA * d) with |BETA d| above this underflows float64 to 0 anyway; a
#: larger BETA is refused as out of range rather than silently giving rho = 0.
MAX_BETA = Fraction(10**6)


@dataclass(frozen=True)
class SuccessMap:
    """A parsed reward-to-success map.

    Attributes:
        kind: ``goal``, ``exp`` or ``return>=``.
        parameter: BETA for ``exp``, X for ``return>=``; None for ``goal``.
    """

    kind: Literal["goal", "exp", "return>="]
    parameter: Fraction | None = None

    @property
    def spec(self) -> str:
        """The map as the command line writes it (``exp:1/10``, ``return>=1``)."""
        if self.kind == "goal":
            return "goal"
        assert self.parameter is not None
        if self.kind == "exp":
            return f"exp:{format_rational(self.parameter)}"
        return f"return>={format_rational(self.parameter)}"

    @property
    def exact(self) -> bool:
        """Whether the success probabilities are exact rationals (goal, return>=)."""
        return self.kind != "exp"

    def describe(self) -> str:
        """One sentence saying what success means under this map."""
        if self.kind == "goal":
            return (
                "success = the episode terminates in a goal (a terminating step "
                "with positive reward, or a goal state the source names) within "
                "the horizon"
            )
        if self.kind == "exp":
            return (
                f"each step succeeds with probability exp({self.spec[4:]} * "
                "(r - r_max)), r_max the largest reward of the source"
            )
        return (
            f"success = the episode's return (rewards summed up to termination "
            f"or the horizon) is at least {self.spec[8:]}"
        )

    def step_probability(self, reward: Fraction, r_max: Fraction) -> float:
        """exp(BETA (reward - r_max)) for the ``exp`` map, in float64 (in [0, 1])."""
        assert self.kind == "exp" and self.parameter is not None
        exponent = self.parameter * (reward - r_max)
        if exponent > 0:
            raise ValueError(
                f"success: reward {format_rational(reward)} exceeds r_max "
                f"{format_rational(r_max)}"
            )
        return math.exp(float(exponent))


def parse_success_map(text: str) -> SuccessMap:
    """Parse ``goal``, ``exp:BETA`` or ``return>=X``; a one-line ValueError
    naming the map when it is malformed or its parameter is out of range
    (BETA must satisfy 0 < BETA <= 10^6; X must be a finite rational)."""
    if not isinstance(text, str):
        raise ValueError(f"--success: expected a string, got {text!r}")
    value = text.strip()
    if value == "goal":
        return SuccessMap("goal")
    if value.startswith("exp:"):
        raw = value[4:]
        try:
            beta = parse_rational(raw, "--success exp:BETA")
        except ValueError:
            raise ValueError(
                f"--success {text!r}: BETA must be a number, got {raw!r}"
            ) from None
        if not (0 < beta <= MAX_BETA):
            raise ValueError(
                f"--success {text!r}: BETA must satisfy 0 < BETA <= "
                f"{MAX_BETA}, got {raw}"
            )
        return SuccessMap("exp", beta)
    if value.startswith("return>="):
        raw = value[len("return>=") :]
        try:
            threshold = parse_rational(raw, "--success return>=X")
        except ValueError:
            raise ValueError(
                f"--success {text!r}: X must be a finite number, got {raw!r}"
            ) from None
        return SuccessMap("return>=", threshold)
    raise ValueError(
        f"--success: unknown map {text!r}; expected goal, exp:BETA or return>=X"
    )
