"""SPEC §2 degenerate-case conventions and invariants, in both engines."""

from __future__ import annotations

import math
from fractions import Fraction as Fr

import numpy as np
from hypothesis import given, settings

from coherence.queries import compute_policy
from coherence.reference.exact import ExactEngine
from coherence.reference.model import MDP
from coherence.reference.numpy_engine import NumpyEngine, log_softmax, logsumexp
from coherence.reference.operators import PolicySpec
from coherence.reference.recurrences import Argmax, Boltzmann
from tests.exact_mdps import small_mdps

ALL_SPECS = [
    PolicySpec("G", k=2),
    PolicySpec("T", alpha=Fr(2)),
    PolicySpec("T", alpha=Fr(0)),
    PolicySpec("F", k=2),
    PolicySpec("F_literal", k=2),
    PolicySpec("H", k=2),
    PolicySpec("H_literal", k=2),
    PolicySpec("B", i=2, f=Argmax()),
    PolicySpec("B", i=2, f=Boltzmann(Fr(1, 2))),
]


def dead_end() -> MDP:
    """Horizon 1. State x: action a fails (rho = 0) and stays; b (prior 0)
    succeeds and moves to y. State y is unreachable and every action fails."""
    return MDP.from_arrays(
        transitions=[[[1, 0], [0, 1]], [[0, 1], [0, 1]]],
        initial=[1, 0],
        success=[[0, 1], [0, 0]],
        terminal_success=[1, 1],
        prior=[[1, 0], [Fr(1, 2), Fr(1, 2)]],
        horizon=1,
    )


def test_conditioning_on_a_null_event_keeps_the_base_policy() -> None:
    mdp = dead_end()
    for engine in (ExactEngine(mdp), NumpyEngine(mdp)):
        g1 = np.asarray(
            engine.policy_table(compute_policy(engine, PolicySpec("G", k=1))),
            dtype=float,
        )
        # w_t(x) = 0 (the only prior action fails): the prior stays
        assert g1[0, 0].tolist() == [1.0, 0.0]
        # y: every continuation fails -> prior (1/2, 1/2)
        assert g1[0, 1].tolist() == [0.5, 0.5]


def test_temperature_zero_is_the_prior_even_where_rho_is_zero() -> None:
    mdp = dead_end()
    for engine in (ExactEngine(mdp), NumpyEngine(mdp)):
        t0 = np.asarray(
            engine.policy_table(compute_policy(engine, PolicySpec("T", alpha=Fr(0)))),
            dtype=float,
        )
        assert np.array_equal(t0, np.broadcast_to(mdp.prior_array, t0.shape))


def test_boltzmann_of_all_minus_inf_is_uniform_and_f_ignores_the_prior() -> None:
    mdp = dead_end()
    n, e = NumpyEngine(mdp), ExactEngine(mdp)
    bn = np.exp(compute_policy(n, PolicySpec("B", i=1, f=Boltzmann(Fr(1)))))
    be = np.asarray(
        e.policy_table(compute_policy(e, PolicySpec("B", i=1, f=Boltzmann(Fr(1))))),
        dtype=float,
    )
    # at y every Q is -inf: uniform; at x (t=0) action b (prior 0) has Q > -inf
    assert bn[0, 1].tolist() == [0.5, 0.5] == be[0, 1].tolist()
    assert bn[0, 0].tolist() == [0.0, 1.0] == be[0, 0].tolist()


def test_folding_keeps_prior_zero_actions_impossible_without_nan() -> None:
    mdp = dead_end()
    n = NumpyEngine(mdp)
    for op in ("F", "H", "F_literal", "H_literal"):
        pi = compute_policy(n, PolicySpec(op, k=3))
        assert not np.isnan(pi).any()
        assert pi[0, 0, 1] == -math.inf
    reward = n.fold(n.base_reward(), n.prior_policy(), literal=False)
    assert not np.isnan(reward[0]).any()
    assert reward[0][0, 0, 1] == -math.inf


