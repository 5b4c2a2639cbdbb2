"""Ledger checks of the improvement claims (SPEC §7 rows 10-13).

Claim 10 is proved the way the mathematics does it: a one-step lemma (the
sum-of-squares certificate of sum pi z^2 >= (sum pi z)^2), monotonicity of the
backward pass in the next-step values, and the backward induction composing
them. Claims 11 and 12 ship counterexamples; 11's deterministic half reduces to
Cov(X, log X) >= 0 over trajectories.
"""

from __future__ import annotations

from typing import Any

from coherence import backends
from coherence.proofs.ledger import Outcome, check
from coherence.proofs.tools import (
    covariance_identity,
    refuted,
    smt_valid,
    sos_identity,
    trajectory_law_lemma,
)
from coherence.queries import compute_policy

SOS_SIZES = range(2, 9)
MONOTONE_SIZES = range(1, 9)
BANDIT_SMT_SIZES = (2, 3)


def _sos_lemma() -> str:
    ok = all(sos_identity(n) for n in SOS_SIZES)
    if not ok:
        raise AssertionError("sum-of-squares identity failed")
    return (
        "L1 one-step: sum pi z^2 - (sum pi z)^2 = 1/2 sum_ij pi_i pi_j "
        "(z_i - z_j)^2 >= 0 (sum pi = 1) -- sympy exact polynomial identity for "
        "n = 2..8 actions: verified"
    )


def _monotone_lemma() -> str:
    import z3

    for n in MONOTONE_SIZES:
        rho = z3.Real("rho")
        P = z3.Reals(" ".join(f"P{j}" for j in range(n)))
        w = z3.Reals(" ".join(f"w{j}" for j in range(n)))
        w2 = z3.Reals(" ".join(f"v{j}" for j in range(n)))
        hyp = [rho >= 0, rho <= 1]
        hyp += [x >= 0 for x in P] + [x >= 0 for x in w]
        hyp += [a >= b for a, b in zip(w2, w, strict=True)]
        goal = rho * z3.Sum(
            [p * x for p, x in zip(P, w2, strict=True)]
        ) >= rho * z3.Sum([p * x for p, x in zip(P, w, strict=True)])
        status, text = smt_valid(hyp, goal)
        if status != "PROVED":
            raise AssertionError(f"monotonicity (n={n}): {text}")
        pi = z3.Reals(" ".join(f"pi{j}" for j in range(n)))
        hyp = [x >= 0 for x in pi] + [a >= b for a, b in zip(w2, w, strict=True)]
        goal = z3.Sum([p * x for p, x in zip(pi, w2, strict=True)]) >= z3.Sum(
            [p * x for p, x in zip(pi, w, strict=True)]
        )
        status, text = smt_valid(hyp, goal)
        if status != "PROVED":
            raise AssertionError(f"monotonicity of the action sum (n={n}): {text}")
    return (
        "L2 monotonicity: w' >= w >= 0 pointwise => rho sum_j P_j w'_j >= rho "
        "sum_j P_j w_j (P >= 0, rho in [0,1]) and sum_a pi_a z'_a >= sum_a pi_a "
        "z_a (pi >= 0) -- z3, negation unsat for 1..8 successors / actions"
    )


def _bandit_lemma() -> str:
    import z3

    parts = []
    for n in BANDIT_SMT_SIZES:
        pi = z3.Reals(" ".join(f"pi{j}" for j in range(n)))
        z = z3.Reals(" ".join(f"z{j}" for j in range(n)))
        w = z3.Sum([p * x for p, x in zip(pi, z, strict=True)])
        hyp = [x >= 0 for x in pi] + [z3.Sum(pi) == 1]
        hyp += [x >= 0 for x in z] + [x <= 1 for x in z] + [w > 0]
        goal = z3.Sum([p * x * x for p, x in zip(pi, z, strict=True)]) / w >= w
        status, text = smt_valid(hyp, goal)
        if status != "PROVED":
            raise AssertionError(f"one-step improvement (n={n}): {text}")
        parts.append(f"n={n}: {text}")
    return (
        "L3 one-step improvement directly: sum_a (pi_a z_a / w) z_a >= w = "
        "sum pi z > 0 -- z3 over the reals, " + "; ".join(parts)
    )


