"""The float64 engine agrees with the exact oracle on random small MDPs.

Tolerance: relative 1e-12·T with an absolute floor of 1e-14 (1e-12·T for the
log-domain quantities); Boltzmann policies amplify rounding by 1/delta, so their
tolerance is scaled by 1/delta. Every quantity row of
:mod:`coherence.reference.quantities` is compared, through the query layer.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coherence._numbers import to_float
from coherence.queries import Evaluator, compute_policy, to_floats
from coherence.reference.exact import ExactEngine
from coherence.reference.model import MDP
from coherence.reference.numpy_engine import NumpyEngine
from coherence.reference.operators import PolicySpec
from coherence.reference.quantities import QUANTITIES
from coherence.reference.recurrences import Argmax, Boltzmann
from coherence.testing import assert_close, describe_mdp
from tests.exact_mdps import small_mdps
from tests.shared import examples

SPECS = (
    [PolicySpec("G", k=k) for k in range(4)]
    + [PolicySpec("T", alpha=Fraction(a)) for a in range(4)]
    + [
        PolicySpec(op, k=k)
        for op in ("F", "F_literal", "H", "H_literal")
        for k in (1, 2, 3)
    ]
    + [PolicySpec("B", i=i, f=Boltzmann(Fraction(1))) for i in (1, 2, 3)]
    + [PolicySpec("B", i=2, f=Boltzmann(Fraction(1, 2)))]
)


def rtol_for(spec: PolicySpec, T: int) -> float:
    """1e-12 T, scaled by 1/delta for Boltzmann policies and by k + 1 where
    folding compounds log-policies into the reward k times (tighter than the
    1e-10 T the package states for its float engines)."""
    scale = 1.0
    if spec.f is not None and not isinstance(spec.f, Argmax):
        scale = float(1 / Fraction(spec.f.delta))
    if spec.operator in ("F_literal", "H", "H_literal"):
        scale *= 1 + spec.k
    return 1e-12 * T * scale


#: quantities compared in the log domain: absolute error scales with the logs
LOG_DOMAIN = {"J_sum", "causal_entropy", "J_soft", "kappa", "causal_kl"}
ONE = Boltzmann(Fraction(1))


def check_mdp(mdp: MDP) -> None:
    """Every quantity of the table, for every spec, through the query layer."""
    exact, fast = Evaluator(mdp, "exact"), Evaluator(mdp, "numpy")
    T = mdp.horizon
    for spec in SPECS:
        rtol = rtol_for(spec, T)
        for name, row in QUANTITIES.items():
            extra: dict[str, Any] = {}
            if "f" in row.parameters:
                extra["f"] = ONE
            if "reference" in row.parameters:
                extra["reference"] = PolicySpec("prior")
            got = fast.value(name, spec, **extra)
            assert not np.isnan(np.asarray(got, dtype=float)).any()
            assert_close(
                got,
                to_floats(exact.value(name, spec, **extra)),
                rel=rtol,
                abs=1e-12 * T if name in LOG_DOMAIN else 1e-14,
                name=f"{name} of {spec.label()}",
                inputs=describe_mdp(mdp),
            )


@pytest.mark.properties
@settings(max_examples=examples(15, 60))
@given(small_mdps())
def test_float64_engine_matches_exact_oracle(mdp: MDP) -> None:
    check_mdp(mdp)


@pytest.mark.properties
@settings(max_examples=examples(8, 25))
@given(small_mdps(deterministic=True, uniform_prior=False))
def test_float64_matches_exact_deterministic_nonuniform(mdp: MDP) -> None:
    check_mdp(mdp)


@pytest.mark.properties
@settings(max_examples=examples(15, 40))
@given(small_mdps(), st.integers(1, 3))
def test_argmax_policies_agree_away_from_near_ties(mdp: MDP, i: int) -> None:
    """Exact ties are ties in float; skip draws whose top two z differ by less
    than 1e-6 without being equal (the float tie rule then may differ)."""
    e, n = ExactEngine(mdp), NumpyEngine(mdp)
    pi_e = e.prior_policy()
    for _ in range(i):
        z = e.values(pi_e).z
        gaps = [
            abs(to_float(x) - to_float(y))
            for zt in z
            for row in zt
            for x in row
            for y in row
            if x != y
        ]
        if any(g < 1e-6 for g in gaps):
            return
        pi_e = e.soft_q_policy(e.values(pi_e), Argmax())
    pi_n = compute_policy(n, PolicySpec("B", i=i, f=Argmax()))
    assert_close(np.exp(pi_n), to_floats(pi_e), rel=1e-12, abs=1e-14)


def test_kappa_of_zero_support_is_infinite_in_both_engines() -> None:
    from coherence.examples import mountain_race

    mdp = mountain_race()
    e, n = ExactEngine(mdp), NumpyEngine(mdp)
    prior = PolicySpec("prior")
    one = Boltzmann(Fraction(1))
    assert e.kappa(compute_policy(e, prior), one) == math.inf
    assert n.kappa(compute_policy(n, prior), one) == math.inf
