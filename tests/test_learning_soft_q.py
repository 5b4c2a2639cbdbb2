"""Annealed soft Q-learning: Z-learning -> T_alpha, maximum entropy -> the
entropy-regularised optimum (NumpyEngine.maxent_policy), every O_t sampled.

Bound (coherence.gpu.learning.soft_q): ``policy_bound`` propagates a box of
``sigmas`` = 5 standard errors per sample mean backwards through the stages
(carried error and warm-start bias included; the box propagation is exact, the
per-mean statistics are normal approximations). Significance: each test compares
at most 3 x 8 x 5 x 3 = 360 cells, each failing with probability <= 5.7e-7 per
mean feeding it, so a correct learner fails a test with probability < 1e-3
(union bound). Fixed seeds throughout. Targets: T_alpha from the float64 engine's
policy_for(T), the optimum from NumpyEngine.maxent_policy (SPEC §4).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from coherence.gpu.learning import (
    Environment,
    SoftQResult,
    anneal,
    make_generator,
    maxent_q_learning,
    z_learning,
)
from coherence.queries import compute_policy
from coherence.reference.case import load_case
from coherence.reference.model import FloatArray
from coherence.reference.numpy_engine import NumpyEngine
from coherence.reference.operators import PolicySpec
from tests.shared import CASES, needs_shared_cases

pytestmark = [needs_shared_cases, pytest.mark.usefixtures("one_torch_thread")]
SAMPLES = 1 << 15
SCHEDULE = [1, 2, 4, 8]
SLACK = 1e-9  # float64 rounding of the learned policy


def setup(name: str) -> tuple[Environment, NumpyEngine]:
    mdp = load_case(CASES / f"{name}.json").mdp
    return Environment.from_mdp(mdp, "cpu"), NumpyEngine(mdp)


def t_alpha(engine: NumpyEngine, alpha: float) -> FloatArray:
    out: FloatArray = np.exp(
        compute_policy(engine, PolicySpec("T", alpha=Fraction(alpha)))
    )
    return out


def within(res: SoftQResult, target: FloatArray) -> bool:
    dev = np.abs(res.policy.numpy() - target)
    return bool((dev <= res.policy_bound.numpy() + SLACK).all())


@pytest.mark.parametrize("backup", ["z", "maxent"])
def test_deterministic_both_backups_track_t_alpha(backup: str) -> None:
    # every O_t is sampled: a deterministic case is a statistical test too
    env, engine = setup("mountain-race")
    stages = anneal(
        env,
        SCHEDULE,
        backup=backup,  # type: ignore[arg-type]
        samples=SAMPLES,
        warm=SAMPLES // 16,
        generator=make_generator(1),
    )
    for alpha, res in zip(SCHEDULE, stages, strict=True):
        assert res.alpha == alpha
        assert float(res.policy_bound.max()) > 0  # sampled, not exact DP
        assert within(res, t_alpha(engine, alpha)), (backup, alpha)


@pytest.mark.parametrize("alpha", [0.5, 2, 4])
@pytest.mark.parametrize("name", ["mountain-race", "conventions"])
def test_z_learning_reaches_t_alpha_with_carried_error(name: str, alpha: float) -> None:
    # mountain race: rho_T(forest finishes) = 3/4, so rho_T^alpha matters at
    # alpha != 1; conventions: stochastic, T = 3 (error carried over 3 stages)
    env, engine = setup(name)
    res = z_learning(env, alpha, samples=SAMPLES, generator=make_generator(6))
    assert within(res, t_alpha(engine, alpha)), (name, alpha)
    # the bound is informative: well below the trivial 1 at the root
    assert float(res.policy_bound[0].max()) < 0.25


@pytest.mark.parametrize("alpha", [1, 2])
def test_maxent_multistep_stochastic_separates_the_optimistic_backup(
    alpha: float,
) -> None:
    # conventions (stochastic, T = 3): the expectation backup reaches the
    # optimum; the optimistic backup log E exp V(s') is, at alpha = 1, exactly
    # the soft backup of T_1 (SPEC §3), which differs from the optimum by more
    # than 10 times the learner's own bound
    env, engine = setup("conventions")
    res = maxent_q_learning(env, alpha, samples=SAMPLES, generator=make_generator(7))
    optimum = np.exp(engine.maxent_policy(alpha))
    assert within(res, optimum)
    if alpha == 1:
        optimistic = t_alpha(engine, 1)
        gap = np.abs(optimistic - optimum)
        assert (gap > 10 * res.policy_bound.numpy() + SLACK).any()


def test_stochastic_z_and_maxent_differ() -> None:
    env, engine = setup("stochastic-counterexample")
    gen = make_generator(2)
    n = 1 << 18  # T = 1, S = 3, A = 2: cheap, and the alpha = 8 bound is tight
    zs = list(anneal(env, SCHEDULE, backup="z", samples=n, generator=gen))
    ms = list(anneal(env, SCHEDULE, backup="maxent", samples=n, generator=gen))
    for alpha, z, m in zip(SCHEDULE, zs, ms, strict=True):
        assert within(z, t_alpha(engine, alpha)), alpha
        assert within(m, np.exp(engine.maxent_policy(alpha))), alpha
    # alpha = 8: the targets differ by 0.135, beyond both bounds together
    z8, m8 = zs[-1], ms[-1]
    gap = np.abs(z8.policy.numpy() - m8.policy.numpy())
    assert (gap > z8.policy_bound.numpy() + m8.policy_bound.numpy()).any()


def test_schedule_order_matters() -> None:
    # same final alpha = 8, same samples per stage, warm start with pseudo-count
    # n0 = samples: the stage before the last biases it by n0/(n0+n) = 1/2 of the
    # gap between its values and the final ones. From alpha = 7 the gap is small,
    # from alpha = 1 it is large: the errors differ beyond both bounds, and the
    # schedule from 1 still errs more with 4x the samples (it needs more).
    env, engine = setup("mountain-race")
    target = t_alpha(engine, 8)
    n = 1 << 12

    def last(schedule: list[float], samples: int, warm: int) -> SoftQResult:
        *_, out = anneal(
            env, schedule, samples=samples, warm=warm, generator=make_generator(3)
        )
        return out

    far, near = last([1, 8], n, n), last([7, 8], n, n)
    err_far = np.abs(far.policy.numpy() - target).max()
    err_near = np.abs(near.policy.numpy() - target).max()
    assert within(far, target) and within(near, target)
    assert err_far > 5 * err_near
    assert err_far > float(near.policy_bound.max())
    far4 = last([1, 8], 4 * n, n)
    assert np.abs(far4.policy.numpy() - target).max() > err_near
    # without warm starts the stages are independent solves: order is irrelevant
    cold_far, cold_near = last([1, 8], n, 0), last([7, 8], n, 0)
    assert within(cold_far, target) and within(cold_near, target)
    assert np.abs(cold_far.policy.numpy() - target).max() < err_far / 5


@pytest.mark.parametrize("alpha", [0, 0.5, 1, 8])
@pytest.mark.parametrize("name", ["conventions", "mountain-race"])
def test_no_nan_where_success_is_zero(name: str, alpha: float) -> None:
    env, _engine = setup(name)
    for learner in (z_learning, maxent_q_learning):
        res = learner(env, alpha, samples=1 << 10, generator=make_generator(4))
        for x in (res.policy, res.values, res.stderr, res.policy_sd, res.policy_bound):
            assert not bool(torch.isnan(x).any())
        assert torch.allclose(
            res.policy.sum(-1), torch.ones(env.shape[:2], dtype=torch.float64)
        )
        if alpha == 0:  # rho^0 = 1: T_0 = p, and the max-ent optimum at 0 is p
            assert torch.allclose(res.policy, env.prior_policy(), rtol=0, atol=1e-12)


BAD = [
    ("negative-alpha", {"alpha": -1.0}, ValueError),
    ("inf-alpha", {"alpha": float("inf")}, ValueError),
    ("one-sample", {"samples": 1}, ValueError),
    ("negative-warm", {"warm": -1}, ValueError),
]


@pytest.mark.parametrize(
    ("kwargs", "error"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_inputs(kwargs: dict[str, object], error: type[Exception]) -> None:
    env, _ = setup("mountain-race")
    args: dict[str, object] = {"alpha": 1.0, "samples": 16, "warm": 0}
    args.update(kwargs)
    for learner in (z_learning, maxent_q_learning):
        with pytest.raises(error):
            learner(
                env,
                args["alpha"],  # type: ignore[arg-type]
                samples=args["samples"],  # type: ignore[arg-type]
                warm=args["warm"],  # type: ignore[arg-type]
                generator=make_generator(0),
            )


def test_bad_schedule_and_backup() -> None:
    env, _ = setup("mountain-race")
    with pytest.raises(ValueError, match="schedule"):
        list(anneal(env, [], samples=16, generator=make_generator(0)))
    with pytest.raises(ValueError, match="backup"):
        list(
            anneal(
                env,
                [1],
                backup="q",  # type: ignore[arg-type]
                samples=16,
                generator=make_generator(0),
            )
        )
    z = z_learning(env, 1, samples=16, generator=make_generator(0))
    with pytest.raises(ValueError, match="start"):
        maxent_q_learning(env, 1, samples=16, generator=make_generator(0), start=z)
