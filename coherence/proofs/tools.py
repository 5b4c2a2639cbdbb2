"""Shared machinery of the ledger's checks: SMT calls with a timeout, trajectory
enumeration over any number system, the algebraic lemmas several claims reuse,
and the REFUTED outcome of a shipped counterexample."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from fractions import Fraction
from typing import Any

from coherence.proofs.cases import CaseBuild, settle_case
from coherence.proofs.families import (
    deterministic_graphs,
    deterministic_tree,
    instantiate,
)
from coherence.proofs.numbers import FieldSystem
from coherence.proofs.outcome import Outcome, Settings, Status
from coherence.reference import recurrences as rec
from coherence.reference.recurrences import ExactMDP

__all__ = [
    "SMT_TIMEOUT_MS",
    "covariance_identity",
    "refuted",
    "smt_valid",
    "sos_identity",
    "trajectories",
    "trajectory_law_lemma",
]

#: every SMT query gets this budget; a timeout is an UNKNOWN with the reason
SMT_TIMEOUT_MS = 20_000


def smt_valid(
    hypotheses: Sequence[Any], goal: Any, timeout_ms: int = SMT_TIMEOUT_MS
) -> tuple[Status, str]:
    """Whether ``hypotheses => goal`` holds for all reals: z3 on the negation.

    unsat: PROVED; sat: REFUTED (with the model); unknown or timeout: UNKNOWN
    with z3's reason."""
    import z3

    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    solver.add(*hypotheses)
    solver.add(z3.Not(goal))
    start = time.perf_counter()
    result = solver.check()
    took = time.perf_counter() - start
    if result == z3.unsat:
        return "PROVED", "z3: negation unsat"
    if result == z3.sat:
        return "REFUTED", f"z3 model {solver.model()}"
    return "UNKNOWN", (
        f"z3 returned unknown after {took:.1f}s "
        f"({solver.reason_unknown()}; timeout {timeout_ms} ms)"
    )


def smt_one_step_improvement(
    n: int, timeout_ms: int = SMT_TIMEOUT_MS
) -> tuple[Status, str]:
    """z3 on w_0(G(pi)) >= w_0(pi) for one deterministic decision, both sides
    computed by the code: the exact engine over :data:`numbers.Z3` terms, its
    backward pass (SPEC §3) and ``retrain`` (SPEC §4, G = cond(pi, r)).

    Family: ``n`` actions, action a reaches its own outcome state with step
    success ``r_a`` and terminal success ``g_a``, both in [0, 1]; the policy
    ``pi_a`` is a symbolic distribution. Every hypothesis is listed in the
    query."""
    import z3

    from coherence import backends
    from coherence.proofs.numbers import Z3
    from coherence.reference.operators import retrain

    one, zero = Z3.const(Fraction(1)), Z3.const(Fraction(0))
    head = list(z3.Reals(" ".join(f"pi{a}" for a in range(n - 1))))
    row = [*head, one - z3.Sum(head)] if n > 2 else [head[0], one - head[0]]
    rho = list(z3.Reals(" ".join(f"r{a}" for a in range(n))))
    g = list(z3.Reals(" ".join(f"g{a}" for a in range(n))))
    hyp = [x >= 0 for x in row]
    hyp += [z3.And(x >= 0, x <= 1) for x in (*rho, *g)]
    uniform = [Z3.const(Fraction(1, n))] * n
    m = ExactMDP(
        ns=Z3,
        successors=[[[(1 + a, one)] for a in range(n)]]
        + [[[(s, one)] for _ in range(n)] for s in range(1, n + 1)],
        rho=[[rho] + [[one] * n for _ in range(n)]],
        rho_T=[zero, *g],
        initial=[one] + [zero] * n,
        prior=[uniform] * (n + 1),
    )
    engine = backends.create("exact", m)
    policy = [[row] + [list(uniform) for _ in range(n)]]
    before = engine.soft_values(policy, engine.base_reward()).w[0][0]
    improved = retrain(engine, 1, start=policy)
    after = engine.soft_values(improved, engine.base_reward()).w[0][0]
    return smt_valid(hyp, after >= before, timeout_ms)


def trajectories(
    m: ExactMDP[Any],
    policy: Sequence[Sequence[Sequence[Any]]],
    t0: int,
    s0: int,
    a0: int | None = None,
) -> Iterator[tuple[tuple[int, ...], Any, Any]]:
    """Every continuation from step ``t0`` in state ``s0`` (first action ``a0``
    if given) to the end: ``(path, probability, success weight)``, where the
    probability multiplies the policy's and the dynamics' factors (the policy
    factor of ``a0`` omitted when it is given) and the weight multiplies
    rho_t(s_t, a_t) for t >= t0 and rho_T(s_T). Enumerates, so small MDPs only.
    """
    one = m.ns.const(Fraction(1))
    T = m.horizon

    def walk(
        t: int, s: int, path: tuple[int, ...], prob: Any, weight: Any, first: int | None
    ) -> Iterator[tuple[tuple[int, ...], Any, Any]]:
        if t == T:
            yield (*path, s), prob, weight * m.rho_T[s]
            return
        actions = range(m.n_actions) if first is None else (first,)
        for a in actions:
            pa = one if first is not None else policy[t][s][a]
            for j, p in m.successors[s][a]:
                yield from walk(
                    t + 1,
                    j,
                    (*path, s, a),
                    prob * pa * p,
                    weight * m.rho[t][s][a],
                    None,
                )

    yield from walk(t0, s0, (), one, one, a0)


