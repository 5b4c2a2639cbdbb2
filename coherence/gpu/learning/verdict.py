"""Verdicts of the learners as hypothesis tests with a stated error rate.

Every sampled learner of SPEC §5 is judged the same way: for each round (or
stage) the learned quantity of every visited cell gets a confidence interval
from the sampling of THAT round alone, and the interval is compared with the
exact operator applied to the PREVIOUS ESTIMATE (G of the previous estimated
policy for re-training; the exact backup of the learned next-step values for
soft Q-learning). Conditioned on the earlier rounds the previous estimate is a
fixed table, so the comparison is an exact test of this round whatever error the
earlier rounds carried; the error carried to G_k / T_alpha is reported beside it
as a distance, not hidden in the bound.

Intervals (no normal approximation anywhere; valid for every sample size):

* a frequency x / n of n i.i.d. Bernoulli(g) draws: the Chernoff (KL) interval
  {g : n KL(x/n || g) <= log(2 / delta)}, whose two one-sided tails each have
  probability <= delta / 2 (P(X/n >= q) <= exp(-n KL(q || g)) for q >= g);
* (both as above; every visited cell is judged, and the precision demand
  below skips, explicitly and counted, the cells with less than ``min_share``
  of their step's visits, whose policy matters that little to the row)
* a mean of n i.i.d. values in [lo, hi]: the empirical Bernstein bound of Maurer
  and Pontil (2009, Theorem 4), |mean - mu| <= sqrt(2 V log(4 / delta) / n) +
  7 (hi - lo) log(4 / delta) / (3 (n - 1)) with V the sample variance, with
  probability >= 1 - delta (both sides).

Family-wise level: the stated ``level`` (default 1e-3) is split by Bonferroni
over every test of the run -- every possible cell of every round, counted
before the data is seen -- so the probability that a correct learner fails ANY
cell of ANY round is at most ``level``.

Three outcomes per row: ``FAIL`` (some cell's interval excludes its target),
``insufficient data`` (no cell rejects, but some visited cell's interval is
wider than +-``tolerance``, so the row cannot claim that precision; the row
reports how many samples would make the widest interval fit, from the
1 / sqrt(n) scaling of its width) and ``pass``. Only ``pass`` passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coherence.reference.model import FloatArray

__all__ = [
    "DEFAULT_LEVEL",
    "DEFAULT_TOLERANCE",
    "CellVerdict",
    "bernoulli_kl",
    "bernstein_radius",
    "frequency_test",
    "kl_interval",
    "per_test_delta",
]

#: Family-wise probability that a correct learner fails a run (Bonferroni).
DEFAULT_LEVEL = 1e-3

#: Default largest half-width of a cell's interval for a row to pass.
DEFAULT_TOLERANCE = 0.05

_BISECT = 64


def per_test_delta(level: float, n_tests: int) -> float:
    """Bonferroni: the level of each of ``n_tests`` tests (``level / n_tests``)."""
    if not 0 < level < 1:
        raise ValueError(f"level: expected a number in (0, 1), got {level!r}")
    if n_tests < 1:
        raise ValueError(f"n_tests: expected a positive integer, got {n_tests!r}")
    return level / n_tests


def bernoulli_kl(p: FloatArray, q: FloatArray) -> FloatArray:
    """KL(Bernoulli(p) || Bernoulli(q)) elementwise, in nats: 0 log 0 = 0 and
    +inf where q puts 0 on an outcome p does not (never NaN)."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    q = np.clip(np.asarray(q, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
        b = np.where(p < 1, (1 - p) * (np.log1p(-p) - np.log1p(-q)), 0.0)
    out: FloatArray = np.where(np.isnan(a + b), np.inf, a + b)
    return out


def kl_interval(
    freq: FloatArray, n: FloatArray | float, delta: float
) -> tuple[FloatArray, FloatArray]:
    """The Chernoff interval of each frequency ``freq`` of ``n`` draws at level
    ``delta`` (module docstring): every g with n KL(freq || g) <= log(2/delta).
    Where n = 0 the interval is [0, 1]."""
    f = np.clip(np.asarray(freq, dtype=np.float64), 0.0, 1.0)
    nn = np.broadcast_to(np.asarray(n, dtype=np.float64), f.shape)
    bound = math.log(2.0 / delta)
    with np.errstate(divide="ignore"):
        radius = np.where(nn > 0, bound / np.where(nn > 0, nn, 1.0), np.inf)
    lo_a, lo_b = np.zeros_like(f), f.copy()
    hi_a, hi_b = f.copy(), np.ones_like(f)
    for _ in range(_BISECT):
        mid = 0.5 * (lo_a + lo_b)
        inside = bernoulli_kl(f, mid) <= radius
        lo_b = np.where(inside, mid, lo_b)
        lo_a = np.where(inside, lo_a, mid)
        mid = 0.5 * (hi_a + hi_b)
        inside = bernoulli_kl(f, mid) <= radius
        hi_a = np.where(inside, mid, hi_a)
        hi_b = np.where(inside, hi_b, mid)
    # the outer ends of the bisection brackets: never narrower than the interval
    lo = np.where(bernoulli_kl(f, np.zeros_like(f)) <= radius, 0.0, lo_a)
    hi = np.where(bernoulli_kl(f, np.ones_like(f)) <= radius, 1.0, hi_b)
    return lo, hi


