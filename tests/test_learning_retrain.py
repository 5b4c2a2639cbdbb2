"""Monte Carlo re-training against G applied to the PREVIOUS ESTIMATED policy.

Bound (SPEC §5, coherence.gpu.learning.retrain): given n_t(s) successful visits,
the action counts are multinomial(n_t(s), G(pi_prev)_t(.|s)), so at every
well-visited (t, s) each frequency lies within 5 sqrt(g (1 - g) / n_t(s)) of its
target (+1e-9); significance stated per test. Fixed seeds; rounds 1..4;
deterministic and stochastic cases; every round also bounded against exact G_k.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from coherence.gpu.learning import (
    Environment,
    binomial_deviation,
    check_round,
    make_generator,
    max_abs_deviation,
    mc_retrain,
    reference_condition,
    well_visited_threshold,
)
from coherence.queries import compute_policy, to_floats
from coherence.reference.case import load_case
from coherence.reference.exact import ExactEngine
from coherence.reference.numpy_engine import NumpyEngine
from coherence.reference.operators import PolicySpec
from tests.shared import CASES, needs_shared_cases

pytestmark = [needs_shared_cases, pytest.mark.usefixtures("one_torch_thread")]


MIN_VISITS = 100
N = 100_000
TOLERANCE = 0.02  # the stated distance to exact G_k, rounds 1-4


@pytest.mark.parametrize(
    "name",
    [
        "mountain-race",
        "stochastic-counterexample",
        "conventions",
        "return-sum-not-monotone",
        "success-count-not-monotone",
    ],
)
def test_rounds_match_g_of_previous_estimate_and_g_k(name: str) -> None:
    # Significance: per round each well-visited frequency is binomial given its
    # visits (5 sigma: two-sided 5.7e-7 each); <= 45 cells x 4 rounds, so a
    # correct learner fails with probability < 1e-4. The distance to the exact
    # G_k is checked against TOLERANCE = 0.02 at n_t(s) >= N / 10 (binomial sd
    # <= 0.005 there: 4 sd, with the carried errors of earlier rounds on top).
    mdp = load_case(CASES / f"{name}.json").mdp
    env = Environment.from_mdp(mdp, "cpu")
    engine = NumpyEngine(mdp)
    exact = ExactEngine(mdp)
    threshold = well_visited_threshold(N, min_visits=MIN_VISITS)
    assert threshold == N // 10
    prev = env.prior_policy()
    for rnd in mc_retrain(env, 4, N, generator=make_generator(11)):
        g_k = to_floats(compute_policy(exact, PolicySpec("G", k=rnd.round)))
        chk = check_round(
            rnd.policy,
            reference_condition(engine, prev),
            g_k,
            rnd.visits,
            threshold=threshold,
            tolerance=TOLERANCE,
        )
        assert chk.n_well >= 1
        assert chk.previous.passed, (name, rnd.round, chk)
        assert chk.distance <= TOLERANCE, (name, rnd.round, chk)
        assert chk.passed
        if rnd.round == 1:  # previous estimate = the prior exactly: G_1
            assert binomial_deviation(
                rnd.policy, g_k, rnd.visits, min_visits=MIN_VISITS
            ).passed
        # (t, s) never visited by a successful episode: unchanged (SPEC §5)
        unvisited = rnd.visits == 0
        assert torch.equal(rnd.policy[unvisited], prev[unvisited])
        prev = rnd.policy


def test_excluded_cells_are_counted_and_threshold_scales_with_n() -> None:
    # conventions round 1: successful visits spread thinly over 10 (t, s); the
    # cells under N / 10 visits are counted and their distance reported
    mdp = load_case(CASES / "conventions.json").mdp
    env = Environment.from_mdp(mdp, "cpu")
    exact = ExactEngine(mdp)
    (rnd,) = mc_retrain(env, 1, 20_000, generator=make_generator(4))
    g1 = to_floats(compute_policy(exact, PolicySpec("G", k=1)))
    threshold = well_visited_threshold(20_000)
    assert threshold == 2000
    chk = check_round(rnd.policy, g1, g1, rnd.visits, threshold=threshold)
    visited = int((rnd.visits > 0).sum())
    assert chk.excluded >= 1 and chk.n_well + chk.excluded == visited
    low = ((rnd.visits > 0) & (rnd.visits < threshold)).numpy()
    assert chk.excluded_distance == max_abs_deviation(rnd.policy, g1, low)
    assert well_visited_threshold(10**3) == MIN_VISITS  # the floor
    with pytest.raises(ValueError, match="fraction"):
        well_visited_threshold(10, fraction=1.5)


def test_unreachable_success_keeps_policy() -> None:
    # conventions: rho(s4, .) = 0, so no successful episode acts at s4
    mdp = load_case(CASES / "conventions.json").mdp
    env = Environment.from_mdp(mdp, "cpu")
    (rnd,) = mc_retrain(env, 1, 20_000, generator=make_generator(2))
    s4 = mdp.state_index("s4")
    assert torch.all(rnd.visits[:, s4] == 0)
    assert torch.equal(rnd.policy[:, s4], env.prior_policy()[:, s4])


def test_bound_detects_a_wrong_target() -> None:
    # the test has power: the binomial bound rejects G_1 as the target of round 2
    # on the mountain race (G_2(ridge|root) = 8/17 vs G_1 = 2/5)
    mdp = load_case(CASES / "mountain-race.json").mdp
    env = Environment.from_mdp(mdp, "cpu")
    engine = NumpyEngine(mdp)
    rounds = list(mc_retrain(env, 2, 100_000, generator=make_generator(5)))
    wrong = np.exp(compute_policy(engine, PolicySpec("G", k=1)))
    assert not binomial_deviation(
        rounds[1].policy, wrong, rounds[1].visits, min_visits=MIN_VISITS
    ).passed


def test_bad_rounds() -> None:
    mdp = load_case(CASES / "mountain-race.json").mdp
    env = Environment.from_mdp(mdp, "cpu")
    with pytest.raises(ValueError, match="rounds"):
        list(mc_retrain(env, -1, 10, generator=make_generator(0)))
