"""The exact reference oracle: SPEC §3–§4 over rationals.

:class:`ExactEngine` runs the generic recurrences of
:mod:`coherence.reference.recurrences` over ``gmpy2.mpq`` (the default, fast for
the very large denominators of repeated conditioning) or ``fractions.Fraction``.
Rational quantities (policies, z, w, occupancy, J_prob, J_count) are exact; the
float quantities of SPEC §3 (J_soft, J_sum, causal entropy, causal KL, kappa) are
computed from the exact rationals with logs taken as log(num) - log(den), so they
never underflow, and summed with ``math.fsum``.

Cost: O(T·S·A·S') arithmetic operations per backward pass (successor lists, no
trajectory enumeration).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from coherence._numbers import log_rational, to_float
from coherence.reference import recurrences as rec
from coherence.reference.model import MDP
from coherence.reference.recurrences import (
    MPQ,
    ExactMDP,
    NumberSystem,
    SoftQ,
    SoftValues,
)

__all__ = ["ExactEngine", "Reward", "to_fraction_table"]

Table = list[list[list[Any]]]
Reward = tuple[Table, list[Any]]


def to_fraction_table(table: Any) -> Any:
    """Nested lists of mpq (or Fraction) -> the same nesting of Fraction."""
    if isinstance(table, list):
        return [to_fraction_table(x) for x in table]
    return Fraction(int(table.numerator), int(table.denominator))


class ExactEngine:
    """Exact engine for one MDP (policies are nested lists ``[t][s][a]``)."""

    name = "exact"
    #: Only rational policies: a non-rational spec is refused by the query layer.
    rational_only = True

    def __init__(self, mdp: MDP | ExactMDP[Any], ns: NumberSystem[Any] = MPQ) -> None:
        """``mdp`` is a validated :class:`MDP` (lifted into ``ns``) or an
        :class:`ExactMDP` already in a number system (symbolic families of
        theory/ and proofs/ use this; ``ns`` is then ignored)."""
        self.mdp: MDP | None = mdp if isinstance(mdp, MDP) else None
        self.m: ExactMDP[Any] = mdp if isinstance(mdp, ExactMDP) else rec.lift(mdp, ns)
        self.ns = self.m.ns

    # ---------------------------------------------------------- primitives
    def prior_policy(self) -> Table:
        """The prior p broadcast over t (SPEC §1)."""
        return self.m.prior_policy()

    def base_reward(self) -> Reward:
        """(rho_t(s, a), rho_T(s)): the MDP's success probabilities."""
        return self.m.rho, self.m.rho_T

    def scale_reward(self, reward: Reward, alpha: Any) -> Reward:
        """rho^alpha (SPEC §4 T_alpha; 0^0 = 1)."""
        return rec.scale_reward(self.m, reward[0], reward[1], alpha)

    def soft_values(self, policy: Table, reward: Reward) -> SoftValues[Any]:
        """z and w of ``policy`` under ``reward`` (SPEC §3 backward pass)."""
        return rec.soft_values(self.m, policy, reward[0], reward[1])

    def condition(self, base: Table, values: SoftValues[Any]) -> Table:
        """cond(base, r): base * z / w, base where w = 0 (SPEC §2, §4)."""
        return rec.condition(self.m, base, values)

    def fold(self, reward: Reward, policy: Table, *, literal: bool) -> Reward:
        """The folded reward of F_k / H_k (SPEC §4), canonical or literal."""
        return rec.fold_reward(self.m, reward[0], policy, literal=literal), reward[1]

    def soft_q_policy(self, values: SoftValues[Any], f: SoftQ) -> Table:
        """The f-soft-Q policy of the values (SPEC §5)."""
        return rec.soft_q_policy(self.m, values, f)

    def relabel_step(self, policy: Table, segments: str) -> Table:
        """One round of hindsight relabelling over ``segments`` (SPEC §4,
        :mod:`coherence.reference.relabel`); needs a goal-conditioned case."""
        from coherence.reference.relabel import command_of, relabel_step_exact

        cmd = command_of(self.mdp)
        return relabel_step_exact(self.m, cmd, policy, segments)

    # ---------------------------------------------------------- quantities
    def check_policy(self, policy: Table) -> Table:
        """``policy`` unchanged when it is a ``[t][s][a]`` table of shape
        (T, S, A) whose rows are non-negative and sum to exactly 1; else a
        one-line ValueError naming the expected shape or the bad row."""
        m = self.m
        T, S, A = m.horizon, m.n_states, m.n_actions
        shape_ok = (
            isinstance(policy, list)
            and len(policy) == T
            and all(isinstance(pt, list) and len(pt) == S for pt in policy)
            and all(
                isinstance(row, list) and len(row) == A for pt in policy for row in pt
            )
        )
        if not shape_ok:
            raise ValueError(
                f"policy: expected a [t][s][a] table of shape (T, S, A) = "
                f"({T}, {S}, {A})"
            )
        if not isinstance(self.ns, rec.RationalSystem):
            return policy  # symbolic entries: row sums are identities, not values
        one, zero = self.ns.const(Fraction(1)), self.ns.const(Fraction(0))
        for t, pt in enumerate(policy):
            for s, row in enumerate(pt):
                if any(x < zero for x in row) or sum(row, zero) != one:
                    raise ValueError(
                        f"policy: row (t={t}, s={s}) is not a distribution: {row!r}"
                    )
        return policy

    def values(self, policy: Table) -> SoftValues[Any]:
        """z, w of ``policy`` under the MDP's own reward (SPEC §3)."""
        return self.soft_values(self.check_policy(policy), self.base_reward())

    def occupancy(self, policy: Table) -> list[list[Any]]:
        """d_t(s) = P(s_t = s), t = 0..T (SPEC §3)."""
        return rec.occupancy(self.m, self.check_policy(policy))

    def j_prob(self, policy: Table) -> Any:
        """J_prob = sum_s mu(s) w_0(s) (SPEC §3)."""
        return rec.j_prob(self.m, self.values(policy))

    def j_count(self, policy: Table) -> Any:
        """J_count = E[sum_t rho_t + rho_T] (SPEC §3)."""
        return rec.j_count(self.m, policy, self.occupancy(policy))

    def j_soft(self, policy: Table) -> float:
        """J_soft = log J_prob (SPEC §3), from the exact rational."""
        return log_rational(self.j_prob(policy))

    def j_sum(self, policy: Table) -> float:
        """E[sum_t r_t + r_T]; a zero-probability term contributes 0 (SPEC §2)."""
        d = self.occupancy(policy)
        terms: list[float] = []
        T = self.m.horizon
        for t in range(T):
            for s, ds in enumerate(d[t]):
                for a, pa in enumerate(policy[t][s]):
                    weight = ds * pa
                    if weight != 0:
                        terms.append(
                            to_float(weight) * log_rational(self.m.rho[t][s][a])
                        )
        for s, ds in enumerate(d[T]):
            if ds != 0:
                terms.append(to_float(ds) * log_rational(self.m.rho_T[s]))
        if -math.inf in terms:
            return -math.inf
        return math.fsum(terms)

    def causal_entropy(self, policy: Table) -> float:
        """sum_t E_{d_t} H(pi_t(.|s)) in nats."""
        d = self.occupancy(policy)
        terms = [
            -to_float(d[t][s]) * to_float(pa) * log_rational(pa)
            for t in range(self.m.horizon)
            for s in range(self.m.n_states)
            if d[t][s] != 0
            for pa in policy[t][s]
            if pa != 0
        ]
        return math.fsum(terms) + 0.0

    def causal_kl(self, policy: Table, other: Table) -> float:
        """KL_c(pi || q) = sum_t E_{s~d_t^pi} KL(pi_t(.|s) || q_t(.|s)); +inf when
        q = 0 < pi at a reachable state (SPEC §3)."""
        self.check_policy(other)
        d = self.occupancy(policy)
        terms: list[float] = []
        for t in range(self.m.horizon):
            for s in range(self.m.n_states):
                if d[t][s] == 0:
                    continue
                for pa, qa in zip(policy[t][s], other[t][s], strict=True):
                    if pa == 0 or pa == qa:
                        continue
                    if qa == 0:
                        return math.inf
                    terms.append(to_float(d[t][s] * pa) * log_rational(pa / qa))
        # KL >= 0; a float sum of the exact terms may round a hair below 0
        return max(0.0, math.fsum(terms))

    def kappa(self, policy: Table, f: SoftQ) -> float:
        """kappa_f(pi) = KL_c(pi || pi^{Q,f})."""
        return self.causal_kl(policy, self.soft_q_policy(self.values(policy), f))

    # ---------------------------------------------------- tables for answers
    def policy_table(self, policy: Table) -> Table:
        """pi_t(a|s) itself (SPEC §3)."""
        return self.check_policy(policy)

    def z_table(self, policy: Table) -> Table:
        """z_t(s, a) = P(O_{t:T} = 1 | s, a) (SPEC §3)."""
        return self.values(policy).z

    def w_table(self, policy: Table) -> list[list[Any]]:
        """w_t(s) = P(O_{t:T} = 1 | s), t = 0..T (SPEC §3)."""
        return self.values(policy).w
