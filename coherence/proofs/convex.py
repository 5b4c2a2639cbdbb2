"""Convex-programming oracle for the entropy-regularised optimum (SPEC §4).

Over time-indexed occupancies x_t(s, a) >= 0 (alpha > 0):

    maximise  sum_{t,s,a} x_t(s,a) r_t(s,a) + sum_s d_T(s) r_T(s)
              - (1/alpha) sum_{t,s,a} rel_entr(x_t(s,a), p(a|s) sum_b x_t(s,b))
    s.t.      sum_a x_0(s,a) = mu(s)                                 (flow, t = 0)
              sum_a x_{t+1}(s',a) = sum_{s,a} P(s'|s,a) x_t(s,a)      (flow, t > 0)
              d_T(s') = sum_{s,a} P(s'|s,a) x_{T-1}(s,a)
              x = 0 where r = -inf or p = 0; d_T = 0 where r_T = -inf,

solved with an exponential-cone solver (Clarabel, SCS as a fallback). It is an
oracle independent of the dynamic programme: its optimal value must equal
sum_s mu(s) Vt_0(s), its primal x_t(s,a) = d_t(s) pi_t(a|s) for the DP policy
(the program identifies pi only where d_t(s) > 0), and the duals of the flow
constraints equal the soft values Vt_t(s) of the expectation backup

    Qt_t(s,a) = r_t(s,a) + E_{s'} Vt_{t+1}(s'),
    Vt_t(s) = (1/alpha) log sum_a p(a|s) exp(alpha Qt_t(s,a)),  Vt_T = r_T,

at every state with positive occupancy (the Lagrange multiplier of "mass into
(t, s)" is the value of that mass).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from coherence import backends
from coherence.queries import compute_policy
from coherence.reference.model import MDP, FloatArray

__all__ = [
    "ConvexReport",
    "ConvexSolution",
    "compare_with_dp",
    "deterministic_example",
    "expectation_backup",
    "solve_maxent_program",
]

_TOL = 1e-6
_CLARABEL_TOLS = {
    "tol_gap_abs": 1e-12,
    "tol_gap_rel": 1e-12,
    "tol_feas": 1e-12,
    "tol_ktratio": 1e-10,
    "max_iter": 500,
}


@dataclass(frozen=True)
class ConvexSolution:
    """Optimal value, occupancies x[t, s, a] and flow duals lam[t, s]."""

    value: float
    x: FloatArray
    duals: FloatArray
    solver: str


def solve_maxent_program(
    mdp: MDP, alpha: Any, *, solver: str = "CLARABEL"
) -> ConvexSolution:
    """Solve the occupancy program above with cvxpy."""
    import cvxpy

    cp: Any = cvxpy  # cvxpy's partial annotations do not cover its atoms
    a = float(alpha)
    if not a > 0:
        raise ValueError(f"alpha: the program needs alpha > 0, got {alpha!r}")
    T, S, A = mdp.horizon, mdp.n_states, mdp.n_actions
    P = mdp.transition_array.reshape(S * A, S)
    r, r_T = mdp.log_success, mdp.log_terminal_success
    p = mdp.prior_array
    xs = [cp.Variable((S, A), nonneg=True) for _ in range(T)]
    flows = []
    constraints = []
    objective: Any = 0
    for t in range(T):
        x = xs[t]
        inflow = (
            mdp.initial_array
            if t == 0
            else cp.reshape(xs[t - 1], (S * A,), order="C") @ P
        )
        flow = cp.sum(x, axis=1) == inflow
        flows.append(flow)
        constraints.append(flow)
        dead = np.isneginf(r[t]) | (p == 0)
        if dead.any():
            constraints.append(x[dead] == 0)
        coeff = np.where(np.isneginf(r[t]), 0.0, r[t])
        objective += cp.sum(cp.multiply(coeff, x))
        mass = cp.sum(x, axis=1, keepdims=True)
        live = p > 0
        reference = cp.multiply(np.where(live, p, 1.0), mass @ np.ones((1, A)))
        objective -= (
            cp.sum(cp.multiply(live.astype(float), cp.rel_entr(x, reference))) / a
        )
    d_T = cp.reshape(xs[T - 1], (S * A,), order="C") @ P
    dead_T = np.isneginf(r_T)
    if dead_T.any():
        constraints.append(d_T[np.flatnonzero(dead_T)] == 0)
    objective += np.where(dead_T, 0.0, r_T) @ d_T
    problem = cp.Problem(cp.Maximize(objective), constraints)
    with warnings.catch_warnings():
        # at these tight tolerances Clarabel may report "optimal_inaccurate" on
        # forced zeros; callers compare with the DP, which is the real check
        warnings.filterwarnings("ignore", message="Solution may be inaccurate")
        try:
            problem.solve(solver=solver, **_CLARABEL_TOLS)
        except cp.error.SolverError:
            solver = "SCS"
            problem.solve(solver=solver, eps=1e-9, max_iters=200_000)
    if problem.status not in ("optimal", "optimal_inaccurate"):
        raise ValueError(f"mdp: the program is {problem.status} ({solver})")
    duals = np.array([np.asarray(f.dual_value, dtype=float).reshape(S) for f in flows])
    x_val = np.array([np.asarray(x.value, dtype=float) for x in xs])
    return ConvexSolution(float(problem.value), np.maximum(x_val, 0.0), duals, solver)


def expectation_backup(mdp: MDP, alpha: Any) -> FloatArray:
    """Vt[t, s] of the expectation backup (module docstring), t = 0..T; -inf
    where every action is impossible (``NumpyEngine.maxent_backup``)."""
    values: FloatArray = backends.create("numpy", mdp).maxent_backup(alpha).V
    return values


@dataclass(frozen=True)
class ConvexReport:
    """Program versus dynamic programme on one MDP."""

    value_gap: float
    primal_gap: float
    dual_gap: float
    max_policy_gap_T: float
    policy: FloatArray
    solver: str

    @property
    def ok(self) -> bool:
        """Value, primal and duals agree with the DP within the tolerance."""
        return max(self.value_gap, self.primal_gap, self.dual_gap) < _TOL

    def policy_at(self, t: int, s: int, a: int) -> float:
        """The program's policy pi_t(a|s)."""
        return float(self.policy[t, s, a])

    def summary(self) -> str:
        """Stable text for the ledger: gaps as bounds, the T_alpha distance to
        two significant digits (solver noise is far below either)."""
        gaps = max(self.value_gap, self.primal_gap, self.dual_gap)
        verdict = (
            f"value, primal (x = d pi) and flow duals (= Vt) all agree within {_TOL:g}"
            if gaps < _TOL
            else f"DISAGREE (value {self.value_gap:.1e}, primal "
            f"{self.primal_gap:.1e}, duals {self.dual_gap:.1e})"
        )
        return (
            f"cvxpy/{self.solver} occupancy program vs expectation-backup DP: "
            f"{verdict}; program policy vs T_alpha at occupied (t, s): max "
            f"|difference| {_bound(self.max_policy_gap_T)}"
        )


