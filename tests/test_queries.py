"""The query layer: one place turns (MDP, policy, quantity, backend) into an
answer; the quantity table drives the case reader and the answers."""

from __future__ import annotations

import math
from fractions import Fraction as Fr

import numpy as np
import pytest
from hypothesis import given, settings

from coherence.examples import mountain_race, stochastic_counterexample
from coherence.queries import AUTO, Evaluator, answer_query, compute_policy, run_case
from coherence.reference.case import Case, CaseError, Query
from coherence.reference.model import MDP
from coherence.reference.operators import PolicySpec
from coherence.reference.quantities import (
    EXACT_QUANTITIES,
    FLOAT_QUANTITIES,
    QUANTITIES,
    quantity,
)
from coherence.reference.recurrences import Argmax, Boltzmann
from coherence.testing import mdps

ONE = Boltzmann(Fr(1))


def test_the_table_splits_exact_and_float_quantities() -> None:
    # CASE_FORMAT's fixed table, plus the causal KL between two policies
    assert EXACT_QUANTITIES == ("policy", "z", "w", "occupancy", "J_prob", "J_count")
    assert set(FLOAT_QUANTITIES) == {
        "J_soft",
        "J_sum",
        "causal_entropy",
        "kappa",
        "causal_kl",
    }
    assert quantity("kappa").parameters == ("f",)
    assert quantity("causal_kl").parameters == ("reference",)
    with pytest.raises(ValueError, match="quantity: unknown quantity 'kapa'"):
        quantity("kapa")


@pytest.mark.parametrize("backend", ["exact", "numpy", "torch:float64"])
def test_causal_kl_to_the_soft_q_policy_is_kappa(backend: str) -> None:
    """B_1[f] is the prior's f-soft-Q policy, so KL_c(prior || B_1[f]) is
    kappa_f(prior) by definition (SPEC §5)."""
    ev = Evaluator(mountain_race(), backend)
    for f in (ONE, Argmax()):
        prior = PolicySpec("prior")
        kl = ev.value("causal_kl", prior, reference=PolicySpec("B", i=1, f=f))
        kappa = ev.value("kappa", prior, f=f)
        assert isinstance(kl, float) and kl > 0
        assert kl == pytest.approx(kappa, rel=1e-12)


def test_causal_kl_of_a_policy_to_itself_is_zero_and_to_a_zero_is_infinite() -> None:
    ev = Evaluator(mountain_race(), "exact")
    g1 = PolicySpec("G", k=1)
    assert ev.value("causal_kl", g1, reference=g1) == 0.0
    # B_1[argmax] puts 0 on the ridge (down is better: 3/4 > 1/2), G_1 does not
    assert ev.value("causal_kl", g1, reference=PolicySpec("B", i=1, f=Argmax())) == (
        math.inf
    )


def test_causal_kl_is_a_case_query_that_round_trips() -> None:
    obj = {
        "id": "kl",
        "quantity": "causal_kl",
        "policy": {"operator": "G", "k": 2},
        "reference": {"operator": "prior"},
    }
    q = Query.from_json(obj, 0)
    assert q.reference == PolicySpec("prior") and not q.is_exact
    assert Query.from_json(q.to_json(), 0) == q
    with pytest.raises(CaseError, match="needs 'reference'"):
        Query.from_json({k: v for k, v in obj.items() if k != "reference"}, 0)
    with pytest.raises(CaseError, match="'reference' is only for quantity"):
        Query.from_json({**obj, "quantity": "J_prob"}, 0)
    mdp = stochastic_counterexample()
    exact = answer_query(mdp, q, "exact")
    fast = answer_query(mdp, q, "numpy")
    assert exact > 0 and fast == pytest.approx(exact, rel=1e-12)


def test_auto_answers_rational_queries_exactly_and_the_rest_in_floats() -> None:
    mdp = mountain_race()
    queries = (
        Query("p", "policy", PolicySpec("T", alpha=Fr(2))),
        Query("h", "policy", PolicySpec("T", alpha=Fr(1, 2))),
        Query("j", "J_soft", PolicySpec("G", k=1)),
    )
    results, errors = run_case(Case(mdp, queries), AUTO)
    assert errors == {}
    # SPEC §6: T_alpha(up|root) = (c^a + g^a) / (c^a + f1^a + f2^a + g^a)
    c, g, f = Fr(0), Fr(1), Fr(3, 4)
    want = (c**2 + g**2) / (c**2 + f**2 + f**2 + g**2)
    assert results.answers["p"]["0"]["root"]["up"] == want
    assert isinstance(results.answers["h"]["0"]["root"]["up"], float)
    assert isinstance(results.answers["j"], float)


