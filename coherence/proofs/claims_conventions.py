"""Ledger rows of SPEC §2's degenerate conventions (claim number 0).

Each row runs the exact engine and the float64 engine through the query layer
on one small MDP built to hit the convention, and compares with the value
SPEC §2 prescribes (exact equality for the exact engine; float64 within
:data:`FLOAT_TOL`, and never NaN). These are finite instances: every row is
CHECKED, and a planted violation of the convention in either engine makes the
row REFUTED (or UNKNOWN when the engine raises), so ``coherence prove`` fails.

The MDP (horizon 2, actions a1, a2; start root or tie with probability 1/2):

* root: a1 -> mixed (success 1/2), a2 -> dead (success 1);
* mixed: a1 fails (success 0), a2 succeeds with 1/2; both -> end;
* dead: both actions fail (success 0): w_t(dead) = 0, every Q = -inf;
* tie: both actions succeed surely: a tie for argmax; the prior is (1, 0);
* end: absorbing, success 1.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from coherence.proofs.outcome import Outcome, Settings, check
from coherence.reference.case import Query
from coherence.reference.model import MDP

__all__ = ["CHECKS", "FLOAT_TOL", "conventions_mdp"]

#: float64 answers must match SPEC §2's value within this absolute tolerance
FLOAT_TOL = 1e-12

_FAMILY = (
    "one instance: the 5-state, horizon-2 conventions MDP of "
    "proofs/claims_conventions.py, exact engine (equality) and float64 engine "
    "(within 1e-12, no NaN)"
)


def conventions_mdp() -> MDP:
    """The MDP every convention row runs on (see the module docstring)."""
    end = {"a1": {"end": "1"}, "a2": {"end": "1"}}
    return MDP.build(
        name="ledger-conventions",
        states=["root", "mixed", "dead", "tie", "end"],
        actions=["a1", "a2"],
        horizon=2,
        transitions={
            "root": {"a1": {"mixed": "1"}, "a2": {"dead": "1"}},
            "mixed": end,
            "dead": end,
            "tie": end,
            "end": end,
        },
        initial={"root": "1/2", "tie": "1/2"},
        success={
            "root": {"a1": "1/2"},
            "mixed": {"a1": "0", "a2": "1/2"},
            "dead": {"a1": "0", "a2": "0"},
        },
        prior={
            "root": {"a1": "1/2", "a2": "1/2"},
            "mixed": {"a1": "1/4", "a2": "3/4"},
            "dead": {"a1": "1/3", "a2": "2/3"},
            "tie": {"a1": "1"},
            "end": {"a1": "1/2", "a2": "1/2"},
        },
    )


def _answers(query: dict[str, Any]) -> dict[str, Any]:
    """The query's answer from the exact and the numpy engine."""
    from coherence.queries import Evaluator

    mdp = conventions_mdp()
    parsed = Query.from_json({"id": "q", **query}, 0)
    return {name: Evaluator(mdp, name).answer(parsed) for name in ("exact", "numpy")}


def _leaves(answer: Any, path: str = "") -> dict[str, Any]:
    """Flatten a named answer into ``{"t/s/a": value}``."""
    if isinstance(answer, dict):
        out: dict[str, Any] = {}
        for k, v in answer.items():
            out.update(_leaves(v, f"{path}/{k}" if path else str(k)))
        return out
    return {path: answer}


def _agrees(got: Any, want: Any, exact: bool) -> bool:
    """Exact equality, or a finite float within FLOAT_TOL (infinities equal)."""
    if exact:
        return bool(got == want)
    g, w = float(got), float(want)
    if math.isnan(g):
        return False
    if math.isinf(w):
        return g == w
    return abs(g - w) <= FLOAT_TOL


