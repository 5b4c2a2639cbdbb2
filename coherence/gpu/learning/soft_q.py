"""Annealed soft Q-learning from sampled steps, two backups (SPEC §5).

Both learners are finite-horizon tabular Q-learning by backward induction over a
generative model: for t = T-1, ..., 0 and every (s, a) they draw ``samples``
steps (O_t ~ Bernoulli(rho_t(s, a)), s' ~ P(.|s, a)) from the environment, and
``samples`` terminal outcomes O_T ~ Bernoulli(rho_T(s)) per state; the learner
never reads rho or P. Every optimality variable is sampled, so deterministic
cases are statistical tests too. Write rho^_t(s, a), rho^_T(s) for the sampled
success frequencies and E^ for the mean over the sampled successors.

(a) Exact-conditioning backup in the exponentiated domain (Z-learning):
        w_T = (rho^_T)^alpha,   y_t(s, a) = (rho^_t(s, a))^alpha E^ w_{t+1}(s'),
        w_t(s) = sum_a p(a|s) z_t(s, a),   pi_t(a|s) = p(a|s) z_t(s, a) / w_t(s)
    (p where w_t(s) = 0). With exact rho and P this is the backward pass of
    T_alpha = cond(p, alpha r) (SPEC §4), so the learner converges to T_alpha; the
    plug-in rho^alpha is consistent with bias O(1/samples). rho^ = 0 gives 0,
    never log 0; rho^0 = 1 (SPEC §2), so alpha = 0 gives the prior.

(b) Maximum-entropy backup in the log domain:
        V_T = log rho^_T,   y_t(s, a) = log rho^_t(s, a) + E^ V_{t+1}(s'),
        V_t(s) = (1/alpha) log sum_a p(a|s) exp(alpha Q_t(s, a)),
        pi_t(a|s) proportional to p(a|s) exp(alpha Q_t(s, a)),
    the EXPECTATION backup of the entropy-regularised optimum of SPEC §4
    (NumpyEngine.maxent_policy) -- not the optimistic log E exp V(s'). A sampled
    successor with V = -inf makes the mean -inf; finite targets are averaged apart
    from a "dead successor seen" flag, so -inf never meets +inf and nothing is NaN.
    Where every logit is -inf the policy is the prior; at alpha = 0
    V_t = E_p Q_t (the alpha -> 0 limit) and the policy is the prior.

Warm starts (annealing). A stage may start from a previous stage's estimates
x0 (z or Q, the same (T, S, A) table) with pseudo-count ``warm`` = n0: the
estimate is the Robbins-Monro average with steps eta_n = 1/(n0 + n),

    x_t(s, a) = (n0 x0_t(s, a) + n y_t(s, a)) / (n0 + n),   n = samples,

so n0 = 0 is an independent solve and n0 > 0 trades variance for a bias
n0 / (n0 + n) (x0 - x*) towards the previous stage: the schedule's order and
spacing then matter (a close previous alpha is a good start, a far one needs
more samples to be forgotten).

Error bars (``policy_bound``, at ``sigmas`` standard errors per sample mean):
propagated backwards, so the error carried from later steps is included. With
e the bound on |x - x*| (x* the exact value),

    e_y   = sigmas * se(y) + (rho^)^alpha E^ e_w(s')            (Z)
          = sigmas * se(y) + E^ e_V(s')                         (max-ent)
    e_x   = e_y + (n0 / n) |x0 - x|            (the warm-start bias, exactly:
                                                x - x* = y - x* + (n0/n)(x0 - x))
    e_w(s) = sum_a p(a|s) e_x(s, a),  e_V(s) = sum_a pi(a|s) e_Q(s, a),
    e_w(s) = sum_a p(a|s) e_z(s, a)                (w is linear in z),
    e_V(s) = max_a e_Q(s, a) over live actions     (V is monotone, 1-Lipschitz),
    e_pi_a = the largest change of pi_a over the box x' in [x - e_x, x + e_x]
             (pi_a increases in x_a and decreases in the others: its corners),

with se(y) the delta-method standard error of y from the sample sd of the
successor values and the binomial sd of rho^. Given the boxes the propagation is
exact; what is approximate is the statistics of each sample mean (normal
approximation: within ``sigmas`` standard errors with probability >= 1 - 5.7e-7
per mean at 5 sigma) and the first-order se of rho^alpha and log rho^.
``policy_sd`` is the one-sigma delta-method sampling deviation of the stage alone
(no carried error, no bias):
    Z:      d pi_a / d z_b = (p_b / w) (1[a=b] - pi_a),
    maxent: d pi_a / d Q_b = alpha pi_a (1[a=b] - pi_b).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import torch
from torch import Tensor

from coherence.gpu.learning.rollouts import (
    Environment,
    sample_step_outcomes,
    sample_terminal_outcomes,
)

__all__ = [
    "Backup",
    "SoftQResult",
    "StageTest",
    "anneal",
    "interval_count",
    "maxent_q_learning",
    "stage_test",
    "z_learning",
]

Backup = Literal["z", "maxent"]

#: Step draws per batch (S * A * batch values at once).
_BATCH_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class SoftQResult:
    """A learned policy (T, S, A) with its learned values ``values`` (z for
    Z-learning, Q for maximum entropy; (T, S, A)), their standard errors, the
    one-sigma stage-only policy deviation ``policy_sd``, the complete bound
    ``policy_bound`` (carried error and warm-start bias included, at ``sigmas``),
    alpha, the backup, the samples per (t, s, a) and the warm-start pseudo-count.

    The test intervals (module docstring, "Test intervals"; each sample mean at
    level ``delta``): ``value_lo`` / ``value_hi`` (T, S, A) contain the exact
    backup of the LEARNED next-step values, ``policy_lo`` / ``policy_hi`` the
    policy that backup induces; ``next_values`` (T + 1, S) are the learned w
    (or V) the backups read (row T: the terminal estimate), ``terminal_rate``
    the sampled rho^_T (S,)."""

    backup: Backup
    alpha: float
    policy: Tensor
    values: Tensor
    stderr: Tensor
    policy_sd: Tensor
    policy_bound: Tensor
    samples: int
    warm: int
    sigmas: float
    delta: float
    value_lo: Tensor
    value_hi: Tensor
    policy_lo: Tensor
    policy_hi: Tensor
    next_values: Tensor
    terminal_rate: Tensor


def _alpha(alpha: float | Fraction) -> float:
    a = float(alpha)
    if not (a >= 0 and math.isfinite(a)):
        raise ValueError(f"alpha: expected a finite number >= 0, got {alpha!r}")
    return a


def _check_samples(samples: int) -> None:
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise ValueError(f"samples: expected an integer >= 2, got {samples!r}")


def _check_warm(env: Environment, warm: int, start: SoftQResult | None) -> None:
    if isinstance(warm, bool) or not isinstance(warm, int) or warm < 0:
        raise ValueError(f"warm: expected an integer >= 0, got {warm!r}")
    if start is not None and tuple(start.values.shape) != env.shape:
        raise ValueError(
            f"start: values of shape {tuple(start.values.shape)}, expected "
            f"{env.shape} (T, S, A)"
        )


@dataclass(frozen=True)
class _Moments:
    """Per (s, a): success frequency rho^, mean and sd of the finite successor
    values, whether a -inf successor was seen, mean successor error bound."""

    rho: Tensor
    mean: Tensor
    sd: Tensor
    dead: Tensor
    carried: Tensor


def _stage_moments(
    env: Environment,
    t: int,
    next_value: Tensor,
    next_err: Tensor,
    samples: int,
    generator: torch.Generator,
) -> _Moments:
    """Sampled moments of step t (batched; Chan et al.'s parallel update of mean
    and M2 gives the same numbers as the sequential eta_n = 1/n average)."""
    _, S, A = env.shape
    batch = max(1, min(samples, _BATCH_ELEMENTS // (S * A)))
    n = torch.zeros(S, A, dtype=torch.float64, device=env.device)
    mean = torch.zeros_like(n)
    m2 = torch.zeros_like(n)
    ok = torch.zeros_like(n)
    carried = torch.zeros_like(n)
    dead = torch.zeros(S, A, dtype=torch.bool, device=env.device)
    done = 0
    while done < samples:
        b = min(batch, samples - done)
        o, nxt = sample_step_outcomes(env, t, b, generator=generator)
        ok += o.sum(-1).to(torch.float64)
        carried += next_err[nxt].sum(-1)
        y = next_value[nxt]
        finite = torch.isfinite(y)
        dead |= (~finite).any(dim=-1)
        yf = torch.where(finite, y, 0.0)
        nb = finite.sum(dim=-1).to(torch.float64)
        mb = yf.sum(-1) / nb.clamp_min(1.0)
        m2b = (torch.where(finite, yf - mb[..., None], 0.0) ** 2).sum(-1)
        tot = n + nb
        delta = mb - mean
        w = nb / tot.clamp_min(1.0)
        mean = mean + delta * w
        m2 = m2 + m2b + delta**2 * n * w
        n = tot
        done += b
    sd = torch.sqrt(m2 / (n - 1).clamp_min(1.0))
    return _Moments(
        rho=ok / samples, mean=mean, sd=sd, dead=dead, carried=carried / samples
    )


def _terminal_rate(
    env: Environment, samples: int, generator: torch.Generator
) -> Tensor:
    _, S, _ = env.shape
    batch = max(1, min(samples, _BATCH_ELEMENTS // S))
    ok = torch.zeros(S, dtype=torch.float64, device=env.device)
    done = 0
    while done < samples:
        b = min(batch, samples - done)
        ok += sample_terminal_outcomes(env, b, generator=generator).sum(-1)
        done += b
    return ok / samples


def _binomial_sd(rate: Tensor, n: int) -> Tensor:
    return torch.sqrt(rate * (1.0 - rate) / n)


def _warm(y: Tensor, start: Tensor | None, warm: int, n: int) -> tuple[Tensor, Tensor]:
    """(n0 x0 + n y) / (n0 + n) and the bias bound (n0 / n) |x0 - x| (0 where
    the value is -inf or there is no start)."""
    if start is None or warm == 0:
        return y, torch.zeros_like(y)
    finite = torch.isfinite(y) & torch.isfinite(start)
    x = torch.where(finite, (warm * start + n * y) / (warm + n), y)
    bias = torch.where(finite, (warm / n) * (start - x).abs(), 0.0)
    return x, bias


def z_learning(
    env: Environment,
    alpha: float | Fraction,
    *,
    samples: int,
    generator: torch.Generator,
    start: SoftQResult | None = None,
    warm: int = 0,
    sigmas: float = 5.0,
    delta: float = 1e-6,
) -> SoftQResult:
    """Exact-conditioning backup learned in the exponentiated domain (module
    docstring (a)); converges to T_alpha. ``start``/``warm``: warm start from a
    previous stage's z with pseudo-count ``warm``; ``delta``: the level of each
    test interval."""
    a = _alpha(alpha)
    _check_samples(samples)
    _check_warm(env, warm, start)
    if start is not None and start.backup != "z":
        raise ValueError(f"start: a {start.backup!r} result cannot warm-start 'z'")
    T, S, A = env.shape
    p = env.prior
    dev = env.device
    n = samples
    _check_delta(delta)
    rho_T = _terminal_rate(env, n, generator)
    w = torch.pow(rho_T, a)  # 0 ** 0 == 1 (SPEC §2)
    w_err = sigmas * _power_sd(rho_T, a, n)
    nxt_vals = torch.empty(T + 1, S, dtype=torch.float64, device=dev)
    nxt_vals[T] = w
    v_lo = torch.empty(T, S, A, dtype=torch.float64, device=dev)
    v_hi = torch.empty_like(v_lo)
    p_lo = torch.empty_like(v_lo)
    p_hi = torch.empty_like(v_lo)
    z = torch.empty(T, S, A, dtype=torch.float64, device=dev)
    se = torch.empty_like(z)
    pol = torch.empty_like(z)
    psd = torch.empty_like(z)
    bound = torch.empty_like(z)
    eye = torch.eye(A, dtype=torch.float64, device=dev)
    for t in range(T - 1, -1, -1):
        m = _stage_moments(env, t, w, w_err, n, generator)
        r_lo, r_hi = _rate_interval(m.rho, n, delta)
        radius = _mean_radius(m.sd, n, w, delta)
        rho_a = torch.pow(m.rho, a)
        y = rho_a * m.mean
        se_y = torch.sqrt(
            (rho_a * m.sd) ** 2 / n + (m.mean * _power_sd(m.rho, a, n)) ** 2
        )
        x0 = None if start is None else start.values[t].to(dev, torch.float64)
        z[t], bias = _warm(y, x0, warm, n)
        v_lo[t] = torch.pow(r_lo, a) * (m.mean - radius).clamp_min(0.0) - bias
        v_hi[t] = torch.pow(r_hi, a) * (m.mean + radius) + bias
        v_lo[t], v_hi[t] = v_lo[t].clamp_min(0.0), v_hi[t].clamp_max(1.0)
        p_lo[t], p_hi[t] = _ratio_box(p, v_lo[t], v_hi[t])
        se[t] = se_y
        err = sigmas * se_y + rho_a * m.carried + bias
        pw = p * z[t]
        w = pw.sum(-1)
        w_err = (p * err).sum(-1)
        live = (w > 0)[:, None]
        safe = torch.where(live, w[:, None], 1.0)
        pol[t] = torch.where(live, pw / safe, p)
        jac = (p / safe)[:, None, :] * (eye[None] - pol[t][:, :, None])
        var = (jac**2 * se_y[:, None, :] ** 2).sum(-1)
        psd[t] = torch.where(live, torch.sqrt(var), 0.0)
        bound[t] = torch.where(live, _z_interval(p, z[t], err, pol[t]), 0.0)
        nxt_vals[t] = w
    return SoftQResult(
        backup="z",
        alpha=a,
        policy=pol,
        values=z,
        stderr=se,
        policy_sd=psd,
        policy_bound=bound,
        samples=samples,
        warm=warm if start is not None else 0,
        sigmas=sigmas,
        delta=delta,
        value_lo=v_lo,
        value_hi=v_hi,
        policy_lo=p_lo,
        policy_hi=p_hi,
        next_values=nxt_vals,
        terminal_rate=rho_T,
    )


def _check_delta(delta: float) -> None:
    if not (isinstance(delta, float | int) and 0 < delta < 1):
        raise ValueError(f"delta: expected a number in (0, 1), got {delta!r}")


def _rate_interval(rate: Tensor, n: int, delta: float) -> tuple[Tensor, Tensor]:
    """The Chernoff interval of each sampled success rate (n draws)."""
    from coherence.gpu.learning.verdict import kl_interval

    lo, hi = kl_interval(rate.detach().cpu().numpy(), float(n), delta)
    return (
        torch.as_tensor(lo, dtype=torch.float64, device=rate.device),
        torch.as_tensor(hi, dtype=torch.float64, device=rate.device),
    )


def _mean_radius(sd: Tensor, n: int, values: Tensor, delta: float) -> Tensor:
    """Empirical Bernstein half-width of a successor mean: the successor values
    are the learned table ``values`` (fixed given the later steps), so their
    range is that of its finite entries."""
    from coherence.gpu.learning.verdict import bernstein_radius

    finite = values[torch.isfinite(values)]
    width = float(finite.max() - finite.min()) if finite.numel() else 0.0
    out = bernstein_radius(sd.detach().cpu().numpy(), n, width, delta)
    return torch.as_tensor(out, dtype=torch.float64, device=sd.device)


def _ratio_box(p: Tensor, lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
    """Range of pi_a = p_a x_a / sum_b p_b x_b over x in the box [lo, hi]
    (x >= 0): increasing in x_a, decreasing in the others, so the extremes are
    corners. A row whose sum can be 0 gets [0, 1] (the prior fallback)."""
    ph, pl = p * hi, p * lo
    H = ph.sum(-1, keepdim=True)
    L = pl.sum(-1, keepdim=True)
    den_top = ph + L - pl
    den_bot = pl + H - ph
    top = torch.where(den_top > 0, ph / torch.where(den_top > 0, den_top, 1.0), 1.0)
    bot = torch.where(den_bot > 0, pl / torch.where(den_bot > 0, den_bot, 1.0), 0.0)
    undecided = (L <= 0).expand_as(top)
    top = torch.where(undecided, 1.0, top)
    bot = torch.where(undecided, 0.0, bot)
    return bot, top


def _logit_box(p: Tensor, a: float, lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
    """Range of pi proportional to p exp(a Q) over Q in the box [lo, hi]: the
    ratio box of x = exp(a (Q - max hi)) (a monotone map); a = 0: the prior."""
    if a == 0:
        return p.clone(), p.clone()
    top = torch.where(torch.isfinite(hi), hi, -torch.inf).amax(-1, keepdim=True)
    shift = torch.where(torch.isfinite(top), top, 0.0)
    x_lo = torch.exp(a * (lo - shift))
    x_hi = torch.exp(a * (hi - shift))
    return _ratio_box(p, x_lo, x_hi)


def _power_sd(rate: Tensor, a: float, n: int) -> Tensor:
    """Delta-method sd of rate^a: a rate^(a-1) sd(rate) (0 where the rate is 0
    or 1: the binomial sd vanishes there)."""
    sd = _binomial_sd(rate, n)
    pos = rate > 0
    deriv = torch.where(pos, a * torch.pow(torch.where(pos, rate, 1.0), a - 1.0), 0.0)
    return deriv * sd


def maxent_q_learning(
    env: Environment,
    alpha: float | Fraction,
    *,
    samples: int,
    generator: torch.Generator,
    start: SoftQResult | None = None,
    warm: int = 0,
    sigmas: float = 5.0,
    delta: float = 1e-6,
) -> SoftQResult:
    """Maximum-entropy expectation backup (module docstring (b)); converges to the
    entropy-regularised optimum of SPEC §4. ``start``/``warm``/``delta`` as in
    :func:`z_learning`, from a previous stage's Q."""
    a = _alpha(alpha)
    _check_samples(samples)
    _check_warm(env, warm, start)
    if start is not None and start.backup != "maxent":
        raise ValueError(f"start: a {start.backup!r} result cannot warm-start 'maxent'")
    T, S, A = env.shape
    p = env.prior
    dev = env.device
    n = samples
    log_p = torch.where(p > 0, torch.log(torch.where(p > 0, p, 1.0)), -torch.inf)
    _check_delta(delta)
    rho_T = _terminal_rate(env, n, generator)
    V = _log(rho_T)
    V_err = sigmas * _log_sd(rho_T, n)
    nxt_vals = torch.empty(T + 1, S, dtype=torch.float64, device=dev)
    nxt_vals[T] = V
    v_lo = torch.empty(T, S, A, dtype=torch.float64, device=dev)
    v_hi = torch.empty_like(v_lo)
    p_lo = torch.empty_like(v_lo)
    p_hi = torch.empty_like(v_lo)
    Q = torch.empty(T, S, A, dtype=torch.float64, device=dev)
    se = torch.empty_like(Q)
    pol = torch.empty_like(Q)
    psd = torch.empty_like(Q)
    bound = torch.empty_like(Q)
    eye = torch.eye(A, dtype=torch.float64, device=dev)
    for t in range(T - 1, -1, -1):
        m = _stage_moments(env, t, V, V_err, n, generator)
        r = _log(m.rho)
        alive = ~m.dead & torch.isfinite(r)
        y = torch.where(alive, r + torch.where(alive, m.mean, 0.0), -torch.inf)
        se_y = torch.where(alive, torch.sqrt(m.sd**2 / n + _log_sd(m.rho, n) ** 2), 0.0)
        x0 = None if start is None else start.values[t].to(dev, torch.float64)
        Q[t], bias = _warm(y, x0, warm, n)
        r_lo, r_hi = _rate_interval(m.rho, n, delta)
        radius = _mean_radius(m.sd, n, V, delta)
        seen_ok = ~m.dead
        v_lo[t] = torch.where(seen_ok, _log(r_lo) + m.mean - radius - bias, -torch.inf)
        v_hi[t] = torch.where(seen_ok, _log(r_hi) + m.mean + radius + bias, -torch.inf)
        p_lo[t], p_hi[t] = _logit_box(p, a, v_lo[t], v_hi[t])
        nxt_vals[t] = V  # overwritten below with V_t
        se[t] = se_y
        err = torch.where(alive, sigmas * se_y + m.carried + bias, 0.0)
        if a == 0:
            pol[t] = p
            psd[t] = 0.0
            bound[t] = 0.0
            weighted = torch.where(p > 0, p * torch.where(alive, Q[t], 0.0), 0.0)
            hits = ((p > 0) & ~alive).any(-1)
            V = torch.where(hits, -torch.inf, weighted.sum(-1))
            V_err = (p * err).sum(-1)
            nxt_vals[t] = V
            continue
        logits = log_p + torch.where(alive, a * Q[t], -torch.inf)
        lse = torch.logsumexp(logits, dim=-1)
        live = torch.isfinite(lse)[:, None]
        pol[t] = torch.where(
            live, torch.exp(logits - torch.where(live, lse[:, None], 0.0)), p
        )
        jac = a * pol[t][:, :, None] * (eye[None] - pol[t][:, None, :])
        var = (jac**2 * se_y[:, None, :] ** 2).sum(-1)
        psd[t] = torch.where(live, torch.sqrt(var), 0.0)
        bound[t] = torch.where(live, _maxent_interval(logits, a * err, pol[t]), 0.0)
        V = lse / a
        # V is monotone and 1-Lipschitz in the sup norm of the live Q
        V_err = torch.where(torch.isfinite(logits), err, 0.0).amax(-1)
        nxt_vals[t] = V
    return SoftQResult(
        backup="maxent",
        alpha=a,
        policy=pol,
        values=Q,
        stderr=se,
        policy_sd=psd,
        policy_bound=bound,
        samples=samples,
        warm=warm if start is not None else 0,
        sigmas=sigmas,
        delta=delta,
        value_lo=v_lo,
        value_hi=v_hi,
        policy_lo=p_lo,
        policy_hi=p_hi,
        next_values=nxt_vals,
        terminal_rate=rho_T,
    )


