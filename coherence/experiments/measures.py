"""Per-instance quantities of the paper's experiments, computed exactly.

* kappa_delta(pi) = KL_c(pi || pi^delta) (SPEC §4) from the exact engine of
  :mod:`coherence.backends` (rational policies; the logs of the exact rationals
  are summed with ``math.fsum``, so the float result carries only rounding);
* the authors' clipped trajectory KL (docs/paper-experiments.md §2): the KL between
  the two full trajectory laws, outcomes O_t included, with every target
  probability replaced by max(q, 1e-12), in float64; it equals kappa in exact
  arithmetic wherever no target trajectory probability falls below 1e-12;
* returns: J_prob, J_sum, J_count (SPEC §3) and the authors' "J" = J_count - 1
  (their MDPs have no terminal reward, whose rho_T = 1 J_count counts);
* J* and Q* of the expected success count (their optimality criterion), exact.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from coherence import backends
from coherence.experiments.authors import AuthorsTree, tree_case
from coherence.reference.case import case_from_json
from coherence.reference.model import MDP
from coherence.reference.operators import retrain
from coherence.reference.recurrences import Boltzmann

__all__ = [
    "CLIP",
    "Kappas",
    "exact_engine",
    "g_policies",
    "kappas",
    "optimal_q",
    "policy_rows",
    "trajectory_kl_clipped",
    "tree_mdp",
]

#: The authors' clip of target trajectory probabilities.
CLIP = 1e-12


def tree_mdp(tree: AuthorsTree) -> MDP:
    """The instance as a validated :class:`MDP`, read back through the case reader."""
    return case_from_json(tree_case(tree)).mdp


def exact_engine(mdp: MDP, backend: str = "exact") -> Any:
    """The engine of the registry for ``mdp`` (default: exact rationals)."""
    return backends.create(backend, mdp)


def optimal_q(tree: AuthorsTree) -> dict[str, list[Fraction]]:
    """Q*(s, a) of the expected success count, exactly:
    Q*(s, a) = q(s, a) + sum_s' P(s'|s, a) max_b Q*(s', b), 0 after the last
    decision (the authors' ``optimal_Q_V``)."""
    out: dict[str, list[Fraction]] = {}
    for s in sorted(tree.q, key=len, reverse=True):
        row: list[Fraction] = []
        for a in range(tree.actions):
            value = Fraction(tree.q[s][a])
            for nxt, p in tree.transition(s, a).items():
                if nxt != "end":
                    value += p * max(out[nxt])
            row.append(value)
        out[s] = row
    return out


def policy_rows(mdp: MDP, table: Any) -> dict[str, list[float]]:
    """pi_{len(s)}(.|s) of a ``[t][s][a]`` probability table as floats, keyed by
    digit string (``""`` for root); a tree state is visited only at the step
    equal to its length."""
    rows: dict[str, list[float]] = {}
    for name in mdp.states:
        if name == "end":
            continue
        s = "" if name == "root" else name
        i = mdp.state_index(name)
        rows[s] = [float(x) for x in table[len(s)][i]]
    return rows


_LEVELS: dict[tuple[object, ...], list[tuple[list[str], Any, Any]]] = {}


def _levels(tree: AuthorsTree) -> list[tuple[list[str], Any, Any]]:
    """Per depth t: the states in index order (child of i under b is i A + b),
    q as an (A^t, A) array and P(child b | s, a) as (A^t, A, A) (cached)."""
    key = (tree.actions, tree.depth, tree.seed, tree.stochastic, tree.clip)
    if key not in _LEVELS:
        A = tree.actions
        out = []
        for t in range(tree.depth + 1):
            names = ["".join(c) for c in itertools.product("0123456789"[:A], repeat=t)]
            rho = np.array([tree.q[n] for n in names])
            trans = np.array(
                [
                    [
                        [
                            float(tree.transition(n, a).get(n + str(b), 0))
                            for b in range(A)
                        ]
                        for a in range(A)
                    ]
                    for n in names
                ]
            )
            out.append((names, rho, trans))
        if len(_LEVELS) > 64:
            _LEVELS.clear()
        _LEVELS[key] = out
    return _LEVELS[key]


def trajectory_kl_clipped(
    tree: AuthorsTree,
    pi: dict[str, list[float]],
    target: dict[str, list[float]],
    *,
    clip: float = CLIP,
) -> float:
    """sum over full trajectories xi (actions, outcomes, next states) of
    P_pi(xi) log(P_pi(xi) / max(P_target(xi), clip)), float64, exhaustive
    ((2 A)^(T+1) trajectories deterministic, (2 A^2)^(T+1) stochastic),
    expanded level by level in numpy arrays (pairwise summation: about
    1e-14 relative).

    Outcome factors q or 1 - q multiply both laws; they cancel in exact
    arithmetic but not under the clip, which is why they are enumerated."""
    A, T = tree.actions, tree.depth
    levels = _levels(tree)
    idx = np.zeros(1, dtype=np.int64)
    pp = np.ones(1)
    pq = np.ones(1)
    for t in range(T + 1):
        names, rho_t, trans_t = levels[t]
        pa = np.array([pi[n] for n in names])[idx]
        qa = np.array([target[n] for n in names])[idx]
        rho = rho_t[idx]
        outcomes = np.stack([rho, 1.0 - rho], axis=-1)
        pp2 = pp[:, None, None] * pa[:, :, None] * outcomes
        pq2 = pq[:, None, None] * qa[:, :, None] * outcomes
        if t == T:
            pp, pq = pp2.ravel(), pq2.ravel()
            break
        trans = trans_t[idx]
        pp3 = pp2[..., None] * trans[:, :, None, :]
        pq3 = pq2[..., None] * trans[:, :, None, :]
        child = idx[:, None, None, None] * A + np.arange(A)[None, None, None, :]
        child = np.broadcast_to(child, pp3.shape)
        keep = pp3.ravel() > 0.0
        pp, pq, idx = pp3.ravel()[keep], pq3.ravel()[keep], child.ravel()[keep]
    keep = pp > 0.0
    pp, pq = pp[keep], pq[keep]
    floor = np.maximum(pq, clip)
    if np.any(floor == 0.0):
        return math.inf
    return float(np.sum(pp * np.log(pp / floor)))


@dataclass(frozen=True)
class Kappas:
    """kappa_delta of a policy: exact (SPEC §4) and the authors' clipped value."""

    exact: float
    clipped: float


def kappas(
    engine: Any, mdp: MDP, tree: AuthorsTree, policy: Any, delta: Fraction | float
) -> Kappas:
    """kappa_delta(policy) from the engine (exact engine: exact rationals, 1/delta
    an integer; numpy: float64) and with the authors' clipped trajectory KL."""
    values = engine.values(policy)
    target = engine.soft_q_policy(values, Boltzmann(delta))
    exact = engine.causal_kl(policy, target)
    clipped = trajectory_kl_clipped(
        tree,
        policy_rows(mdp, engine.policy_table(policy)),
        policy_rows(mdp, engine.policy_table(target)),
    )
    return Kappas(exact, clipped)


def g_policies(engine: Any, k: int) -> list[Any]:
    """[G_0 = p, G_1, ..., G_k] (SPEC §4)."""
    out = [engine.prior_policy()]
    for _ in range(k):
        out.append(retrain(engine, 1, start=out[-1]))
    return out