@check(
    10,
    "",
    statement="V_t^{G(pi)}(s) >= V_t^pi(s) at every (t, s), hence "
    "J_prob(G(pi)) >= J_prob(pi), for every policy pi, all dynamics",
    family="every finite MDP (stochastic dynamics, any prior and policy) with at "
    "most 8 actions and 8 successors per (s, a), any horizon and state count",
    method="lemmas + induction: sympy identity (SOS certificate) and z3 "
    "(monotonicity), composed by backward induction on t",
)
def claim_10() -> Outcome:
    lemmas = (
        _sos_lemma(),
        _monotone_lemma(),
        _bandit_lemma(),
        "L4 zero case: w_t(s) = 0 => G leaves pi_t(.|s) unchanged (SPEC §2), so "
        "w'_t(s) = sum pi z' >= sum pi z = 0 -- the second half of L2",
    )
    induction = (
        "Induction (backward on t): w'_T = w_T = rho_T. If w'_{t+1} >= w_{t+1} "
        "then z'_t >= z_t (L2) and, with pi' = pi z / w, w'_t = sum pi' z'_t >= "
        "sum pi' z_t = (sum pi z^2) / w >= w (L2, then L1 divided by w > 0; L4 when "
        "w = 0). So V' >= V at every (t, s); J_prob = sum mu w_0 follows."
    )
    return Outcome("PROVED", induction, lemmas)


@check(
    11,
    "deterministic",
    statement="J_sum(G(pi)) >= J_sum(pi) in deterministic "
    "dynamics, for every policy pi",
    family="deterministic MDPs: lemma L1 checked on the symbolic binary tree of "
    "horizon 2 and all deterministic maps on 2 states x 2 actions with horizon "
    "2 (symbolic success, prior/policy, initial distribution); L2 for "
    "trajectory distributions with up to 8 outcomes",
    method="lemmas + composition: rational-function identity (trajectory law) "
    "and sympy polynomial identity (covariance)",
)
def claim_11_deterministic() -> Outcome:
    ok = all(covariance_identity(n) for n in range(2, 9))
    if not ok:
        raise AssertionError("covariance identity failed")
    lemmas = (
        trajectory_law_lemma(),
        "L2 Cov(X, log X) >= 0: E[X L] - E[X]E[L] = 1/2 sum_ij p_i p_j (x_i - x_j)"
        "(l_i - l_j), each term >= 0 when l = log x is increasing -- sympy exact "
        "polynomial identity for n = 2..8 outcomes",
    )
    text = (
        "Composition: given s0, let X = rho(xi) under P_pi. By L1, J_sum(G(pi) "
        "| s0) = E[X log X] / E[X] and J_sum(pi | s0) = E[log X]; their "
        "difference is Cov(X, log X) / E[X] >= 0 (L2; if P(X = 0) > 0 then "
        "J_sum(pi | s0) = -inf and it holds trivially). G does not reweight "
        "mu, so averaging over s0 ~ mu gives the claim."
    )
    return Outcome("PROVED", text, lemmas)


def _return_sum_case() -> Any:
    from coherence.proofs.cases import build_case

    queries = []
    for k in (0, 1, 2):
        for quantity, tag in (("J_sum", "Jsum"), ("J_prob", "Jprob")):
            queries.append(
                {
                    "id": f"{tag}_G{k}",
                    "quantity": quantity,
                    "policy": {"operator": "G", "k": k},
                }
            )
    return build_case(
        "proofs-11-return-sum-stochastic",
        queries,
        states=["root", "mid", "hi", "lo"],
        actions=["a1", "a2"],
        horizon=1,
        transitions={
            "root": {"a1": {"mid": "1"}, "a2": {"hi": "1/2", "lo": "1/2"}},
            "mid": {"a1": {"mid": "1"}, "a2": {"mid": "1"}},
            "hi": {"a1": {"hi": "1"}, "a2": {"hi": "1"}},
            "lo": {"a1": {"lo": "1"}, "a2": {"lo": "1"}},
        },
        initial={"root": "1"},
        terminal_success={"root": "0", "mid": "1/2", "lo": "1/10"},
    )


@check(
    11,
    "stochastic",
    statement="J_sum(G(pi)) >= J_sum(pi) in stochastic dynamics",
    family="one counterexample (SPEC §6 return monotonicity: one "
    "decision, uniform prior)",
    method="exact counterexample",
)
def claim_11_stochastic() -> Outcome:
    built = _return_sum_case()
    e = built.expected
    holds = (
        e["Jsum_G1"] < e["Jsum_G0"]
        and e["Jsum_G2"] < e["Jsum_G1"]
        and e["Jprob_G0"] < e["Jprob_G1"] < e["Jprob_G2"]
    )
    relation = (
        f"J_sum(G_0) = {e['Jsum_G0']:.5f} > J_sum(G_1) = {e['Jsum_G1']:.5f} "
        f"> J_sum(G_2) = {e['Jsum_G2']:.5f} while J_prob rises "
        f"{e['Jprob_G0']} < {e['Jprob_G1']} < {e['Jprob_G2']}"
    )
    return refuted(built, holds, relation, "exact oracle: " + relation)


