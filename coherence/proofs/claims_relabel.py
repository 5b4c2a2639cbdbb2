"""Ledger rows of hindsight relabelling (claim 20: eUDRL / GCSL / ODT against
G, SPEC §4 "Relabelling") and the RWR proof route of claim 13's limit.

Every row is checked by exact computation on stated finite instances (the
shipped goal-conditioned cases of :mod:`coherence.goal_cases` and the
two-goal bandit of Štrupl et al. over a grid of alpha); nothing here is
PROVED.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

from coherence.proofs.outcome import Outcome, Settings, check

__all__ = ["CHECKS"]

_BANDIT_OPT = "coherence/cases/goals/two-goal-bandit-optimum-start.json"
_ALPHAS = (*(Fraction(n, 10) for n in range(1, 10)), Fraction(1, 3))


#: Seeded random goal-conditioned cases beside the shipped ones (not shipped).
_RANDOM_SEED, _RANDOM_COUNT = 777, 150


def _goal_cases(random_too: bool = False) -> list[Any]:
    from coherence.goal_cases import random_goal_case
    from coherence.reference.case import case_from_json, load_case
    from coherence.suite import suite

    cases = [load_case(c.path) for c in suite("goals")]
    if random_too:
        for i in range(_RANDOM_COUNT):
            data = random_goal_case(_RANDOM_SEED, i)
            data["queries"] = []
            cases.append(case_from_json(data))
    return cases


def _policy(ev: Any, op: str, k: int, segments: str = "all") -> Any:
    from coherence.reference.operators import PolicySpec

    return ev.value("policy", PolicySpec(op, k=k, segments=segments))  # type: ignore[arg-type]


@check(
    20,
    "diag",
    statement=(
        "relabelling over diagonal segments (intended command = observed "
        "command) is G: relabel_k[diag] = G_k"
    ),
    family=(
        "the shipped goal-conditioned cases (tag goals: the two-goal bandit, "
        "from the uniform prior and from the optimum, and 12 seeded random "
        "cases, horizon 1-3) and 150 more seeded random goal cases "
        "(coherence.goal_cases.random_goal_case, seed 777: 2-3 states, 2 "
        "actions, 2 goals, horizon 2-3), k = 1..3, exact equality at every "
        "(t, s, g)"
    ),
    method="exact rationals (the exact engine)",
)
def claim_20_diag(settings: Settings) -> Outcome:
    """relabel_k[diag] == G_k exactly on every shipped goal case."""
    from coherence.queries import Evaluator

    cases = _goal_cases(random_too=True)
    for case in cases:
        ev = Evaluator(case.mdp, "exact")
        for k in (1, 2, 3):
            if _policy(ev, "relabel", k, "diag") != _policy(ev, "G", k):
                return Outcome("UNKNOWN", f"relabel_{k}[diag] != G_{k} on {case.name}")
    return Outcome("CHECKED", f"relabel_k[diag] = G_k, k = 1..3, on {len(cases)} cases")


@check(
    20,
    "first-step",
    statement=(
        "from a goal-independent prior, one relabelling round is one round of "
        "goal conditioning: relabel_1[all] = relabel_1[trailing] = G_1"
    ),
    family=(
        "the shipped goal-conditioned cases without per-goal prior overrides "
        "(tag goals) and the 100 such among 150 seeded random goal cases "
        "(random_goal_case, seed 777), exact equality at every (t, s, g)"
    ),
    method="exact rationals (the exact engine)",
)
def claim_20_first_step(settings: Settings) -> Outcome:
    """relabel_1 == G_1 for every segment space, goal-independent priors."""
    from coherence.queries import Evaluator

    count = 0
    for case in _goal_cases(random_too=True):
        if case.mdp.command.prior:
            continue
        ev = Evaluator(case.mdp, "exact")
        g1 = _policy(ev, "G", 1)
        for seg in ("all", "trailing"):
            if _policy(ev, "relabel", 1, seg) != g1:
                return Outcome("UNKNOWN", f"relabel_1[{seg}] != G_1 on {case.name}")
        count += 1
    return Outcome("CHECKED", f"relabel_1 = G_1 (all, trailing) on {count} cases")


def _bandit(alpha: Fraction, optimum: bool) -> Any:
    from coherence.goal_cases import bandit_case
    from coherence.reference.case import case_from_json

    data = bandit_case(optimum_start=optimum)
    b = 1 - alpha
    data["transitions"] = {
        "s0": {
            "a0": {"s0": str(alpha), "s1": str(b)},
            "a1": {"s0": str(b), "s1": str(alpha)},
        },
        "s1": {"a0": {"s1": "1"}, "a1": {"s1": "1"}},
    }
    return case_from_json(data)


@check(
    20,
    "fixed-point",
    statement=(
        "on the two-goal bandit (action i reaches goal i with probability "
        "alpha, goals uniform, T = 1) eUDRL reaches its fixed point "
        "pi(a0|g0) = alpha after one round, from the uniform prior and from "
        "the optimum, with J_prob = alpha^2 + (1 - alpha)^2"
    ),
    family=(
        "alpha in {1/10, 2/10, ..., 9/10, 1/3}, rounds k = 1..4, both starts, "
        "exact equality"
    ),
    method="exact rationals (the exact engine)",
)
def claim_20_fixed_point(settings: Settings) -> Outcome:
    """relabel_k = the alpha-policy for k = 1..4 on the bandit grid."""
    from coherence.queries import Evaluator
    from coherence.reference.operators import PolicySpec

    for alpha in _ALPHAS:
        for optimum in (False, True):
            ev = Evaluator(_bandit(alpha, optimum).mdp, "exact")
            for k in range(1, 5):
                pi = _policy(ev, "relabel", k)[0]
                j = ev.value("J_prob", PolicySpec("relabel", k=k))
                if pi[0] != [alpha, 1 - alpha] or pi[1] != [1 - alpha, alpha]:
                    return Outcome(
                        "UNKNOWN", f"relabel_{k} is not the alpha-policy at {alpha}"
                    )
                if j != alpha**2 + (1 - alpha) ** 2:
                    return Outcome("UNKNOWN", f"J_prob(relabel_{k}) at {alpha}: {j}")
    return Outcome(
        "CHECKED",
        f"{len(_ALPHAS)} values of alpha x 2 starts x k = 1..4: relabel_k(a0|g0) "
        "= alpha and J_prob = alpha^2 + (1 - alpha)^2",
    )


@check(
    20,
    "monotone",
    statement=(
        "relabelling never lowers J_prob (as G never does, claim 10): "
        "J_prob(relabel(pi)) >= J_prob(pi)"
    ),
    family="the shipped two-goal bandit started at the optimum (alpha = 3/5)",
    method="exact rationals; the counterexample ships as a case",
)
def claim_20_monotone(settings: Settings) -> Outcome:
    """REFUTED: from the optimum J_prob falls 3/5 -> 13/25 while G stays."""
    from coherence.queries import Evaluator
    from coherence.reference.case import load_case
    from coherence.reference.operators import PolicySpec

    root = Path(__file__).resolve().parents[2]
    path = root / _BANDIT_OPT
    relation = "J_prob: relabel_0 = 3/5 > relabel_1 = 13/25; G_1 = G_0 = 3/5"
    case = load_case(path)
    ev = Evaluator(case.mdp, "exact")
    j = [ev.value("J_prob", PolicySpec("relabel", k=k)) for k in (0, 1)]
    g = [ev.value("J_prob", PolicySpec("G", k=k)) for k in (0, 1)]
    stale = [
        q.id
        for q in case.queries
        if q.id in case.expected
        and Evaluator(case.mdp, "exact").answer(q) != case.expected[q.id]
    ]
    if j != [Fraction(3, 5), Fraction(13, 25)] or g != [Fraction(3, 5)] * 2:
        return Outcome(
            "UNKNOWN", f"the counterexample no longer shows: {relation}",
            case=_BANDIT_OPT, relation=relation,
        )  # fmt: skip
    if stale:
        return Outcome(
            "UNKNOWN", f"{_BANDIT_OPT}: expected answers out of date: {stale}",
            case=_BANDIT_OPT, relation=relation,
        )  # fmt: skip
    return Outcome(
        "REFUTED",
        "started at the optimal goal-conditioned policy, one eUDRL round "
        "relabels each goal's failures as the other goal's successes and "
        "lands on the fixed point pi(a0|g0) = 3/5: J_prob falls 3/5 -> 13/25 "
        "(Štrupl et al.'s code prints 0.6, 0.52, 0.52, 0.52); G keeps the "
        "optimum",
        case=_BANDIT_OPT,
        relation=relation,
    )


@check(
    13,
    "RWR route",
    statement=(
        "reward-weighted regression with the 0/1 success return is G, so "
        "Štrupl, Faccio, Ashley, Srivastava, Schmidhuber (AAAI 2022, arXiv "
        "2107.09088: RWR without function approximation converges to a "
        "global optimum) would settle row 13/limit"
    ),
    family=(
        "the identity RWR_k = G_k: the shipped goal cases, k = 1..3 (and "
        "tests/test_relabel.py: RWR's weighted log-likelihood maximised "
        "exactly on the simplex equals G_k at every reachable (t, s))"
    ),
    method="exact rationals; the theorem's hypotheses compared with SPEC §2 by reading",
)
def claim_13_rwr_route(settings: Settings) -> Outcome:
    """UNKNOWN: the update rule matches; the theorem's setting does not
    cover zero success probabilities without a further argument."""
    from coherence.queries import Evaluator

    for case in _goal_cases():
        ev = Evaluator(case.mdp, "exact")
        for k in (1, 2, 3):
            if _policy(ev, "RWR", k) != _policy(ev, "G", k):
                return Outcome("UNKNOWN", f"RWR_{k} != G_{k} on {case.name}")
    return Outcome(
        "UNKNOWN",
        "What is checked: the RWR update with R = 1{success} is "
        "pi'(a|s) = pi(a|s) P(success|s,a) / P(success|s) at every reachable "
        "(t, s), i.e. G (RWR_k = G_k exactly on the shipped goal cases, k = "
        "1..3). What is not: that the AAAI 2022 theorem applies. It is stated "
        "for RWR in a general compact setting (finite spaces: R-linear "
        "convergence of the value); a horizon-T case becomes a stationary MDP "
        "over (t, s) whose only reward is the success at the end, zero "
        "before it, and SPEC §2 allows zero success probabilities, where "
        "Q(s, a) = 0 removes an action for good and w = 0 leaves a state's "
        "policy unchanged. The theorem's hypotheses (on the rewards' sign, "
        "the initial policy's support and the discounting) were not checked "
        "against this embedding and these zeros here, so row 13/limit stays "
        "UNKNOWN until they are, or a proof is machine-checked; the route can "
        "at most cover the cases its hypotheses admit, plausibly those with "
        "every success probability positive and a full-support prior.",
    )


CHECKS = (
    claim_13_rwr_route,
    claim_20_diag,
    claim_20_first_step,
    claim_20_fixed_point,
    claim_20_monotone,
)
