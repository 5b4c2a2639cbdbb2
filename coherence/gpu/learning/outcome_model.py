"""Outcome-conditioned autoregressive model p_theta(a | s, t, o) (SPEC §5).

The Decision-Transformer setting: episodes of a behaviour policy are labelled with
their outcome o in {0, 1} (o = 1: every O_t and O_T equal 1) and a model is
trained by maximum likelihood on the (t, s_t, o, a_t) tuples. Acting conditions on
o = 1; that IS naive goal conditioning, so with a tabular (or any sufficiently
expressive) model and enough data the o = 1 policy is G(behaviour).

Two models share one interface, ``model() -> logits [t, s, o, a]``:

* :class:`TabularOutcomeModel` -- one free logit per (t, s, o, a);
* :class:`MLPOutcomeModel` -- a one-hidden-layer MLP on the one-hot code of
  (t, s) with one head of A logits per outcome.

Training (:func:`fit_outcome_model`) minimises the episode negative
log-likelihood  -(1/N) sum_{episodes, t} log p_theta(a_t | s_t, t, o),  written
through its sufficient statistic, the counts n[t, s, o, a] (the same loss, the
same gradients), with Adam; the optimum of an expressive model is the empirical
frequency n[t, s, o, a] / n[t, s, o]. Actions the prior forbids are masked out.

Online fine-tuning (:class:`OutcomeConditionedLearner`): roll out the o = 1
policy, label, retrain (continuing from the current parameters), repeat.

* ``mode="replace"``: train on the newest round only. Round k's o = 1 policy is
  then the MLE of G(pi_{k-1}): it reproduces G_k, with the binomial errors of
  :mod:`coherence.gpu.learning.retrain`.
* ``mode="aggregate"``: train on all rounds so far. The tabular MLE pools the
  counts, and as N -> infinity (N_j episodes in round j, behaviour pi_{j-1})

      pi^agg_k(a|s, t) = sum_{j<=k} N_j c_j(t,s) G(pi_{j-1})_t(a|s)
                         / sum_{j<=k} N_j c_j(t,s),
      c_j(t,s) = P_{pi_{j-1}}(s_t = s, O_{0:T} = 1)
               = P_{pi_{j-1}}(O_{0:t-1} = 1, s_t = s) * w_t^{pi_{j-1}}(s),

  because the expected count of (t, s, o = 1, a) in round j is
  N_j P(O_{0:t-1}=1, s_t=s) pi(a|s) z_t(s, a) = N_j c_j G(pi_{j-1})(a|s). It is a
  mixture of the rounds' conditionals weighted by each round's probability of
  visiting s at t AND succeeding -- in general NOT G_k (the old, worse policies
  keep their weight; on the mountain race round 2 gives (5/8 * 2/5 + 17/20 *
  8/17) / (5/8 + 17/20) = 26/59 for the ridge at the root instead of G_2 = 8/17).
  If the sequence converges and the visit weights stay positive, its limit pi*
  satisfies pi* = G(pi*) (the weighted average of G(pi_j) tends to G(pi*)): the
  fixed points are those of G, but the approach is slower than G_k's because
  the old rounds never lose their weight (a derivation, not a proven rate).
  :func:`aggregate_mixture` computes the formula; the tests check sampled
  aggregate rounds against it.

At a (t, s) where the training data has no successful episode the learner keeps
the CURRENT policy there (SPEC §5), not the model's output (which is then only its
initialisation or an extrapolation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from coherence.gpu.learning.retrain import reference_condition
from coherence.gpu.learning.rollouts import Environment, rollout
from coherence.reference.model import FloatArray
from coherence.reference.numpy_engine import NumpyEngine

__all__ = [
    "MLPOutcomeModel",
    "ModelRound",
    "OutcomeConditionedLearner",
    "TabularOutcomeModel",
    "aggregate_mixture",
    "aggregate_sd",
    "fit_outcome_model",
    "outcome_counts",
    "success_visit_probability",
]

Mode = Literal["replace", "aggregate"]


class TabularOutcomeModel(nn.Module):
    """Free logits theta[t, s, o, a] (initialised to 0: uniform)."""

    def __init__(
        self,
        horizon: int,
        n_states: int,
        n_actions: int,
        *,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__()
        self.logits = nn.Parameter(
            torch.zeros(
                horizon, n_states, 2, n_actions, dtype=torch.float64, device=device
            )
        )

    def forward(self) -> Tensor:
        """Logits for every (t, s, o, a), shape (T, S, 2, A)."""
        out: Tensor = self.logits
        return out


class MLPOutcomeModel(nn.Module):
    """logits(t, s, o, .) = W2[o] tanh(W1 onehot(t, s) + b1) + b2[o]: one hidden
    layer of ``hidden`` units on the one-hot code of (t, s), one head per o."""

    def __init__(
        self,
        horizon: int,
        n_states: int,
        n_actions: int,
        *,
        hidden: int = 32,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__()
        if hidden < 1:
            raise ValueError(f"hidden: expected a positive integer, got {hidden!r}")
        self.shape = (horizon, n_states, n_actions)
        d_in = horizon * n_states
        d_out = 2 * n_actions

        def init(*size: int, fan_in: int) -> nn.Parameter:
            # seeded uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), as nn.Linear
            u = torch.rand(
                *size, generator=generator, dtype=torch.float64, device=generator.device
            )
            return nn.Parameter(((2 * u - 1) / fan_in**0.5).to(device))

        self.w1 = init(d_in, hidden, fan_in=d_in)
        self.b1 = init(hidden, fan_in=d_in)
        self.w2 = init(hidden, d_out, fan_in=hidden)
        self.b2 = init(d_out, fan_in=hidden)

    def forward(self) -> Tensor:
        """Logits for every (t, s, o, a), shape (T, S, 2, A): the MLP evaluated
        on all one-hot inputs at once (identity row i is (t, s) = divmod(i, S))."""
        T, S, A = self.shape
        h = torch.tanh(self.w1 + self.b1)  # identity @ w1 == w1
        return (h @ self.w2 + self.b2).reshape(T, S, 2, A)


OutcomeModel = TabularOutcomeModel | MLPOutcomeModel


def outcome_counts(
    env: Environment, states: Tensor, actions: Tensor, success: Tensor
) -> Tensor:
    """n[t, s, o, a] of labelled episodes (o = 1: success), float64."""
    T, S, A = env.shape
    t_idx = torch.arange(T, device=env.device)[None, :]
    o = success.to(torch.int64)[:, None]
    flat = ((t_idx * S + states[:, :T]) * 2 + o) * A + actions
    counts = torch.bincount(flat.reshape(-1), minlength=T * S * 2 * A)
    return counts.to(torch.float64).reshape(T, S, 2, A)


def _masked_log_probs(logits: Tensor, support: Tensor) -> Tensor:
    masked = logits.masked_fill(~support[:, :, None, :], -torch.inf)
    return torch.log_softmax(masked, dim=-1)


def fit_outcome_model(
    model: OutcomeModel, counts: Tensor, support: Tensor, *, steps: int, lr: float
) -> float:
    """Maximum likelihood: minimise -(1/N) sum n[t,s,o,a] log p_theta(a|s,t,o)
    over the ``support`` (T, S, A) with ``steps`` full-batch Adam steps of
    learning rate ``lr``; returns the final loss. Zero counts contribute 0
    (never 0 * (-inf))."""
    total = float(counts.sum())
    if total <= 0:
        return 0.0
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.99))
    # linear decay to 0 removes the late oscillations of a constant step size
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 - k / steps)
    has = counts > 0
    loss = torch.zeros((), dtype=torch.float64)
    for _ in range(steps):
        opt.zero_grad()
        logp = _masked_log_probs(model(), support)
        loss = -torch.where(has, counts * logp, 0.0).sum() / total
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        sched.step()
    return float(loss.detach())


@dataclass(frozen=True)
class ModelRound:
    """One round: the acting ``policy`` after it (T, S, A), the raw o = 1 model
    output ``model_policy``, the ``counts`` trained on (T, S, 2, A), the successful
    visits ``visits`` n[t, s, o=1] of that data (T, S), the final loss."""

    round: int
    policy: Tensor
    model_policy: Tensor
    counts: Tensor
    visits: Tensor
    loss: float
    n_success: int


class OutcomeConditionedLearner:
    """Online fine-tuning of an outcome-conditioned model (module docstring).

    Round 1 trains on offline episodes of the prior (the current policy starts as
    the prior), so its o = 1 policy estimates G_1; round k estimates G_k
    (``replace``) or the aggregate mixture (``aggregate``)."""

    def __init__(
        self,
        env: Environment,
        model: OutcomeModel,
        *,
        mode: Mode = "replace",
        fit_steps: int = 300,
        lr: float = 0.2,
        generator: torch.Generator,
    ) -> None:
        if mode not in ("replace", "aggregate"):
            raise ValueError(f"mode: expected 'replace' or 'aggregate', got {mode!r}")
        if fit_steps < 1:
            raise ValueError(
                f"fit_steps: expected a positive integer, got {fit_steps!r}"
            )
        if not lr > 0:
            raise ValueError(f"lr: expected a positive float, got {lr!r}")
        self.env = env
        self.model = model
        self.mode = mode
        self.fit_steps = fit_steps
        self.lr = lr
        self.generator = generator
        self.policy: Tensor = env.prior_policy()
        self.support = env.prior_policy() > 0
        T, S, A = env.shape
        self.data = torch.zeros(T, S, 2, A, dtype=torch.float64, device=env.device)
        self.rounds = 0

    def model_policy(self) -> Tensor:
        """p_theta(. | s, t, o = 1) as probabilities (T, S, A)."""
        with torch.no_grad():
            logp = _masked_log_probs(self.model(), self.support)
        return torch.exp(logp[:, :, 1, :])

    def step(self, n_episodes: int) -> ModelRound:
        """Roll out the current policy, label, retrain, update the policy."""
        ep = rollout(self.env, self.policy, n_episodes, generator=self.generator)
        counts = outcome_counts(self.env, ep.states, ep.actions, ep.success)
        self.data = counts if self.mode == "replace" else self.data + counts
        loss = fit_outcome_model(
            self.model, self.data, self.support, steps=self.fit_steps, lr=self.lr
        )
        visits = self.data[:, :, 1, :].sum(-1)
        out = self.model_policy()
        self.policy = torch.where(visits[..., None] > 0, out, self.policy)
        self.rounds += 1
        return ModelRound(
            round=self.rounds,
            policy=self.policy,
            model_policy=out,
            counts=self.data,
            visits=visits,
            loss=loss,
            n_success=int(ep.success.sum()),
        )


def success_visit_probability(
    engine: NumpyEngine, policy: Tensor | FloatArray
) -> FloatArray:
    """c_t(s) = P_pi(s_t = s, O_{0:T} = 1) = f_t(s) w_t(s), (T, S), with the
    forward pass f_0 = mu, f_{t+1}(s') = sum_{s,a} f_t(s) pi_t(a|s) rho_t(s,a)
    P(s'|s,a) (probability of succeeding so far and reaching s') and w the SPEC §3
    success probability from (t, s) on."""
    pi = _probs(policy)
    T, S, A = engine.shape
    rho = np.exp(engine.r)
    f = np.empty((T, S))
    f[0] = engine.mu
    for t in range(T - 1):
        f[t + 1] = (f[t][:, None] * pi[t] * rho[t]).reshape(S * A) @ engine.P2
    log_pi = np.log(np.where(pi > 0, pi, 1.0)) + np.where(pi > 0, 0.0, -np.inf)
    w = np.exp(engine.values(log_pi).V[:T])
    out: FloatArray = f * w
    return out


def aggregate_mixture(
    engine: NumpyEngine,
    behaviours: Sequence[Tensor | FloatArray],
    n_episodes: Sequence[int],
    fallback: Tensor | FloatArray,
) -> FloatArray:
    """The large-N aggregate-mode policy after training on rounds whose behaviour
    policies were ``behaviours`` (pi_0 = prior, pi_1, ...) with ``n_episodes``
    each: sum_j N_j c_j G(pi_j) / sum_j N_j c_j, and ``fallback`` where the
    denominator is 0 (module docstring)."""
    num, den = _mixture_parts(engine, behaviours, n_episodes)
    fb = _probs(fallback)
    safe = np.where(den > 0, den, 1.0)[..., None]
    out: FloatArray = np.where(den[..., None] > 0, num / safe, fb)
    return out


def aggregate_sd(
    engine: NumpyEngine,
    behaviours: Sequence[Tensor | FloatArray],
    n_episodes: Sequence[int],
) -> FloatArray:
    """Delta-method standard deviation of the pooled frequency X/Y around the
    mixture m: Var(X - m Y) / E[Y]^2 with, per round j and episode,
    Var = c_j (g_j (1-m)^2 + (1-g_j) m^2) - c_j^2 (g_j - m)^2 (g_j = G(pi_j))."""
    num, den = _mixture_parts(engine, behaviours, n_episodes)
    safe = np.where(den > 0, den, 1.0)[..., None]
    m = num / safe
    var = np.zeros_like(m)
    for pi, n in zip(behaviours, n_episodes, strict=True):
        c = success_visit_probability(engine, pi)[..., None]
        g = reference_condition(engine, pi)
        var += n * (c * (g * (1 - m) ** 2 + (1 - g) * m**2) - c**2 * (g - m) ** 2)
    out: FloatArray = np.sqrt(np.clip(var, 0.0, None)) / safe
    return out


def _mixture_parts(
    engine: NumpyEngine,
    behaviours: Sequence[Tensor | FloatArray],
    n_episodes: Sequence[int],
) -> tuple[FloatArray, FloatArray]:
    if len(behaviours) != len(n_episodes) or not behaviours:
        raise ValueError(
            "behaviours/n_episodes: need one episode count per "
            f"behaviour policy, got {len(behaviours)} and "
            f"{len(n_episodes)}"
        )
    num: FloatArray | None = None
    den: FloatArray | None = None
    for pi, n in zip(behaviours, n_episodes, strict=True):
        c = n * success_visit_probability(engine, pi)
        g = reference_condition(engine, pi)
        num = c[..., None] * g if num is None else num + c[..., None] * g
        den = c if den is None else den + c
    assert num is not None and den is not None  # non-empty, checked above
    return num, den


def _probs(policy: Tensor | FloatArray) -> FloatArray:
    if isinstance(policy, Tensor):
        out: FloatArray = policy.detach().to("cpu", torch.float64).numpy()
        return out
    return np.asarray(policy, dtype=np.float64)