@check(
    12,
    "",
    statement="J_count(G(pi)) >= J_count(pi)",
    family="one deterministic counterexample (SPEC §6 expected success count: "
    "horizon 2, uniform prior, no terminal reward)",
    method="exact counterexample",
)
def claim_12() -> Outcome:
    from coherence.proofs.cases import build_case

    queries = [
        {"id": f"{tag}_G{k}", "quantity": q, "policy": {"operator": "G", "k": k}}
        for k in (0, 1)
        for q, tag in (("J_count", "Jcount"), ("J_prob", "Jprob"))
    ]
    built = build_case(
        "proofs-12-success-count-deterministic",
        queries,
        states=["root", "x", "y"],
        actions=["a1", "a2"],
        horizon=2,
        transitions={
            "root": {"a1": {"x": "1"}, "a2": {"y": "1"}},
            "x": {"a1": {"x": "1"}, "a2": {"x": "1"}},
            "y": {"a1": {"y": "1"}, "a2": {"y": "1"}},
        },
        initial={"root": "1"},
        success={"root": {"a1": "1/10", "a2": "1/2"}, "y": {"a1": "1/4", "a2": "1/4"}},
    )
    e = built.expected
    holds = e["Jcount_G1"] < e["Jcount_G0"] and e["Jprob_G1"] > e["Jprob_G0"]
    relation = (
        f"J_count(G_1) = {e['Jcount_G1']} < J_count(G_0) = {e['Jcount_G0']} "
        f"(exact) while J_prob rises {e['Jprob_G0']} -> {e['Jprob_G1']}"
    )
    return refuted(
        built, holds, relation, "exact oracle, deterministic dynamics: " + relation
    )


@check(
    13,
    "values",
    statement="V_t^{G_k}(s) and J_prob(G_k) converge as k -> inf",
    family="as claim 10 (every finite MDP with <= 8 actions / successors)",
    method="lemmas: claim 10 (monotone) + bounded by 1 (monotone convergence)",
)
def claim_13_values() -> Outcome:
    return Outcome(
        "PROVED",
        "By claim 10, w_t^{G_{k+1}}(s) >= w_t^{G_k}(s) for every k, t, s; every w "
        "is a probability (input success in [0, 1]) so bounded by 1; a bounded "
        "monotone real sequence converges.",
        (
            "claim 10 (PROVED in this ledger)",
            "w_t(s) <= 1: w is a probability (SPEC §3) -- structural",
        ),
    )


def _limit_evidence() -> str:
    """Float64 evidence: gap to the optimum of J_prob after many rounds."""
    import numpy as np

    from coherence.reference.model import MDP
    from coherence.reference.operators import PolicySpec
    from coherence.reference.recurrences import Argmax

    rng = np.random.default_rng(13)
    worst_gap = 0.0
    instances = 40
    for i in range(instances):
        S, A, T = 3, 2, 3
        P = (
            rng.dirichlet(np.ones(S), size=(S, A))
            if i % 2
            else np.eye(S)[rng.integers(0, S, size=(S, A))]
        )
        rho = rng.uniform(0.05, 1.0, size=(S, A))
        prior = rng.dirichlet(np.ones(A), size=S)
        mdp = MDP.from_arrays(
            transitions=P,
            success=rho,
            terminal_success=np.ones(S),
            initial=np.eye(S)[0],
            prior=prior,
            horizon=T,
        )
        e = backends.create("numpy", mdp)
        best = e.j_prob(compute_policy(e, PolicySpec("B", i=T, f=Argmax())))
        got = e.j_prob(compute_policy(e, PolicySpec("G", k=400)))
        worst_gap = max(worst_gap, best - got)
    return (
        f"float64 evidence (not proof): {instances} random MDPs (3 states, 2 "
        "actions, horizon 3, full-support priors, half stochastic): "
        f"max_pi J_prob - J_prob(G_400) <= {worst_gap:.1e}"
    )


@check(
    13,
    "limit",
    statement="G_k converges, and with a full-support prior the limit maximises J_prob",
    family="none machine-checked (evidence on random small MDPs)",
    method="sampling evidence only",
)
def claim_13_limit() -> Outcome:
    return Outcome(
        "UNKNOWN",
        "Not machine-checked. The policies satisfy G_k(a|s) proportional to p(a|s) "
        "prod_{j<k} z_j(s,a) with z_j increasing in j (claim 10); convergence of "
        "the policy and optimality of its limit need a limit argument over these "
        "infinite products (at ties of the limiting Q the ratios converge at "
        "rates no lemma here controls). In deterministic dynamics G_k is "
        "proportional to p(xi) rho(xi)^k per start (claims 2, 14), which "
        "concentrates on the best trajectories, but that limit step is not "
        "machine-checked either. " + _limit_evidence(),
    )
