"""Monte Carlo re-training against G applied to the PREVIOUS ESTIMATED policy.

Bound (SPEC §5, coherence.gpu.learning.retrain): given n_t(s) successful visits,
the action counts are multinomial(n_t(s), G(pi_prev)_t(.|s)), so at every (t, s)
with n_t(s) >= 100 each frequency lies within 5 sqrt(g (1 - g) / n_t(s)) of its
target (+1e-9). Fixed seeds; rounds 1..3; deterministic and stochastic cases.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from coherence.gpu.learning import (
    Environment,
    binomial_deviation,
    make_generator,
    max_abs_deviation,
    mc_retrain,
    reference_condition,
)
from coherence.queries import compute_policy
from coherence.reference.case import load_case
from coherence.reference.exact import ExactEngine
from coherence.reference.numpy_engine import NumpyEngine
from coherence.reference.operators import PolicySpec
from tests.shared import CASES, needs_shared_cases

pytestmark = [needs_shared_cases, pytest.mark.usefixtures("one_torch_thread")]


MIN_VISITS = 100


@pytest.mark.parametrize(
    "name",
    [
        "mountain-race",
        "stochastic-counterexample",
        "conventions",
        "success-count-not-monotone",
    ],
)
def test_rounds_match_g_of_previous_estimate(name: str) -> None:
    mdp = load_case(CASES / f"{name}.json").mdp
    env = Environment.from_mdp(mdp, "cpu")
    engine = NumpyEngine(mdp)
    exact = ExactEngine(mdp)
    prev = env.prior_policy()
    for rnd in mc_retrain(env, 3, 100_000, generator=make_generator(11)):
        target = reference_condition(engine, prev)
        dev = binomial_deviation(rnd.policy, target, rnd.visits, min_visits=MIN_VISITS)
        assert dev.n_cells >= 1
        assert dev.passed, (name, rnd.round, dev)
        # distance to the exact G_k, reported: finite, and in round 1 (previous
        # estimate = the prior exactly) the same comparison as above
        g_k = np.array(
            [
                [[float(x) for x in row] for row in table]
                for table in compute_policy(exact, PolicySpec("G", k=rnd.round))
            ]
        )
        well = rnd.visits.numpy() >= MIN_VISITS
        dist = max_abs_deviation(rnd.policy, g_k, well)
        assert np.isfinite(dist)
        if rnd.round == 1:
            assert binomial_deviation(
                rnd.policy, g_k, rnd.visits, min_visits=MIN_VISITS
            ).passed
        # (t, s) never visited by a successful episode: unchanged (SPEC §5)
        unvisited = rnd.visits == 0
        assert torch.equal(rnd.policy[unvisited], prev[unvisited])
        prev = rnd.policy


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
