"""imitation's ``mce_partition_fh`` against coherence on hypothesis-drawn MDPs.

Run in this example's own environment (requirements.txt):

    pip install -r examples/imitation_mce/requirements.txt
    pytest examples/imitation_mce

The implementation under test is imitation's; without imitation installed the
tests are skipped (the comparison itself is tested in the project's slow
tests against a reference implementation and the usual bugs: max instead of
logsumexp, a reward off by one step).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mce_check import compare

imitation_mce = pytest.importorskip("imitation.algorithms.mce_irl")
base_envs = pytest.importorskip("seals.base_envs")


@st.composite
def problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    """A random tabular problem: P[s, a, s'], R[s], horizon."""
    S = draw(st.integers(1, 4))
    A = draw(st.integers(1, 3))
    H = draw(st.integers(1, 5))
    weights = draw(st.lists(st.integers(0, 4), min_size=S * A * S, max_size=S * A * S))
    P = np.array(weights, dtype=np.float64).reshape(S, A, S)
    P[P.sum(axis=2) == 0, 0] = 1.0
    P /= P.sum(axis=2, keepdims=True)
    R = (
        np.array(
            draw(st.lists(st.integers(-8, 3), min_size=S, max_size=S)), dtype=np.float64
        )
        / 2
    )
    return P, R, H


@settings(max_examples=60, deadline=None, derandomize=True)
@given(problems())
def test_mce_partition_fh_agrees_with_coherence(
    problem: tuple[np.ndarray, np.ndarray, int],
) -> None:
    P, R, H = problem
    S = P.shape[0]
    env = base_envs.TabularModelPOMDP(
        transition_matrix=P,
        observation_matrix=np.eye(S),
        reward_matrix=R,
        horizon=H,
        initial_state_dist=np.full(S, 1.0 / S),
    )
    got = imitation_mce.mce_partition_fh(env)
    assert compare(got, P, R, H) <= 1e-9
