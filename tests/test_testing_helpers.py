"""coherence.testing: the strategies draw what they promise; the assertion
helpers pass on agreement and fail with a per-point report."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from coherence.queries import compute_policy
from coherence.reference.case import case_from_json
from coherence.reference.model import MDP
from coherence.reference.numpy_engine import NumpyEngine
from coherence.reference.operators import PolicySpec
from coherence.reference.recurrences import Argmax
from coherence.testing import (
    MDPBatch,
    assert_close,
    assert_matches_oracle,
    mdp_batches,
    mdps,
    oracle,
    tolerance_for,
)


@given(mdps(deterministic=True, uniform_prior=False, max_states=3))
@settings(max_examples=30)
def test_deterministic_non_uniform_mdps(mdp: MDP) -> None:
    assert mdp.is_deterministic
    P = mdp.transition_array
    assert np.all((P == 0) | (P == 1))
    assert np.allclose(mdp.prior_array.sum(axis=1), 1, rtol=0, atol=1e-15)


@given(
    mdps(
        deterministic=False,
        uniform_prior=True,
        ties=False,
        zero_success=False,
        terminal=False,
    )
)
@settings(max_examples=30)
def test_switched_off_features_stay_off(mdp: MDP) -> None:
    assert mdp.has_uniform_prior
    assert np.all(np.isfinite(mdp.log_success))
    assert np.all(mdp.log_terminal_success == 0)


def test_strategy_options_are_validated() -> None:
    with pytest.raises(ValueError, match="max_states"):
        mdps(min_states=3, max_states=2)
    with pytest.raises(ValueError, match="min_horizon"):
        mdps(min_horizon=0)
    with pytest.raises(TypeError, match="deterministic"):
        mdps(deterministic="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ties"):
        mdp_batches(ties=None)  # type: ignore[arg-type]


def test_features_are_drawn_over_many_examples() -> None:
    """Ties, zero success, terminal rewards and zero prior entries all occur."""
    seen = {
        "tie": False,
        "zero_success": False,
        "terminal": False,
        "zero_prior": False,
        "stochastic": False,
    }

    @given(mdps(min_actions=2, max_actions=3))
    @settings(max_examples=150, derandomize=True, database=None)
    def collect(mdp: MDP) -> None:
        P, r = mdp.transition_array, mdp.log_success
        for s in range(mdp.n_states):
            for a in range(mdp.n_actions):
                for b in range(a + 1, mdp.n_actions):
                    if (
                        np.array_equal(P[s, a], P[s, b])
                        and np.array_equal(r[:, s, a], r[:, s, b])
                        and mdp.prior[s][a] == mdp.prior[s][b]
                    ):
                        seen["tie"] = True
        seen["zero_success"] |= bool(np.isneginf(r).any())
        seen["terminal"] |= bool((mdp.log_terminal_success < 0).any())
        seen["zero_prior"] |= bool((mdp.prior_array == 0).any())
        seen["stochastic"] |= not mdp.is_deterministic

    collect()
    assert all(seen.values()), seen


SHRINK = settings(
    derandomize=True,
    database=None,
    max_examples=20,
    deadline=None,
    phases=[Phase.generate, Phase.shrink],
)


def test_the_simplest_example_is_the_smallest_mdp() -> None:
    """Hypothesis' first choice (all zeros) is the MDP of the minimum sizes,
    deterministic, success 1, uniform prior and initial distribution."""
    mdp = find(mdps(min_states=2, max_states=4), lambda m: True, settings=SHRINK)
    assert (mdp.n_states, mdp.n_actions, mdp.horizon) == (2, 1, 1)
    assert mdp.is_deterministic and mdp.has_uniform_prior
    assert np.all(mdp.log_success == 0) and np.all(mdp.log_terminal_success == 0)
    assert mdp.initial == (Fraction(1, 2), Fraction(1, 2))


@pytest.mark.parametrize(
    ("feature", "sizes"),
    [
        ("non-uniform prior", (1, 2, 1)),
        ("success below 1 at t = 1", (1, 1, 2)),
    ],
)
def test_failures_shrink_to_the_fewest_states(
    feature: str, sizes: tuple[int, int, int]
) -> None:
    """A property that needs one feature shrinks to the sizes that feature
    needs, whichever state first showed it."""
    conditions = {
        "non-uniform prior": lambda m: not m.has_uniform_prior,
        "success below 1 at t = 1": lambda m: (
            m.horizon > 1 and bool((m.log_success[1] < 0).any())
        ),
    }
    mdp = find(mdps(), conditions[feature], settings=SHRINK)
    assert (mdp.n_states, mdp.n_actions, mdp.horizon) == sizes


@pytest.mark.parametrize("strategy", [mdps(), mdp_batches()])
def test_the_first_draw_warms_the_oracle(
    strategy: st.SearchStrategy[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first draw (data generation, outside hypothesis' deadline) computes
    one answer with the exact and the certified engine, once per process."""
    import coherence.testing as testing

    monkeypatch.setattr(testing, "_warm", False)
    find(strategy, lambda x: True, settings=SHRINK)
    assert testing._warm