def _z_interval(p: Tensor, z: Tensor, err: Tensor, pol: Tensor) -> Tensor:
    """Largest |pi_a - pi'_a| over z' in [z - e, z + e] (clipped to [0, 1]):
    pi_a = p_a z_a / sum_b p_b z_b is increasing in z_a and decreasing in the
    others, so the extremes are at the interval's corners."""
    hi = p * torch.clamp(z + err, max=1.0)
    lo = p * torch.clamp(z - err, min=0.0)
    H = hi.sum(-1, keepdim=True)
    L = lo.sum(-1, keepdim=True)
    den_max = hi + L - lo
    den_min = lo + H - hi
    top = torch.where(den_max > 0, hi / torch.where(den_max > 0, den_max, 1.0), 1.0)
    bot = torch.where(den_min > 0, lo / torch.where(den_min > 0, den_min, 1.0), 0.0)
    out: Tensor = torch.maximum(top - pol, pol - bot).clamp_min(0.0)
    return out


def _maxent_interval(logits: Tensor, err: Tensor, pol: Tensor) -> Tensor:
    """Largest |pi_a - pi'_a| over logits' in [logits - e, logits + e] (e =
    alpha e_Q): pi = softmax(logits) is increasing in its own logit and decreasing
    in the others, so the extremes are at the interval's corners."""
    A = logits.shape[-1]
    finite = torch.isfinite(logits)
    hi = torch.where(finite, logits + err, -torch.inf)
    lo = torch.where(finite, logits - err, -torch.inf)
    off = ~torch.eye(A, dtype=torch.bool, device=logits.device)
    lo_others = torch.logsumexp(
        torch.where(off, lo[:, None, :], -torch.inf), dim=-1
    )  # (S, A): lse over b != a
    hi_others = torch.logsumexp(torch.where(off, hi[:, None, :], -torch.inf), dim=-1)
    top = torch.where(finite, torch.exp(hi - torch.logaddexp(hi, lo_others)), 0.0)
    bot = torch.where(finite, torch.exp(lo - torch.logaddexp(lo, hi_others)), 0.0)
    out: Tensor = torch.maximum(top - pol, pol - bot).clamp_min(0.0)
    return out


