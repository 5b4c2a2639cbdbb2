"""Brute-force trajectory enumeration, independent of the dynamic programme,
agrees with it on small cases (SPEC §7 claims 1-3)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction

from hypothesis import given, settings

from coherence.examples import stochastic_counterexample
from coherence.queries import compute_policy
from coherence.reference.exact import ExactEngine, to_fraction_table
from coherence.reference.model import MDP
from coherence.reference.operators import PolicySpec
from tests.exact_mdps import small_mdps

Trajectory = tuple[tuple[int, ...], tuple[int, ...]]  # states s_0..s_T, actions


def futures(
    mdp: MDP,
    policy: list[list[list[Fraction]]],
    t: int,
    s: int,
    first_action: int | None = None,
) -> Iterator[tuple[Fraction, Fraction]]:
    """(probability, P(O_{t:T} = 1 | path)) of every continuation from (t, s)."""
    if t == mdp.horizon:
        yield Fraction(1), mdp.terminal_success[s]
        return
    actions = range(mdp.n_actions) if first_action is None else [first_action]
    for a in actions:
        pa = Fraction(1) if first_action is not None else policy[t][s][a]
        if pa == 0:
            continue
        for nxt, p in mdp.transitions[s][a]:
            for q, succ in futures(mdp, policy, t + 1, nxt):
                yield pa * p * q, mdp.success[t][s][a] * succ


def trajectories(
    mdp: MDP, policy: list[list[list[Fraction]]], s0: int
) -> Iterator[tuple[Trajectory, Fraction, Fraction]]:
    """(trajectory, P_pi(trajectory | s_0), P(O = 1 | trajectory))."""

    def walk(
        t: int,
        states: tuple[int, ...],
        actions: tuple[int, ...],
        prob: Fraction,
        succ: Fraction,
    ) -> Iterator[tuple[Trajectory, Fraction, Fraction]]:
        s = states[-1]
        if t == mdp.horizon:
            yield (states, actions), prob, succ * mdp.terminal_success[s]
            return
        for a in range(mdp.n_actions):
            for nxt, p in mdp.transitions[s][a]:
                yield from walk(
                    t + 1,
                    (*states, nxt),
                    (*actions, a),
                    prob * policy[t][s][a] * p,
                    succ * mdp.success[t][s][a],
                )

    yield from walk(0, (s0,), (), Fraction(1), Fraction(1))


def fractions_of(engine: ExactEngine, spec: PolicySpec) -> list[list[list[Fraction]]]:
    table: list[list[list[Fraction]]] = to_fraction_table(compute_policy(engine, spec))
    return table


@settings(max_examples=40)
@given(small_mdps())
def test_claim1_exp_q_is_success_probability(mdp: MDP) -> None:
    e = ExactEngine(mdp)
    for spec in (PolicySpec("prior"), PolicySpec("G", k=1)):
        pi = fractions_of(e, spec)
        values = e.values(compute_policy(e, spec))
        for t in range(mdp.horizon):
            for s in range(mdp.n_states):
                w = sum((q * o for q, o in futures(mdp, pi, t, s)), Fraction(0))
                assert values.w[t][s] == w
                for a in range(mdp.n_actions):
                    z = sum((q * o for q, o in futures(mdp, pi, t, s, a)), Fraction(0))
                    assert values.z[t][s][a] == z


def posterior_matches_conditioned_policy(mdp: MDP) -> bool:
    """Whether, from every s_0 with positive success probability, the trajectory
    law of G_1 = cond(p, r) equals the posterior p(xi | s_0, O = 1)."""
    e = ExactEngine(mdp)
    prior = fractions_of(e, PolicySpec("prior"))
    g1 = fractions_of(e, PolicySpec("G", k=1))
    for s0 in range(mdp.n_states):
        joint = {xi: p * o for xi, p, o in trajectories(mdp, prior, s0)}
        total = sum(joint.values(), Fraction(0))
        if total == 0:
            continue
        law = {xi: p for xi, p, _ in trajectories(mdp, g1, s0)}
        posterior = {xi: v / total for xi, v in joint.items()}
        if any(posterior[xi] != law[xi] for xi in posterior):
            return False
    return True


@settings(max_examples=40)
@given(small_mdps(deterministic=True))
def test_claim2_deterministic_conditioning_is_trajectory_posterior(mdp: MDP) -> None:
    assert posterior_matches_conditioned_policy(mdp)


def test_claim2_fails_in_stochastic_dynamics() -> None:
    assert not posterior_matches_conditioned_policy(stochastic_counterexample())


@settings(max_examples=40)
@given(small_mdps())
def test_claim3_trajectory_kl_is_causal_kl(mdp: MDP) -> None:
    e = ExactEngine(mdp)
    pi_spec, q_spec = PolicySpec("G", k=1), PolicySpec("prior")
    pi, q = fractions_of(e, pi_spec), fractions_of(e, q_spec)
    terms = []
    infinite = False
    for s0, mu in enumerate(mdp.initial):
        if mu == 0:
            continue
        law_q = {xi: p for xi, p, _ in trajectories(mdp, q, s0)}
        for xi, p, _ in trajectories(mdp, pi, s0):
            if p == 0:
                continue
            if law_q[xi] == 0:
                infinite = True
                continue
            ratio = p / law_q[xi]
            terms.append(
                float(mu * p)
                * (math.log(ratio.numerator) - math.log(ratio.denominator))
            )
    want = math.inf if infinite else math.fsum(terms)
    got = e.causal_kl(compute_policy(e, pi_spec), compute_policy(e, q_spec))
    if math.isinf(want):
        assert got == want
    else:
        assert abs(got - want) <= 1e-12 * max(1.0, abs(want))
