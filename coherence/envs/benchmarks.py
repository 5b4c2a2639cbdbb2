"""Two published stochastic benchmarks, written from their definitions.

* ``gambling`` -- the gambling MDP of Paster, McIlraith and Ba, "You Can't Count
  on Luck: Why Decision Transformers and RvS Fail in Stochastic Environments"
  (ESPER, NeurIPS 2022): one decision; action a0 returns +5 or -15, a1 returns +1
  or -6, a2 returns +1 for sure, each outcome of a0 and a1 with probability 1/2.
  Conditioning on the highest return picks a0, the worst action in expectation.
* ``doc-bandit`` -- the Bernoulli bandit of Yang, Schuurmans, Abbeel and Nachum,
  "Dichotomy of Control: Separating What You Can Control from What You Cannot"
  (ICLR 2023): arm ``good`` succeeds (reward 1) with probability 0.9 and the
  behaviour prior picks it with probability 0.1; arm ``bad`` succeeds with
  probability 0.1 and the prior picks it with probability 0.9. With the ``goal``
  map (success = reward 1), G_1 is (1/2, 1/2) and
  G_k(good) = 0.1 * 0.9^k / (0.1 * 0.9^k + 0.9 * 0.1^k).

Both are one-step episodes: the step's outcome ends the episode.
"""

from __future__ import annotations

from collections.abc import Hashable
from fractions import Fraction
from typing import Any

from coherence import __version__
from coherence.envs.tabular import Outcome

__all__ = ["BENCHMARKS", "BenchmarkSource", "doc_bandit_closed_form"]

_HALF = Fraction(1, 2)

_GAMBLING: dict[str, list[tuple[Fraction, str, Fraction]]] = {
    "a0": [
        (_HALF, "a0 won (+5)", Fraction(5)),
        (_HALF, "a0 lost (-15)", Fraction(-15)),
    ],
    "a1": [(_HALF, "a1 won (+1)", Fraction(1)), (_HALF, "a1 lost (-6)", Fraction(-6))],
    "a2": [(Fraction(1), "a2 (+1)", Fraction(1))],
}
_DOC: dict[str, list[tuple[Fraction, str, Fraction]]] = {
    "good": [
        (Fraction(9, 10), "good arm succeeded", Fraction(1)),
        (Fraction(1, 10), "good arm failed", Fraction(0)),
    ],
    "bad": [
        (Fraction(1, 10), "bad arm succeeded", Fraction(1)),
        (Fraction(9, 10), "bad arm failed", Fraction(0)),
    ],
}

#: name -> (outcomes by action, prior by action or None, reference)
BENCHMARKS: dict[
    str,
    tuple[
        dict[str, list[tuple[Fraction, str, Fraction]]], dict[str, Fraction] | None, str
    ],
] = {
    "gambling": (
        _GAMBLING,
        None,
        "Paster, McIlraith and Ba, You Can't Count on Luck: Why Decision "
        "Transformers and RvS Fail in Stochastic Environments (NeurIPS 2022)",
    ),
    "doc-bandit": (
        _DOC,
        {"good": Fraction(1, 10), "bad": Fraction(9, 10)},
        "Yang, Schuurmans, Abbeel and Nachum, Dichotomy of Control: Separating "
        "What You Can Control from What You Cannot (ICLR 2023)",
    ),
}


def doc_bandit_closed_form(k: int) -> Fraction:
    """G_k(good) = 0.1 * 0.9^k / (0.1 * 0.9^k + 0.9 * 0.1^k) for the
    Dichotomy-of-Control bandit (SPEC §7 claim 13's bandit closed form
    p(a) z(a)^k / sum_b p(b) z(b)^k with z = (9/10, 1/10), p = (1/10, 9/10))."""
    p_good, p_bad = Fraction(1, 10), Fraction(9, 10)
    z_good, z_bad = Fraction(9, 10), Fraction(1, 10)
    top = p_good * z_good**k
    return top / (top + p_bad * z_bad**k)


class BenchmarkSource:
    """A one-decision benchmark: the start state, its actions, and outcomes
    that end the episode."""

    time_dependent = False

    def __init__(self, name: str) -> None:
        """``gambling`` or ``doc-bandit``; else a one-line ValueError."""
        if name not in BENCHMARKS:
            raise ValueError(
                f"environment: unknown benchmark {name!r}; expected one of "
                f"{', '.join(BENCHMARKS)}"
            )
        self.name = name
        table, prior, reference = BENCHMARKS[name]
        self._table = table
        self._prior = prior
        self.reference = reference
        self.actions = tuple(table)
        rewards = [r for outs in table.values() for _, _, r in outs]
        self.reward_bounds = (max(rewards), min(rewards))

    def initial(self) -> list[tuple[Hashable, Fraction]]:
        """The start state."""
        return [("start", Fraction(1))]

    def outcomes(self, state: Hashable, action: int, t: int) -> list[Outcome]:
        """From the start: the action's outcomes, each ending the episode."""
        del state, t
        return [
            Outcome(p, label, r, True, r > 0)
            for p, label, r in self._table[self.actions[action]]
        ]

    def state_name(self, state: Hashable) -> str:
        """The state's label."""
        return str(state)

    def end_name(self, state: Hashable) -> str:
        """The outcome's label."""
        return str(state)

    def prior(self, state: Hashable) -> tuple[Fraction, ...] | None:
        """The benchmark's behaviour prior at the start (uniform for gambling)."""
        del state
        if self._prior is None:
            return None
        return tuple(self._prior[a] for a in self.actions)

    def provenance(self) -> dict[str, Any]:
        """The benchmark's name and the paper it comes from."""
        return {
            "kind": "benchmark",
            "benchmark": self.name,
            "reference": self.reference,
            "package": "coherence",
            "package_version": __version__,
            "transitions": "written from the published definition",
        }
