"""Outcome-conditioned model p_theta(a | s, t, o): tabular and MLP.

Replace mode: round k's o = 1 policy is the MLE of G(previous acting policy);
checked at every (t, s) with >= 100 successful visits against a 5-sigma binomial
bound plus an optimisation tolerance OPT_TOL = 1e-3 (the fit itself is checked
to be within OPT_TOL of the empirical frequencies, the MLE). Aggregate mode: checked
against the mixture formula of coherence.gpu.learning.outcome_model with a 5-sigma
delta-method bound; the formula's population value is checked exactly.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from coherence.gpu.learning import (
    Environment,
    MLPOutcomeModel,
    OutcomeConditionedLearner,
    TabularOutcomeModel,
    aggregate_mixture,
    aggregate_sd,
    binomial_deviation,
    make_generator,
    max_abs_deviation,
    reference_condition,
)
from coherence.queries import compute_policy
from coherence.reference.case import load_case
from coherence.reference.exact import ExactEngine, to_fraction_table
from coherence.reference.model import MDP
from coherence.reference.numpy_engine import NumpyEngine
from coherence.reference.operators import PolicySpec
from tests.shared import CASES, needs_shared_cases

pytestmark = [needs_shared_cases, pytest.mark.usefixtures("one_torch_thread")]


MIN_VISITS = 100
OPT_TOL = 1e-3
N = 100_000


def case(name: str) -> MDP:
    return load_case(CASES / f"{name}.json").mdp


def make_learner(
    env: Environment, kind: str, mode: str, seed: int
) -> OutcomeConditionedLearner:
    T, S, A = env.shape
    gen = make_generator(seed)
    model = (
        TabularOutcomeModel(T, S, A)
        if kind == "tabular"
        else MLPOutcomeModel(T, S, A, generator=gen)
    )
    return OutcomeConditionedLearner(
        env,
        model,
        mode=mode,  # type: ignore[arg-type]
        generator=gen,
    )


@pytest.mark.parametrize("kind", ["tabular", "mlp"])
@pytest.mark.parametrize("name", ["mountain-race", "conventions"])
def test_replace_mode_reproduces_g_k(name: str, kind: str) -> None:
    mdp = case(name)
    env = Environment.from_mdp(mdp, "cpu")
    engine = NumpyEngine(mdp)
    learner = make_learner(env, kind, "replace", seed=21)
    g1 = np.exp(compute_policy(engine, PolicySpec("G", k=1)))
    for k in range(1, 4):
        prev = learner.policy
        rnd = learner.step(N)
        well = rnd.visits >= MIN_VISITS
        freq = rnd.counts[:, :, 1, :] / rnd.visits.clamp_min(1)[..., None]
        assert max_abs_deviation(rnd.model_policy, freq, well.numpy()) < OPT_TOL
        target = reference_condition(engine, prev)
        dev = binomial_deviation(
            rnd.policy, target, rnd.visits, min_visits=MIN_VISITS, extra=OPT_TOL
        )
        assert dev.n_cells >= 1 and dev.passed, (name, kind, k, dev)
        if k == 1:  # conditioning on o = 1 after offline prior data: G_1
            assert binomial_deviation(
                rnd.policy, g1, rnd.visits, min_visits=MIN_VISITS, extra=OPT_TOL
            ).passed
        # every round: distance to the exact G_k at n_t(s) >= N / 10, within
        # 4 worst-case binomial sd there (2 / sqrt(N / 10)) plus the fit tolerance
        g_k = np.exp(compute_policy(engine, PolicySpec("G", k=k)))
        assert (
            max_abs_deviation(rnd.policy, g_k, (rnd.visits >= N // 10).numpy())
            <= 2 / (N // 10) ** 0.5 + OPT_TOL
        ), (name, kind, k)


@pytest.mark.parametrize("kind", ["tabular", "mlp"])
def test_fallback_is_current_policy_not_model_output(kind: str) -> None:
    # conventions: rho(s4, .) = 0, so no successful data at (t, s4) ever
    mdp = case("conventions")
    env = Environment.from_mdp(mdp, "cpu")
    learner = make_learner(env, kind, "replace", seed=3)
    s4 = mdp.state_index("s4")
    first = learner.step(20_000)
    assert torch.all(first.visits[:, s4] == 0)
    assert torch.equal(first.policy[:, s4], env.prior_policy()[:, s4])
    # the model's own output there is something else (initial or extrapolated)
    assert not torch.allclose(first.model_policy[:, s4], env.prior_policy()[:, s4])
    second = learner.step(20_000)
    assert torch.equal(second.policy[:, s4], first.policy[:, s4])


def test_aggregate_population_formula_exact() -> None:
    # mountain race: round 2 of aggregate training in the large-N limit is
    # (J(p) G_1 + J(G_1) G_2) / (J(p) + J(G_1)) at the root (visit prob. 1)
    mdp = case("mountain-race")
    engine = NumpyEngine(mdp)
    exact = ExactEngine(mdp)
    p = compute_policy(exact, PolicySpec("prior"))
    g1 = compute_policy(exact, PolicySpec("G", k=1))
    g2 = compute_policy(exact, PolicySpec("G", k=2))
    jp, j1 = Fraction(str(exact.j_prob(p))), Fraction(str(exact.j_prob(g1)))
    root, ridge = mdp.state_index("root"), mdp.action_index("up")
    g1f, g2f = to_fraction_table(g1), to_fraction_table(g2)
    want = (jp * g1f[0][root][ridge] + j1 * g2f[0][root][ridge]) / (jp + j1)
    assert want == Fraction(26, 59)
    behaviours = [
        np.exp(engine.prior_policy()),
        np.exp(compute_policy(engine, PolicySpec("G", k=1))),
    ]
    got = aggregate_mixture(engine, behaviours, [N, N], behaviours[-1])
    assert abs(got[0, root, ridge] - float(want)) < 1e-12
    assert want != g2f[0][root][ridge]  # not G_2 = 8/17


@pytest.mark.parametrize("name", ["mountain-race", "conventions"])
def test_aggregate_mode_converges_to_mixture(name: str) -> None:
    mdp = case(name)
    env = Environment.from_mdp(mdp, "cpu")
    engine = NumpyEngine(mdp)
    learner = make_learner(env, "tabular", "aggregate", seed=8)
    behaviours: list[torch.Tensor] = []
    for k in range(1, 4):
        behaviours.append(learner.policy)
        prev = learner.policy
        rnd = learner.step(N)
        counts = [N] * k
        target = aggregate_mixture(engine, behaviours, counts, prev)
        sd = aggregate_sd(engine, behaviours, counts)
        well = (rnd.visits >= MIN_VISITS).numpy()
        dev = np.abs(rnd.policy.numpy() - target)[well]
        assert (dev <= 5 * sd[well] + OPT_TOL + 1e-9).all(), (name, k)
        if name == "mountain-race" and k >= 2:
            # and it is not G(previous): the old rounds keep their weight
            g_prev = reference_condition(engine, prev)
            assert not binomial_deviation(
                rnd.policy, g_prev, rnd.visits, min_visits=MIN_VISITS, extra=OPT_TOL
            ).passed


def test_bad_learner_arguments() -> None:
    env = Environment.from_mdp(case("mountain-race"), "cpu")
    T, S, A = env.shape
    with pytest.raises(ValueError, match="mode"):
        OutcomeConditionedLearner(
            env,
            TabularOutcomeModel(T, S, A),
            mode="mix",  # type: ignore[arg-type]
            generator=make_generator(0),
        )
    with pytest.raises(ValueError, match="hidden"):
        MLPOutcomeModel(T, S, A, hidden=0, generator=make_generator(0))
