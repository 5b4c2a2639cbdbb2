"""Monte Carlo re-training (SPEC §5) and its statistical comparison with the oracle.

One round: roll out N episodes of pi in the true dynamics (every O_t sampled),
keep the successful ones, and set the new policy at each (t, s) visited by a
successful episode to the empirical action frequencies there:

    pi'_t(a|s) = n_t(s, a) / n_t(s),   n_t(s, a) = #{successful episodes with
                                                     s_t = s, a_t = a}

and pi'_t(.|s) = pi_t(.|s) where n_t(s) = 0 (SPEC §5: unchanged). By the Markov
property P(a_t | s_t, O_{0:T} = 1) = P(a_t | s_t, O_{t:T} = 1) = G(pi)_t(a|s), and
the successful episodes are i.i.d., so GIVEN n_t(s) the counts n_t(s, .) are
multinomial(n_t(s), G(pi)_t(.|s)): the deviation of each frequency is exactly
binomial with standard deviation sqrt(g (1 - g) / n_t(s)). The commands judge
that with the exact-coverage Chernoff interval at a family-wise level
(:mod:`coherence.gpu.learning.verdict`); :func:`binomial_deviation` is the
normal-approximation check at ``sigmas`` standard deviations (default 5).
Repeating the round k times estimates G_k; round k is compared with G applied to
the PREVIOUS ESTIMATED policy, because the sampling errors of earlier rounds carry
over.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from coherence.gpu.learning.rollouts import Environment, Episodes, rollout
from coherence.reference.model import FloatArray
from coherence.reference.numpy_engine import NumpyEngine

__all__ = [
    "DEFAULT_TOLERANCE",
    "DEFAULT_VISIT_FRACTION",
    "Deviation",
    "RetrainRound",
    "RoundCheck",
    "binomial_deviation",
    "check_round",
    "finite_or_str",
    "log_policy",
    "max_abs_deviation",
    "mc_retrain",
    "mc_retrain_round",
    "reference_condition",
    "success_counts",
    "well_visited_threshold",
]

#: Float slack added to every statistical bound (targets are float64).
FLOAT_SLACK = 1e-9

#: Default well-visited threshold as a fraction of the episodes per round: at
#: n_t(s) >= N / 10 a frequency's binomial sd is <= 0.5 / sqrt(N / 10), 0.005 at
#: N = 10^5, so DEFAULT_TOLERANCE is 4 such standard deviations.
DEFAULT_VISIT_FRACTION = 0.1

#: Default largest distance to the exact G_k at a well-visited (t, s).
DEFAULT_TOLERANCE = 0.02


@dataclass(frozen=True)
class RetrainRound:
    """Result of one round: the new ``policy`` (T, S, A), the successful
    ``counts`` n_t(s, a) (T, S, A), ``visits`` n_t(s) (T, S), the number of
    successful episodes and of episodes."""

    round: int
    policy: Tensor
    counts: Tensor
    visits: Tensor
    n_success: int
    n_episodes: int


def success_counts(env: Environment, episodes: Episodes) -> Tensor:
    """n_t(s, a) over the successful episodes, float64 (T, S, A)."""
    T, S, A = env.shape
    t_idx = torch.arange(T, device=env.device)[None, :]
    flat = t_idx * (S * A) + episodes.states[:, :T] * A + episodes.actions
    flat = flat[episodes.success].reshape(-1)
    counts = torch.bincount(flat, minlength=T * S * A)
    return counts.to(torch.float64).reshape(T, S, A)


def mc_retrain_round(
    env: Environment,
    policy: Tensor,
    n_episodes: int,
    *,
    generator: torch.Generator,
    round_index: int = 1,
) -> RetrainRound:
    """One Monte Carlo re-training round from ``policy`` (see module docstring)."""
    pol = env.check_policy(policy)
    episodes = rollout(env, pol, n_episodes, generator=generator)
    counts = success_counts(env, episodes)
    visits = counts.sum(dim=-1)
    freq = counts / visits.clamp_min(1.0)[..., None]
    new = torch.where(visits[..., None] > 0, freq, pol)
    return RetrainRound(
        round=round_index,
        policy=new,
        counts=counts,
        visits=visits,
        n_success=int(episodes.success.sum()),
        n_episodes=n_episodes,
    )


def mc_retrain(
    env: Environment,
    rounds: int,
    n_episodes: int,
    *,
    generator: torch.Generator,
    start: Tensor | None = None,
) -> Iterator[RetrainRound]:
    """``rounds`` successive rounds from ``start`` (default: the prior); the k-th
    yielded policy estimates G_k."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise ValueError(f"rounds: expected a non-negative integer, got {rounds!r}")
    pol = env.prior_policy() if start is None else env.check_policy(start, "start")
    for k in range(1, rounds + 1):
        result = mc_retrain_round(
            env, pol, n_episodes, generator=generator, round_index=k
        )
        pol = result.policy
        yield result


def log_policy(policy: Tensor | FloatArray) -> FloatArray:
    """log of a probability table as a float64 numpy array (-inf where 0)."""
    arr = (
        policy.detach().to("cpu", torch.float64).numpy()
        if isinstance(policy, Tensor)
        else np.asarray(policy, dtype=np.float64)
    )
    with np.errstate(divide="ignore"):
        out: FloatArray = np.log(arr)
    return out


def reference_condition(engine: NumpyEngine, policy: Tensor | FloatArray) -> FloatArray:
    """G(pi) = cond(pi, r) of ANY given policy, by the float64 reference engine,
    as probabilities (T, S, A)."""
    log_pi = log_policy(policy)
    out: FloatArray = np.exp(engine.condition(log_pi, engine.values(log_pi)))
    return out


