"""The effective horizon of a deterministic tree MDP, computed exactly.

GORP (Laidlaw et al.; the authors' variant in docs/paper-experiments.md §2) builds a
policy greedily along its own path. At a state s with L decisions left it scores
action sequences sigma from s by m rollouts each (sigma, then the uniform policy
to the end), a rollout's return being the number of successful Bernoulli
outcomes O_t ~ Bernoulli(q(s_t, a_t)); it takes the first action of the best
score (ties uniformly at random among the tied first actions), and succeeds when
every chosen action is optimal for Q* of the expected count.

* ``authors``: sigma ranges over every sequence of length 1..min(k, L); an
  action's score is the best of its sequences;
* ``laidlaw``: sigma ranges over the sequences of length exactly min(k, L).

One rollout's count has a finite law B_sigma on {0..L} (convolution of the
Bernoulli laws along sigma with the uniform policy's count law U(s') after it,
U(s) = (1/A) sum_a Bern(q(s, a)) * U(s a)); m rollouts sum to B_sigma^{*m}
(repeated squaring as m doubles). Sequences are scored independently, so an
action's score Y_a = max_sigma X_sigma has the pmf
sum_i prod_{j<i} F_j(y-1) f_i(y) prod_{j>i} F_j(y) and, with
P(Y_b < y) = F_b(y-1), P(choose a) = sum_y P(Y_a = y) sum_j c_j(y) / (1 + j),
c(y) the coefficients of prod_{b != a} (F_b(y-1) + P(Y_b = y) z) (ties split
uniformly). The success probability is then
P(s) = sum_{a optimal} P(choose a | s) P(s a), P(end) = 1.

Every step is subtraction-free, so float64 carries a rigorous relative error
bound gamma_n = n u / (1 - n u) (u = 2^-53, n counted along the computation);
a threshold decision whose float value lies within that bound (plus an absolute
1e-290 for underflow) of 1/2 is recomputed in exact rationals. The decisions,
hence m*_k, H_k = k + log_A m*_k and H = min_k H_k, are exact.

The tabular quantity: Q^1 = Q of the uniform policy (expected count),
Q^{i+1}_t(s, a) = q(s, a) + max_b Q^i_{t+1}(s a, b); k_greedy = the smallest k
for which every action greedy for Q^k, at every state reachable by such actions,
is optimal for Q* (exact rationals).
"""

from __future__ import annotations

import itertools
import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from coherence.experiments.authors import AuthorsTree
from coherence.experiments.measures import optimal_q

__all__ = [
    "DEFAULT_KS",
    "DEFAULT_MS",
    "VARIANTS",
    "HorizonResult",
    "effective_horizon",
    "greedy_q_horizon",
    "monte_carlo_horizon",
    "monte_carlo_law",
]

VARIANTS = ("authors", "laidlaw")
DEFAULT_KS = (1, 2, 3, 4)
DEFAULT_MS = tuple(2**i for i in range(9))  # 1, 2, 4, ..., 256
_U = 2.0**-53
_ABS = 1e-290


@dataclass
class _Arr:
    """A nonnegative array with a bound n on its relative rounding error."""

    v: Any
    n: int


def _conv(a: _Arr, b: _Arr) -> _Arr:
    return _Arr(np.convolve(a.v, b.v), a.n + b.n + min(len(a.v), len(b.v)))


def _bern(q: Any, exact: bool) -> _Arr:
    if exact:
        fq = Fraction(q)
        return _Arr(np.array([1 - fq, fq], dtype=object), 0)
    return _Arr(np.array([1.0 - q, q]), 1)


def _shift(cdf: Any, zero: Any) -> Any:
    """F(y - 1) from F(y) (F(-1) = 0)."""
    out = np.empty_like(cdf)
    out[0] = zero
    out[1:] = cdf[:-1]
    return out


def _max_pmf(laws: Any, cdfs: Any, bound: int, zero: Any) -> _Arr:
    """pmf of the max of independent variables, the rows of ``laws`` with CDFs
    ``cdfs`` (subtraction-free telescoping over rows)."""
    lower = np.empty_like(cdfs)
    lower[:, 0] = zero
    lower[:, 1:] = cdfs[:, :-1]
    n, width = laws.shape
    ones = laws[:1] * 0 + 1
    prefix = np.concatenate([ones, np.cumprod(lower[:-1], axis=0)], axis=0)
    suffix = np.concatenate([np.cumprod(cdfs[:0:-1], axis=0)[::-1], ones], axis=0)
    total = np.sum(prefix * laws * suffix, axis=0)
    return _Arr(total, bound + 2 * n * (width + 2) + n)


