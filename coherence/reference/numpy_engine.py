"""Float64 reference engine in log space (SPEC §3–§4), one MDP, numpy.

Policies are log-probabilities ``log_pi[t, s, a]``; rewards are ``(r[t, s, a],
r_T[s])`` with r = log rho in [-inf, +inf); values are ``Q[t, s, a]`` and
``V[t, s]`` (t = 0..T):

    V_T(s)   = r_T(s)
    Q_t(s,a) = r_t(s,a) + log sum_{s'} P(s'|s,a) exp V_{t+1}(s')
    V_t(s)   = log sum_a pi_t(a|s) exp Q_t(s,a)

The expectation over s' is a dense matrix-vector product with P reshaped to
``(S*A, S')`` against exp(V - max V), so each backward step streams P once
(memory-bandwidth bound). Rows whose shifted sum underflows are recomputed with
a per-row log-sum-exp, so accuracy does not depend on the spread of V.

SPEC §2 conventions: exp(-inf) = 0, log 0 = -inf, a zero-weight term
contributes 0 whatever its value, conditioning where V = -inf returns the base
policy, a softmax of all -inf is uniform. No public function returns NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from coherence.reference.model import MDP, FloatArray
from coherence.reference.recurrences import Argmax, SoftQ

__all__ = [
    "ARGMAX_RTOL",
    "KAPPA_RISES",
    "POLICY_ROW_TOLERANCE",
    "KappaTerms",
    "LogValues",
    "NumpyEngine",
    "explain_kappa",
    "log_expectation",
    "log_softmax",
    "logsumexp",
]

#: SPEC §2: a is a maximiser when |Q - max Q| <= 1e-9 * max(1, |max Q|).
ARGMAX_RTOL = 1e-9
#: A log-policy row passes :meth:`NumpyEngine.check_policy` when its
#: probabilities sum to 1 within this absolute tolerance.
POLICY_ROW_TOLERANCE = 1e-6
_UNDERFLOW = 1e-250

Reward = tuple[FloatArray, FloatArray]


def logsumexp(x: FloatArray, axis: int = -1) -> FloatArray:
    """log sum exp along ``axis``; -inf where every entry is -inf (never NaN)."""
    m = np.max(x, axis=axis, keepdims=True)
    shift = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - shift), axis=axis, keepdims=True)) + shift
    squeezed: FloatArray = np.squeeze(out, axis=axis)
    return squeezed


def log_softmax(x: FloatArray, axis: int = -1) -> FloatArray:
    """Log-softmax along ``axis``; uniform where every entry is -inf (SPEC §2)."""
    lse = logsumexp(x, axis=axis)
    lse_k = np.expand_dims(lse, axis)
    n = x.shape[axis]
    dead = np.isneginf(lse_k)
    out: FloatArray = np.where(dead, -math.log(n), x - np.where(dead, 0.0, lse_k))
    return out


def log_expectation(PT: FloatArray, V: FloatArray) -> FloatArray:
    """log sum_{s'} P[row, s'] exp V[s'] for each row, with the transitions given
    transposed, ``PT[s', row]`` (shape (S', R)): the row-vector product
    exp(V - max V) @ PT streams PT once and measured faster than the
    matrix-vector form on these machines.

    Rows whose shifted sum underflows (below 1e-250, or 0 while some successor
    has V > -inf) are recomputed exactly in log space; a row whose successors
    all have V = -inf is -inf without that work (one more row-vector product
    finds them).
    """
    m = float(np.max(V))
    if m == -math.inf:
        return np.full(PT.shape[1], -math.inf)
    acc = np.exp(V - m) @ PT
    with np.errstate(divide="ignore"):
        out: FloatArray = np.log(acc) + m
    small = acc < _UNDERFLOW
    if small.any():
        # probability of reaching a successor with V > -inf: 0 means the exact -inf
        live = np.isfinite(V).astype(np.float64) @ PT
        small &= live > 0
    bad = np.flatnonzero(small)
    if bad.size:
        with np.errstate(divide="ignore"):
            lp = np.log(PT[:, bad].T) + V[None, :]
        out[bad] = logsumexp(lp, axis=1)
    return out


@dataclass(frozen=True)
class LogValues:
    """Q[t, s, a] (t < T) and V[t, s] (t <= T) of a policy under a reward."""

    Q: FloatArray
    V: FloatArray


@dataclass(frozen=True)
class KappaTerms:
    """kappa_f(pi) term by term (:meth:`NumpyEngine.kappa_terms`)."""

    terms: FloatArray
    infinite: tuple[tuple[int, int, int, float, float], ...]


#: Why kappa_1 may rise along G_k, printed beside such a rise.
KAPPA_RISES = (
    "kappa_1 is the distance to the delta = 1 soft-Q target of the policy's own "
    "Q, not to the optimum; G_k heads for a J_prob maximiser (docs/spec.md §7 "
    "claim 13) and may pass that target on the way, so kappa need not fall along "
    "G_k (claim 17)"
)


def explain_kappa(
    engine: NumpyEngine,
    policy: FloatArray,
    f: SoftQ,
    states: Sequence[str],
    actions: Sequence[str],
) -> str:
    """One sentence saying where kappa_f(pi) comes from.

    Infinite: the first (t, s, a) where pi gives an action positive
    probability that the f-soft-Q target gives 0 (for Boltzmann f, Q = -inf:
    the action cannot succeed), at a state pi reaches. Finite and positive: the
    (t, s) with the largest share of the sum.
    """
    parts = engine.kappa_terms(policy, f)
    if parts.infinite:
        t, s, a, p, reach = parts.infinite[0]
        more = len(parts.infinite) - 1
        return (
            f"kappa is inf: pi_{t}({actions[a]}|{states[s]}) = {p:.3g} > 0 where the "
            f"soft-Q target is 0 (a dead action: Q = -inf, it cannot succeed), at a "
            f"state reached with probability {reach:.3g}"
            + (f"; {more} more such cells" if more else "")
        )
    total = float(parts.terms.sum())
    if not total > 0:
        return "kappa is 0: pi equals its soft-Q target wherever it goes"
    t, s = (int(i) for i in np.unravel_index(np.argmax(parts.terms), parts.terms.shape))
    share = float(parts.terms[t, s]) / total
    return (
        f"largest term of kappa at t={t} s={states[s]}: {float(parts.terms[t, s]):.3g} "
        f"({share:.0%} of {total:.3g})"
    )


def _times(weight: FloatArray, value: FloatArray) -> FloatArray:
    """weight * value with 0 * (+-inf) = 0 (SPEC §2)."""
    with np.errstate(invalid="ignore"):
        out: FloatArray = np.where(weight == 0, 0.0, weight * value)
    return out


class NumpyEngine:
    """Float64 log-space engine for one MDP."""

    name = "numpy"

    def __init__(self, mdp: MDP) -> None:
        S, A = mdp.n_states, mdp.n_actions
        self.mdp: MDP | None = mdp
        self._setup(
            mdp.transition_array.reshape(S * A, S),
            mdp.log_success,
            mdp.log_terminal_success,
            mdp.log_prior,
            mdp.initial_array,
        )

    @classmethod
    def from_arrays(
        cls,
        *,
        transitions: FloatArray,
        log_success: FloatArray,
        log_terminal_success: FloatArray,
        log_prior: FloatArray,
        initial: FloatArray,
    ) -> NumpyEngine:
        """An engine over float arrays only (no exact MDP): transitions
        ``[s, a, s']``, log_success ``[t, s, a]``, log_terminal_success ``[s]``,
        log_prior ``[s, a]``, initial ``[s]``. For large float workloads, where
        building the exact MDP would dominate; the arrays are trusted."""
        P = np.asarray(transitions, dtype=np.float64)
        if P.ndim != 3 or P.shape[0] != P.shape[2]:
            raise ValueError(f"transitions: expected shape (S, A, S), got {P.shape}")
        S, A = P.shape[0], P.shape[1]
        r = np.asarray(log_success, dtype=np.float64)
        if r.ndim != 3 or r.shape[1:] != (S, A):
            raise ValueError(
                f"log_success: expected shape (T, {S}, {A}), got {r.shape}"
            )
        engine = cls.__new__(cls)
        engine.mdp = None
        engine._setup(P.reshape(S * A, S), r, log_terminal_success, log_prior, initial)
        return engine

    def _setup(
        self,
        P2: FloatArray,
        r: FloatArray,
        r_T: FloatArray,
        log_p: FloatArray,
        mu: FloatArray,
    ) -> None:
        T, S, A = r.shape
        for name, arr, shape in (
            ("log_terminal_success", r_T, (S,)),
            ("log_prior", log_p, (S, A)),
            ("initial", mu, (S,)),
        ):
            if np.shape(arr) != shape:
                raise ValueError(f"{name}: expected shape {shape}, got {np.shape(arr)}")
        self.shape: tuple[int, int, int] = (T, S, A)
        # PT[s', s*A + a] = P(s'|s, a): the layout of the fast row-vector product
        self.PT: FloatArray = np.ascontiguousarray(np.asarray(P2, dtype=np.float64).T)
        self.r: FloatArray = np.asarray(r, dtype=np.float64)
        self.r_T: FloatArray = np.asarray(r_T, dtype=np.float64)
        self.log_p: FloatArray = np.asarray(log_p, dtype=np.float64)
        self.mu: FloatArray = np.asarray(mu, dtype=np.float64)

    @property
    def P2(self) -> FloatArray:
        """P[s*A + a, s'] (a read-only transposed view of ``PT``)."""
        view: FloatArray = self.PT.T
        view.flags.writeable = False
        return view

    # ---------------------------------------------------------- primitives
    def prior_policy(self) -> FloatArray:
        """log p broadcast over t, shape (T, S, A)."""
        return np.broadcast_to(self.log_p, self.shape).copy()

    def base_reward(self) -> Reward:
        """(r[t, s, a], r_T[s]) = log of the success probabilities."""
        return self.r, self.r_T

    def scale_reward(self, reward: Reward, alpha: Any) -> Reward:
        """alpha * r with 0 * (-inf) = 0, terminal included (SPEC §2)."""
        a = float(alpha)
        if not a >= 0:
            raise ValueError(f"alpha: must be >= 0, got {alpha!r}")
        if a == 0:
            return np.zeros_like(reward[0]), np.zeros_like(reward[1])
        return a * reward[0], a * reward[1]

    def soft_values(self, policy: FloatArray, reward: Reward) -> LogValues:
        """Backward pass of SPEC §3 in log space."""
        T, S, A = self.shape
        r, r_T = reward
        Q = np.empty((T, S, A))
        V = np.empty((T + 1, S))
        V[T] = r_T
        for t in range(T - 1, -1, -1):
            Q[t] = r[t] + log_expectation(self.PT, V[t + 1]).reshape(S, A)
            V[t] = logsumexp(policy[t] + Q[t], axis=1)
        return LogValues(Q=Q, V=V)

    def condition(self, base: FloatArray, values: LogValues) -> FloatArray:
        """base * exp(Q - V), renormalised; base where V = -inf."""
        V = values.V[:-1, :, None]
        dead = np.isneginf(V)
        raw = base + values.Q - np.where(dead, 0.0, V)
        return np.where(dead, base, log_softmax(raw, axis=2))

    def fold(self, reward: Reward, policy: FloatArray, *, literal: bool) -> Reward:
        """R + log pi (- log p); -inf where p = 0 (SPEC §2)."""
        r, r_T = reward
        if literal:
            return r + policy, r_T
        impossible = np.isneginf(self.log_p)[None]
        out = np.where(
            impossible, -math.inf, r + policy - np.where(impossible, 0.0, self.log_p)
        )
        return out, r_T

    def soft_q_policy(self, values: LogValues, f: SoftQ) -> FloatArray:
        """Boltzmann softmax(Q / delta) or uniform over argmax Q (SPEC §2 tolerance)."""
        Q = values.Q
        if isinstance(f, Argmax):
            top = np.max(Q, axis=2, keepdims=True)
            finite = np.isfinite(top)
            tol = ARGMAX_RTOL * np.maximum(1.0, np.abs(np.where(finite, top, 0.0)))
            with np.errstate(invalid="ignore"):
                member = np.where(
                    finite, np.abs(Q - np.where(finite, top, 0.0)) <= tol, True
                )
            with np.errstate(divide="ignore"):
                return log_softmax(np.log(member.astype(np.float64)), axis=2)
        delta = float(f.delta)
        return log_softmax(Q / delta, axis=2)

    def relabel_step(self, policy: FloatArray, segments: str) -> FloatArray:
        """One round of hindsight relabelling (SPEC §4,
        :mod:`coherence.reference.relabel`); needs a goal-conditioned case."""
        from coherence.reference.relabel import relabel_step_numpy

        return relabel_step_numpy(self, policy, segments)

    def maxent_backup(self, alpha: Any) -> LogValues:
        """Expectation backup of the entropy-regularised optimum (SPEC §4):
        Qt = r + E_{s'} Vt(s'),  Vt = (1/alpha) log sum_a p exp(alpha Qt),
        Vt_T = r_T (alpha > 0). Qt is -inf where a successor with Vt = -inf has
        positive probability (no 0 * inf is formed)."""
        a = float(alpha)
        if not a > 0:
            raise ValueError(
                f"alpha: the expectation backup needs alpha > 0, got {alpha!r}"
            )
        T, S, A = self.shape
        Q = np.empty((T, S, A))
        V = np.empty((T + 1, S))
        V[T] = self.r_T
        for t in range(T - 1, -1, -1):
            dead_next = np.isneginf(V[t + 1])
            mean = np.where(dead_next, 0.0, V[t + 1]) @ self.PT
            hits_dead = (dead_next.astype(np.float64) @ self.PT) > 0
            Q[t] = self.r[t] + np.where(hits_dead, -math.inf, mean).reshape(S, A)
            V[t] = logsumexp(self.log_p + a * Q[t], axis=1) / a
        return LogValues(Q=Q, V=V)

    def maxent_policy(self, alpha: Any) -> FloatArray:
        """Entropy-regularised optimum (SPEC §4): pi proportional to
        p exp(alpha Qt) of :meth:`maxent_backup`; the prior where every Qt is -inf,
        and the prior at alpha = 0 (the limit)."""
        a = float(alpha)
        if not a >= 0:
            raise ValueError(f"alpha: must be >= 0, got {alpha!r}")
        if a == 0:
            return self.prior_policy()
        logits = self.log_p[None] + a * self.maxent_backup(a).Q
        dead = np.isneginf(logsumexp(logits, axis=2))[..., None]
        out: FloatArray = np.where(dead, self.log_p[None], log_softmax(logits, axis=2))
        return out

    # ---------------------------------------------------------- quantities
    def check_policy(self, policy: FloatArray) -> FloatArray:
        """``policy`` (log-probabilities) unchanged when it has shape (T, S, A),
        no NaN and rows whose probabilities sum to 1 within
        :data:`POLICY_ROW_TOLERANCE`; else a one-line ValueError."""
        arr = np.asarray(policy)
        if arr.shape != self.shape:
            raise ValueError(
                f"policy: expected a log-policy of shape (T, S, A) = {self.shape}, "
                f"got {arr.shape}"
            )
        if np.isnan(arr).any():
            t, s, _a = (int(i) for i in np.argwhere(np.isnan(arr))[0])
            raise ValueError(f"policy: NaN in row (t={t}, s={s})")
        sums = np.exp(arr).sum(axis=2)
        bad = np.abs(sums - 1.0) > POLICY_ROW_TOLERANCE
        if bad.any():
            t, s = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"policy: row (t={t}, s={s}) sums to {float(sums[t, s])!r}, not 1 "
                "(policies are log-probabilities)"
            )
        return policy

    def values(self, policy: FloatArray) -> LogValues:
        """Q and V of ``policy`` under the MDP's own reward (SPEC §3)."""
        return self.soft_values(self.check_policy(policy), self.base_reward())

    def occupancy(self, policy: FloatArray) -> FloatArray:
        """d[t, s] = P(s_t = s), t = 0..T."""
        self.check_policy(policy)
        T, S, A = self.shape
        d = np.empty((T + 1, S))
        d[0] = self.mu
        pi = np.exp(policy)
        for t in range(T):
            d[t + 1] = self.PT @ (d[t][:, None] * pi[t]).reshape(S * A)
        return d

    def j_prob(self, policy: FloatArray) -> float:
        """J_prob = P(success) (SPEC §3)."""
        return float(np.exp(self.j_soft(policy)))

    def j_soft(self, policy: FloatArray) -> float:
        """J_soft = log sum_s mu(s) exp V_0(s) (SPEC §3)."""
        V0 = self.values(policy).V[0]
        with np.errstate(divide="ignore"):
            return float(logsumexp(np.log(self.mu) + V0, axis=0))

    def _expect(self, policy: FloatArray, step: FloatArray, final: FloatArray) -> float:
        d = self.occupancy(policy)
        weight = d[:-1, :, None] * np.exp(policy)
        terms = np.concatenate(
            [_times(weight, step).ravel(), _times(d[-1], final).ravel()]
        )
        if np.isneginf(terms).any():
            return -math.inf
        return math.fsum(terms.tolist())

    def j_sum(self, policy: FloatArray) -> float:
        """E[sum_t r_t + r_T] (SPEC §3; may be -inf)."""
        return self._expect(policy, self.r, self.r_T)

    def j_count(self, policy: FloatArray) -> float:
        """E[sum_t rho_t + rho_T] (SPEC §3)."""
        return self._expect(policy, np.exp(self.r), np.exp(self.r_T))

    def causal_entropy(self, policy: FloatArray) -> float:
        """sum_t E_{d_t} H(pi_t(.|s)) in nats (SPEC §3)."""
        return self._expect(policy, -policy, np.zeros(self.shape[1])) + 0.0

    def causal_kl(self, policy: FloatArray, other: FloatArray) -> float:
        """KL_c(pi || q) (SPEC §3); +inf where q = 0 < pi at a reachable state;
        never negative (a rounding below 0 is returned as 0)."""
        self.check_policy(other)
        d = self.occupancy(policy)
        weight = d[:-1, :, None] * np.exp(policy)
        with np.errstate(invalid="ignore"):
            diff = np.where(np.isneginf(policy), 0.0, policy - other)
        if np.isposinf(diff[weight > 0]).any():
            return math.inf
        return max(0.0, math.fsum(_times(weight, diff).ravel().tolist()))

    def kappa(self, policy: FloatArray, f: SoftQ) -> float:
        """kappa_f(pi) = KL_c(pi || pi^{Q,f}) (SPEC §5)."""
        return self.causal_kl(policy, self.soft_q_policy(self.values(policy), f))

    def kappa_terms(self, policy: FloatArray, f: SoftQ) -> KappaTerms:
        """Where kappa_f(pi) comes from: the occupancy-weighted per-state terms
        d_t(s) KL(pi_t(.|s) || pi^{Q,f}_t(.|s)) (their sum is kappa, SPEC §3's
        causal KL) and the cells that make it infinite.

        Returns:
            :class:`KappaTerms`: ``terms[t, s]`` (+inf at a reached state where
            pi puts mass on an action the target gives 0) and ``infinite``, each
            (t, s, a, pi, d_t(s)) with pi_t(a|s) > 0 = pi^{Q,f}_t(a|s) and
            d_t(s) > 0, largest d_t(s) * pi first.
        """
        self.check_policy(policy)
        target = self.soft_q_policy(self.values(policy), f)
        d = self.occupancy(policy)[:-1]
        pi = np.exp(policy)
        weight = d[:, :, None] * pi
        with np.errstate(invalid="ignore"):
            diff = np.where(np.isneginf(policy), 0.0, policy - target)
        dead = (weight > 0) & np.isposinf(diff)
        per_cell = np.where(weight > 0, _times(weight, np.where(dead, 0.0, diff)), 0.0)
        terms = per_cell.sum(axis=2)
        terms[dead.any(axis=2)] = math.inf
        cells = sorted(
            (tuple(int(i) for i in idx) for idx in np.argwhere(dead)),
            key=lambda c: -float(weight[c]),
        )
        infinite = tuple(
            (t, s, a, float(pi[t, s, a]), float(d[t, s])) for t, s, a in cells
        )
        return KappaTerms(terms=terms, infinite=infinite)

    # ---------------------------------------------------- tables for answers
    def policy_table(self, policy: FloatArray) -> FloatArray:
        """pi[t, s, a] as probabilities."""
        out: FloatArray = np.exp(self.check_policy(policy))
        return out

    def z_table(self, policy: FloatArray) -> FloatArray:
        """z[t, s, a] = P(O_{t:T} = 1 | s, a)."""
        out: FloatArray = np.exp(self.values(policy).Q)
        return out

    def w_table(self, policy: FloatArray) -> FloatArray:
        """w[t, s] = P(O_{t:T} = 1 | s), t = 0..T."""
        out: FloatArray = np.exp(self.values(policy).V)
        return out