@dataclass(frozen=True)
class Deviation:
    """Largest |estimate - target| over the well-visited (t, s), the largest ratio
    of a deviation to its bound (<= 1 means every cell passes), and how many
    (t, s) were compared."""

    max_abs: float
    max_ratio: float
    n_cells: int

    @property
    def passed(self) -> bool:
        """Whether every well-visited cell is within the bound."""
        return self.max_ratio <= 1.0


def binomial_deviation(
    estimate: Tensor | FloatArray,
    target: Tensor | FloatArray,
    visits: Tensor | FloatArray,
    *,
    min_visits: int,
    sigmas: float = 5.0,
    extra: float = 0.0,
) -> Deviation:
    """Compare frequencies with a target at every (t, s) with at least
    ``min_visits`` visits: bound = sigmas * sqrt(g (1 - g) / n) + extra + 1e-9,
    g the target probability and n the visits (exact binomial given n)."""
    est = _np(estimate)
    tgt = _np(target)
    n = _np(visits)
    if est.shape != tgt.shape or est.shape[:-1] != n.shape:
        raise ValueError(
            f"estimate/target/visits: shapes {est.shape}, {tgt.shape}, {n.shape} "
            "do not match (T, S, A), (T, S, A), (T, S)"
        )
    well = n >= min_visits
    if not well.any():
        return Deviation(max_abs=0.0, max_ratio=0.0, n_cells=0)
    dev = np.abs(est - tgt)[well]
    g = np.clip(tgt[well], 0.0, 1.0)
    sd = np.sqrt(g * (1.0 - g) / n[well][:, None])
    bound = sigmas * sd + extra + FLOAT_SLACK
    return Deviation(
        max_abs=float(dev.max()),
        max_ratio=float((dev / bound).max()),
        n_cells=int(well.sum()),
    )


def max_abs_deviation(
    estimate: Tensor | FloatArray,
    target: Tensor | FloatArray,
    mask: Tensor | FloatArray | npt.NDArray[np.bool_] | None = None,
) -> float:
    """max |estimate - target| over the (t, s) where ``mask`` holds (all if None)."""
    est = _np(estimate)
    tgt = _np(target)
    dev = np.abs(est - tgt).max(axis=-1)
    if mask is not None:
        m = (
            mask.detach().cpu().numpy()
            if isinstance(mask, Tensor)
            else np.asarray(mask)
        ).astype(bool)
        dev = dev[m]
    return float(dev.max()) if dev.size else 0.0


def _np(x: Tensor | FloatArray) -> FloatArray:
    if isinstance(x, Tensor):
        out: FloatArray = x.detach().to("cpu", torch.float64).numpy()
        return out
    return np.asarray(x, dtype=np.float64)


def finite_or_str(x: float) -> float | str:
    """JSON-friendly float: "inf" / "-inf" for infinities (CASE_FORMAT Numbers)."""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def well_visited_threshold(
    n_episodes: int, *, min_visits: int = 100, fraction: float = DEFAULT_VISIT_FRACTION
) -> int:
    """Successful visits for a (t, s) to count as well visited: the larger of
    ``min_visits`` and ceil(``fraction`` * N) (scales with N)."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction: expected a number in [0, 1], got {fraction!r}")
    return max(int(min_visits), math.ceil(fraction * n_episodes))


@dataclass(frozen=True)
class RoundCheck:
    """The checks of one round.

    ``previous``: the binomial comparison with G(previous estimate) at the
    well-visited (t, s) (``sigmas`` standard deviations plus the learner's fit
    tolerance, which also bounds a softmax's floor where the target is 0 or 1);
    ``distance``: the largest |pi_k - G_k| there, against ``tolerance``;
    ``threshold``: the visits that make a (t, s) well visited; ``excluded``: the
    (t, s) visited by a successful episode but below the threshold, with
    ``excluded_distance`` their largest |pi_k - G_k|."""

    previous: Deviation
    distance: float
    tolerance: float
    threshold: int
    n_well: int
    excluded: int
    excluded_distance: float

    @property
    def passed(self) -> bool:
        """Both the statistical comparison and the distance to G_k pass."""
        return self.previous.passed and self.distance <= self.tolerance


def check_round(
    estimate: Tensor | FloatArray,
    previous_target: Tensor | FloatArray,
    g_k: Tensor | FloatArray,
    visits: Tensor | FloatArray,
    *,
    threshold: int,
    fit_tolerance: float = 0.0,
    tolerance: float = DEFAULT_TOLERANCE,
    sigmas: float = 5.0,
) -> RoundCheck:
    """Check round k's policy ``estimate`` against G(previous estimate)
    (``previous_target``, binomial, :func:`binomial_deviation`) and the exact
    ``g_k`` (max distance <= ``tolerance``) at every (t, s) with at least
    ``threshold`` successful ``visits``; report the visited cells below it."""
    n = _np(visits)
    prev = binomial_deviation(
        estimate,
        previous_target,
        visits,
        min_visits=threshold,
        sigmas=sigmas,
        extra=fit_tolerance,
    )
    well = n >= threshold
    low = (n > 0) & ~well
    return RoundCheck(
        previous=prev,
        distance=max_abs_deviation(estimate, g_k, well),
        tolerance=tolerance,
        threshold=threshold,
        n_well=int(well.sum()),
        excluded=int(low.sum()),
        excluded_distance=max_abs_deviation(estimate, g_k, low),
    )
