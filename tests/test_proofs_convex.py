"""The cvxpy occupancy program against the expectation-backup DP (SPEC §4):
optimal value, primal x = d pi, and flow duals = Vt."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from coherence.examples import stochastic_counterexample
from coherence.proofs.convex import (
    compare_with_dp,
    deterministic_example,
    expectation_backup,
    solve_maxent_program,
)
from coherence.reference.model import MDP
from coherence.reference.numpy_engine import NumpyEngine

TOL = 1e-6


def _stochastic_with_dead_ends() -> MDP:
    """Stochastic, non-uniform prior, a zero-success action (r = -inf becomes
    x = 0), a zero prior entry and a zero terminal success (d_T = 0)."""
    return MDP.build(
        name="convex-stochastic",
        states=["a", "b", "c"],
        actions=["x", "y", "z"],
        horizon=3,
        transitions={
            "a": {
                "x": {"b": "1/3", "c": "2/3"},
                "y": {"a": "1/2", "b": "1/2"},
                "z": {"c": "1"},
            },
            "b": {
                "x": {"a": "1/4", "c": "3/4"},
                "y": {"b": "1"},
                "z": {"a": "1/2", "b": "1/4", "c": "1/4"},
            },
            "c": {"x": {"a": "1"}, "y": {"b": "3/5", "c": "2/5"}, "z": {"b": "1"}},
        },
        initial={"a": "1/2", "b": "1/2"},
        success={"a": {"x": "1/2", "z": "0"}, "b": {"y": "1/3"}, "c": {"x": "3/4"}},
        terminal_success={"a": "1/3", "b": "1", "c": "0"},
        prior={
            "a": {"x": "1/5", "y": "3/5", "z": "1/5"},
            "b": {"x": "1/2", "y": "1/2"},
            "c": {"x": "1/3", "y": "1/3", "z": "1/3"},
        },
    )


@pytest.mark.parametrize(
    ("mdp", "alpha"),
    [
        (deterministic_example(), Fraction(3, 2)),
        (stochastic_counterexample(), Fraction(1)),
        (_stochastic_with_dead_ends(), Fraction(2)),
    ],
    ids=["deterministic", "stochastic", "stochastic-dead-ends"],
)
def test_program_matches_dp(mdp: MDP, alpha: Fraction) -> None:
    report = compare_with_dp(mdp, alpha)
    assert report.value_gap < TOL
    assert report.primal_gap < TOL
    assert report.dual_gap < TOL
    assert report.ok


def test_deterministic_optimum_is_temperature() -> None:
    assert (
        compare_with_dp(deterministic_example(), Fraction(3, 2)).max_policy_gap_T < TOL
    )


def test_stochastic_optimum_is_not_temperature() -> None:
    report = compare_with_dp(stochastic_counterexample(), Fraction(1))
    assert report.max_policy_gap_T > 1e-3
    # closed form of SPEC §6's example: 1 / (1 + 2^(1/4)) at alpha = 1
    assert report.policy_at(0, 0, 0) == pytest.approx(1 / (1 + 2**0.25), abs=TOL)


def test_dead_ends_get_zero_occupancy() -> None:
    mdp = _stochastic_with_dead_ends()
    sol = solve_maxent_program(mdp, 2)
    a, z = mdp.state_index("a"), mdp.action_index("z")
    assert np.all(sol.x[:, a, z] < 1e-9)
    V = expectation_backup(mdp, 2)
    assert V[-1, mdp.state_index("c")] == -np.inf
    pi = np.exp(NumpyEngine(mdp).maxent_policy(2))
    np.testing.assert_allclose(pi.sum(axis=2), 1.0)


@pytest.mark.parametrize("alpha", [0, -1, float("nan")])
def test_alpha_must_be_positive(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        solve_maxent_program(deterministic_example(), alpha)
