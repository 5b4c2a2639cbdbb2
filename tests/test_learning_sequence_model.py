"""The causal transformer over episode tokens (coherence.gpu.learning.sequence_model).

Round k's o = 1 conditional estimates G_k (Markov property, SPEC §5). Bounds:
at every (t, s) with n_t(s) >= N / 10 successful visits the Markov marginal is
within 5 binomial sd of G(previous marginal) plus FIT_TOL = 0.01 (the model's
distance to the empirical MLE, itself checked below FIT_TOL at those prefixes);
significance: <= 10 cells x rounds, each failing with probability <= 5.7e-7 at
5 sigma, so a correct learner fails with probability < 1e-4. History
dependence (theory: 0) is bounded by 5 worst-case binomial sd at the history
threshold, 5 * 0.5 / sqrt(n) + FIT_TOL. Fixed seeds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from coherence.gpu.learning import (
    CausalTransformer,
    Environment,
    SequenceLearner,
    binomial_deviation,
    encode_episodes,
    make_generator,
    reference_condition,
    rollout,
)
from coherence.queries import compute_policy, to_floats
from coherence.reference.case import load_case
from coherence.reference.exact import ExactEngine
from coherence.reference.numpy_engine import NumpyEngine
from coherence.reference.operators import PolicySpec
from tests.shared import CASES, needs_shared_cases

pytestmark = [needs_shared_cases, pytest.mark.usefixtures("one_torch_thread")]
FIT_TOL = 1e-2


def setup(name: str) -> tuple[Environment, NumpyEngine, ExactEngine]:
    mdp = load_case(CASES / f"{name}.json").mdp
    return Environment.from_mdp(mdp, "cpu"), NumpyEngine(mdp), ExactEngine(mdp)


def test_tokens_are_outcome_then_states_and_actions() -> None:
    env, _, _ = setup("conventions")
    T, S, _ = env.shape
    ep = rollout(env, env.prior_policy(), 50, generator=make_generator(1))
    seq = encode_episodes(env, ep)
    assert seq.shape == (50, 1 + 2 * T)
    assert torch.equal(seq[:, 0], ep.success.long())
    assert torch.equal(seq[:, 1::2] - 2, ep.states[:, :T])
    assert torch.equal(seq[:, 2::2] - 2 - S, ep.actions)


def test_causal_model_ignores_the_future() -> None:
    # changing a later token never changes an earlier conditional
    env, _, _ = setup("conventions")
    model = CausalTransformer(env, generator=make_generator(2))
    ep = rollout(env, env.prior_policy(), 8, generator=make_generator(3))
    seq = encode_episodes(env, ep)[:, :-1]
    out = model(seq)
    changed = seq.clone()
    changed[:, -1] = 2 + (changed[:, -1] - 2 + 1) % env.shape[1]
    again = model(changed)
    assert torch.equal(out[:, :-1], again[:, :-1])
    prior = env.prior
    # masked: an action the prior forbids at s_t gets probability exactly 0
    states = seq[:, 1::2] - 2
    assert bool((torch.exp(out)[prior[states] == 0] == 0).all())


def rounds_against_g_k(name: str, n: int, rounds: int, seed: int) -> None:
    env, engine, exact = setup(name)
    gen = make_generator(seed)
    learner = SequenceLearner(env, CausalTransformer(env, generator=gen), generator=gen)
    threshold = n // 10
    for k in range(1, rounds + 1):
        prev = learner.policy
        rnd = learner.step(n, threshold=threshold, history_threshold=100)
        assert rnd.fit_error <= FIT_TOL, (name, k, rnd.fit_error)
        target = reference_condition(engine, prev)
        dev = binomial_deviation(
            rnd.policy, target, rnd.visits, min_visits=threshold, extra=FIT_TOL
        )
        assert dev.n_cells >= 1 and dev.passed, (name, k, dev)
        g_k = to_floats(compute_policy(exact, PolicySpec("G", k=k)))
        well = (rnd.visits >= threshold).numpy()
        dist = np.abs(rnd.policy.numpy() - g_k).max(-1)[well].max()
        assert dist <= 2 / threshold**0.5 + FIT_TOL, (name, k, dist)
        assert rnd.history_dependence <= 5 * 0.5 / 100**0.5 + FIT_TOL


def test_transformer_rounds_reproduce_g_k_small() -> None:
    rounds_against_g_k("stochastic-counterexample", 20_000, 2, seed=5)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "mountain-race",
        "stochastic-counterexample",
        "return-sum-not-monotone",
        "conventions",
    ],
)
def test_transformer_rounds_reproduce_g_k(name: str) -> None:
    rounds_against_g_k(name, 100_000, 4, seed=0)


def test_history_dependence_is_measured() -> None:
    # conventions is stochastic: several histories reach the same (t, s); the
    # reported spread is the model's, not an artefact of one prefix per cell
    env, _, _ = setup("conventions")
    gen = make_generator(9)
    learner = SequenceLearner(
        env, CausalTransformer(env, generator=gen), fit_steps=20, generator=gen
    )
    rnd = learner.step(5_000, threshold=500, history_threshold=50)
    assert 0.0 < rnd.history_dependence <= 1.0
    assert rnd.policy.shape == env.shape
    assert torch.allclose(
        rnd.policy.sum(-1), torch.ones(env.shape[:2], dtype=torch.float64)
    )


def test_bad_arguments() -> None:
    env, _, _ = setup("mountain-race")
    gen = make_generator(0)
    with pytest.raises(ValueError, match="width"):
        CausalTransformer(env, width=0, generator=gen)
    with pytest.raises(ValueError, match="heads"):
        CausalTransformer(env, width=30, heads=4, generator=gen)
    model = CausalTransformer(env, generator=gen)
    with pytest.raises(ValueError, match="mode"):
        SequenceLearner(env, model, mode="mix", generator=gen)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fit_steps"):
        SequenceLearner(env, model, fit_steps=0, generator=gen)
    with pytest.raises(ValueError, match="n_episodes"):
        SequenceLearner(env, model, generator=gen).step(0)


@pytest.mark.slow
def test_transformer_passes_a_stochastic_depth_two_case_on_four_seeds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # suite-20260-0001: T = 2, stochastic transitions, a dead action; the
    # command's own verdict (exact prefix test at level 1e-3, fit criterion
    # 0.01, tolerance 0.05) must pass every round of seeds 0-3
    from coherence.cli import main

    case = CASES.parent / "generated" / "suite-20260-0001.json"
    args = ["retrain", str(case), "--learner", "transformer", "--rounds", "2"]
    args += ["--episodes", "100000", "--repeats", "4", "--device", "cpu"]
    assert main([*args, "--check"]) == 0
    assert "verdict: PASS (8/8" in capsys.readouterr().out