def sos_identity(n: int) -> bool:
    """Lemma (one-step improvement): with sum_i pi_i = 1,
    sum_i pi_i z_i^2 - (sum_i pi_i z_i)^2 = 1/2 sum_ij pi_i pi_j (z_i - z_j)^2,
    checked as an exact polynomial identity (pi_n eliminated)."""
    import sympy

    pi = list(sympy.symbols(f"pi0:{n - 1}"))
    pi.append(1 - sum(pi))
    z = sympy.symbols(f"z0:{n}")
    lhs = (
        sum(p * x**2 for p, x in zip(pi, z, strict=True))
        - sum(p * x for p, x in zip(pi, z, strict=True)) ** 2
    )
    rhs = sympy.Rational(1, 2) * sum(
        pi[i] * pi[j] * (z[i] - z[j]) ** 2 for i in range(n) for j in range(n)
    )
    return bool(sympy.expand(lhs - rhs) == 0)


def covariance_identity(n: int) -> bool:
    """Lemma (Chebyshev): with sum_i p_i = 1,
    E[X L] - E[X] E[L] = 1/2 sum_ij p_i p_j (x_i - x_j)(l_i - l_j)
    as an exact polynomial identity; with l = log x every term is >= 0 because
    log is increasing, so Cov(X, log X) >= 0."""
    import sympy

    p = list(sympy.symbols(f"p0:{n - 1}"))
    p.append(1 - sum(p))
    x = sympy.symbols(f"x0:{n}")
    lg = sympy.symbols(f"l0:{n}")
    lhs = sum(pi * xi * li for pi, xi, li in zip(p, x, lg, strict=True)) - sum(
        pi * xi for pi, xi in zip(p, x, strict=True)
    ) * sum(pi * li for pi, li in zip(p, lg, strict=True))
    rhs = sympy.Rational(1, 2) * sum(
        p[i] * p[j] * (x[i] - x[j]) * (lg[i] - lg[j])
        for i in range(n)
        for j in range(n)
    )
    return bool(sympy.expand(lhs - rhs) == 0)


def refuted(
    settings: Settings,
    built: CaseBuild,
    holds: bool,
    relation: str,
    evidence: str,
    lemmas: tuple[str, ...] = (),
) -> Outcome:
    """REFUTED when the counterexample's values show ``relation`` and its case
    file is up to date; otherwise UNKNOWN saying what went wrong."""
    problem = settle_case(built, settings)
    if not holds:
        return Outcome(
            "UNKNOWN",
            f"the counterexample no longer shows: {relation}",
            lemmas,
            built.relpath,
            relation,
        )
    if problem is not None:
        return Outcome("UNKNOWN", problem, lemmas, built.relpath, relation)
    return Outcome("REFUTED", evidence, lemmas, built.relpath, relation)


def trajectory_law_lemma() -> str:
    """cond(pi, r) from any start s0 in deterministic dynamics has trajectory law
    P_pi(xi | s0) rho(xi) / Z: exact over the rational function field."""
    count = 0
    families = [deterministic_tree(2, 2, symbolic_prior=True)]
    families += [fam for _, fam in deterministic_graphs(2, 2, 2)]
    field: FieldSystem | None = None
    for fam in families:
        if field is None or fam.names != tuple(field.symbols):
            field = FieldSystem(fam.names)
        m = instantiate(fam, field, field.symbols)
        base = m.prior_policy()
        values = rec.soft_values(m, base, m.rho, m.rho_T)
        cond = rec.condition(m, base, values)
        for s0 in range(m.n_states):
            prior_paths = list(trajectories(m, base, 0, s0))
            z = sum((p * wgt for _, p, wgt in prior_paths), field.const(Fraction(0)))
            cond_paths = {path: p for path, p, _ in trajectories(m, cond, 0, s0)}
            for path, p, wgt in prior_paths:
                if cond_paths[path] != p * wgt / z:
                    raise AssertionError(f"trajectory law differs at {path}")
                count += 1
    return (
        "L1 trajectory law: in deterministic dynamics, from every start s0, "
        "P_{cond(pi, r)}(xi | s0) = P_pi(xi | s0) rho(xi) / Z(s0) with rho(xi) "
        "the product of the step and terminal success along xi -- exact "
        "identity of rational functions (symbolic pi and success) on the "
        "binary tree of horizon 2 and all 16 deterministic maps on 2 states x 2 "
        f"actions, horizon 2 ({count} trajectories)"
    )
