"""The incoherence profile of a learned policy (SPEC §4-§5).

A learned policy pi^ that estimates G_k differs from it for two reasons: the fit
(sampling and optimisation error) and the structure of G_k itself, which is not
coherent in general (kappa_1(G_k) > 0 on a stochastic case). The profile puts the
three numbers side by side:

    kappa_1(pi^) = KL_c(pi^ || pi^{Q,1}(pi^))   (from the learned probabilities),
    kappa_1(G_k)                               (the exact operator's, same engine),
    max |pi^ - G_k| and the causal KL_c(pi^ || G_k),

so a kappa_1(pi^) close to kappa_1(G_k) with a small distance says the learner
inherited the operator's incoherence, and a large gap says the fit adds its own.
kappa is computed by a float64 engine (``numpy`` by default, any float backend of
:mod:`coherence.backends`) from the learned probabilities as given; G_k by the
query layer on the same engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from coherence import backends
from coherence.queries import Evaluator
from coherence.reference.model import MDP, FloatArray
from coherence.reference.numpy_engine import NumpyEngine
from coherence.reference.operators import PolicySpec
from coherence.reference.recurrences import Boltzmann

__all__ = [
    "IncoherenceProfile",
    "incoherence_profile",
    "support_kappa",
    "support_policy",
]


def support_policy(engine: NumpyEngine, log_pi: FloatArray) -> FloatArray:
    """The learned policy on the support G can have (log probabilities): the
    mass on actions whose soft value under the policy ITSELF is Q_t(s, a) =
    -inf is removed and the row renormalised. There G(pi) and the Boltzmann
    policy pi^{Q,1} are exactly 0 whatever the rest of the policy is (the action
    cannot succeed), so a softmax learner's leftover 5e-9 there is fit error, not
    incoherence; it alone makes the raw kappa_1 = +inf. Rows where every action
    has Q = -inf are kept as they are."""
    Q = engine.values(log_pi).Q
    dead = np.isneginf(Q)
    keep = ~dead.all(axis=-1, keepdims=True)
    masked = np.where(dead & keep, -np.inf, log_pi)
    with np.errstate(invalid="ignore"):
        norm = np.logaddexp.reduce(masked, axis=-1, keepdims=True)
    out: FloatArray = np.where(np.isfinite(norm), masked - norm, log_pi)
    return out


def support_kappa(engine: NumpyEngine, log_pi: FloatArray, f: Boltzmann) -> float:
    """kappa_f of :func:`support_policy` (finite for a policy whose only
    infinite KL terms come from provably failing actions)."""
    return float(engine.kappa(support_policy(engine, log_pi), f))


@dataclass(frozen=True)
class IncoherenceProfile:
    """kappa_1 of the learned policy and of exact G_k, their difference, the
    largest |pi^ - G_k| over every (t, s, a) (``distance``), KL_c(pi^ || G_k),
    J_prob of both (float64, nats for the KL terms); ``kappa_support`` the
    support-aware kappa_1 (:func:`support_kappa`); ``distance_visited`` the
    largest max_a |pi^ - G_k| over the (t, s) a successful episode of pi^ visits
    with positive probability; ``distance_occupancy`` the same distance averaged
    over t and s with the weights c_t(s) = P(s_t = s, success) of pi^ (sum 1
    over s at each t, averaged over the t where success is possible)."""

    k: int
    kappa_learned: float
    kappa_exact: float
    distance: float
    causal_kl: float
    j_prob_learned: float
    j_prob_exact: float
    kappa_support: float
    distance_visited: float
    distance_occupancy: float

    @property
    def kappa_gap(self) -> float:
        """kappa_1(pi^) - kappa_1(G_k): the incoherence the fit adds."""
        return self.kappa_learned - self.kappa_exact


def incoherence_profile(
    mdp: MDP, policy: FloatArray, k: int, *, backend: str = "numpy"
) -> IncoherenceProfile:
    """The profile of ``policy`` (probabilities, shape (T, S, A)) against G_k on
    a float ``backend`` (module docstring)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k: expected a non-negative integer, got {k!r}")
    probs = np.asarray(policy, dtype=np.float64)
    shape = (mdp.horizon, mdp.n_states, mdp.n_actions)
    if probs.shape != shape:
        raise ValueError(f"policy: expected shape {shape} (T, S, A), got {probs.shape}")
    if not np.isfinite(probs).all() or (probs < 0).any():
        raise ValueError("policy: entries must be finite and >= 0")
    evaluator = Evaluator(mdp, backend)
    engine = evaluator.engine(backend)
    if getattr(engine, "rational_only", False):
        raise ValueError(
            f"backend: {backend!r} is exact; the profile needs a float one"
        )
    with np.errstate(divide="ignore"):
        log_pi = np.log(probs)
    log_pi = engine.check_policy(log_pi)
    spec = PolicySpec("G", k=k)
    g_k = evaluator.policy(spec)
    f = Boltzmann(Fraction(1))
    gk = np.exp(np.asarray(g_k, dtype=np.float64))
    from coherence.gpu.learning.outcome_model import success_visit_probability

    reference: NumpyEngine = backends.create("numpy", mdp)
    c = success_visit_probability(reference, probs)
    per_cell = np.abs(probs - gk).max(axis=-1)
    visited = c > 0
    tot = c.sum(axis=-1)
    live = tot > 0
    weighted = (c * per_cell).sum(-1)[live] / tot[live]
    return IncoherenceProfile(
        k=k,
        kappa_learned=float(engine.kappa(log_pi, f)),
        kappa_exact=float(engine.kappa(g_k, f)),
        distance=float(np.abs(probs - gk).max()),
        causal_kl=float(engine.causal_kl(log_pi, g_k)),
        j_prob_learned=float(engine.j_prob(log_pi)),
        j_prob_exact=float(engine.j_prob(g_k)),
        kappa_support=support_kappa(reference, log_pi, f),
        distance_visited=float(per_cell[visited].max()) if visited.any() else 0.0,
        distance_occupancy=float(weighted.mean()) if weighted.size else 0.0,
    )
