"""The learners' verdict statistics (coherence.gpu.learning.verdict), the
unbiased default warm start of ``anneal``, the support-aware kappa and the
occupancy-weighted profile.

Sources: the Chernoff interval's coverage is checked by exact enumeration of
the binomial (no sampling); its width against Hoeffding's, which Pinsker's
inequality KL(p || q) >= 2 (p - q)^2 makes an upper bound; the empirical
Bernstein interval's coverage by exact enumeration of Bernoulli samples; the
anneal default against the soft-Q learner's own propagated 5-sigma bound
(``policy_bound``, exact box propagation, warm start 0 so no bias term).
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from coherence.cli import main
from coherence.gpu.learning import Environment, anneal, make_generator
from coherence.gpu.learning.profile import support_kappa, support_policy
from coherence.gpu.learning.verdict import (
    bernoulli_kl,
    bernstein_radius,
    frequency_test,
    kl_interval,
)
from coherence.queries import Evaluator
from coherence.reference.case import load_case
from coherence.reference.numpy_engine import NumpyEngine
from coherence.reference.operators import PolicySpec
from coherence.reference.recurrences import Boltzmann
from tests.shared import CASES

pytestmark = pytest.mark.usefixtures("one_torch_thread")
GENERATED = CASES.parent / "generated"


def _binom(n: int, p: float) -> np.ndarray:
    k = np.arange(n + 1)
    logc = np.array(
        [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in k]
    )
    with np.errstate(divide="ignore"):
        out: np.ndarray = np.exp(logc + k * np.log(p) + (n - k) * np.log1p(-p))
    return out


@pytest.mark.parametrize(
    ("n", "p", "delta"),
    [(10, 0.5, 0.1), (50, 0.3, 0.01), (200, 0.05, 1e-3), (7, 0.9, 0.2)],
)
def test_chernoff_interval_covers_exactly(n: int, p: float, delta: float) -> None:
    probs = _binom(n, p)
    lo, hi = kl_interval(np.arange(n + 1) / n, np.full(n + 1, float(n)), delta)
    missed = float(probs[(lo > p) | (hi < p)].sum())
    assert missed <= delta
    # never wider than Hoeffding's interval (Pinsker), never empty
    half = math.sqrt(math.log(2 / delta) / (2 * n))
    assert (hi - lo <= 2 * half + 1e-9).all()
    assert (lo <= np.arange(n + 1) / n).all() and (np.arange(n + 1) / n <= hi).all()


def test_chernoff_interval_edges() -> None:
    # frequency 0 of n: [0, 1 - (delta/2)^(1/n)] exactly (n KL(0 || q) = -n log(1-q))
    lo, hi = kl_interval(np.array([0.0]), np.array([20.0]), 0.01)
    assert lo[0] == 0.0
    assert hi[0] == pytest.approx(1 - 0.005 ** (1 / 20), abs=1e-12)
    lo, hi = kl_interval(np.array([0.5]), np.array([0.0]), 0.01)  # no data
    assert (lo[0], hi[0]) == (0.0, 1.0)
    assert bernoulli_kl(np.array([0.5]), np.array([0.0]))[0] == math.inf
    assert not np.isnan(bernoulli_kl(np.array([0.0, 1.0]), np.array([0.0, 1.0]))).any()


def test_bernstein_interval_covers_bernoulli_means() -> None:
    n, p, delta = 40, 0.2, 0.05
    k = np.arange(n + 1)
    mean = k / n
    sd = np.sqrt(k * (1 - mean) ** 2 + (n - k) * mean**2) / math.sqrt(n - 1)
    radius = bernstein_radius(sd, n, 1.0, delta)
    missed = float(_binom(n, p)[np.abs(mean - p) > radius].sum())
    assert missed <= delta


def test_frequency_test_outcomes() -> None:
    n = np.array([[400.0, 0.0]])
    freq = np.array([[[0.5, 0.5], [0.5, 0.5]]])
    target = freq.copy()
    common = {"delta": 1e-4, "tolerance": 0.2, "samples": 1000}
    ok = frequency_test(freq, target, n, **common)
    assert ok.outcome == "pass" and ok.n_cells == 1
    # n = 400 at delta 1e-4: half-width about sqrt(log(2e4) / 800) = 0.11
    wrong = frequency_test(freq, np.array([[[0.7, 0.3], [0.5, 0.5]]]), n, **common)
    assert wrong.outcome == "FAIL" and wrong.n_rejected == 1
    assert wrong.worst_excess > 0
    # too wide: insufficient data, with the samples that would do
    tight = frequency_test(freq, target, n, **(common | {"tolerance": 0.05}))
    assert tight.outcome == "insufficient data" and tight.samples_needed > 1000
    # no visited cell: never a pass
    none = frequency_test(freq, target, np.zeros((1, 2)), **common)
    assert none.outcome == "insufficient data" and none.n_cells == 0
    # a fit error above the learner's criterion fails
    fit = frequency_test(freq, target, n, fit_error=0.02, fit_tolerance=0.01, **common)
    assert fit.outcome == "FAIL"
    # a cell with under min_share of its step's visits: judged, no precision
    n2 = np.array([[1000.0, 5.0]])
    ex = frequency_test(freq, target, n2, min_share=0.01, **common)
    assert ex.n_exempt == 1 and ex.outcome == "pass"
    assert frequency_test(freq, target, n2, **common).outcome == "insufficient data"


def test_anneal_default_is_unbiased(capsys: pytest.CaptureFixture[str]) -> None:
    # the command's default warm start adds no bias: its stages lie within the
    # learner's own propagated bound of T_alpha, which has no bias term at warm 0
    path = CASES / "stochastic-counterexample.json"
    schedule = [1.0, 2.0, 4.0, 8.0]
    args = ["anneal", str(path), "--samples", "16384", "--device", "cpu", "--json"]
    assert main(args) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["warm"] for r in rows] == [0, 0, 0, 0]
    env = Environment.from_mdp(load_case(path).mdp, "cpu")
    stages = anneal(env, schedule, samples=16384, generator=make_generator(0))
    for row, res in zip(rows, stages, strict=True):
        assert row["max_abs_dev_T_alpha"] <= float(res.policy_bound.max()) + 1e-12
        assert row["rejected"] == 0, row


def test_support_kappa_removes_dead_action_mass() -> None:
    # stochastic-counterexample: exact G_1 has finite kappa; 1e-9 moved onto an
    # action that cannot succeed makes the raw kappa infinite, not the support one
    mdp = load_case(GENERATED / "suite-20260-0001.json").mdp
    engine = NumpyEngine(mdp)
    f1 = Boltzmann(Fraction(1))
    g1 = Evaluator(mdp, "numpy").policy(PolicySpec("G", k=1))
    exact = float(engine.kappa(g1, f1))
    assert math.isfinite(exact)
    assert support_kappa(engine, g1, f1) == pytest.approx(exact, abs=1e-12)
    probs = np.exp(g1)
    dead = np.isneginf(engine.values(g1).Q) & ~np.isneginf(engine.values(g1).Q).all(
        -1, keepdims=True
    )
    assert dead.any()
    t, s, a = map(int, np.argwhere(dead)[0])
    other = int(np.argmax(probs[t, s]))
    probs[t, s, a] += 1e-9
    probs[t, s, other] -= 1e-9
    with np.errstate(divide="ignore"):
        leaky = np.log(probs)
    assert math.isinf(float(engine.kappa(leaky, f1)))
    assert support_kappa(engine, leaky, f1) == pytest.approx(exact, abs=1e-6)
    assert np.isneginf(support_policy(engine, leaky)[t, s, a])


def test_profile_is_finite_on_a_learned_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = str(GENERATED / "suite-20260-0001.json")
    saved = tmp_path / "learned.json"
    args = ["retrain", case, "--learner", "tabular", "--rounds", "1"]
    args += ["--episodes", "20000", "--device", "cpu", "--save-policy", str(saved)]
    assert main(args) == 0
    capsys.readouterr()
    assert main(["profile", case, str(saved), "--k", "1", "--json"]) == 0
    prof = json.loads(capsys.readouterr().out)
    assert prof["kappa_learned"] == "inf"  # the softmax's leftover on dead actions
    assert math.isfinite(prof["kappa_support"])
    assert abs(prof["kappa_support"] - prof["kappa_exact"]) < 0.05
    assert prof["distance_occupancy"] <= prof["distance_visited"] <= prof["distance"]