def _bound(x: float) -> str:
    return f"below {_TOL:g}" if x < _TOL else f"{x:.1e}"


def compare_with_dp(mdp: MDP, alpha: Fraction) -> ConvexReport:
    """Solve the program and compare value, primal and duals with the DP;
    also report the distance of the program's policy from T_alpha."""
    from coherence.reference.operators import PolicySpec

    sol = solve_maxent_program(mdp, alpha)
    engine = backends.create("numpy", mdp)
    log_pi = engine.maxent_policy(alpha)
    V = expectation_backup(mdp, alpha)
    d = engine.occupancy(log_pi)
    pi = np.exp(log_pi)
    x_dp = d[:-1, :, None] * pi
    value = float(np.dot(mdp.initial_array, np.where(mdp.initial_array > 0, V[0], 0)))
    occupied = d[:-1] > 1e-9
    mass = sol.x.sum(axis=2, keepdims=True)
    policy = np.where(mass > 1e-12, sol.x / np.where(mass > 1e-12, mass, 1.0), pi)
    t_alpha = np.exp(compute_policy(engine, PolicySpec("T", alpha=alpha)))
    return ConvexReport(
        value_gap=abs(sol.value - value),
        primal_gap=float(np.max(np.abs(sol.x - x_dp))),
        dual_gap=float(np.max(np.abs(sol.duals - V[:-1])[occupied])),
        max_policy_gap_T=float(np.max(np.abs(policy - t_alpha)[occupied])),
        policy=policy,
        solver=sol.solver,
    )


def deterministic_example() -> MDP:
    """A deterministic MDP with merging paths, a non-uniform prior and step and
    terminal rewards (horizon 3, 3 states, 2 actions)."""
    return MDP.build(
        name="convex-deterministic",
        states=["a", "b", "c"],
        actions=["x", "y"],
        horizon=3,
        transitions={
            "a": {"x": {"b": "1"}, "y": {"c": "1"}},
            "b": {"x": {"a": "1"}, "y": {"c": "1"}},
            "c": {"x": {"c": "1"}, "y": {"a": "1"}},
        },
        initial={"a": "2/3", "b": "1/3"},
        success={"a": {"x": "1/2", "y": "9/10"}, "b": {"x": "1/4"}, "c": {"y": "3/5"}},
        terminal_success={"a": "1/3", "b": "1", "c": "2/3"},
        prior={
            "a": {"x": "1/5", "y": "4/5"},
            "b": {"x": "1/2", "y": "1/2"},
            "c": {"x": "2/3", "y": "1/3"},
        },
    )
