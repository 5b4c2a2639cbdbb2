"""Exact effective horizon: closed forms, rationals vs floats, Monte Carlo."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from coherence.experiments import horizon
from coherence.experiments.authors import AuthorsTree, authors_tree, published_instances


def _tree(q: dict[str, tuple[float, ...]], depth: int, actions: int = 2) -> AuthorsTree:
    return AuthorsTree(actions, depth, 0, False, None, q, {})


def test_one_decision_closed_form() -> None:
    # X_a ~ Bin(m, q_a), ties split: P(choose 0) at m = 1 is
    # q0 (1 - q1) + (q0 q1 + (1 - q0)(1 - q1)) / 2 = 3/4 for q = (3/4, 1/4)
    tree = _tree({"": (0.75, 0.25)}, 0)
    high = horizon.effective_horizon(tree, ks=(1,), ms=(1, 2), threshold=0.99)
    assert high.probs["authors"][1][1] == 0.75
    assert high.h["authors"] == math.inf
    # m = 2: P(X0 > X1) + P(X0 = X1) / 2 with Bin(2, 3/4), Bin(2, 1/4)
    p0, p1 = (
        [Fraction(1, 16), Fraction(6, 16), Fraction(9, 16)],
        [Fraction(9, 16), Fraction(6, 16), Fraction(1, 16)],
    )
    want = sum(
        (p0[i] * p1[j] for i in range(3) for j in range(3) if i > j), Fraction(0)
    )
    want += sum((p0[i] * p1[i] for i in range(3)), Fraction(0)) / 2
    assert high.probs["authors"][1][2] == pytest.approx(float(want), rel=1e-15)
    res = horizon.effective_horizon(tree, ks=(1,), ms=(1, 2))
    assert res.h == {"authors": 1.0, "laidlaw": 1.0}
    assert res.k_greedy == 1


def test_floats_agree_with_rationals() -> None:
    p = published_instances()[0]
    tree = authors_tree(p.actions, p.depth, p.seed)
    opt = horizon._optimal_sets(tree)
    states = horizon._needed_states(tree, opt)
    args = (states, opt, (1, 2, 3), (1, 2, 4))
    fl = horizon._success_probs(horizon._Tree(tree, exact=False), *args, 2.0)
    ex = horizon._success_probs(horizon._Tree(tree, exact=True), *args, Fraction(2))
    for key, by_m in ex.items():
        for m, (value, _) in by_m.items():
            got, bound = fl[key][m]
            assert isinstance(value, Fraction)
            gamma = bound * 2.0**-53 / (1 - bound * 2.0**-53)
            assert abs(got - float(value)) <= gamma * float(value) + 1e-300
            assert 0 < gamma < 1e-9


def test_laidlaw_uses_exact_length_sequences() -> None:
    # two decisions; k = 2 from the root: the authors' variant also scores the
    # length-1 prefixes, Laidlaw's only the length-2 sequences, so they differ
    tree = _tree({"": (0.9, 0.1), "0": (0.05, 0.05), "1": (0.99, 0.99)}, 1)
    res = horizon.effective_horizon(tree, ks=(2,), ms=(1,))
    assert res.probs["authors"][2][1] != res.probs["laidlaw"][2][1]


def test_monte_carlo_agrees_with_exact() -> None:
    # 4000 runs: the binomial sd is at most 0.0079; |rate - p| <= 5 sd has
    # two-sided normal significance about 6e-7 per comparison
    p = published_instances()[0]
    tree = authors_tree(p.actions, p.depth, p.seed)
    exact = horizon.effective_horizon(tree, ks=(1,), ms=(1,), threshold=0.99)
    _, rates = horizon.monte_carlo_horizon(
        tree, ks=(1,), ms=(1,), runs=4000, threshold=0.99, seed=3
    )
    want = exact.probs["authors"][1][1]
    sd = math.sqrt(want * (1 - want) / 4000)
    assert abs(rates[1][1] - want) <= 5 * sd


def test_published_horizons_mostly_reproduced() -> None:
    # the first 8 T2_A2 instances: exact H equals the published Monte Carlo H
    # except where the threshold lies inside the 4-sigma noise band
    sigma = math.sqrt(0.25 / 500)
    for p in published_instances()[:8]:
        tree = authors_tree(p.actions, p.depth, p.seed)
        res = horizon.effective_horizon(
            tree, extra_thresholds=(0.5 - 4 * sigma, 0.5 + 4 * sigma)
        )
        lo = res.per_threshold[0.5 - 4 * sigma]["authors"]
        hi = res.per_threshold[0.5 + 4 * sigma]["authors"]
        assert lo <= res.h["authors"] <= hi
        assert lo <= p.h_monte_carlo <= hi
        assert 1 <= res.k_greedy <= tree.decisions


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ks": (0,)}, "ks"),
        ({"ks": ()}, "ks"),
        ({"ms": (3,)}, "ms"),
        ({"threshold": 1.0}, "threshold"),
    ],
    ids=["k0", "k-empty", "m3", "threshold"],
)
def test_bad_input(kwargs: dict[str, object], message: str) -> None:
    tree = _tree({"": (0.5, 0.25)}, 0)
    with pytest.raises(ValueError, match=message):
        horizon.effective_horizon(tree, **kwargs)  # type: ignore[arg-type]


def test_stochastic_refused() -> None:
    with pytest.raises(ValueError, match="deterministic"):
        horizon.effective_horizon(authors_tree(2, 1, 1, stochastic=True))
