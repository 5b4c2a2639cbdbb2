"""The float64 engine agrees with the exact oracle on random small MDPs.

Tolerance: relative 1e-12·T with an absolute floor of 1e-14; Boltzmann policies
amplify rounding by 1/delta, so their tolerance is scaled by 1/delta.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coherence._numbers import to_float
from coherence.queries import compute_policy
from coherence.reference.exact import ExactEngine
from coherence.reference.model import MDP
from coherence.reference.numpy_engine import NumpyEngine
from coherence.reference.operators import PolicySpec
from coherence.reference.recurrences import Argmax, Boltzmann
from tests.exact_mdps import small_mdps

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


def close(got: Any, want: Any, rtol: float, floor: float = 1e-14) -> bool:
    g = np.asarray(got, dtype=np.float64)
    w = np.asarray(want, dtype=np.float64)
    both_inf = np.isinf(g) & np.isinf(w) & (np.sign(g) == np.sign(w))
    with np.errstate(invalid="ignore"):
        ok = both_inf | (np.abs(g - w) <= np.maximum(floor, rtol * np.abs(w)))
    return bool(np.all(ok)) and not np.isnan(g).any()


def as_float(table: Any) -> Any:
    if isinstance(table, list):
        return [as_float(x) for x in table]
    return to_float(table)


def rtol_for(spec: PolicySpec, T: int) -> float:
    scale = 1.0
    if spec.f is not None and not isinstance(spec.f, Argmax):
        scale = float(1 / Fraction(spec.f.delta))
    # literal and cumulative folding compound log-policies into the reward k times
    if spec.operator in ("F_literal", "H", "H_literal"):
        scale *= 1 + spec.k
    return 1e-12 * T * scale


def check_mdp(mdp: MDP) -> None:
    e, n = ExactEngine(mdp), NumpyEngine(mdp)
    T = mdp.horizon
    for spec in SPECS:
        rtol = rtol_for(spec, T)
        pe, pn = compute_policy(e, spec), compute_policy(n, spec)
        assert not np.isnan(pn).any()
        assert close(np.exp(pn), as_float(pe), rtol), spec
        ve, vn = e.values(pe), n.values(pn)
        assert close(np.exp(vn.V), as_float(ve.w), rtol), spec
        assert close(np.exp(vn.Q), as_float(ve.z), rtol), spec
        assert close(n.occupancy(pn), as_float(e.occupancy(pe)), rtol), spec
        assert close(n.j_prob(pn), to_float(e.j_prob(pe)), rtol), spec
        assert close(n.j_count(pn), to_float(e.j_count(pe)), rtol), spec
        # log-domain quantities: absolute error scales with the logs' magnitude
        for name in ("j_sum", "causal_entropy", "j_soft"):
            assert close(
                getattr(n, name)(pn), getattr(e, name)(pe), rtol, floor=1e-12 * T
            ), (spec, name)
        assert close(
            n.kappa(pn, Boltzmann(Fraction(1))),
            e.kappa(pe, Boltzmann(Fraction(1))),
            rtol,
            floor=1e-12 * T,
        ), spec


@settings(max_examples=60)
@given(small_mdps())
def test_float64_engine_matches_exact_oracle(mdp: MDP) -> None:
    check_mdp(mdp)


@settings(max_examples=25)
@given(small_mdps(deterministic=True, uniform_prior=False))
def test_float64_matches_exact_deterministic_nonuniform(mdp: MDP) -> None:
    check_mdp(mdp)


@settings(max_examples=40)
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
    assert close(np.exp(pi_n), as_float(pi_e), 1e-12)


def test_kappa_of_zero_support_is_infinite_in_both_engines() -> None:
    from coherence.examples import mountain_race

    mdp = mountain_race()
    e, n = ExactEngine(mdp), NumpyEngine(mdp)
    prior = PolicySpec("prior")
    one = Boltzmann(Fraction(1))
    assert e.kappa(compute_policy(e, prior), one) == math.inf
    assert n.kappa(compute_policy(n, prior), one) == math.inf
