"""Annealed soft Q-learning from sampled transitions, two backups (SPEC §5).

Both learners are finite-horizon tabular Q-learning by backward induction over a
generative model: for t = T-1, ..., 0 and every (s, a), draw ``samples`` next
states s' ~ P(.|s, a) from the environment (the learner never reads P) and
average the sampled targets with step sizes eta_n = 1/n,

    x_t(s, a) <- x_t(s, a) + eta_n (y_n - x_t(s, a)),   n = 1..samples,

which makes x_t(s, a) the sample mean of the targets (computed in batches; the
batched mean is the same number). Stage t bootstraps from the values already
learned at t+1.

(a) Exact-conditioning backup in the exponentiated domain (Z-learning):
        y = rho_t(s,a)^alpha * w_{t+1}(s'),   w_T = rho_T^alpha,
        w_t(s) = sum_a p(a|s) z_t(s,a),   pi_t(a|s) = p(a|s) z_t(s,a) / w_t(s)
    (p where w_t(s) = 0). y is an unbiased sample of z of T_alpha = cond(p, alpha r)
    given w_{t+1}: the learner converges to T_alpha. rho = 0 gives y = 0, never
    log 0; rho^0 = 1 (SPEC §2), so alpha = 0 gives the prior.
(b) Maximum-entropy backup in the log domain:
        y = V_{t+1}(s'),   Q_t(s,a) = r_t(s,a) + mean(y),   V_T = r_T,
        V_t(s) = (1/alpha) log sum_a p(a|s) exp(alpha Q_t(s,a)),
        pi_t(a|s) proportional to p(a|s) exp(alpha Q_t(s,a)),
    the expectation backup of the entropy-regularised optimum of SPEC §4
    (NumpyEngine.maxent_policy). A sampled successor with V = -inf makes the
    mean -inf (the expectation is -inf as soon as such a successor has positive
    probability); finite targets are averaged apart from a "dead successor seen"
    flag, so -inf never meets +inf and nothing is NaN. Where every logit is -inf
    the policy is the prior, as in the reference; at alpha = 0 V_t = E_p Q_t (the
    alpha -> 0 limit) and the policy is the prior.

Statistical tolerance: each x_t(s, a) is a mean of ``samples`` i.i.d. targets
given stage t+1, with standard error se = sd(y) / sqrt(samples) (the sample sd is
returned). The policy's standard deviation follows by the delta method,
    Z:      d pi_a / d z_b = (p_b / w) (1[a=b] - pi_a),
    maxent: d pi_a / d Q_b = alpha pi_a (1[a=b] - pi_b),
and ``policy_sd`` = sqrt(sum_b (d pi_a / d x_b)^2 se_b^2). It covers the sampling
error of the stage itself; the error carried from stage t+1 (zero when T = 1 or
the dynamics are deterministic, where every target is exact) is not included.

With a schedule alpha_1 <= alpha_2 <= ... (:func:`anneal`) each stage is learned
afresh with its own samples, and the policy after stage k estimates T_{alpha_k}
(Z-learning) or the entropy-regularised optimum at alpha_k (maximum entropy); in
deterministic environments the two coincide (SPEC §7 claim 18).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import torch
from torch import Tensor

from coherence.gpu.learning.rollouts import Environment, sample_next_states

__all__ = ["Backup", "SoftQResult", "anneal", "maxent_q_learning", "z_learning"]

Backup = Literal["z", "maxent"]

#: Next-state draws per batch (S * A * batch values at once).
_BATCH_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class SoftQResult:
    """A learned policy (T, S, A) with its learned values ``x`` (z for Z-learning,
    Q for maximum entropy; (T, S, A)), the standard errors of x, the delta-method
    standard deviation of the policy, alpha, the backup and the samples per
    (t, s, a)."""

    backup: Backup
    alpha: float
    policy: Tensor
    values: Tensor
    stderr: Tensor
    policy_sd: Tensor
    samples: int


def _alpha(alpha: float | Fraction) -> float:
    a = float(alpha)
    if not (a >= 0 and math.isfinite(a)):
        raise ValueError(f"alpha: expected a finite number >= 0, got {alpha!r}")
    return a


def _check_samples(samples: int) -> None:
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise ValueError(f"samples: expected an integer >= 2, got {samples!r}")


def _stage_moments(
    env: Environment, next_value: Tensor, samples: int, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """Sample mean and sd (over s') of next_value[s'] per (s, a), counting -inf
    successors apart: (mean of finite targets, sd of finite targets, any -inf)."""
    _, S, A = env.shape
    batch = max(1, min(samples, _BATCH_ELEMENTS // (S * A)))
    n = torch.zeros(S, A, dtype=torch.float64, device=env.device)
    mean = torch.zeros_like(n)
    m2 = torch.zeros_like(n)
    dead = torch.zeros(S, A, dtype=torch.bool, device=env.device)
    done = 0
    while done < samples:
        b = min(batch, samples - done)
        nxt = sample_next_states(env, b, generator=generator)  # (S, A, b)
        y = next_value[nxt]
        finite = torch.isfinite(y)
        dead |= (~finite).any(dim=-1)
        yf = torch.where(finite, y, 0.0)
        nb = finite.sum(dim=-1).to(torch.float64)
        mb = yf.sum(-1) / nb.clamp_min(1.0)
        m2b = (torch.where(finite, yf - mb[..., None], 0.0) ** 2).sum(-1)
        # Chan et al. parallel update of mean / M2 == sequential eta_n = 1/n
        tot = n + nb
        delta = mb - mean
        w = nb / tot.clamp_min(1.0)
        mean = mean + delta * w
        m2 = m2 + m2b + delta**2 * n * w
        n = tot
        done += b
    sd = torch.sqrt(m2 / (n - 1).clamp_min(1.0))
    return mean, sd, dead


def z_learning(
    env: Environment,
    alpha: float | Fraction,
    *,
    samples: int,
    generator: torch.Generator,
) -> SoftQResult:
    """Exact-conditioning backup learned in the exponentiated domain (module
    docstring (a)); converges to T_alpha."""
    a = _alpha(alpha)
    _check_samples(samples)
    T, S, A = env.shape
    p = env.prior
    rho_a = torch.pow(env.success, a)  # 0 ** 0 == 1 (SPEC §2)
    w = torch.pow(env.terminal_success, a)
    z = torch.empty(T, S, A, dtype=torch.float64, device=env.device)
    se = torch.empty_like(z)
    pol = torch.empty_like(z)
    psd = torch.empty_like(z)
    root_n = math.sqrt(samples)
    for t in range(T - 1, -1, -1):
        mean, sd, _ = _stage_moments(env, w, samples, generator)
        z[t] = rho_a[t] * mean
        se[t] = rho_a[t] * sd / root_n
        pw = p * z[t]
        w = pw.sum(-1)
        live = (w > 0)[:, None]
        safe = torch.where(live, w[:, None], 1.0)
        pol[t] = torch.where(live, pw / safe, p)
        # d pi_a / d z_b = (p_b / w)(1[a=b] - pi_a)
        eye = torch.eye(A, dtype=torch.float64, device=env.device)
        jac = (p / safe)[:, None, :] * (eye[None] - pol[t][:, :, None])
        var = (jac**2 * (se[t] ** 2)[:, None, :]).sum(-1)
        psd[t] = torch.where(live, torch.sqrt(var), 0.0)
    return SoftQResult(
        backup="z",
        alpha=a,
        policy=pol,
        values=z,
        stderr=se,
        policy_sd=psd,
        samples=samples,
    )


def maxent_q_learning(
    env: Environment,
    alpha: float | Fraction,
    *,
    samples: int,
    generator: torch.Generator,
) -> SoftQResult:
    """Maximum-entropy backup (module docstring (b)); converges to the
    entropy-regularised optimum of SPEC §4."""
    a = _alpha(alpha)
    _check_samples(samples)
    T, S, A = env.shape
    p = env.prior
    log_p = torch.where(p > 0, torch.log(torch.where(p > 0, p, 1.0)), -torch.inf)
    with torch.no_grad():
        r = torch.log(env.success)  # -inf where rho = 0
        V = torch.log(env.terminal_success)
    Q = torch.empty(T, S, A, dtype=torch.float64, device=env.device)
    se = torch.empty_like(Q)
    pol = torch.empty_like(Q)
    psd = torch.empty_like(Q)
    root_n = math.sqrt(samples)
    eye = torch.eye(A, dtype=torch.float64, device=env.device)
    for t in range(T - 1, -1, -1):
        mean, sd, dead = _stage_moments(env, V, samples, generator)
        alive = ~dead & torch.isfinite(r[t])
        Q[t] = torch.where(alive, r[t] + torch.where(alive, mean, 0.0), -torch.inf)
        se[t] = torch.where(alive, sd / root_n, 0.0)
        if a == 0:
            pol[t] = p
            psd[t] = 0.0
            weighted = torch.where(p > 0, p * torch.where(alive, Q[t], 0.0), 0.0)
            hits = ((p > 0) & ~alive).any(-1)
            V = torch.where(hits, -torch.inf, weighted.sum(-1))
            continue
        logits = log_p + torch.where(alive, a * Q[t], -torch.inf)
        lse = torch.logsumexp(logits, dim=-1)
        live = torch.isfinite(lse)[:, None]
        pol[t] = torch.where(
            live, torch.exp(logits - torch.where(live, lse[:, None], 0.0)), p
        )
        jac = a * pol[t][:, :, None] * (eye[None] - pol[t][:, None, :])
        var = (jac**2 * (se[t] ** 2)[:, None, :]).sum(-1)
        psd[t] = torch.where(live, torch.sqrt(var), 0.0)
        V = lse / a
    return SoftQResult(
        backup="maxent",
        alpha=a,
        policy=pol,
        values=Q,
        stderr=se,
        policy_sd=psd,
        samples=samples,
    )


def anneal(
    env: Environment,
    schedule: Sequence[float | Fraction],
    *,
    backup: Backup = "z",
    samples: int,
    generator: torch.Generator,
) -> Iterator[SoftQResult]:
    """Learn along a non-decreasing schedule alpha_1 <= alpha_2 <= ...; stage k
    yields the policy learned at alpha_k (module docstring)."""
    alphas = [_alpha(x) for x in schedule]
    if not alphas:
        raise ValueError("schedule: expected at least one alpha")
    if any(b < a for a, b in itertools.pairwise(alphas)):
        raise ValueError(f"schedule: must be non-decreasing, got {list(schedule)!r}")
    if backup not in ("z", "maxent"):
        raise ValueError(f"backup: expected 'z' or 'maxent', got {backup!r}")
    learner = z_learning if backup == "z" else maxent_q_learning
    for a in alphas:
        yield learner(env, a, samples=samples, generator=generator)