def bernstein_radius(
    sd: FloatArray, n: int, value_range: FloatArray | float, delta: float
) -> FloatArray:
    """Half-width of the empirical Bernstein interval (module docstring) of a
    mean of ``n`` values in a range of width ``value_range`` with sample
    standard deviation ``sd`` (n - 1 denominator), at level ``delta``."""
    if n < 2:
        raise ValueError(f"n: expected at least 2 samples, got {n!r}")
    log_term = math.log(4.0 / delta)
    var = np.asarray(sd, dtype=np.float64) ** 2
    width = np.asarray(value_range, dtype=np.float64)
    out: FloatArray = np.sqrt(2.0 * var * log_term / n) + 7.0 * width * log_term / (
        3.0 * (n - 1)
    )
    return out


@dataclass(frozen=True)
class CellVerdict:
    """The verdict of one round: ``n_cells`` visited cells judged (every one),
    ``n_rejected`` whose interval excludes the target, ``worst_excess`` the
    largest distance from a target to its interval (0 when all contain it),
    ``max_halfwidth`` the widest interval's half-width, ``n_insufficient`` the
    cells wider than +-``tolerance``, ``samples_needed`` the samples of this
    round that would bring the widest within the tolerance (its current samples
    times (half-width / tolerance)^2; 0 when none is too wide), ``delta`` the
    level of each test, ``fit_error`` the fit error folded into the interval
    (0 for a learner that IS its frequencies) and ``n_exempt`` the visited
    cells judged but exempt from the precision requirement (fewer than
    ``min_share`` of their step's visits)."""

    n_cells: int
    n_rejected: int
    worst_excess: float
    max_halfwidth: float
    n_insufficient: int
    samples_needed: int
    tolerance: float
    delta: float
    fit_error: float = 0.0
    fit_tolerance: float = math.inf
    n_exempt: int = 0

    @property
    def fit_ok(self) -> bool:
        """The learner's measured fit error is within its stated criterion."""
        return self.fit_error <= self.fit_tolerance

    @property
    def outcome(self) -> str:
        """``"FAIL"``, ``"insufficient data"`` or ``"pass"`` (module docstring);
        a fit error above the learner's criterion is a FAIL; a row with no
        visited cell is insufficient data."""
        if self.n_rejected or not self.fit_ok:
            return "FAIL"
        if self.n_insufficient or self.n_cells == 0:
            return "insufficient data"  # a row that judged no cell never passes
        return "pass"

    @property
    def passed(self) -> bool:
        """Only ``pass`` passes."""
        return self.outcome == "pass"


def frequency_test(
    freq: FloatArray,
    target: FloatArray,
    visits: FloatArray,
    *,
    delta: float,
    tolerance: float,
    samples: int,
    fit_error: float = 0.0,
    fit_tolerance: float = math.inf,
    support: npt.NDArray[np.bool_] | None = None,
    min_share: float = 0.0,
) -> CellVerdict:
    """Judge the frequencies ``freq`` (T, S, A) of ``visits`` (T, S) draws per
    (t, s) against ``target`` (T, S, A): at every visited (t, s) and every
    action (of ``support``, default all) the Chernoff interval at ``delta``,
    widened by ``fit_error`` on each side, must contain the target. ``samples``:
    the episodes of the round (for ``samples_needed``). Every visited cell is
    judged; a cell with fewer than ``min_share`` of the visits of its row
    ``visits[t]`` (its step) is exempt from the precision requirement (counted
    in ``n_exempt``)."""
    f = np.asarray(freq, dtype=np.float64)
    g = np.asarray(target, dtype=np.float64)
    n = np.asarray(visits, dtype=np.float64)
    if f.shape != g.shape or f.shape[:-1] != n.shape:
        raise ValueError(
            f"freq/target/visits: shapes {f.shape}, {g.shape}, {n.shape} do not "
            "match (T, S, A), (T, S, A), (T, S)"
        )
    seen = np.broadcast_to((n > 0)[..., None], f.shape)
    if support is not None:
        seen = seen & np.asarray(support, dtype=bool)
    lo, hi = kl_interval(f, n[..., None], delta)
    excess = np.where(seen, np.maximum(lo - g, g - hi), -np.inf)
    # the learned policy lies within fit_error of the frequencies: its interval
    half = np.where(seen, 0.5 * (hi - lo) + fit_error, 0.0)
    rejected = excess > 1e-12
    share = n / np.maximum(n.sum(axis=-1, keepdims=True), 1.0)
    exempt = (n > 0) & (share < min_share)
    wide = seen & (half > tolerance) & ~exempt[..., None]
    half = np.where(exempt[..., None], 0.0, half)
    cells = int((n > 0).sum())
    max_half = float(half.max()) if half.size else 0.0
    needed = 0
    if wide.any():
        stat = max(max_half - fit_error, 1e-300)
        room = tolerance - fit_error
        needed = (
            math.ceil(samples * (stat / room) ** 2) if room > 0 else -1
        )  # -1: the fit alone is wider than the tolerance
    return CellVerdict(
        n_cells=cells,
        n_rejected=int(rejected.any(axis=-1).sum()),
        worst_excess=float(max(0.0, excess.max())) if excess.size else 0.0,
        max_halfwidth=max_half,
        n_insufficient=int(wide.any(axis=-1).sum()),
        samples_needed=needed,
        tolerance=tolerance,
        delta=delta,
        fit_error=fit_error,
        fit_tolerance=fit_tolerance,
        n_exempt=int(exempt.sum()),
    )