def _log(rate: Tensor) -> Tensor:
    pos = rate > 0
    return torch.where(pos, torch.log(torch.where(pos, rate, 1.0)), -torch.inf)


def _log_sd(rate: Tensor, n: int) -> Tensor:
    """Delta-method sd of log rate: sd(rate) / rate (0 where the rate is 0)."""
    pos = rate > 0
    return torch.where(pos, _binomial_sd(rate, n) / torch.where(pos, rate, 1.0), 0.0)


def anneal(
    env: Environment,
    schedule: Sequence[float | Fraction],
    *,
    backup: Backup = "z",
    samples: int,
    generator: torch.Generator,
    warm: int = 0,
    sigmas: float = 5.0,
    delta: float = 1e-6,
) -> Iterator[SoftQResult]:
    """Learn along a schedule alpha_1, alpha_2, ...: stage k draws ``samples``
    fresh steps per (t, s, a) and warm-starts from stage k-1's values with
    pseudo-count ``warm`` (module docstring); stage 1 starts cold. Stage k
    yields the policy learned at alpha_k. Any order is allowed: the order is
    what annealing chooses. ``delta``: the level of each test interval."""
    alphas = [_alpha(x) for x in schedule]
    if not alphas:
        raise ValueError("schedule: expected at least one alpha")
    if backup not in ("z", "maxent"):
        raise ValueError(f"backup: expected 'z' or 'maxent', got {backup!r}")
    _check_warm(env, warm, None)
    learner = z_learning if backup == "z" else maxent_q_learning
    prev: SoftQResult | None = None
    for a in alphas:
        prev = learner(
            env,
            a,
            samples=samples,
            generator=generator,
            start=prev,
            warm=warm,
            sigmas=sigmas,
            delta=delta,
        )
        yield prev


