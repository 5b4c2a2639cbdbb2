"""imitation's finite-horizon soft value iteration against coherence.

``imitation.algorithms.mce_irl.mce_partition_fh(env)`` computes Ziebart's
(2010) recurrences (9.1)-(9.3) for a state reward R(s) collected at every one
of H steps: Q_{H-1} = R, Q_t = R + P V_{t+1}, V_t = logsumexp_a Q_t,
pi_t = exp(Q_t - V_t). In coherence's terms that is the entropy-regularised
optimum maxent_1 (spec.md §4) of the MDP with step reward r_t(s, a) = R(s) -
max R, no terminal reward and a uniform prior; the conversions are exact:

    pi_imitation = maxent_1,
    V_imitation_t = Vt_t + (H - t) (log A + max R),
    Q_imitation_t = Qt_t + (H - t - 1) log A + (H - t) max R,

with (Qt, Vt) coherence's expectation backup (``NumpyEngine.maxent_backup``).
:func:`compare` returns the largest disagreement of an implementation's
(V, Q, pi) with these, and :func:`coherence_mdp` builds the MDP.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from coherence import backends
from coherence.reference.model import MDP


def coherence_mdp(P: Any, R: Any, horizon: int) -> MDP:
    """The coherence MDP of a tabular (P[s, a, s'], R[s], H) problem, every
    state initial with equal probability (the values do not depend on it)."""
    P = np.asarray(P, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    S, A, _ = P.shape
    st = [f"s{i}" for i in range(S)]
    ac = [f"a{j}" for j in range(A)]
    top = float(R.max())
    success = {st[s]: {a: math.exp(R[s] - top) for a in ac} for s in range(S)}
    return MDP.build(
        states=st,
        actions=ac,
        horizon=horizon,
        transitions={
            st[s]: {
                ac[a]: {st[j]: float(P[s, a, j]) for j in range(S) if P[s, a, j] > 0}
                for a in range(A)
            }
            for s in range(S)
        },
        initial={s: Fraction(1, S) for s in st},
        success=success,
    )


def expected(P: Any, R: Any, horizon: int) -> tuple[Any, Any, Any]:
    """(V, Q, pi) in imitation's convention, from coherence's maxent backup."""
    R = np.asarray(R, dtype=np.float64)
    mdp = coherence_mdp(P, R, horizon)
    engine = backends.create("numpy", mdp)
    values = engine.maxent_backup(1)
    A = mdp.n_actions
    top = float(R.max())
    steps = np.arange(horizon, 0, -1, dtype=np.float64)  # H - t
    V = values.V[:horizon] + (steps * (math.log(A) + top))[:, None]
    Q = values.Q + ((steps - 1) * math.log(A) + steps * top)[:, None, None]
    pi = np.exp(engine.maxent_policy(1))
    return V, Q, pi


def compare(got: tuple[Any, Any, Any], P: Any, R: Any, horizon: int) -> float:
    """max |got - expected| over V, Q and pi (relative to max(1, |expected|))."""
    want = expected(P, R, horizon)
    worst = 0.0
    for g, w in zip(got, want, strict=True):
        g = np.asarray(g, dtype=np.float64)
        if g.shape != w.shape:
            return math.inf
        worst = max(worst, float(np.max(np.abs(g - w) / np.maximum(1.0, np.abs(w)))))
    return worst
