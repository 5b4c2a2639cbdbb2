"""The worked examples of SPEC §6, exactly (values quoted from docs/spec.md)."""

from __future__ import annotations

import json
from fractions import Fraction as Fr

import pytest

from coherence.examples import mountain_race, stochastic_counterexample
from coherence.queries import compute_policy
from coherence.reference.case import case_from_json
from coherence.reference.exact import ExactEngine
from coherence.reference.numpy_engine import NumpyEngine
from coherence.reference.operators import PolicySpec
from coherence.reference.recurrences import Boltzmann
from tests.shared import CASES, needs_shared_cases

ONE = Boltzmann(Fr(1))


def ridge(engine: ExactEngine, spec: PolicySpec, t: int = 0, state: int = 0) -> Fr:
    return Fr(compute_policy(engine, spec)[t][state][0])


def test_mountain_race_naive_policy() -> None:
    e = ExactEngine(mountain_race())
    assert ridge(e, PolicySpec("G", k=1)) == Fr(2, 5)


def test_mountain_race_temperature_sequence_equals_retraining() -> None:
    e = ExactEngine(mountain_race())
    want = [Fr(1, 2), Fr(2, 5), Fr(8, 17), Fr(32, 59), Fr(128, 209)]
    for alpha, value in enumerate(want):
        assert ridge(e, PolicySpec("T", alpha=Fr(alpha))) == value
        assert ridge(e, PolicySpec("G", k=alpha)) == value
        if alpha > 0:  # closed form 1 / (1 + 2 (3/4)^alpha)
            assert value == 1 / (1 + 2 * Fr(3, 4) ** alpha)


def test_mountain_race_temperature_limit_is_one() -> None:
    n = NumpyEngine(mountain_race())
    import math

    log_pi = compute_policy(n, PolicySpec("T", alpha=Fr(200)))[0, 0]
    assert math.exp(log_pi[0]) == 1.0
    # the forest's share 2 (3/4)^200 / (1 + 2 (3/4)^200) ~ 2.06e-25 -> 0
    forest = 2 * 0.75**200 / (1 + 2 * 0.75**200)
    assert abs(math.exp(log_pi[1]) - forest) <= 1e-12 * forest


def test_mountain_race_boltzmann_iterations() -> None:
    race = mountain_race()
    e = ExactEngine(race)
    assert ridge(e, PolicySpec("B", i=1, f=ONE)) == Fr(2, 5)
    b2 = compute_policy(e, PolicySpec("B", i=2, f=ONE))
    b3 = compute_policy(e, PolicySpec("B", i=3, f=ONE))
    assert Fr(b2[0][0][0]) == Fr(b3[0][0][0]) == Fr(4, 7)
    gold = race.action_index("up")
    assert Fr(b3[1][race.state_index("ridge")][gold]) == 1
    assert [Fr(x) for x in b3[1][race.state_index("forest")]] == [Fr(1, 2)] * 2
    assert e.kappa(b2, ONE) == 0.0


@pytest.mark.parametrize("delta", [Fr(1, 8), Fr(1, 2), Fr(1), Fr(3), Fr(20)])
def test_goal_conditioning_is_incoherent_for_every_delta(delta: Fr) -> None:
    e = ExactEngine(mountain_race())
    g1 = compute_policy(e, PolicySpec("G", k=1))
    n = NumpyEngine(mountain_race())
    assert n.kappa(compute_policy(n, PolicySpec("G", k=1)), Boltzmann(delta)) > 0
    if (1 / delta).denominator == 1:
        assert e.kappa(g1, Boltzmann(delta)) > 0


def test_stochastic_counterexample() -> None:
    e = ExactEngine(stochastic_counterexample())
    assert ridge(e, PolicySpec("G", k=1)) == Fr(5, 11)
    assert ridge(e, PolicySpec("G", k=2)) == Fr(25, 61)
    assert ridge(e, PolicySpec("F", k=2)) == Fr(25, 61)
    assert ridge(e, PolicySpec("T", alpha=Fr(2))) == Fr(7, 17)


def load_shared(name: str) -> ExactEngine:
    return ExactEngine(
        case_from_json(json.loads((CASES / f"{name}.json").read_text())).mdp
    )


@needs_shared_cases
def test_return_monotonicity_example() -> None:
    e = load_shared("return-sum-not-monotone")
    pols = [compute_policy(e, PolicySpec("G", k=k)) for k in range(3)]
    assert [Fr(e.j_prob(p)) for p in pols] == [Fr(21, 40), Fr(221, 420), Fr(2331, 4420)]
    sums = [e.j_sum(p) for p in pols]
    # SPEC §6 quotes these to 5 decimals: -0.92222 -> -0.93313 -> -0.94399
    assert [round(s, 5) for s in sums] == [-0.92222, -0.93313, -0.94399]


@needs_shared_cases
def test_success_count_example() -> None:
    e = load_shared("success-count-not-monotone")
    g0, g1 = (
        compute_policy(e, PolicySpec("G", k=0)),
        compute_policy(e, PolicySpec("G", k=1)),
    )
    assert Fr(e.j_prob(g0)) == Fr(9, 80)
    assert Fr(e.j_prob(g1)) == Fr(41, 360)
    assert Fr(e.j_count(g0)) == Fr(77, 40)
    assert Fr(e.j_count(g1)) == Fr(343, 180)
