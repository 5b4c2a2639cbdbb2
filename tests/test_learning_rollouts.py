"""Batched rollouts (coherence.gpu.learning.rollouts) against the exact oracle.

Statistical checks use fixed seeds and a 5-sigma binomial bound:
|freq - p| <= 5 sqrt(p (1 - p) / N) (+1e-9 float slack).
"""

from __future__ import annotations

import math

import pytest
import torch

from coherence.gpu.learning import Environment, make_generator, rollout
from coherence.reference.case import load_case
from coherence.reference.exact import ExactEngine
from coherence.reference.model import MDP
from coherence.reference.numpy_engine import NumpyEngine
from tests.shared import CASES, needs_shared_cases

pytestmark = [needs_shared_cases, pytest.mark.usefixtures("one_torch_thread")]


N = 200_000


def case(name: str) -> MDP:
    return load_case(CASES / f"{name}.json").mdp


def within_5_sigma(freq: float, p: float, n: int) -> bool:
    return abs(freq - p) <= 5 * math.sqrt(p * (1 - p) / n) + 1e-9


@pytest.mark.parametrize("joint", [True, False], ids=["joint", "three-draw"])
@pytest.mark.parametrize(
    "name", ["stochastic-counterexample", "conventions", "mountain-race"]
)
def test_success_rate_and_occupancy_match_oracle(name: str, joint: bool) -> None:
    mdp = case(name)
    env = Environment.from_mdp(mdp, "cpu")
    ep = rollout(env, env.prior_policy(), N, generator=make_generator(3), joint=joint)
    exact = ExactEngine(mdp)
    prior = exact.prior_policy()
    j = float(exact.j_prob(prior))
    assert within_5_sigma(float(ep.success.double().mean()), j, N)
    engine = NumpyEngine(mdp)
    d = engine.occupancy(engine.prior_policy())
    for t in range(mdp.horizon + 1):
        freq = torch.bincount(ep.states[:, t], minlength=mdp.n_states).double() / N
        for s in range(mdp.n_states):
            assert within_5_sigma(float(freq[s]), float(d[t, s]), N), (t, s)


def test_zero_probabilities_are_never_drawn() -> None:
    mdp = case("conventions")
    env = Environment.from_mdp(mdp, "cpu")
    for joint in (True, False):
        ep = rollout(
            env, env.prior_policy(), N, generator=make_generator(4), joint=joint
        )
        T = mdp.horizon
        s, a = ep.states[:, :T], ep.actions
        assert not bool((env.prior[s, a] == 0).any())  # prior(a2|s2) = 0
        nxt = ep.states[:, 1:]
        assert not bool((env.transition[s, a, nxt] == 0).any())
        rho = env.success[torch.arange(T)[None, :], s, a]
        assert not bool((ep.step_success & (rho == 0)).any())  # rho(s4, .) = 0
        assert int(ep.states[:, 0].eq(2).sum()) == 0  # mu(s2) = 0


def test_same_seed_same_episodes() -> None:
    env = Environment.from_mdp(case("stochastic-counterexample"), "cpu")
    a = rollout(env, env.prior_policy(), 1000, generator=make_generator(7))
    b = rollout(env, env.prior_policy(), 1000, generator=make_generator(7))
    assert torch.equal(a.states, b.states) and torch.equal(a.success, b.success)
    assert a.n_steps == 1000 * env.shape[0]


BAD = [
    ("zero-episodes", {"n_episodes": 0}, ValueError),
    ("bool-episodes", {"n_episodes": True}, ValueError),
    ("wrong-shape", {"policy": torch.ones(1, 3, 2)}, ValueError),
    ("not-normalised", {"policy": torch.full((1, 3, 2), 0.7)}, ValueError),
    ("negative", {"policy": torch.tensor([[[1.5, -0.5]] * 3])}, ValueError),
    ("not-a-tensor", {"policy": [[[0.5, 0.5]] * 3]}, TypeError),
]


@pytest.mark.parametrize(
    ("kwargs", "error"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_inputs(kwargs: dict[str, object], error: type[Exception]) -> None:
    env = Environment.from_mdp(case("stochastic-counterexample"), "cpu")
    args: dict[str, object] = {"policy": env.prior_policy(), "n_episodes": 10}
    args.update(kwargs)
    with pytest.raises(error):
        rollout(
            env,
            args["policy"],  # type: ignore[arg-type]
            args["n_episodes"],  # type: ignore[arg-type]
            generator=make_generator(0),
        )


def test_seed_must_be_int() -> None:
    with pytest.raises(TypeError):
        make_generator(1.5)  # type: ignore[arg-type]
