"""Correlations with percentile-bootstrap confidence intervals (floats).

Pearson r = cov(x, y) / (sd x sd y); Spearman rho = Pearson r of the average
ranks. The bootstrap resamples the (x, y) pairs with replacement ``resamples``
times from ``numpy.random.default_rng(seed)`` and reports the 2.5 and 97.5
percentiles (linear interpolation) of the resampled statistic; resamples whose
statistic is undefined (a constant column) are dropped. Values are float64,
accurate to about 1e-12 relative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Correlation", "correlate", "pearson", "spearman"]


def _check(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.ndim != 1 or xa.shape != ya.shape:
        raise ValueError(
            f"x, y: expected two equal-length lists, got {xa.shape}, {ya.shape}"
        )
    if len(xa) < 3:
        raise ValueError(f"x: expected at least 3 pairs, got {len(xa)}")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise ValueError("x, y: values must be finite")
    return xa, ya


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    den = np.sqrt((xc * xc).sum(axis=-1) * (yc * yc).sum(axis=-1))
    num = (xc * yc).sum(axis=-1)
    out = np.full(num.shape, np.nan)
    ok = den > 0
    out[ok] = num[ok] / den[ok]
    return np.clip(out, -1.0, 1.0)


def _ranks(v: np.ndarray) -> np.ndarray:
    """Average ranks (0-based; ties share the mean of their positions)."""
    sorted_v = np.sort(v)
    lo = np.searchsorted(sorted_v, v, side="left")
    hi = np.searchsorted(sorted_v, v, side="right")
    return (lo + hi - 1) / 2.0


def pearson(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Pearson r; a one-line ValueError when a column is constant."""
    xa, ya = _check(x, y)
    r = float(_pearson_rows(xa, ya))
    if math.isnan(r):
        raise ValueError("x, y: correlation undefined (a constant column)")
    return r


def spearman(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Spearman rho (average ranks for ties)."""
    xa, ya = _check(x, y)
    return pearson(_ranks(xa), _ranks(ya))


@dataclass(frozen=True)
class Correlation:
    """A correlation with its bootstrap interval (level 95%)."""

    method: str
    r: float
    low: float
    high: float
    n: int
    resamples: int
    seed: int


def correlate(
    x: Sequence[float],
    y: Sequence[float],
    *,
    method: str = "pearson",
    resamples: int = 2000,
    seed: int = 0,
) -> Correlation:
    """r and its 95% percentile-bootstrap CI (see the module docstring)."""
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method: expected 'pearson' or 'spearman', got {method!r}")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples <= 0:
        raise ValueError(f"resamples: expected a positive integer, got {resamples!r}")
    xa, ya = _check(x, y)
    r = pearson(xa, ya) if method == "pearson" else spearman(xa, ya)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(xa), size=(resamples, len(xa)))
    bx, by = xa[idx], ya[idx]
    if method == "spearman":
        bx = np.array([_ranks(row) for row in bx])
        by = np.array([_ranks(row) for row in by])
    stats = _pearson_rows(bx, by)
    stats = stats[~np.isnan(stats)]
    if len(stats) == 0:
        raise ValueError("x, y: every bootstrap resample is degenerate")
    low, high = np.percentile(stats, [2.5, 97.5])
    return Correlation(method, r, float(low), float(high), len(xa), resamples, seed)