def _compare(query: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """Points where either engine's answer differs from ``want`` (by leaf path;
    a path prefix selects a sub-table)."""
    problems: list[str] = []
    for engine, answer in _answers(query).items():
        leaves = _leaves(answer)
        for path, value in want.items():
            got = leaves.get(path)
            if got is None:
                problems.append(f"{engine}: no answer at {path}")
            elif not _agrees(got, value, engine == "exact"):
                problems.append(f"{engine}: {path} = {got}, SPEC §2 gives {value}")
    return problems


def _outcome(problems: list[str], what: str) -> Outcome:
    """CHECKED when no engine departs from the convention, else REFUTED."""
    if problems:
        return Outcome("REFUTED", f"{what}: " + "; ".join(problems[:4]))
    return Outcome("CHECKED", f"{what}: both engines agree with SPEC §2")


def _row(values: list[Fraction], states: list[str], steps: range) -> dict[str, Any]:
    """``{"t/state/a1": v1, "t/state/a2": v2}`` for every t and state given."""
    return {
        f"{t}/{s}/{a}": v
        for t in steps
        for s in states
        for a, v in zip(("a1", "a2"), values, strict=True)
    }


@check(
    0,
    "power-zero",
    statement="SPEC §2: temperature scaling uses 0 * (-inf) = 0, i.e. rho^0 = 1 "
    "even where rho = 0, so T_0 = p at every (t, s)",
    family=_FAMILY,
    method="T_0 from both engines vs the prior (exact equality / 1e-12)",
)
def convention_power_zero(settings: Settings) -> Outcome:
    """T_0 = p where success probabilities are 0 (mixed, dead)."""
    half = Fraction(1, 2)
    want = {}
    want.update(_row([Fraction(1, 4), Fraction(3, 4)], ["mixed"], range(2)))
    want.update(_row([Fraction(1, 3), Fraction(2, 3)], ["dead"], range(2)))
    want.update(_row([half, half], ["root", "end"], range(2)))
    want.update(_row([Fraction(1), Fraction(0)], ["tie"], range(2)))
    query = {"quantity": "policy", "policy": {"operator": "T", "alpha": "0"}}
    return _outcome(_compare(query, want), "T_0 = p")


@check(
    0,
    "null-event",
    statement="SPEC §2: conditioning on an event of probability 0 (w_t(s) = 0) "
    "leaves the base policy unchanged at that (t, s)",
    family=_FAMILY,
    method="G_1 and G_2 at the dead state (w = 0) vs the prior, both engines",
)
def convention_null_event(settings: Settings) -> Outcome:
    """G_k keeps the prior at the dead state, where w = 0."""
    want = _row([Fraction(1, 3), Fraction(2, 3)], ["dead"], range(2))
    problems = []
    for k in (1, 2):
        query = {"quantity": "policy", "policy": {"operator": "G", "k": k}}
        problems += [f"G_{k}: {p}" for p in _compare(query, want)]
    w = {f"{t}/dead": Fraction(0) for t in range(2)}
    problems += _compare({"quantity": "w", "policy": {"operator": "prior"}}, w)
    return _outcome(problems, "cond leaves the base where w = 0")


@check(
    0,
    "argmax-ties",
    statement="SPEC §2: argmax policies are uniform over the set of maximisers, "
    "including actions the prior gives 0",
    family=_FAMILY,
    method="B_1[argmax] at the tie (both z = 1, prior (1, 0)) and at mixed, "
    "both engines",
)
def convention_argmax_ties(settings: Settings) -> Outcome:
    """B_1[argmax] is (1/2, 1/2) on the tie and (0, 1) at mixed."""
    half = Fraction(1, 2)
    want = _row([half, half], ["tie", "end"], range(2))
    want.update(_row([Fraction(0), Fraction(1)], ["mixed"], range(2)))
    query = {"quantity": "policy", "policy": {"operator": "B", "i": 1, "f": "argmax"}}
    return _outcome(_compare(query, want), "argmax uniform over maximisers")


@check(
    0,
    "softmax-all-minus-inf",
    statement="SPEC §2: a softmax whose inputs are all -inf is uniform over A",
    family=_FAMILY,
    method="B_1[Boltzmann delta = 1] and B_1[argmax] at the dead state "
    "(every Q = -inf), both engines",
)
def convention_softmax_dead(settings: Settings) -> Outcome:
    """The soft-Q policies are uniform where every Q is -inf."""
    half = Fraction(1, 2)
    want = _row([half, half], ["dead"], range(2))
    problems = []
    for f in ({"boltzmann": "1"}, "argmax"):
        query = {"quantity": "policy", "policy": {"operator": "B", "i": 1, "f": f}}
        problems += _compare(query, want)
    return _outcome(problems, "uniform softmax of all -inf")


@check(
    0,
    "kl-infinite",
    statement="SPEC §2: KL(p || q) = +inf when q(a) = 0 < p(a); never NaN",
    family=_FAMILY,
    method="causal KL of B_1[argmax] against the prior (0 at the reachable "
    "tie) and kappa_argmax of the prior (argmax excludes a2 at the root), "
    "both engines",
)
def convention_kl_infinite(settings: Settings) -> Outcome:
    """KL_c(B_1[argmax] || p) = +inf and kappa_argmax(p) = +inf."""
    query = {
        "quantity": "causal_kl",
        "policy": {"operator": "B", "i": 1, "f": "argmax"},
        "reference": {"operator": "prior"},
    }
    problems = [
        f"{engine}: KL_c = {value}, SPEC §2 gives +inf"
        for engine, value in _answers(query).items()
        if value != math.inf
    ]
    kappa = _answers(
        {"quantity": "kappa", "f": "argmax", "policy": {"operator": "prior"}}
    )
    # at the root the prior (1/2, 1/2) puts weight on a2, which argmax (z =
    # (3/16, 0)) excludes: kappa_argmax(prior) = +inf
    problems += [
        f"{engine}: kappa_argmax(prior) = {value}, SPEC §2 gives +inf"
        for engine, value in kappa.items()
        if value != math.inf
    ]
    return _outcome(problems, "infinite KL, never NaN")


@check(
    0,
    "fold-zero-prior",
    statement="SPEC §2: where p(a|s) = 0 the folded term log F - log p is -inf "
    "(the action stays impossible); never NaN",
    family=_FAMILY,
    method="F_k, H_k (canonical and literal, k = 1, 2) at the tie state "
    "(prior (1, 0)), both engines",
)
def convention_fold_zero_prior(settings: Settings) -> Outcome:
    """Folded policies keep probability 0 where the prior is 0."""
    want = _row([Fraction(1), Fraction(0)], ["tie"], range(2))
    problems = []
    for op in ("F", "F_literal", "H", "H_literal"):
        for k in (1, 2):
            query = {"quantity": "policy", "policy": {"operator": op, "k": k}}
            problems += [f"{op}_{k}: {p}" for p in _compare(query, want)]
    return _outcome(problems, "impossible actions stay impossible")


@check(
    0,
    "zero-weight-term",
    statement="SPEC §2: in an expectation a term of probability weight 0 "
    "contributes 0 whatever its value (0 * (-inf) = 0)",
    family=_FAMILY,
    method="J_sum of B_1[argmax], which never takes mixed's a1 (r = -inf): "
    "log(1/2) exactly (float), both engines",
)
def convention_zero_weight(settings: Settings) -> Outcome:
    """J_sum ignores the -inf reward of an action of probability 0."""
    query = {"quantity": "J_sum", "policy": {"operator": "B", "i": 1, "f": "argmax"}}
    want = math.log(0.5)  # root a1 (1/2) and mixed a2 (1/2) from root; tie: 0
    problems = [
        f"{engine}: J_sum = {value}, expected log(1/2) = {want}"
        for engine, value in _answers(query).items()
        if math.isnan(value) or abs(value - want) > FLOAT_TOL
    ]
    return _outcome(problems, "zero-weight terms contribute 0")


CHECKS = (
    convention_power_zero,
    convention_null_event,
    convention_argmax_ties,
    convention_softmax_dead,
    convention_kl_infinite,
    convention_fold_zero_prior,
    convention_zero_weight,
)
