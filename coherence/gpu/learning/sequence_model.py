"""An autoregressive sequence model of episodes: a small causal transformer
(SPEC §5, naive goal conditioning as a goal-conditioned sequence model does it).

Episodes are written as tokens

    o, s_0, a_0, s_1, a_1, ..., s_{T-1}, a_{T-1}

(o in {0, 1} the outcome: 1 when every O_t and O_T equal 1; t is implicit in the
position). Vocabulary: 2 outcome tokens, then S state tokens, then A action
tokens. The model (:class:`CausalTransformer`: token and position embeddings,
pre-norm causal self-attention blocks, no pretrained weights) reads the prefix up
to s_t and outputs logits over the A actions; actions the prior forbids at s_t are
masked out. It is trained by maximum likelihood,

    min -(1/N) sum_episodes sum_t log p_theta(a_t | o, s_0, a_0, ..., s_t),

on labelled episodes. Small MDPs repeat sequences, so the loss is computed over
the DISTINCT sequences weighted by their counts: the same loss and gradients as
over every episode. Acting is sampling a_t ~ p_theta(. | o = 1, history so far),
batched over episodes (the conditionals are computed once per distinct prefix).

Online fine-tuning (:class:`SequenceLearner`): roll out the o = 1 policy in the
true dynamics (every O_t sampled), label, retrain continuing from the current
parameters, repeat; ``replace`` trains on the newest round, ``aggregate`` on all.
By the Markov property P(a_t | h_t, O_{0:T} = 1) = G(pi)_t(a_t | s_t) for a Markov
behaviour pi, so in theory the o = 1 conditional does not depend on the history
and round k reproduces G_k; :class:`SequenceRound` reports how far it is from
that (``history_dependence``) and the visit-weighted Markov marginal
``policy``: pi_t(a|s) = sum_h n(h) p_theta(a | o = 1, h) / sum_h n(h) over the
prefixes h ending in s at step t of the o = 1 training data (n(h) their counts).
At a (t, s) without successful training data the learner acts with its previous
Markov marginal there (SPEC §5: unchanged).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from coherence.gpu.learning.rollouts import Environment, Episodes, step_outcomes

__all__ = [
    "PREFIX_LIMIT",
    "CausalTransformer",
    "PrefixData",
    "SequenceLearner",
    "SequenceRound",
    "encode_episodes",
    "prefix_targets",
]

Mode = Literal["replace", "aggregate"]

#: Most complete histories (S A)^T S for the exact prefix targets.
PREFIX_LIMIT = 1 << 18


@dataclass(frozen=True)
class PrefixData:
    """The successful (o = 1) training data of one round per distinct visited
    prefix h = (s_0, a_0, ..., s_t): ``step`` t, ``index`` the prefix's
    lexicographic index at its depth (digits s_0, a_0, s_1, ...), ``counts``
    n(h) and ``action_counts`` n(h, a), and the model's o = 1 conditional
    ``model`` p_theta(a | h), each a list over t = 0..T-1."""

    index: list[Tensor]
    counts: list[Tensor]
    action_counts: list[Tensor]
    model: list[Tensor]


def _unique_rows(rows: Tensor, base: int) -> tuple[Tensor, Tensor, Tensor]:
    """(distinct rows, inverse index, counts) of an int64 (N, L) table whose
    entries lie in [0, base): rows are packed into one integer each when
    base^L < 2^62 (a 1-D unique is much faster), else torch.unique(dim=0)."""
    _, L = rows.shape
    if L * math.log2(max(base, 2)) < 62:
        weights = base ** torch.arange(L - 1, -1, -1, device=rows.device)
        code = (rows * weights).sum(-1)
        uniq, inv, counts = torch.unique(code, return_inverse=True, return_counts=True)
        digits = (uniq[:, None] // weights) % base
        return digits, inv, counts
    out = torch.unique(rows, dim=0, return_inverse=True, return_counts=True)
    return out[0], out[1], out[2]


def _all_prefixes(S: int, A: int, t: int, device: torch.device) -> Tensor:
    """Every prefix o = 1, s_0, a_0, ..., s_t as tokens (S^(t+1) A^t, 2t + 2), in
    lexicographic order of the digits s_0, a_0, ..., s_t."""
    radices = [S] + [A, S] * t
    n = math.prod(radices)
    idx = torch.arange(n, device=device)
    digits = []
    for r in reversed(radices):
        digits.append(idx % r)
        idx = idx // r
    digits.reverse()
    out = torch.empty(n, 2 + 2 * t, dtype=torch.int64, device=device)
    out[:, 0] = 1
    for j, d in enumerate(digits):
        out[:, 1 + j] = 2 + d if j % 2 == 0 else 2 + S + d
    return out


def _prefix_index(prefixes: Tensor, S: int, A: int) -> Tensor:
    """Lexicographic index of token prefixes (as in :func:`_all_prefixes`)."""
    idx = torch.zeros(prefixes.shape[0], dtype=torch.int64, device=prefixes.device)
    for j in range(1, prefixes.shape[1]):
        if j % 2 == 1:
            idx = idx * S + (prefixes[:, j] - 2)
        else:
            idx = idx * A + (prefixes[:, j] - 2 - S)
    return idx


def prefix_targets(env: Environment, behaviour: list[Tensor]) -> list[Tensor]:
    """The exact P(a_t = a | h, success) of a history-dependent behaviour (a list
    over t of (S^(t+1) A^t, A), as :meth:`SequenceLearner.behaviour`): with
    W(h) the success probability from prefix h on, W(h s_T) = rho_T(s_T) and
    target(h, a) proportional to beta(a|h) rho_t(s_t, a) sum_s' P(s'|s_t, a)
    W(h a s') (beta where W(h) = 0)."""
    T, S, A = env.shape
    P, rho = env.transition, env.success
    w_next = env.terminal_success.repeat((S * A) ** T)  # leaves: index * S + s_T
    out: list[Tensor] = [torch.empty(0)] * T
    for t in range(T - 1, -1, -1):
        beta = behaviour[t]
        s_t = torch.arange(beta.shape[0], device=env.device) % S
        child = w_next.reshape(beta.shape[0], A, S)
        z = rho[t, s_t] * (P[s_t] * child).sum(-1)  # (M, A)
        row = beta * z
        tot = row.sum(-1, keepdim=True)
        out[t] = torch.where(tot > 0, row / torch.where(tot > 0, tot, 1.0), beta)
        w_next = tot[:, 0]
    return out


def encode_episodes(env: Environment, episodes: Episodes) -> Tensor:
    """Token sequences (N, 1 + 2T), int64: o, s_0, a_0, ..., s_{T-1}, a_{T-1}."""
    T, S, _ = env.shape
    N = episodes.n_episodes
    seq = torch.empty(N, 1 + 2 * T, dtype=torch.int64, device=env.device)
    seq[:, 0] = episodes.success.to(torch.int64)
    seq[:, 1::2] = 2 + episodes.states[:, :T]
    seq[:, 2::2] = 2 + S + episodes.actions
    return seq


class _Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x)), with
    causal multi-head self-attention (each position sees itself and earlier)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )

    def forward(self, x: Tensor) -> Tensor:
        """One block on (B, L, width)."""
        B, L, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=-1)

        def split(y: Tensor) -> Tensor:
            return y.reshape(B, L, self.heads, D // self.heads).transpose(1, 2)

        att = nn.functional.scaled_dot_product_attention(
            split(q), split(k), split(v), is_causal=True
        )
        x = x + self.proj(att.transpose(1, 2).reshape(B, L, D))
        out: Tensor = x + self.mlp(self.ln2(x))
        return out


class CausalTransformer(nn.Module):
    """A small GPT over episode tokens: ``layers`` pre-norm blocks of causal
    multi-head self-attention (``heads`` heads, width ``width``) and a 4x MLP;
    the head maps the hidden state at each s_t position to A action logits."""

    def __init__(
        self,
        env: Environment,
        *,
        width: int = 32,
        heads: int = 2,
        layers: int = 2,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        for name, value in (("width", width), ("heads", heads), ("layers", layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if width % heads:
            raise ValueError(f"heads: {heads} does not divide width {width}")
        T, S, A = env.shape
        self.shape = (T, S, A)
        self.length = 1 + 2 * T
        vocab = 2 + S + A
        self.vocab = vocab
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # seeded initialisation, global state restored
            self._build(vocab, width, heads, layers, A)
        log_p = torch.log(env.prior.to(torch.float32))
        self.register_buffer("log_prior", log_p, persistent=False)
        self.to(env.device)

    def _build(self, vocab: int, width: int, heads: int, layers: int, A: int) -> None:
        self.token = nn.Embedding(vocab, width)
        self.position = nn.Embedding(self.length, width)
        self.blocks = nn.ModuleList(_Block(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, A)

    def forward(self, seq: Tensor) -> Tensor:
        """Action log-probabilities after every state token of ``seq`` (B, L),
        L = 2 t + 2 for a prefix ending in s_t (or 2T for a whole episode without
        its last action): shape (B, L // 2, A), masked by the prior's support at
        each s_t and normalised."""
        _, L = seq.shape
        pos = torch.arange(L, device=seq.device)
        h = self.token(seq) + self.position(pos)[None]
        for block in self.blocks:
            h = block(h)
        h = self.norm(h[:, 1::2])  # hidden state at s_0, s_1, ...
        S = self.shape[1]
        states = seq[:, 1::2] - 2
        log_prior: Tensor = self.log_prior  # type: ignore[assignment]
        support = torch.isfinite(log_prior[states.clamp(0, S - 1)])
        logits = self.head(h).masked_fill(~support, -torch.inf)
        out: Tensor = torch.log_softmax(logits, dim=-1)
        return out


@dataclass(frozen=True)
class SequenceRound:
    """One round of :class:`SequenceLearner`.

    ``policy``: the visit-weighted Markov marginal of the o = 1 conditional (T,
    S, A), float64 (the previous one where no successful data); ``visits``: the
    successful visits n_t(s) of the training data (T, S); ``history_dependence``:
    the largest max_a |p(a|h) - p(a|h')| over prefixes h, h' ending in the same
    (t, s) with at least ``history_threshold`` successful visits each (0 when no
    two exist); ``fit_error``: the largest |p_theta(a|h) - n(h, a) / n(h)| over
    the prefixes with at least ``threshold`` successful visits (distance to the
    MLE); ``fit_gap``: the fit criterion's statistic
    (:meth:`SequenceLearner.fit_gap`); ``fit_steps``: optimiser steps taken;
    ``loss``: the final training loss;
    ``n_success``: successful episodes of the round's rollouts."""

    round: int
    policy: Tensor
    visits: Tensor
    history_dependence: float
    fit_error: float
    loss: float
    n_success: int
    threshold: int
    fit_gap: float = 0.0
    fit_steps: int = 0


class SequenceLearner:
    """Fine-tuning of a :class:`CausalTransformer` on its own rollouts (module
    docstring). Round 1 trains on episodes of the prior, so its o = 1 conditional
    estimates G_1; round k estimates G_k (``replace``)."""

    def __init__(
        self,
        env: Environment,
        model: CausalTransformer,
        *,
        mode: Mode = "replace",
        fit_steps: int = 100,
        lr: float = 0.02,
        generator: torch.Generator,
    ) -> None:
        if mode not in ("replace", "aggregate"):
            raise ValueError(f"mode: expected 'replace' or 'aggregate', got {mode!r}")
        if (
            isinstance(fit_steps, bool)
            or not isinstance(fit_steps, int)
            or fit_steps < 1
        ):
            raise ValueError(
                f"fit_steps: expected a positive integer, got {fit_steps!r}"
            )
        if not (isinstance(lr, float | int) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr: expected a positive number, got {lr!r}")
        self.env = env
        self.model = model
        self.mode = mode
        self.fit_steps = fit_steps
        self.lr = lr
        self.generator = generator
        self.policy: Tensor = env.prior_policy()
        self.rounds = 0
        self._seqs: Tensor | None = None
        self._counts: Tensor | None = None
        self._trained = False
        self._opt: torch.optim.Adam | None = None

    # ------------------------------------------------------------ acting
    def _conditional(self, prefixes: Tensor) -> Tensor:
        """p_theta(a | o = 1, prefix) for prefixes (B, 2t + 2) ending in s_t,
        float64 (B, A)."""
        with torch.no_grad():
            logp = self.model(prefixes)[:, -1]
        return torch.exp(logp.to(torch.float64))

    def rollout(self, n_episodes: int) -> Episodes:
        """``n_episodes`` episodes acting with a_t ~ p_theta(. | o = 1, h_t) (the
        previous Markov marginal where (t, s_t) had no successful data, and the
        prior before the first training), every O_t sampled."""
        env = self.env
        T, S, A = env.shape
        N = n_episodes
        dev = env.device
        gen = self.generator
        u0 = torch.rand(N, generator=gen, dtype=torch.float64, device=dev)
        cdf0 = torch.cumsum(env.initial, 0)
        s = torch.searchsorted(cdf0, u0 * cdf0[-1], right=True).clamp_max(S - 1)
        tokens = torch.empty(N, 1 + 2 * T, dtype=torch.int64, device=dev)
        tokens[:, 0] = 1
        states = torch.empty(N, T + 1, dtype=torch.int64, device=dev)
        actions = torch.empty(N, T, dtype=torch.int64, device=dev)
        ok = torch.empty(N, T, dtype=torch.bool, device=dev)
        states[:, 0] = s
        trained = self._visits() if self._trained else None
        for t in range(T):
            tokens[:, 1 + 2 * t] = 2 + s
            probs = self.policy[t, s]
            if trained is not None:
                prefix = tokens[:, : 2 + 2 * t]
                uniq, inv, _ = _unique_rows(prefix, self.model.vocab)
                model_probs = self._conditional(uniq)[inv]
                use = (trained[t, s] > 0)[:, None]
                probs = torch.where(use, model_probs, probs)
            u = torch.rand(N, 1, generator=gen, dtype=torch.float64, device=dev)
            cdf = torch.cumsum(probs, -1)
            a = (u * cdf[:, -1:] >= cdf).sum(-1).clamp_max(A - 1)
            # never an action of probability 0 (rounding at the top of the cdf)
            a = torch.where(probs.gather(1, a[:, None])[:, 0] > 0, a, probs.argmax(-1))
            actions[:, t] = a
            tokens[:, 2 + 2 * t] = 2 + S + a
            o, s = step_outcomes(env, t, s, a, generator=gen)
            ok[:, t] = o
            states[:, t + 1] = s
        term = (
            torch.rand(N, generator=gen, dtype=torch.float64, device=dev)
            < env.terminal_success[s]
        )
        return Episodes(
            states=states, actions=actions, step_success=ok, terminal_success=term
        )

    def behaviour(self) -> list[Tensor]:
        """The acting policy of the next :meth:`rollout` at EVERY prefix: a list
        over t of (S^(t+1) A^t, A) probabilities in lexicographic prefix order
        (the model where (t, s_t) had successful data, else the Markov
        marginal; the prior before training). Needs (S A)^T S <= PREFIX_LIMIT."""
        T, S, A = self.env.shape
        if (S * A) ** T * S > PREFIX_LIMIT:
            raise ValueError(
                f"case: {(S * A) ** T * S} complete histories exceed the exact "
                f"prefix check's limit {PREFIX_LIMIT}"
            )
        trained = self._visits() if self._trained else None
        out: list[Tensor] = []
        for t in range(T):
            prefixes = _all_prefixes(S, A, t, self.env.device)
            s_t = prefixes[:, -1] - 2
            probs = self.policy[t, s_t]
            if trained is not None:
                use = (trained[t, s_t] > 0)[:, None]
                probs = torch.where(use, self._conditional(prefixes), probs)
            out.append(probs)
        return out

    def prefix_data(self) -> PrefixData:
        """The current training data's successful prefixes and the model's
        conditionals there (:class:`PrefixData`)."""
        assert self._seqs is not None and self._counts is not None
        T, S, A = self.env.shape
        win = self._seqs[:, 0] == 1
        seqs, counts = self._seqs[win], self._counts[win]
        idx_l, n_l, na_l, m_l = [], [], [], []
        for t in range(T):
            prefix = seqs[:, : 2 + 2 * t]
            uniq, inv, _ = _unique_rows(prefix, self.model.vocab)
            n_h = torch.zeros(uniq.shape[0], dtype=torch.float64, device=seqs.device)
            n_h.index_add_(0, inv, counts)
            n_ha = torch.zeros(
                uniq.shape[0], A, dtype=torch.float64, device=seqs.device
            )
            a_t = seqs[:, 2 + 2 * t] - 2 - S
            n_ha.index_put_((inv, a_t), counts, accumulate=True)
            idx_l.append(_prefix_index(uniq, S, A))
            n_l.append(n_h)
            na_l.append(n_ha)
            m_l.append(
                self._conditional(uniq)
                if uniq.shape[0]
                else torch.zeros(0, A, dtype=torch.float64, device=seqs.device)
            )
        return PrefixData(index=idx_l, counts=n_l, action_counts=na_l, model=m_l)

    # ------------------------------------------------------------ training
    def _visits(self) -> Tensor:
        """Successful visits n_t(s) of the training data (T, S)."""
        T, S, _ = self.env.shape
        assert self._seqs is not None and self._counts is not None
        win = self._seqs[:, 0] == 1
        out = torch.zeros(T, S, dtype=torch.float64, device=self.env.device)
        for t in range(T):
            out[t].index_add_(0, self._seqs[win, 1 + 2 * t] - 2, self._counts[win])
        return out

    def _fit(self, steps: int) -> float:
        assert self._seqs is not None and self._counts is not None
        T, S, _ = self.env.shape
        seqs, w = self._seqs, self._counts.to(torch.float32)
        targets = seqs[:, 2::2] - 2 - S  # (U, T)
        total = float(w.sum()) * T
        if self._opt is None:
            self._opt = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        opt = self._opt
        for group in opt.param_groups:
            group["lr"] = self.lr
            group["initial_lr"] = self.lr
        # Adam's moments persist across rounds; each round warms up over 20
        # steps and decays linearly to 0 (no large first step on a trained model)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda k: min(1.0, (k + 1) / 20) * (1.0 - k / steps)
        )
        loss = torch.zeros(())
        self.model.train()
        for _ in range(steps):
            opt.zero_grad()
            logp = self.model(seqs[:, :-1])  # (U, T, A)
            picked = logp.gather(-1, targets[..., None])[..., 0]
            loss = -(picked * w[:, None]).sum() / total
            loss.backward()
            opt.step()
            sched.step()
        self.model.eval()
        return float(loss.detach())

    def step(
        self,
        n_episodes: int,
        *,
        threshold: int = 100,
        history_threshold: int = 100,
        fit_tolerance: float | None = None,
        max_chunks: int = 20,
        delta: float = 1e-6,
    ) -> SequenceRound:
        """One round: roll out, label, retrain, report (module docstring);
        ``threshold``: successful visits for a prefix to enter the reported
        ``fit_error``; ``history_threshold``: for a prefix to enter the history
        dependence. The first round trains 3 x ``fit_steps`` (cold start).

        Fit criterion (``fit_tolerance`` not None): training continues in chunks
        of ``fit_steps`` (at most ``max_chunks``) until at EVERY visited
        successful prefix h the model's conditional lies within
        ``fit_tolerance`` of the Chernoff interval (level ``delta``) of its own
        data's frequencies n(h, a) / n(h) (:meth:`fit_gap`)."""
        if (
            isinstance(n_episodes, bool)
            or not isinstance(n_episodes, int)
            or n_episodes < 1
        ):
            raise ValueError(
                f"n_episodes: expected a positive integer, got {n_episodes!r}"
            )
        ep = self.rollout(n_episodes)
        seqs = encode_episodes(self.env, ep)
        if self.mode == "aggregate" and self._seqs is not None:
            assert self._counts is not None
            seqs = torch.cat(
                [self._seqs.repeat_interleave(self._counts.long(), 0), seqs]
            )
        uniq, _, counts = _unique_rows(seqs, self.model.vocab)
        self._seqs, self._counts = uniq, counts.to(torch.float64)
        steps = self.fit_steps * (3 if self.rounds == 0 else 1)
        loss = self._fit(steps)
        self._trained = True
        used = steps
        gap = self.fit_gap(delta)
        if fit_tolerance is not None:
            for _ in range(max_chunks - 1):
                if gap <= fit_tolerance:
                    break
                loss = self._fit(self.fit_steps)
                used += self.fit_steps
                gap = self.fit_gap(delta)
        policy, hist, fit = self._marginal(threshold, history_threshold)
        self.policy = policy
        self.rounds += 1
        return SequenceRound(
            round=self.rounds,
            policy=policy,
            visits=self._visits(),
            history_dependence=hist,
            fit_error=fit,
            loss=loss,
            n_success=int(ep.success.sum()),
            threshold=threshold,
            fit_gap=gap,
            fit_steps=used,
        )

    def fit_gap(self, delta: float) -> float:
        """The fit criterion's statistic: the largest distance from the model's
        o = 1 conditional to the Chernoff interval (level ``delta``) of its
        training data's frequencies, over every visited successful prefix and
        action (0: the model is consistent with its data everywhere)."""
        from coherence.gpu.learning.verdict import kl_interval

        data = self.prefix_data()
        gap = 0.0
        for n_h, n_ha, model in zip(
            data.counts, data.action_counts, data.model, strict=True
        ):
            if n_h.numel() == 0:
                continue
            freq = (n_ha / n_h[:, None]).cpu().numpy()
            lo, hi = kl_interval(freq, n_h[:, None].cpu().numpy(), delta)
            m = model.cpu().numpy()
            gap = max(gap, float(np.maximum(lo - m, m - hi).max()))
        return gap

    def _marginal(
        self, threshold: int, history_threshold: int
    ) -> tuple[Tensor, float, float]:
        """(visit-weighted Markov marginal, history dependence, fit error)."""
        assert self._seqs is not None and self._counts is not None
        T, S, A = self.env.shape
        win = self._seqs[:, 0] == 1
        seqs, counts = self._seqs[win], self._counts[win]
        policy = self.policy.clone()
        hist = 0.0
        fit = 0.0
        for t in range(T):
            prefix = seqs[:, : 2 + 2 * t]
            uniq, inv, _ = _unique_rows(prefix, self.model.vocab)
            if uniq.shape[0] == 0:
                continue
            n_h = torch.zeros(uniq.shape[0], dtype=torch.float64, device=seqs.device)
            n_h.index_add_(0, inv, counts)
            n_ha = torch.zeros(
                uniq.shape[0], A, dtype=torch.float64, device=seqs.device
            )
            a_t = seqs[:, 2 + 2 * t] - 2 - S
            n_ha.index_put_((inv, a_t), counts, accumulate=True)
            cond = self._conditional(uniq)  # (H, A)
            s_h = uniq[:, -1] - 2
            num = torch.zeros(S, A, dtype=torch.float64, device=seqs.device)
            num.index_add_(0, s_h, n_h[:, None] * cond)
            den = torch.zeros(S, dtype=torch.float64, device=seqs.device)
            den.index_add_(0, s_h, n_h)
            seen = den > 0
            policy[t] = torch.where(
                seen[:, None], num / den.clamp_min(1.0)[:, None], policy[t]
            )
            well = n_h >= threshold
            if bool(well.any()):
                emp = n_ha[well] / n_h[well][:, None]
                fit = max(fit, float((cond[well] - emp).abs().max()))
            many = n_h >= history_threshold
            for s in torch.unique(s_h[many]).tolist():
                rows = cond[many & (s_h == s)]
                if rows.shape[0] > 1:
                    spread = rows.amax(0) - rows.amin(0)
                    hist = max(hist, float(spread.max()))
        return policy, hist, fit