def interval_count(env: Environment) -> int:
    """Intervals one stage's verdict relies on: a success rate and a successor
    mean per (t, s, a), and a terminal rate per state (for Bonferroni)."""
    T, S, A = env.shape
    return 2 * T * S * A + S


@dataclass(frozen=True)
class StageTest:
    """One stage judged against the exact backup of its own learned next-step
    values (module docstring, "Test intervals"): ``target`` (T, S, A) the
    policy those backups induce, ``n_rejected`` the (t, s) where a value or
    policy interval excludes its target (terminal states counted at t = T),
    ``worst_excess`` the largest distance from a target to its interval,
    ``max_halfwidth`` the widest policy interval's half-width,
    ``n_insufficient`` the (t, s) wider than +-tolerance or reaching a dead
    successor no sample drew, ``samples_needed`` (0: none too wide) and
    ``n_undetermined`` the (t, s) whose success probability the data cannot
    tell from 0 (every policy is within their interval: judged, but no
    precision is claimed there)."""

    target: Tensor
    n_rejected: int
    worst_excess: float
    max_halfwidth: float
    n_insufficient: int
    samples_needed: int
    n_undetermined: int

    def outcome(self) -> str:
        """``"FAIL"``, ``"insufficient data"`` or ``"pass"``."""
        if self.n_rejected:
            return "FAIL"
        return "insufficient data" if self.n_insufficient else "pass"


