"""Parametric MDP families on which the ledger checks claims (SPEC §9).

A family is a shape (states, actions, horizon, which transitions exist) whose
numbers are named symbols; :func:`instantiate` builds it as an
:class:`~coherence.reference.recurrences.ExactMDP` in any number system (the
rational function field of :class:`~coherence.proofs.numbers.FieldSystem` for
identities, z3 reals for SMT queries, rationals for grids). Every family states
its ranges: success probabilities in (0, 1], transition probabilities and priors
with full support (so that no quantity the recurrences test for zero vanishes
identically). The last entry of every distribution is ``1 - sum(others)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from coherence.reference.recurrences import ExactMDP, NumberSystem

__all__ = [
    "Family",
    "deterministic_graphs",
    "deterministic_tree",
    "instantiate",
    "stochastic_bandit",
    "stochastic_two_step",
]

#: builds an ExactMDP from the number system and the symbols by name
Builder = Callable[[NumberSystem[Any], Mapping[str, Any]], ExactMDP[Any]]


@dataclass(frozen=True)
class Family:
    """A named parametric family: ``description`` is what the ledger prints."""

    description: str
    names: tuple[str, ...]
    build: Builder
    deterministic: bool


def instantiate(
    family: Family, ns: NumberSystem[Any], symbols: Mapping[str, Any]
) -> ExactMDP[Any]:
    """The family in ``ns`` with ``symbols[name]`` for each of ``family.names``."""
    missing = [n for n in family.names if n not in symbols]
    if missing:
        raise ValueError(f"symbols: missing {', '.join(missing)}")
    return family.build(ns, symbols)


def _dist(
    ns: NumberSystem[Any], sym: Mapping[str, Any], stem: str, n: int, symbolic: bool
) -> list[Any]:
    """A distribution over n outcomes: symbols stem0..stem{n-2} and the rest."""
    if not symbolic:
        return [ns.const(Fraction(1, n))] * n
    head = [sym[f"{stem}{i}"] for i in range(n - 1)]
    last = ns.const(Fraction(1))
    for x in head:
        last = last - x
    return [*head, last]


def _dist_names(stem: str, n: int) -> list[str]:
    return [f"{stem}{i}" for i in range(n - 1)]


def deterministic_tree(branching: int, horizon: int, *, symbolic_prior: bool) -> Family:
    """The complete deterministic tree: node ``n`` at depth d < T takes action a
    to child ``n.a``; leaves loop on themselves. Step success ``r_n_a`` at every
    inner node, terminal success ``g_leaf`` at every leaf (1 elsewhere), prior
    ``p_n`` symbolic at inner nodes (or uniform), start at the root."""
    nodes: list[tuple[int, ...]] = [()]
    frontier: list[tuple[int, ...]] = [()]
    for _ in range(horizon):
        frontier = [(*n, a) for n in frontier for a in range(branching)]
        nodes.extend(frontier)
    inner = [n for n in nodes if len(n) < horizon]
    leaves = [n for n in nodes if len(n) == horizon]

    def label(n: tuple[int, ...]) -> str:
        return "n" + "".join(map(str, n))

    names: list[str] = []
    for n in inner:
        names += [f"r_{label(n)}_{a}" for a in range(branching)]
        if symbolic_prior:
            names += _dist_names(f"p_{label(n)}_", branching)
    names += [f"g_{label(n)}" for n in leaves]
    index = {n: i for i, n in enumerate(nodes)}

    def build(ns: NumberSystem[Any], sym: Mapping[str, Any]) -> ExactMDP[Any]:
        one = ns.const(Fraction(1))
        successors = [
            [
                [(index[(*n, a)] if len(n) < horizon else index[n], one)]
                for a in range(branching)
            ]
            for n in nodes
        ]
        rho_row = [
            [sym[f"r_{label(n)}_{a}"] for a in range(branching)]
            if len(n) < horizon
            else [one] * branching
            for n in nodes
        ]
        prior = [
            _dist(
                ns,
                sym,
                f"p_{label(n)}_",
                branching,
                symbolic_prior and len(n) < horizon,
            )
            for n in nodes
        ]
        return ExactMDP(
            ns=ns,
            successors=successors,
            rho=[rho_row for _ in range(horizon)],
            rho_T=[sym[f"g_{label(n)}"] if len(n) == horizon else one for n in nodes],
            initial=[one if not n else ns.const(Fraction(0)) for n in nodes],
            prior=prior,
        )

    prior_text = "symbolic full-support prior" if symbolic_prior else "uniform prior"
    return Family(
        description=(
            f"deterministic complete tree, branching {branching}, horizon "
            f"{horizon} ({len(nodes)} states): symbolic step success at "
            f"every inner (state, action), symbolic terminal success at "
            f"every leaf, {prior_text}; all success probabilities in "
            f"(0, 1]"
        ),
        names=tuple(names),
        build=build,
        deterministic=True,
    )


def deterministic_graphs(
    n_states: int, n_actions: int, horizon: int
) -> list[tuple[tuple[int, ...], Family]]:
    """Every deterministic successor map on ``n_states`` x ``n_actions`` (one
    family each, keyed by the map): stationary symbolic step success ``r_s_a``,
    symbolic terminal success ``g_s``, symbolic initial distribution and prior.
    Unlike trees these have merging paths and cycles in time."""
    import itertools

    pairs = [(s, a) for s in range(n_states) for a in range(n_actions)]
    names: list[str] = [f"r_{s}_{a}" for s, a in pairs]
    names += [f"g_{s}" for s in range(n_states)]
    names += _dist_names("mu", n_states)
    for s in range(n_states):
        names += _dist_names(f"p_{s}_", n_actions)
    out: list[tuple[tuple[int, ...], Family]] = []
    for targets in itertools.product(range(n_states), repeat=len(pairs)):

        def build(
            ns: NumberSystem[Any],
            sym: Mapping[str, Any],
            targets: tuple[int, ...] = targets,
        ) -> ExactMDP[Any]:
            one = ns.const(Fraction(1))
            successors = [
                [[(targets[s * n_actions + a], one)] for a in range(n_actions)]
                for s in range(n_states)
            ]
            rho_row = [
                [sym[f"r_{s}_{a}"] for a in range(n_actions)] for s in range(n_states)
            ]
            return ExactMDP(
                ns=ns,
                successors=successors,
                rho=[rho_row for _ in range(horizon)],
                rho_T=[sym[f"g_{s}"] for s in range(n_states)],
                initial=_dist(ns, sym, "mu", n_states, True),
                prior=[
                    _dist(ns, sym, f"p_{s}_", n_actions, True) for s in range(n_states)
                ],
            )

        out.append(
            (
                targets,
                Family(
                    description=(
                        f"deterministic successor map {targets} on {n_states} "
                        f"states x {n_actions} actions, horizon {horizon}"
                    ),
                    names=tuple(names),
                    build=build,
                    deterministic=True,
                ),
            )
        )
    return out


def stochastic_bandit(
    n_actions: int, n_outcomes: int, *, symbolic_prior: bool
) -> Family:
    """One decision (T = 1) at ``root``: action a reaches outcome state o with
    symbolic probability ``q_a_o`` (full support); terminal success ``g_o``
    symbolic at each outcome, 0 at the root; prior symbolic or uniform."""
    names: list[str] = []
    for a in range(n_actions):
        names += _dist_names(f"q_{a}_", n_outcomes)
    names += [f"g_{o}" for o in range(n_outcomes)]
    if symbolic_prior:
        names += _dist_names("p_", n_actions)

    def build(ns: NumberSystem[Any], sym: Mapping[str, Any]) -> ExactMDP[Any]:
        one, zero = ns.const(Fraction(1)), ns.const(Fraction(0))
        S = 1 + n_outcomes
        successors = [
            [
                [
                    (1 + o, q)
                    for o, q in enumerate(_dist(ns, sym, f"q_{a}_", n_outcomes, True))
                ]
                for a in range(n_actions)
            ]
        ]
        successors += [[[(s, one)] for _ in range(n_actions)] for s in range(1, S)]
        prior_row = _dist(ns, sym, "p_", n_actions, symbolic_prior)
        return ExactMDP(
            ns=ns,
            successors=successors,
            rho=[[[one] * n_actions for _ in range(S)]],
            rho_T=[zero] + [sym[f"g_{o}"] for o in range(n_outcomes)],
            initial=[one] + [zero] * n_outcomes,
            prior=[prior_row] + [_dist(ns, sym, "", n_actions, False)] * n_outcomes,
        )

    prior_text = "symbolic full-support prior" if symbolic_prior else "uniform prior"
    return Family(
        description=(
            f"stochastic bandit: 1 decision, {n_actions} actions, each "
            f"reaching {n_outcomes} outcome states with symbolic "
            f"full-support probabilities, symbolic terminal success in "
            f"(0, 1] per outcome, {prior_text}"
        ),
        names=tuple(names),
        build=build,
        deterministic=False,
    )


def stochastic_two_step(*, symbolic_prior: bool) -> Family:
    """Horizon 2, 2 actions: ``root`` -> {m0, m1} with probabilities ``q_a_``;
    ``m_i`` -> {l0, l1} with ``u_i_a_``; step success ``r_root_a`` and
    ``r_mi_a``; terminal success ``g_0``, ``g_1`` at the leaves; prior symbolic
    (``p_root_``, ``p_mi_``) or uniform."""
    names = ["q_0_0", "q_1_0", "r_root_0", "r_root_1", "g_0", "g_1"]
    for i in range(2):
        names += [f"u_{i}_0_0", f"u_{i}_1_0", f"r_m{i}_0", f"r_m{i}_1"]
    if symbolic_prior:
        names += ["p_root_0", "p_m0_0", "p_m1_0"]

    def build(ns: NumberSystem[Any], sym: Mapping[str, Any]) -> ExactMDP[Any]:
        one, zero = ns.const(Fraction(1)), ns.const(Fraction(0))
        _root, m0, m1, l0, l1 = range(5)
        q = [_dist(ns, sym, f"q_{a}_", 2, True) for a in range(2)]
        successors = [[[(m0, q[a][0]), (m1, q[a][1])] for a in range(2)]]
        for i in range(2):
            u = [_dist(ns, sym, f"u_{i}_{a}_", 2, True) for a in range(2)]
            successors.append([[(l0, u[a][0]), (l1, u[a][1])] for a in range(2)])
        successors += [[[(l0, one)]] * 2, [[(l1, one)]] * 2]
        rho_row = [
            [sym["r_root_0"], sym["r_root_1"]],
            [sym["r_m0_0"], sym["r_m0_1"]],
            [sym["r_m1_0"], sym["r_m1_1"]],
            [one, one],
            [one, one],
        ]
        prior = [
            _dist(ns, sym, f"p_{n}_", 2, symbolic_prior) for n in ("root", "m0", "m1")
        ]
        prior += [_dist(ns, sym, "", 2, False)] * 2
        return ExactMDP(
            ns=ns,
            successors=successors,
            rho=[rho_row, rho_row],
            rho_T=[one, one, one, sym["g_0"], sym["g_1"]],
            initial=[one, zero, zero, zero, zero],
            prior=prior,
        )

    prior_text = "symbolic full-support prior" if symbolic_prior else "uniform prior"
    return Family(
        description=(
            "stochastic two-step MDP: horizon 2, 2 actions, root -> 2 "
            "middle states -> 2 leaves, every transition row a symbolic "
            "full-support distribution, symbolic step success at every "
            "(state, action), symbolic terminal success at the leaves, "
            f"{prior_text}"
        ),
        names=tuple(names),
        build=build,
        deterministic=False,
    )
