"""Batched episode sampling on a torch device (SPEC §2, §5).

An :class:`Environment` holds the tables of one MDP as float64 tensors on a
device; :func:`rollout` samples many episodes of a time-indexed policy in
parallel, drawing every optimality variable O_t ~ Bernoulli(rho_t(s_t, a_t)) and
O_T ~ Bernoulli(rho_T(s_T)); :func:`sample_next_states` is the generative model
(draws s' ~ P(.|s, a) for every (s, a)) used by the soft Q-learners.

Sampling is inverse-CDF through ONE sorted 1-D table per distribution family:
row ``r`` of a (R, K) table of cumulative sums is stored offset by ``r``, so a
draw for row r with uniform u is ``searchsorted(table, r + u) - r K`` -- one
vectorised binary search for all episodes, whatever their rows. For small MDPs
the action, O_t and the next state of a step are drawn jointly from the product
distribution pi_t(a|s) * Bernoulli(rho_t(s,a)) * P(s'|s,a) over (a, o, s') with a
single uniform per episode and step; larger MDPs use three draws.

Axis vocabulary: batch (episodes) first, then t, s, a; transitions [s, a, s'].
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

from coherence.gpu.engine import TorchMDP
from coherence.reference.model import MDP

__all__ = [
    "Environment",
    "Episodes",
    "default_device",
    "make_generator",
    "rollout",
    "sample_next_states",
    "sample_step_outcomes",
    "sample_terminal_outcomes",
    "step_outcomes",
]

#: Largest joint (t, s) x (a, o, s') table used for one-draw steps.
_JOINT_LIMIT = 1 << 22


def default_device() -> torch.device:
    """cuda when available, else cpu."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def make_generator(
    seed: int, device: torch.device | str | None = None
) -> torch.Generator:
    """A seeded :class:`torch.Generator` on ``device`` (default: cpu)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an integer, got {seed!r}")
    gen = torch.Generator(device=torch.device(device or "cpu"))
    gen.manual_seed(seed)
    return gen


@dataclass(frozen=True)
class Environment:
    """The sampling view of one MDP: the torch engine's own
    :class:`~coherence.gpu.engine.TorchMDP` (a float64 dense batch of one) on
    ``device``, with the tables the samplers read: ``transition`` [s, a, s'],
    ``success`` rho_t(s, a) [t, s, a], ``terminal_success`` rho_T [s],
    ``initial`` mu [s], ``prior`` p(a|s) [s, a]. Only samples of it reach the
    learners."""

    mdp: MDP
    model: TorchMDP

    @classmethod
    def from_mdp(
        cls, mdp: MDP, device: torch.device | str | None = None
    ) -> Environment:
        """The float environment of a validated MDP on ``device`` (default:
        cuda when available, else cpu)."""
        dev = torch.device(device) if device is not None else default_device()
        model = TorchMDP.from_mdps(mdp, layout="dense", dtype=torch.float64, device=dev)
        return cls(mdp=mdp, model=model)

    @property
    def device(self) -> torch.device:
        """The device every table lives on."""
        return self.model.device

    @cached_property
    def transition(self) -> Tensor:
        """P(s'|s, a), shape (S, A, S')."""
        assert self.model.transitions is not None  # dense by construction
        return self.model.transitions[0]

    @cached_property
    def success(self) -> Tensor:
        """rho_t(s, a), shape (T, S, A)."""
        return torch.exp(self.model.log_success[0])

    @cached_property
    def terminal_success(self) -> Tensor:
        """rho_T(s), shape (S,)."""
        return torch.exp(self.model.log_terminal_success[0])

    @cached_property
    def initial(self) -> Tensor:
        """mu(s), shape (S,)."""
        return self.model.initial[0]

    @cached_property
    def prior(self) -> Tensor:
        """p(a|s), shape (S, A)."""
        return torch.exp(self.model.log_prior[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """(T, S, A)."""
        return self.mdp.horizon, self.mdp.n_states, self.mdp.n_actions

    def prior_policy(self) -> Tensor:
        """p broadcast over t, shape (T, S, A)."""
        T, S, A = self.shape
        return self.prior.expand(T, S, A).clone()

    def check_policy(self, policy: Tensor, name: str = "policy") -> Tensor:
        """Validate a probability table of shape (T, S, A) and move it here."""
        if not isinstance(policy, Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(policy)!r}")
        if tuple(policy.shape) != self.shape:
            raise ValueError(
                f"{name}: expected shape {self.shape} (T, S, A), got "
                f"{tuple(policy.shape)}"
            )
        pol = policy.to(device=self.device, dtype=torch.float64)
        if not bool(torch.isfinite(pol).all()) or bool((pol < 0).any()):
            raise ValueError(f"{name}: entries must be finite and >= 0")
        if not bool(
            torch.allclose(
                pol.sum(-1), torch.ones((), dtype=pol.dtype, device=pol.device)
            )
        ):
            raise ValueError(f"{name}: rows must sum to 1 over actions")
        return pol


@dataclass(frozen=True)
class Episodes:
    """A batch of N episodes: ``states`` (N, T+1), ``actions`` (N, T) (int64),
    ``step_success`` (N, T) the sampled O_t, ``terminal_success`` (N,) O_T."""

    states: Tensor
    actions: Tensor
    step_success: Tensor
    terminal_success: Tensor

    @property
    def success(self) -> Tensor:
        """All of O_0..O_T equal 1, shape (N,)."""
        out: Tensor = self.step_success.all(dim=1) & self.terminal_success
        return out

    @property
    def n_episodes(self) -> int:
        """The number of episodes sampled."""
        return int(self.actions.shape[0])

    @property
    def n_steps(self) -> int:
        """Environment steps: N * T."""
        return int(self.actions.numel())


class _OffsetCDF:
    """Inverse-CDF sampling of many categorical rows through one sorted table."""

    def __init__(self, probs: Tensor) -> None:
        R, K = probs.shape
        self.K = K
        cdf = torch.cumsum(probs, dim=1)
        cdf = cdf / cdf[:, -1:].clamp_min(torch.finfo(cdf.dtype).tiny)
        positive = probs > 0
        idx = torch.arange(K, device=probs.device)
        # last action with positive probability: entries from it on are exactly 1,
        # so a zero-probability outcome can never be drawn, even after rounding.
        self.last = torch.where(positive, idx, -1).amax(dim=1).clamp_min(0)
        cdf = torch.where(idx[None, :] >= self.last[:, None], 1.0, cdf)
        offset = torch.arange(R, device=probs.device, dtype=cdf.dtype)[:, None]
        self.table = (offset + cdf).reshape(-1).contiguous()

    def sample(self, rows: Tensor, u: Tensor) -> Tensor:
        """Outcome index for each ``rows[i]`` from the uniform ``u[i]`` in [0, 1)."""
        pos = torch.searchsorted(self.table, rows.to(self.table.dtype) + u, right=True)
        out = torch.minimum(pos - rows * self.K, self.last[rows])
        return out


def _uniform(n: int, generator: torch.Generator, device: torch.device) -> Tensor:
    return torch.rand(n, generator=generator, dtype=torch.float64, device=device)


def rollout(
    env: Environment,
    policy: Tensor,
    n_episodes: int,
    *,
    generator: torch.Generator,
    joint: bool | None = None,
) -> Episodes:
    """Sample ``n_episodes`` episodes of ``policy`` (probabilities, (T, S, A)).

    s_0 ~ mu; for t = 0..T-1: a_t ~ pi_t(.|s_t), O_t ~ Bernoulli(rho_t(s_t, a_t)),
    s_{t+1} ~ P(.|s_t, a_t); finally O_T ~ Bernoulli(rho_T(s_T)). Every O_t is
    drawn, also after an earlier failure. ``joint`` forces (True) or forbids
    (False) the one-draw step; by default it is used when the (T S) x (2 A S)
    table has at most 2**22 entries. ``generator`` must live on ``env.device``.
    """
    if (
        isinstance(n_episodes, bool)
        or not isinstance(n_episodes, int)
        or n_episodes < 1
    ):
        raise ValueError(f"n_episodes: expected a positive integer, got {n_episodes!r}")
    pol = env.check_policy(policy)
    T, S, A = env.shape
    dev = env.device
    N = n_episodes
    use_joint = (T * S * 2 * A * S <= _JOINT_LIMIT) if joint is None else joint
    # time-major buffers: each step writes one contiguous row (returned transposed)
    states = torch.empty((T + 1, N), dtype=torch.int64, device=dev)
    actions = torch.empty((T, N), dtype=torch.int64, device=dev)
    ok = torch.empty((T, N), dtype=torch.bool, device=dev)
    zero = torch.zeros(N, dtype=torch.int64, device=dev)
    s = _OffsetCDF(env.initial[None, :]).sample(zero, _uniform(N, generator, dev))
    states[0] = s
    rho = env.success
    if use_joint:
        # (t, s) -> (a, o, s'), o = 0 success, 1 failure
        o_probs = torch.stack([rho, 1.0 - rho], dim=-1)  # (T, S, A, 2)
        joint_p = (
            pol[..., None, None]
            * o_probs[..., None]
            * env.transition[None, :, :, None, :]
        ).reshape(T * S, A * 2 * S)
        sampler = _OffsetCDF(joint_p)
        for t in range(T):
            idx = sampler.sample(t * S + s, _uniform(N, generator, dev))
            a = idx // (2 * S)
            actions[t] = a
            ok[t] = (idx // S) % 2 == 0
            s = idx % S
            states[t + 1] = s
    else:
        act = _OffsetCDF(pol.reshape(T * S, A))
        nxt = _OffsetCDF(env.transition.reshape(S * A, S))
        flat_rho = rho.reshape(-1)
        for t in range(T):
            a = act.sample(t * S + s, _uniform(N, generator, dev))
            actions[t] = a
            sa = s * A + a
            ok[t] = _uniform(N, generator, dev) < flat_rho[t * S * A + sa]
            s = nxt.sample(sa, _uniform(N, generator, dev))
            states[t + 1] = s
    term = _uniform(N, generator, dev) < env.terminal_success[s]
    return Episodes(
        states=states.T, actions=actions.T, step_success=ok.T, terminal_success=term
    )


def sample_next_states(
    env: Environment, n: int, *, generator: torch.Generator
) -> Tensor:
    """Generative model: ``n`` independent draws s' ~ P(.|s, a) for every (s, a),
    shape (S, A, n) (int64)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    _, S, A = env.shape
    sampler = _OffsetCDF(env.transition.reshape(S * A, S))
    rows = torch.arange(S * A, device=env.device).repeat_interleave(n)
    out = sampler.sample(rows, _uniform(S * A * n, generator, env.device))
    return out.reshape(S, A, n)


def sample_step_outcomes(
    env: Environment, t: int, n: int, *, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Generative model of step ``t``: for every (s, a), ``n`` independent draws
    of O_t ~ Bernoulli(rho_t(s, a)) and s' ~ P(.|s, a); returns (O_t as bool,
    s' as int64), both of shape (S, A, n)."""
    T, S, A = env.shape
    if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < T:
        raise ValueError(f"t: expected an integer step in 0..{T - 1}, got {t!r}")
    nxt = sample_next_states(env, n, generator=generator)
    u = _uniform(S * A * n, generator, env.device).reshape(S, A, n)
    return u < env.success[t][..., None], nxt


def sample_terminal_outcomes(
    env: Environment, n: int, *, generator: torch.Generator
) -> Tensor:
    """``n`` independent draws of O_T ~ Bernoulli(rho_T(s)) for every s, bool
    (S, n)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    _, S, _ = env.shape
    u = _uniform(S * n, generator, env.device).reshape(S, n)
    return u < env.terminal_success[:, None]


def step_outcomes(
    env: Environment,
    t: int,
    states: Tensor,
    actions: Tensor,
    *,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """One environment step for a batch: O_t ~ Bernoulli(rho_t(s, a)) and
    s' ~ P(.|s, a) for each (states[i], actions[i]); returns (O_t bool, s' int64),
    both of shape (N,)."""
    T, S, A = env.shape
    if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < T:
        raise ValueError(f"t: expected an integer step in 0..{T - 1}, got {t!r}")
    sa = states * A + actions
    n = int(sa.shape[0])
    ok = _uniform(n, generator, env.device) < env.success[t].reshape(-1)[sa]
    nxt = _OffsetCDF(env.transition.reshape(S * A, S)).sample(
        sa, _uniform(n, generator, env.device)
    )
    return ok, nxt