def _choice_probs(scores: Sequence[_Arr], zero: Any) -> tuple[list[Any], int]:
    """P(choose a) for each action from the pmfs of their scores (ties uniform)."""
    A = len(scores)
    cdfs = [np.cumsum(s.v) for s in scores]
    lower = [_shift(c, zero) for c in cdfs]
    out: list[Any] = []
    width = len(scores[0].v)
    for a in range(A):
        coef = [scores[a].v * 0 + 1]  # coefficient arrays of z^0..z^j
        for b in range(A):
            if b == a:
                continue
            new = [c * lower[b] for c in coef] + [coef[-1] * 0]
            for j, c in enumerate(coef):
                new[j + 1] = new[j + 1] + c * scores[b].v
            coef = new
        if not isinstance(zero, Fraction):
            tie = sum(c / (1 + j) for j, c in enumerate(coef))
            out.append(float(np.dot(scores[a].v, tie)))
        else:
            tie = sum(c * Fraction(1, 1 + j) for j, c in enumerate(coef))
            out.append(sum(scores[a].v * tie, Fraction(0)))
    bound = max(s.n for s in scores) + 3 * width * (A + 2) + 4 * A
    return out, bound


class _Tree:
    """Count laws of one deterministic tree instance (float or exact)."""

    def __init__(self, tree: AuthorsTree, exact: bool) -> None:
        self.tree = tree
        self.exact = exact
        self.zero: Any = Fraction(0) if exact else 0.0
        self.T1 = tree.decisions
        self._uniform: dict[str, _Arr] = {}

    def child(self, s: str, a: int) -> str:
        return "end" if len(s) == self.tree.depth else s + str(a)

    def uniform(self, s: str) -> _Arr:
        """U(s): the law of the count from s under the uniform policy."""
        if s in self._uniform:
            return self._uniform[s]
        if s == "end":
            one: Any = Fraction(1) if self.exact else 1.0
            res = _Arr(np.array([one], dtype=object if self.exact else float), 0)
        else:
            parts = [
                _conv(
                    _bern(self.tree.q[s][a], self.exact), self.uniform(self.child(s, a))
                )
                for a in range(self.tree.actions)
            ]
            acc = parts[0].v
            for p in parts[1:]:
                acc = acc + p.v
            A = self.tree.actions
            if self.exact:
                res = _Arr(acc * Fraction(1, A), 0)
            else:
                res = _Arr(acc * (1.0 / A), max(p.n for p in parts) + A + 1)
        self._uniform[s] = res
        return res

    def sequences(self, s: str, max_len: int) -> list[tuple[tuple[int, ...], _Arr]]:
        """(sigma, B_sigma) for every sequence of length 1..max_len from s."""
        out: list[tuple[tuple[int, ...], _Arr]] = []

        def rec(state: str, prefix: tuple[int, ...], law: _Arr) -> None:
            if len(prefix) >= 1:
                out.append((prefix, _conv(law, self.uniform(state))))
            if len(prefix) == max_len or state == "end":
                return
            for a in range(self.tree.actions):
                rec(
                    self.child(state, a),
                    (*prefix, a),
                    _conv(law, _bern(self.tree.q[state][a], self.exact)),
                )

        one: Any = Fraction(1) if self.exact else 1.0
        rec(s, (), _Arr(np.array([one], dtype=object if self.exact else float), 0))
        return out


def _optimal_sets(tree: AuthorsTree) -> dict[str, set[int]]:
    qstar = optimal_q(tree)
    return {
        s: {a for a, v in enumerate(row) if v == max(row)} for s, row in qstar.items()
    }


def _needed_states(tree: AuthorsTree, opt: dict[str, set[int]]) -> list[str]:
    """States reachable from root by optimal actions (parents first)."""
    out: list[str] = []
    frontier = [""]
    while frontier:
        s = frontier.pop()
        out.append(s)
        if len(s) < tree.depth:
            frontier.extend(s + str(a) for a in sorted(opt[s]))
    return out


