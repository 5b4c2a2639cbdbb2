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

from coherence.queries import Evaluator
from coherence.reference.model import MDP, FloatArray
from coherence.reference.operators import PolicySpec
from coherence.reference.recurrences import Boltzmann

__all__ = ["IncoherenceProfile", "incoherence_profile"]


@dataclass(frozen=True)
class IncoherenceProfile:
    """kappa_1 of the learned policy and of exact G_k, their difference, the
    largest |pi^ - G_k| over every (t, s, a), KL_c(pi^ || G_k), and J_prob of
    both (float64, nats for the KL terms)."""

    k: int
    kappa_learned: float
    kappa_exact: float
    distance: float
    causal_kl: float
    j_prob_learned: float
    j_prob_exact: float

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
    return IncoherenceProfile(
        k=k,
        kappa_learned=float(engine.kappa(log_pi, f)),
        kappa_exact=float(engine.kappa(g_k, f)),
        distance=float(np.abs(probs - gk).max()),
        causal_kl=float(engine.causal_kl(log_pi, g_k)),
        j_prob_learned=float(engine.j_prob(log_pi)),
        j_prob_exact=float(engine.j_prob(g_k)),
    )