@given(mdp_batches(min_batch=2, max_batch=3))
@settings(max_examples=20)
def test_batches_stack_the_oracle_float_views(batch: MDPBatch) -> None:
    B = len(batch.mdps)
    assert batch.transitions.shape[0] == B
    for b, mdp in enumerate(batch.mdps):
        assert np.array_equal(batch.transitions[b], mdp.transition_array)
        assert np.array_equal(batch.prior[b], mdp.prior_array)
        assert batch.success[b].shape == (mdp.horizon, mdp.n_states, mdp.n_actions)


def mountain_race(finish: float | Fraction = Fraction(3, 4)) -> MDP:
    P = np.zeros((7, 2, 7))
    P[0, 0, 1] = P[0, 1, 2] = 1  # root -> ridge, forest
    P[1, 0, 3] = P[1, 1, 4] = 1  # ridge -> gold, chasm
    P[2, 0, 5] = P[2, 1, 6] = 1  # forest -> finish, finish
    for s in range(3, 7):
        P[s, :, s] = 1
    return MDP.from_arrays(
        transitions=P,
        initial=[1, 0, 0, 0, 0, 0, 0],
        horizon=2,
        terminal_success=[1, 1, 1, 1, 0, finish, finish],
    )


def test_oracle_reproduces_the_mountain_race() -> None:
    mdp = mountain_race()
    g1 = oracle(mdp, "policy", PolicySpec("G", k=1))
    assert isinstance(g1, np.ndarray)
    assert g1[0, 0, 0] == pytest.approx(2 / 5, rel=1e-15)
    t2 = oracle(mdp, "policy", PolicySpec("T", alpha=Fraction(2)), exact=False)
    assert isinstance(t2, np.ndarray)
    assert t2[0, 0, 0] == pytest.approx(8 / 17, rel=1e-14)
    assert oracle(mdp, "kappa", PolicySpec("G", k=1), f=Argmax()) == math.inf


def test_assert_matches_oracle_passes_and_reports_the_differing_cells() -> None:
    """G_1 of the mountain race: 2/5 at the root (SPEC §6); a planted 0.41 /
    0.59 there is reported cell by cell, with the MDP as a case that reads
    back to the same MDP."""
    mdp = mountain_race()
    spec = PolicySpec("G", k=1)
    good = NumpyEngine(mdp).policy_table(compute_policy(NumpyEngine(mdp), spec))
    assert_matches_oracle(good, mdp, "policy", spec)
    bad = good.copy()
    bad[0, 0] = [0.41, 0.59]
    with pytest.raises(AssertionError) as info:
        assert_matches_oracle(bad, mdp, "policy", spec)
    lines = str(info.value).splitlines()
    assert lines[0] == (
        "policy of G_1 vs the exact oracle: 2 of 28 cells differ (rel 1e-09, abs 1e-12)"
    )
    assert lines[1].split() == [
        "t=0", "s=0", "a=0", "got", "0.41", "want", "0.4", "rel", "diff", "0.025"
    ]  # fmt: skip
    assert lines[2].split()[:3] == ["t=0", "s=0", "a=1"]
    assert lines[3].startswith("case: {") and len(lines) == 4
    case = case_from_json(json.loads(lines[3].removeprefix("case: ")))
    assert case.mdp == mdp and "Fraction" not in lines[3]
    assert '"3/4"' in lines[3]  # exact rationals as the case writer prints them
    (query,) = case.queries
    assert (query.quantity, query.policy) == ("policy", spec)