def _success_probs(
    laws: _Tree,
    states: list[str],
    opt: dict[str, set[int]],
    ks: Sequence[int],
    ms: Sequence[int],
    stop_at: Any,
) -> dict[tuple[str, int], dict[int, tuple[Any, int]]]:
    """P(success) with its error bound for every (variant, k) and m, up to the
    first m whose value reaches ``stop_at`` (more m cannot change a decision)."""
    tree = laws.tree
    kmax = max(ks)
    seqs = {s: laws.sequences(s, min(kmax, tree.decisions - len(s))) for s in states}
    dtype = object if laws.exact else float
    powered: dict[str, Any] = {
        s: np.array([law.v for _, law in seqs[s]], dtype=dtype) for s in states
    }
    errs: dict[str, int] = {s: max(law.n for _, law in seqs[s]) for s in states}
    lengths = {s: np.array([len(sig) for sig, _ in seqs[s]]) for s in states}
    firsts = {s: np.array([sig[0] for sig, _ in seqs[s]]) for s in states}
    current_m = 1
    done: dict[tuple[str, int], bool] = {}
    out: dict[tuple[str, int], dict[int, tuple[Any, int]]] = {}
    for m in sorted(ms):
        while current_m < m:
            for s in states:
                rows = powered[s]
                powered[s] = np.array([np.convolve(r, r) for r in rows], dtype=dtype)
                errs[s] = 2 * errs[s] + rows.shape[1]
            current_m *= 2
        if current_m != m:
            raise ValueError(f"ms: expected powers of two, got {list(ms)!r}")
        cdfs = {st: np.cumsum(powered[st], axis=1) for st in states}
        for variant in VARIANTS:
            for k in ks:
                if k > tree.decisions or done.get((variant, k), False):
                    continue
                choose: dict[str, tuple[list[Any], int]] = {}
                for s in states:
                    L = tree.decisions - len(s)
                    span = min(k, L)
                    keep = (
                        lengths[s] <= span
                        if variant == "authors"
                        else lengths[s] == span
                    )
                    scores = []
                    for a in range(tree.actions):
                        sel = keep & (firsts[s] == a)
                        scores.append(
                            _max_pmf(powered[s][sel], cdfs[s][sel], errs[s], laws.zero)
                        )
                    choose[s] = _choice_probs(scores, laws.zero)
                succ: dict[str, tuple[Any, int]] = {}
                for s in reversed(states):
                    probs, bound = choose[s]
                    total: Any = laws.zero
                    n = bound
                    for a in sorted(opt[s]):
                        nxt = laws.child(s, a)
                        sub, sub_n = (
                            succ[nxt]
                            if nxt in succ
                            else ((Fraction(1) if laws.exact else 1.0, 0))
                        )
                        total = total + probs[a] * sub
                        n = max(n, bound + sub_n + 1)
                    succ[s] = (total, n + tree.actions)
                out.setdefault((variant, k), {})[m] = succ[""]
                if succ[""][0] >= stop_at:
                    done[(variant, k)] = True
    return out


@dataclass(frozen=True)
class HorizonResult:
    """Exact effective horizon of one instance.

    ``probs[variant][k][m]`` is P(GORP succeeds) (float of the exact value, with
    relative error below 1e-9), ``m_star[variant][k]`` the first m with
    P >= threshold (None: none up to max m), ``h[variant]`` = min_k (k + log_A m*)
    (inf when no k succeeds), ``exact_rechecks`` the decisions redone in rationals.
    """

    h: dict[str, float]
    m_star: dict[str, dict[int, int | None]]
    probs: dict[str, dict[int, dict[int, float]]]
    k_greedy: int
    exact_rechecks: int = 0
    threshold: float = 0.5
    per_threshold: dict[float, dict[str, float]] = field(default_factory=dict)


def _horizon_from(
    probs: dict[int, dict[int, float]], A: int, threshold: float
) -> tuple[float, dict[int, int | None]]:
    best = math.inf
    stars: dict[int, int | None] = {}
    for k, by_m in probs.items():
        star = next((m for m in sorted(by_m) if by_m[m] >= threshold), None)
        stars[k] = star
        if star is not None:
            best = min(best, k + math.log(star) / math.log(A) if A > 1 else k)
    return best, stars