def test_kl_is_infinite_when_q_is_zero_and_never_nan() -> None:
    mdp = dead_end()
    n, e = NumpyEngine(mdp), ExactEngine(mdp)
    # argmax at x picks b (prior 0) -> KL(prior || argmax) = inf at a reachable state
    assert n.kappa(compute_policy(n, PolicySpec("prior")), Argmax()) == math.inf
    assert e.kappa(compute_policy(e, PolicySpec("prior")), Argmax()) == math.inf


def test_j_sum_is_minus_inf_only_when_a_failing_step_has_weight() -> None:
    mdp = dead_end()
    n, e = NumpyEngine(mdp), ExactEngine(mdp)
    assert n.j_sum(compute_policy(n, PolicySpec("prior"))) == -math.inf
    assert e.j_sum(compute_policy(e, PolicySpec("prior"))) == -math.inf
    # argmax takes b at x (rho 1, then terminal rho 1): log 1 + log 1 = 0
    assert n.j_sum(compute_policy(n, PolicySpec("B", i=1, f=Argmax()))) == 0.0
    safe = MDP.from_arrays(
        transitions=[[[1, 0], [0, 1]], [[0, 1], [0, 1]]],
        initial=[1, 0],
        success=[[1, 0], [1, 1]],
        prior=[[1, 0], [Fr(1, 2), Fr(1, 2)]],
        horizon=1,
    )
    # rho = 0 only on an action of prior probability 0: contributes 0, not -inf
    assert (
        NumpyEngine(safe).j_sum(compute_policy(NumpyEngine(safe), PolicySpec("prior")))
        == 0.0
    )
    assert (
        ExactEngine(safe).j_sum(compute_policy(ExactEngine(safe), PolicySpec("prior")))
        == 0.0
    )


def test_logsumexp_and_softmax_of_all_minus_inf() -> None:
    x = np.full((2, 3), -math.inf)
    assert logsumexp(x, axis=1).tolist() == [-math.inf, -math.inf]
    assert np.allclose(np.exp(log_softmax(x, axis=1)), 1 / 3)


def test_argmax_tolerance_of_spec() -> None:
    from coherence.reference.numpy_engine import LogValues

    mdp = MDP.from_arrays(transitions=[[[1], [1], [1]]], initial=[1], horizon=1)
    n = NumpyEngine(mdp)
    Q = np.array([[[-1.0, -1.0 - 0.5e-9, -1.0 - 2e-9]]])
    pi = np.exp(n.soft_q_policy(LogValues(Q=Q, V=np.zeros((2, 1))), Argmax()))
    assert pi[0, 0].tolist() == [0.5, 0.5, 0.0]


@settings(max_examples=40)
@given(small_mdps())
def test_invariants(mdp: MDP) -> None:
    """Policies and occupancies sum to 1 exactly; 0 <= w <= 1; no NaN in floats."""
    e, n = ExactEngine(mdp), NumpyEngine(mdp)
    for spec in ALL_SPECS:
        pi = compute_policy(e, spec)
        assert all(sum(row) == 1 for table in pi for row in table)
        assert all(x >= 0 for table in pi for row in table for x in row)
        assert all(sum(d) == 1 for d in e.occupancy(pi))
        assert all(0 <= w <= 1 for ws in e.values(pi).w for w in ws)
        pn = compute_policy(n, spec)
        assert not np.isnan(pn).any()
        assert np.allclose(np.exp(pn).sum(axis=2), 1.0, rtol=0, atol=1e-13)
        assert np.allclose(n.occupancy(pn).sum(axis=1), 1.0, rtol=0, atol=1e-13)
        V = n.values(pn).V
        assert not np.isnan(V).any() and (V <= 1e-13).all()
        for q in (
            n.j_sum(pn),
            n.j_soft(pn),
            n.causal_entropy(pn),
            n.kappa(pn, Boltzmann(Fr(1))),
        ):
            assert not math.isnan(q)