def test_one_bug_is_one_failure_not_an_exception_group() -> None:
    """Failures of the exact and the certified path are raised from one place
    with no exception context, so hypothesis reports one failure."""
    calls = {"exact": 0, "certified": 0}

    @given(st.sampled_from(["exact", "certified"]))
    @settings(max_examples=20, derandomize=True, database=None)
    def check(kind: str) -> None:
        calls[kind] += 1
        mdp = mountain_race(0.7 if kind == "certified" else Fraction(3, 4))
        w = oracle(mdp, "w", PolicySpec("G", k=1))
        assert_matches_oracle(np.asarray(w) + 0.5, mdp, "w", PolicySpec("G", k=1))

    with pytest.raises(AssertionError) as info:
        check()
    assert calls["exact"] and calls["certified"]
    assert not isinstance(info.value, BaseExceptionGroup)


def test_failure_points_at_the_callers_line_only() -> None:
    """Every frame of the assertion helpers is hidden from pytest
    (``__tracebackhide__``), so the traceback ends in the test."""
    mdp = mountain_race()
    with pytest.raises(AssertionError) as info:
        assert_matches_oracle(np.zeros((2, 7, 2)), mdp, "policy")
    shown = [e for e in info.traceback if not e.ishidden(info)]
    assert shown and all("coherence" not in str(e.path) for e in shown)
    hidden = {e.name for e in info.traceback if e.ishidden(info)}
    assert {"assert_matches_oracle", "_fail"} <= hidden


def test_assert_close_conventions() -> None:
    assert_close([math.inf, -math.inf, 0.0], [math.inf, -math.inf, 1e-13], abs=1e-12)
    with pytest.raises(AssertionError, match="1 of 1"):
        assert_close([math.nan], [math.nan])
    with pytest.raises(AssertionError, match="1 of 2"):
        assert_close([math.inf, 1.0], [-math.inf, 1.0])
    with pytest.raises(AssertionError, match="shape"):
        assert_close([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="rel"):
        assert_close([1.0], [1.0], rel=-1)
    many = np.zeros(30)
    with pytest.raises(AssertionError, match="and 25 more"):
        assert_close(many + 1, many)
    with pytest.raises(AssertionError, match=r"^x: 1 of 2 cells .*\n  i=1 j=0 "):
        assert_close([[0.0], [1.0]], [[0.0], [2.0]], name="x", index_names="ij")


@pytest.mark.parametrize(
    ("dtype", "T", "k", "rel", "abs_"),
    [
        ("float64", 3, 1, 3e-10, 1e-13),
        ("torch.float64", 1, 5, 1e-10, 1e-13),
        ("float32", 2, 3, 1.2e-5, 1e-7),
    ],
)
def test_tolerance_scales_with_dtype_and_horizon(
    dtype: str, T: int, k: int, rel: float, abs_: float
) -> None:
    tol = tolerance_for(dtype, T, iterations=k)
    assert tol.rel == pytest.approx(rel) and tol.abs == abs_


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("float16", 1), "dtype"),
        (("float64", 0), "horizon"),
        (("float64", True), "horizon"),
    ],
)
def test_bad_tolerance_arguments(args: tuple[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tolerance_for(*args)


@given(st.data())
@settings(max_examples=5)
def test_readme_example(data: st.DataObject) -> None:
    """The README's few-line property test, verbatim in spirit."""
    mdp = data.draw(mdps(max_states=3, max_actions=2, max_horizon=2))
    engine = NumpyEngine(mdp)  # stands in for "another implementation"
    mine = engine.policy_table(compute_policy(engine, PolicySpec("G", k=2)))
    assert_matches_oracle(mine, mdp, "policy", PolicySpec("G", k=2), rel=1e-10)
