"""The torch engine's cpu numpy backward pass (``_kernels.backward_dense_numpy``,
kernel "numpy") against the exact oracle, with the inputs that break float
passes: zero success (r = -inf), zero prior entries, exact ties, terminal zeros.

The kernel is an option of the engine, not of the registry, so the engine is
built here directly from the validated MDP's float views.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from coherence.gpu.engine import TorchEngine, TorchMDP
from coherence.reference.model import MDP
from coherence.reference.operators import PolicySpec, policy_for
from coherence.reference.recurrences import Argmax
from coherence.reference.tolerances import tolerance_for
from coherence.testing import assert_matches_oracle, mdps

SPECS = [PolicySpec("G", k=2), PolicySpec("B", i=1, f=Argmax())]


def _engine(mdp: MDP, kernel: str) -> TorchEngine:
    return TorchEngine(TorchMDP.from_mdps([mdp], layout="dense"), kernel=kernel)  # type: ignore[arg-type]


@pytest.mark.usefixtures("one_torch_thread")
@settings(max_examples=40)
@given(mdps(max_states=3, max_actions=3, max_horizon=3))
def test_numpy_kernel_matches_the_exact_oracle(mdp: MDP) -> None:
    """Policy and w of G_2 and B_1[argmax] from the numpy kernel equal the
    exact engine's within float64's stated tolerance (tolerance_for)."""
    engine = _engine(mdp, "numpy")
    assert engine._numpy_pass
    tol = tolerance_for("float64", mdp.horizon, iterations=2)
    for spec in SPECS:
        pol = policy_for(engine, spec)
        for name, table in (("policy", engine.policy_table(pol)),
                            ("w", engine.w_table(pol))):  # fmt: skip
            assert_matches_oracle(
                table[0], mdp, name, spec, rel=tol.rel, abs=tol.abs, exact=True
            )


def test_numpy_kernel_handles_minus_inf_ties_and_zero_weights() -> None:
    """A fixed MDP with rho = 0 on one action, a zero terminal success, a zero
    prior entry and two twin actions: both kernels agree with the exact oracle,
    and no NaN appears in Q or V (SPEC §2)."""
    P = np.zeros((3, 3, 3))
    P[0, 0] = [0.0, 0.5, 0.5]
    P[0, 1] = P[0, 0]
    P[0, 2] = [1.0, 0.0, 0.0]
    P[1, :, 2] = 1.0
    P[2, :, 1] = 1.0
    rho = np.ones((2, 3, 3)) * 0.5
    rho[:, 0, 2] = 0.0
    mdp = MDP.from_arrays(
        transitions=P,
        initial=[1.0, 0.0, 0.0],
        success=rho,
        terminal_success=[1.0, 0.0, 0.25],
        prior=[[0.25, 0.25, 0.5], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]],
        horizon=2,
    )
    tol = tolerance_for("float64", 2, iterations=2)
    for kernel in ("numpy", "torch"):
        engine = _engine(mdp, kernel)
        for spec in SPECS:
            pol = policy_for(engine, spec)
            values = engine.soft_values(pol, engine.base_reward())
            assert not values.Q.isnan().any() and not values.V.isnan().any()
            assert_matches_oracle(
                engine.policy_table(pol)[0], mdp, "policy", spec,
                rel=tol.rel, abs=tol.abs, exact=True,
            )  # fmt: skip