def _excess(lo: Tensor, hi: Tensor, x: Tensor) -> Tensor:
    """Distance from x to [lo, hi] (0 inside; equal infinities are inside;
    never NaN)."""
    below = torch.where(x == lo, 0.0, lo - x)
    above = torch.where(x == hi, 0.0, x - hi)
    out: Tensor = torch.maximum(below, above).nan_to_num(0.0).clamp_min(0.0)
    return out


def stage_test(env: Environment, res: SoftQResult, tolerance: float) -> StageTest:
    """Judge ``res`` against the exact backups (reads rho and P: the oracle's
    side): terminal w_T = rho_T^alpha (log rho_T for max-ent); at step t the
    target value is rho_t^alpha sum_s' P w_{t+1}(s') (Z) or log rho_t +
    sum_s' P V_{t+1}(s') (max-ent) with w_{t+1} / V_{t+1} the LEARNED next-step
    values, and the target policy is the learner's own policy formula on them."""
    T, S, A = env.shape
    a = res.alpha
    p = env.prior
    nv = res.next_values
    rho = env.success
    P = env.transition
    slack = 1e-9
    rate_lo, rate_hi = _rate_interval(res.terminal_rate, res.samples, res.delta)
    if res.backup == "z":
        t_lo, t_hi = torch.pow(rate_lo, a), torch.pow(rate_hi, a)
        tgt_T = torch.pow(env.terminal_success, a)
    else:
        t_lo, t_hi = _log(rate_lo), _log(rate_hi)
        tgt_T = _log(env.terminal_success)
    # the target AND the learned terminal value lie in the interval
    term_exc = torch.maximum(_excess(t_lo, t_hi, tgt_T), _excess(t_lo, t_hi, nv[T]))
    term_bad = term_exc > slack
    excess = [float(term_exc.max())]
    target = torch.empty(T, S, A, dtype=torch.float64, device=env.device)
    bad = torch.zeros(T, S, dtype=torch.bool, device=env.device)
    dead = torch.zeros(T, S, dtype=torch.bool, device=env.device)
    for t in range(T):
        w_next = nv[t + 1]
        if res.backup == "z":
            val = torch.pow(rho[t], a) * (P @ w_next)
            row = p * val
            tot = row.sum(-1, keepdim=True)
            target[t] = torch.where(tot > 0, row / torch.where(tot > 0, tot, 1.0), p)
        else:
            finite = torch.isfinite(w_next)
            reach_dead = (P * (~finite).to(P.dtype)[None, None, :]).sum(-1) > 0
            mean = (P * torch.where(finite, w_next, 0.0)[None, None, :]).sum(-1)
            val = torch.where(reach_dead, -torch.inf, _log(rho[t]) + mean)
            dead[t] = (reach_dead & (res.value_hi[t] > -torch.inf)).any(-1)
            if a == 0:
                target[t] = p
            else:
                logits = torch.where(p > 0, torch.log(p.clamp_min(1e-300)), -torch.inf)
                logits = logits + torch.where(torch.isfinite(val), a * val, -torch.inf)
                lse = torch.logsumexp(logits, -1, keepdim=True)
                live = torch.isfinite(lse)
                target[t] = torch.where(
                    live, torch.exp(logits - torch.where(live, lse, 0.0)), p
                )
        lo, hi = res.value_lo[t], res.value_hi[t]
        # the target and the learned value / policy lie in the same interval
        v_exc = torch.maximum(_excess(lo, hi, val), _excess(lo, hi, res.values[t]))
        v_exc = torch.where(dead[t][:, None], 0.0, v_exc)
        pl, ph = res.policy_lo[t], res.policy_hi[t]
        pol_exc = torch.maximum(
            _excess(pl, ph, target[t]), _excess(pl, ph, res.policy[t])
        )
        pol_exc = torch.where(dead[t][:, None], 0.0, pol_exc)
        exc = torch.maximum(v_exc.clamp_min(0.0), pol_exc)
        exc = torch.where(p > 0, exc, pol_exc)  # a forbidden action: policy only
        bad[t] = (exc > slack).any(-1)
        excess.append(float(exc.max()))
    # rows whose success probability may be 0: any policy is within the data
    # there (the prior by convention where it is 0); judged, never precise
    if res.backup == "z":
        determined = (p * res.value_lo).sum(-1) > 0
    else:
        logits = torch.where(p > 0, torch.log(p.clamp_min(1e-300)), -torch.inf)
        determined = torch.isfinite(torch.logsumexp(logits + res.value_lo, -1))
    half = torch.where(
        determined[..., None], 0.5 * (res.policy_hi - res.policy_lo), 0.0
    )
    max_half = float(half.max())
    wide = (half > tolerance).any(-1) | dead
    needed = (
        math.ceil(res.samples * (max_half / tolerance) ** 2) if bool(wide.any()) else 0
    )
    return StageTest(
        target=target,
        n_rejected=int(bad.sum()) + int(term_bad.sum()),
        worst_excess=max(0.0, max(excess)),
        max_halfwidth=max_half,
        n_insufficient=int(wide.sum()),
        samples_needed=needed,
        n_undetermined=int((~determined).sum()),
    )