def test_an_exact_engine_refuses_an_irrational_policy() -> None:
    ev = Evaluator(mountain_race(), "exact")
    with pytest.raises(ValueError, match="T_1/2 is not rational"):
        ev.value("policy", PolicySpec("T", alpha=Fr(1, 2)))


def test_the_evaluator_caches_policies_per_engine() -> None:
    ev = Evaluator(mountain_race(), "numpy")
    a = ev.policy(PolicySpec("G", k=3))
    assert ev.policy(PolicySpec("G", k=3)) is a
    # G_4 continues from the cached G_3 and equals a fresh computation
    fresh = compute_policy(ev.engine("numpy"), PolicySpec("G", k=4))
    assert np.array_equal(ev.policy(PolicySpec("G", k=4)), fresh)


@pytest.mark.parametrize("backend", ["exact", "numpy", "torch:float64"])
def test_engines_refuse_a_policy_of_the_wrong_shape(backend: str) -> None:
    """A (T, S, 1) policy used to be broadcast and gave w_0 = 2.5."""
    ev = Evaluator(mountain_race(), backend)
    engine = ev.engine(backend)
    good = ev.policy(PolicySpec("prior"))
    if backend == "exact":
        bad: object = [[row[:1] for row in pt] for pt in good]
    elif backend == "numpy":
        bad = good[:, :, :1]
    else:
        bad = good[..., :1]
    with pytest.raises(ValueError, match=r"policy: expected .*shape"):
        engine.w_table(bad)


@pytest.mark.parametrize("backend", ["exact", "numpy", "torch:float64"])
def test_engines_refuse_rows_that_are_not_distributions(backend: str) -> None:
    ev = Evaluator(mountain_race(), backend)
    engine = ev.engine(backend)
    good = ev.policy(PolicySpec("prior"))
    if backend == "exact":
        bad: object = [[[2 * x for x in row] for row in pt] for pt in good]
    else:
        bad = good + math.log(2)
    with pytest.raises(ValueError, match=r"policy: row \(.*t=0, s=0\)"):
        engine.occupancy(bad)


def test_every_quantity_row_is_answered_by_every_engine() -> None:
    mdp = stochastic_counterexample()
    for backend in ("exact", "numpy", "torch:float64"):
        ev = Evaluator(mdp, backend)
        for name, row in QUANTITIES.items():
            extra = {
                "f": ONE if "f" in row.parameters else None,
                "reference": PolicySpec("prior")
                if "reference" in row.parameters
                else None,
            }
            value = ev.value(name, PolicySpec("G", k=1), **extra)
            assert np.ndim(np.asarray(value, dtype=object)) == len(row.axes), (
                backend,
                name,
            )


def test_a_plain_integer_alpha_is_rational() -> None:
    spec = PolicySpec("T", alpha=2)
    assert spec.is_rational and spec == PolicySpec("T", alpha=Fr(2))
    assert Evaluator(mountain_race(), "exact").value("J_prob", spec) > 0


@settings(max_examples=40)
@given(mdps(max_states=4, max_actions=3, max_horizon=3))
def test_kl_quantities_are_never_negative(mdp: MDP) -> None:
    """KL_c >= 0: float rounding must not print a negative kappa (a -1e-17
    was seen before the clamp)."""
    ev = Evaluator(mdp, "numpy")
    for spec in (PolicySpec("G", k=2), PolicySpec("B", i=2, f=ONE)):
        assert ev.value("kappa", spec, f=ONE) >= 0.0
        assert ev.value("kappa", spec, f=Argmax()) >= 0.0
        assert ev.value("causal_kl", spec, reference=PolicySpec("G", k=3)) >= 0.0


def test_the_exact_path_refuses_work_past_its_limits_before_starting() -> None:
    """Boltzmann delta = 1e-12 on the exact path used to abort the process in
    GMP; the query layer now refuses it in one line, naming the way out."""
    ev = Evaluator(mountain_race(), "exact")
    tiny = Boltzmann(Fr(1, 10**12))
    with pytest.raises(ValueError, match=r"numpy|certified"):
        ev.value("kappa", PolicySpec("G", k=1), f=tiny)
    with pytest.raises(ValueError, match=r"numpy|certified"):
        ev.value("policy", PolicySpec("G", k=10**6))