def effective_horizon(
    tree: AuthorsTree,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    ms: Sequence[int] = DEFAULT_MS,
    threshold: float = 0.5,
    extra_thresholds: Sequence[float] = (),
) -> HorizonResult:
    """Exact GORP effective horizon of a deterministic instance, both variants
    (see the module docstring), plus :func:`greedy_q_horizon`.

    ``ks`` positive integers (k > the number of decisions is skipped), ``ms``
    powers of two, ``threshold`` in (0, 1). ``extra_thresholds`` also report H at
    other thresholds (used to bracket Monte Carlo noise), decided in floats.
    """
    if tree.stochastic:
        raise ValueError("tree: the effective horizon needs deterministic transitions")
    if not ks or any(
        isinstance(k, bool) or not isinstance(k, int) or k <= 0 for k in ks
    ):
        raise ValueError(f"ks: expected positive integers, got {list(ks)!r}")
    if not ms or any(
        isinstance(m, bool) or not isinstance(m, int) or m <= 0 or m & (m - 1)
        for m in ms
    ):
        raise ValueError(f"ms: expected powers of two, got {list(ms)!r}")
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold: expected 0 < threshold < 1, got {threshold!r}")
    opt = _optimal_sets(tree)
    states = _needed_states(tree, opt)
    stop = max([threshold, *extra_thresholds]) + 1e-6
    raw = _success_probs(_Tree(tree, exact=False), states, opt, ks, ms, stop)
    probs: dict[str, dict[int, dict[int, float]]] = {v: {} for v in VARIANTS}
    rechecks = 0
    exact_cache: dict[int, dict[tuple[str, int], dict[int, tuple[Any, int]]]] = {}
    for (variant, k), by_m in raw.items():
        row: dict[int, float] = {}
        for m, (p, n) in by_m.items():
            gamma = n * _U / (1.0 - n * _U)
            if abs(p - threshold) <= gamma * p + _ABS:
                if m not in exact_cache:
                    exact_cache[m] = _success_probs(
                        _Tree(tree, exact=True), states, opt, ks, [m], Fraction(2)
                    )
                exact_p = exact_cache[m][(variant, k)][m][0]
                rechecks += 1
                decided = exact_p >= Fraction(threshold)
                # keep the exact decision visible in the float that is stored
                p = float(exact_p)
                if decided and p < threshold:
                    p = threshold
                if not decided and p >= threshold:
                    p = math.nextafter(threshold, 0.0)
            row[m] = float(p)
        probs[variant][k] = row
    A = tree.actions
    h: dict[str, float] = {}
    stars: dict[str, dict[int, int | None]] = {}
    for variant in VARIANTS:
        h[variant], stars[variant] = _horizon_from(probs[variant], A, threshold)
    per = {
        th: {v: _horizon_from(probs[v], A, th)[0] for v in VARIANTS}
        for th in extra_thresholds
    }
    return HorizonResult(
        h, stars, probs, greedy_q_horizon(tree), rechecks, threshold, per
    )


