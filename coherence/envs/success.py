"""Reward-to-success maps: how an environment's rewards become the success
probabilities rho of a case (SPEC §2).

Every map reads an episode that ends before the horizon as entering an
absorbing state that gives reward ``R_END = 0`` at every remaining step (the
usual convention for episodic tasks, Sutton and Barto, *Reinforcement Learning*,
2nd ed., §3.4), so every trajectory has exactly T steps and ending early is
worth exactly what living on without reward is worth. The maps, parsed from the
strings the command line takes:

* ``goal`` -- success is the event "the episode terminates in a goal within the
  horizon" (a terminating step with a positive reward; a source may name its
  goal states instead). Every step has rho = 1; a state at the horizon that has
  not reached a goal has rho_T = 0. Exact. Positive rewards on steps that do
  not end the episode are ignored (the importer warns, with counts).
* ``scored`` -- success is the event "at least one step up to termination or
  the horizon has a positive reward", kept exactly with a scored-yet flag in
  the state. For rewards in {0, 1} it equals ``return>=1``.
* ``exp:BETA`` (BETA > 0) -- each of the T steps succeeds with probability
  exp(BETA (r_t - r_top)), r_t the step's reward (R_END = 0 after the episode
  ended) and r_top = max(r_max, R_END), r_max the largest reward of the source.
  Success of a trajectory has probability exp(BETA (R - T r_top)) with R its
  return: control as inference's exp(BETA R) up to a constant that no
  conditioned policy sees (docs/envs.md derives this). float64 values.
* ``exp-free-end:BETA`` -- the per-step map with the steps after the episode
  ended free (rho = 1): a trajectory of n < T steps succeeds with probability
  exp(BETA (R - n r_max)), which is ``exp:BETA`` with R_END = r_max, so ending
  early is rewarded with r_max per remaining step. Kept for sources whose only
  terminations are goals (there it is the reading "reach the goal early").
* ``return>=X`` -- success is the event "the episode's return (the sum of its
  rewards up to termination or the horizon; R_END = 0 adds nothing) is at least
  X", built exactly with the accumulated return in the state; needs rewards that
  take few values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from coherence._numbers import format_rational, parse_rational

__all__ = ["MAP_KINDS", "R_END", "SuccessMap", "parse_success_map"]

MAP_KINDS = ("goal", "scored", "exp", "exp-free-end", "return>=")

#: The reward of every step after the episode ended (an absorbing state).
R_END = Fraction(0)

#: exp(BETA * d) with |BETA d| above this underflows float64 to 0 anyway; a
#: larger BETA is refused as out of range rather than silently giving rho = 0.
MAX_BETA = Fraction(10**6)

_EXPECTED = "goal, scored, exp:BETA, exp-free-end:BETA or return>=X"


@dataclass(frozen=True)
class SuccessMap:
    """A parsed reward-to-success map.

    Attributes:
        kind: ``goal``, ``scored``, ``exp``, ``exp-free-end`` or ``return>=``.
        parameter: BETA for the ``exp`` maps, X for ``return>=``; None else.
    """

    kind: Literal["goal", "scored", "exp", "exp-free-end", "return>="]
    parameter: Fraction | None = None

    @property
    def spec(self) -> str:
        """The map as the command line writes it (``exp:1/10``, ``return>=1``)."""
        if self.parameter is None:
            return self.kind
        if self.kind == "return>=":
            return f"return>={format_rational(self.parameter)}"
        return f"{self.kind}:{format_rational(self.parameter)}"

    @property
    def exact(self) -> bool:
        """Whether the success probabilities are exact rationals (goal,
        scored, return>=)."""
        return not self.is_exp

    @property
    def is_exp(self) -> bool:
        """Whether this is one of the per-step ``exp`` maps (float64 values)."""
        return self.kind in ("exp", "exp-free-end")

    def top(self, r_max: Fraction) -> Fraction:
        """The reward the ``exp`` maps subtract: max(r_max, R_END) for
        ``exp`` (every step, the ended ones included, then has rho <= 1),
        r_max for ``exp-free-end``."""
        return max(r_max, R_END) if self.kind == "exp" else r_max

    def describe(self) -> str:
        """One sentence saying what success means under this map."""
        beta = format_rational(self.parameter) if self.parameter is not None else ""
        if self.kind == "goal":
            return (
                "success = the episode terminates in a goal (a terminating step "
                "with positive reward, or a goal state the source names) within "
                "the horizon"
            )
        if self.kind == "scored":
            return (
                "success = at least one step up to termination or the horizon "
                "has a positive reward"
            )
        if self.kind == "exp":
            return (
                f"each of the T steps succeeds with probability exp({beta} * "
                "(r - r_top)), r = 0 after the episode ended and r_top = "
                "max(r_max, 0): P(success) = exp(BETA (return - T r_top))"
            )
        if self.kind == "exp-free-end":
            return (
                f"each step succeeds with probability exp({beta} * (r - r_max)) "
                "until the episode ends, the steps after it with probability 1 "
                "(ending early is rewarded with r_max per remaining step)"
            )
        return (
            f"success = the episode's return (rewards summed up to termination "
            f"or the horizon) is at least {format_rational(self.parameter or 0)}"
        )

    def step_probability(self, reward: Fraction, r_top: Fraction) -> float:
        """exp(BETA (reward - r_top)) for the ``exp`` maps, in float64 (in
        [0, 1]); a one-line ValueError where reward > r_top."""
        assert self.is_exp and self.parameter is not None
        exponent = self.parameter * (reward - r_top)
        if exponent > 0:
            raise ValueError(
                f"success: reward {format_rational(reward)} exceeds r_max "
                f"{format_rational(r_top)}"
            )
        return math.exp(float(exponent))


def _beta(text: str, raw: str) -> Fraction:
    try:
        beta = parse_rational(raw, "--success exp:BETA")
    except ValueError:
        raise ValueError(
            f"--success {text!r}: BETA must be a number, got {raw!r}"
        ) from None
    if not (0 < beta <= MAX_BETA):
        raise ValueError(
            f"--success {text!r}: BETA must satisfy 0 < BETA <= {MAX_BETA}, got {raw}"
        )
    return beta


def parse_success_map(text: str) -> SuccessMap:
    """Parse ``goal``, ``scored``, ``exp:BETA``, ``exp-free-end:BETA`` or
    ``return>=X``; a one-line ValueError naming the map when it is malformed or
    its parameter is out of range (BETA must satisfy 0 < BETA <= 10^6; X must
    be a finite rational)."""
    if not isinstance(text, str):
        raise ValueError(f"--success: expected a string, got {text!r}")
    value = text.strip()
    if value in ("goal", "scored"):
        return SuccessMap(value)  # type: ignore[arg-type]
    if value.startswith("exp:"):
        return SuccessMap("exp", _beta(text, value[4:]))
    if value.startswith("exp-free-end:"):
        return SuccessMap("exp-free-end", _beta(text, value[len("exp-free-end:") :]))
    if value.startswith("return>="):
        raw = value[len("return>=") :]
        try:
            threshold = parse_rational(raw, "--success return>=X")
        except ValueError:
            raise ValueError(
                f"--success {text!r}: X must be a finite number, got {raw!r}"
            ) from None
        return SuccessMap("return>=", threshold)
    raise ValueError(f"--success: unknown map {text!r}; expected {_EXPECTED}")