def _binomial_below(p: float, n: int, need: int) -> float:
    """P(X < need) for X ~ Binomial(n, p) (log-space terms, ``math.fsum``)."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    lp, lq = math.log(p), math.log1p(-p)
    head = math.lgamma(n + 1)
    terms = [
        math.exp(
            head - math.lgamma(x + 1) - math.lgamma(n - x + 1) + x * lp + (n - x) * lq
        )
        for x in range(need)
    ]
    return min(1.0, math.fsum(terms))


def monte_carlo_law(
    probs: dict[int, dict[int, float]],
    actions: int,
    *,
    runs: int = 500,
    threshold: float = 0.5,
    max_m: int = DEFAULT_MS[-1],
) -> dict[float, float]:
    """The exact law of the authors' Monte Carlo H_hat given the exact GORP
    success probabilities ``probs[k][m]`` (one variant of
    :attr:`HorizonResult.probs`).

    Their estimator runs ``runs`` independent GORP runs per (k, m), takes
    m*_k = the first m (1, 2, 4, ...) whose success count is >= threshold *
    runs, and H_hat = min_k (k + log_A m*_k): P(m*_k = m_j) =
    prod_{i<j} P(X_i < c) P(X_j >= c), X_i ~ Binomial(runs, p_i), independent
    across k. Rows of ``probs`` stop once p exceeds 1/2 + 4 sigma; the mass
    left after the last stored m (< P(Bin(500, 0.589) < 250) ~ 3e-5) is put on
    the next m, or on +inf past ``max_m``. Returns {H_hat: probability > 0}."""
    need = math.ceil(threshold * runs - 1e-9)
    per_k: list[dict[float, float]] = []
    for k, by_m in sorted(probs.items()):
        dist: dict[float, float] = defaultdict(float)
        alive = 1.0
        ms = sorted(int(m) for m in by_m)
        for m in ms:
            fail = _binomial_below(float(by_m[m]), runs, need)
            h = int(k) + (math.log(m) / math.log(actions) if actions > 1 else 0.0)
            dist[round(h, 9)] += alive * (1.0 - fail)
            alive *= fail
        nxt = 2 * ms[-1] if ms else max_m + 1
        if alive > 0.0 and nxt <= max_m and float(by_m[ms[-1]]) >= threshold:
            h = int(k) + (math.log(nxt) / math.log(actions) if actions > 1 else 0.0)
            dist[round(h, 9)] += alive
            alive = 0.0
        dist[math.inf] += alive
        per_k.append(dict(dist))
    out: dict[float, float] = defaultdict(float)
    for combo in itertools.product(*[list(d.items()) for d in per_k]):
        out[min(h for h, _ in combo)] += math.prod(w for _, w in combo)
    return {h: w for h, w in out.items() if w > 0.0}


def greedy_q_horizon(tree: AuthorsTree) -> int:
    """The smallest k for which acting greedily on Q^k is optimal (module
    docstring; exact rationals). Q^k = Q* once k >= the number of decisions."""
    if tree.stochastic:
        raise ValueError("tree: greedy_q_horizon needs deterministic transitions")
    opt = _optimal_sets(tree)
    A = tree.actions
    order = sorted(tree.q, key=len, reverse=True)
    q = {s: [Fraction(x) for x in tree.q[s]] for s in order}
    current: dict[str, list[Fraction]] = {}
    v_unif: dict[str, Fraction] = {}
    for s in order:
        row = []
        for a in range(A):
            nxt = s + str(a)
            row.append(q[s][a] + (v_unif[nxt] if len(s) < tree.depth else 0))
        current[s] = row
        v_unif[s] = sum(row, Fraction(0)) / A
    for k in range(1, tree.decisions + 1):
        ok = True
        frontier = [""]
        while frontier and ok:
            s = frontier.pop()
            row = current[s]
            best = max(row)
            greedy = [a for a, x in enumerate(row) if x == best]
            if not set(greedy) <= opt[s]:
                ok = False
            elif len(s) < tree.depth:
                frontier.extend(s + str(a) for a in greedy)
        if ok:
            return k
        nxt_q: dict[str, list[Fraction]] = {}
        for s in order:
            nxt_q[s] = [
                q[s][a] + (max(current[s + str(a)]) if len(s) < tree.depth else 0)
                for a in range(A)
            ]
        current = nxt_q
    return tree.decisions


def monte_carlo_horizon(
    tree: AuthorsTree,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    ms: Sequence[int] = DEFAULT_MS,
    runs: int = 500,
    threshold: float = 0.5,
    seed: int = 0,
) -> tuple[float, dict[int, dict[int, float]]]:
    """The authors' Monte Carlo estimator of H (authors' variant): ``runs``
    simulated GORP runs per (k, m), each rollout sampling every Bernoulli
    outcome and the uniform continuation; m grows until the success rate
    reaches ``threshold``. Returns (H_hat, success rates); for timing and for
    comparison with :func:`effective_horizon` only."""
    if runs <= 0:
        raise ValueError(f"runs: expected a positive integer, got {runs!r}")
    opt = _optimal_sets(tree)
    rng = random.Random(seed)
    A, D = tree.actions, tree.decisions

    def rollout_count(s: str, sigma: tuple[int, ...]) -> int:
        total = 0
        state = s
        for a in sigma:
            total += rng.random() < tree.q[state][a]
            state = "end" if len(state) == tree.depth else state + str(a)
        while state != "end":
            a = rng.randrange(A)
            total += rng.random() < tree.q[state][a]
            state = "end" if len(state) == tree.depth else state + str(a)
        return total

    def sequences(s: str, k: int) -> list[tuple[int, ...]]:
        out: list[tuple[int, ...]] = [()]
        res: list[tuple[int, ...]] = []
        for _ in range(min(k, D - len(s))):
            out = [(*p, a) for p in out for a in range(A)]
            res.extend(out)
        return res

    rates: dict[int, dict[int, float]] = {}
    best = math.inf
    for k in ks:
        if k > D:
            continue
        rates[k] = {}
        for m in sorted(ms):
            wins = 0
            for _ in range(runs):
                s, good = "", True
                while s != "end":
                    score: dict[int, int] = {}
                    for sigma in sequences(s, k):
                        val = sum(rollout_count(s, sigma) for _ in range(m))
                        if sigma[0] not in score or val > score[sigma[0]]:
                            score[sigma[0]] = val
                    top = max(score.values())
                    a = rng.choice([b for b, v in score.items() if v == top])
                    if a not in opt[s]:
                        good = False
                        break
                    s = "end" if len(s) == tree.depth else s + str(a)
                wins += good
            rates[k][m] = wins / runs
            if rates[k][m] >= threshold:
                best = min(best, k + math.log(m) / math.log(A))
                break
    return best, rates
