"""The backend registry: names, options, clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coherence import backends
from coherence.examples import mountain_race
from coherence.queries import Evaluator, auto_backend, compute_policy
from coherence.reference import limits
from coherence.reference.case import Query
from coherence.reference.model import MDP
from coherence.reference.numpy_engine import NumpyEngine
from coherence.reference.operators import PolicySpec


def test_registry_names_and_creation() -> None:
    assert {"exact", "numpy", "torch"} <= set(backends.names())
    assert backends.describe("exact").exact
    assert not backends.describe("numpy:anything").exact
    engine = backends.create("numpy", mountain_race())
    assert engine.name == "numpy"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("fortran", "unknown backend 'fortran'"),
        ("numpy:float32", "takes no options"),
        ("exact:fast", "exact takes 'mpq' or 'fraction'"),
    ],
)
def test_bad_backend_names(name: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        backends.create(name, mountain_race())


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ({"transitions": np.ones((2, 2))}, "transitions"),
        ({"log_success": np.zeros((1, 3, 1))}, "log_success"),
        ({"log_prior": np.zeros((2, 2))}, "log_prior"),
        ({"initial": np.ones(3)}, "initial"),
        ({"log_terminal_success": np.zeros(1)}, "log_terminal_success"),
    ],
)
def test_numpy_from_arrays_checks_shapes(
    override: dict[str, object], words: str
) -> None:
    kwargs: dict[str, object] = {
        "transitions": np.array([[[1.0, 0.0]], [[0.0, 1.0]]]),
        "log_success": np.zeros((1, 2, 1)),
        "log_terminal_success": np.zeros(2),
        "log_prior": np.zeros((2, 1)),
        "initial": np.array([1.0, 0.0]),
    }
    kwargs.update(override)
    with pytest.raises(ValueError, match=words):
        NumpyEngine.from_arrays(**kwargs)  # type: ignore[arg-type]


def test_numpy_from_arrays_matches_the_mdp_engine() -> None:
    mdp = mountain_race()
    a = NumpyEngine(mdp)
    b = NumpyEngine.from_arrays(
        transitions=mdp.transition_array,
        log_success=mdp.log_success,
        log_terminal_success=mdp.log_terminal_success,
        log_prior=mdp.log_prior,
        initial=mdp.initial_array,
    )
    from coherence.reference.operators import PolicySpec

    spec = PolicySpec("G", k=3)
    assert np.array_equal(compute_policy(a, spec), compute_policy(b, spec))
    assert a.j_sum(compute_policy(a, spec)) == b.j_sum(compute_policy(b, spec))


# ------------------------------------------------------------ auto's cost rule
def _ring(n: int, horizon: int) -> MDP:
    """A deterministic ring of ``n`` states, two actions (stay, step), success
    1/2 per step: small numbers, work growing with n and the horizon."""
    P = np.zeros((n, 2, n))
    for s in range(n):
        P[s, 0, s] = 1
        P[s, 1, (s + 1) % n] = 1
    return MDP.from_arrays(
        transitions=P,
        initial=[1] + [0] * (n - 1),
        success=[["1/2", "1"]] * n,
        horizon=horizon,
    )


def _coin(horizon: int) -> MDP:
    """Two states, two actions, each action a fair coin between them: few
    steps, but exact numbers that grow like (k + 1)^T under G_k."""
    P = np.full((2, 2, 2), 0.5)
    return MDP.from_arrays(
        transitions=P,
        initial=[1, 0],
        success=[["1/3", "2/3"], ["1", "1/5"]],
        horizon=horizon,
    )


def test_auto_takes_exact_within_the_cost_budget() -> None:
    """A small case: exact, with its estimate (steps x (1 + bits / 1024))."""
    mdp = _ring(4, 3)
    choice = backends.auto_choice(mdp, PolicySpec("G", k=2))
    assert choice.backend == "exact"
    steps = limits.elementary_steps(mdp, PolicySpec("G", k=2))
    assert steps == 3 * 3 * (4 * 2 + 8)
    assert choice.exact_cost is not None and steps < choice.exact_cost < 2 * steps


def test_auto_takes_numpy_when_exact_and_certified_cost_too_much() -> None:
    """400 states x horizon 300: G_1 needs 2 x 300 x 1600 = 960,000 steps, over
    the budget both exactly and in balls; auto answers in float64 and the
    evaluator records the choice and its reason."""
    mdp = _ring(400, 300)
    spec = PolicySpec("G", k=1)
    choice = backends.auto_choice(mdp, spec)
    assert choice.backend == "numpy"
    assert choice.exact_cost is not None and choice.exact_cost > backends.AUTO_MAX_COST
    assert "exact cost estimate" in choice.reason and "certified" in choice.reason
    query = Query("j", "J_prob", spec)
    ev = Evaluator(mdp)
    value = ev.answer(query)
    assert isinstance(value, float) and 0 < value <= 1
    assert ev.choices["j"].backend == "numpy"
    assert set(ev._engines) == {"numpy"}


def test_auto_takes_certified_when_only_the_numbers_are_large() -> None:
    """G_15 on a two-state coin at T = 5: about 1,000 steps, but numbers of an
    estimated 2 x 16^5 = 2 million bits; certified balls cost the steps only."""
    mdp = _coin(5)
    spec = PolicySpec("G", k=15)
    assert limits.exact_limit_problem(mdp, spec) is None
    assert limits.exact_cost(mdp, spec) > backends.AUTO_MAX_COST
    choice = backends.auto_choice(mdp, spec)
    assert choice.backend == "certified"
    assert choice.certified_cost is not None
    assert choice.certified_cost <= backends.AUTO_MAX_COST
    pytest.importorskip("flint")
    assert auto_backend(mdp, Query("j", "J_prob", spec)) == "certified"


def test_auto_never_takes_an_exact_path_past_the_limits() -> None:
    """G_40 at T = 5 would create numbers past max_bits: auto does not choose
    exact (which would refuse), whatever the step count."""
    mdp = _coin(5)
    spec = PolicySpec("G", k=40)
    assert limits.exact_limit_problem(mdp, spec) is not None
    choice = backends.auto_choice(mdp, spec)
    assert choice.backend == "certified"
    assert choice.reason.startswith("exact path:")


def test_auto_cost_is_finite_or_inf_never_nan() -> None:
    """An absurd k gives an infinite estimate (a float, not an overflow)."""
    cost = limits.exact_cost(_coin(50), PolicySpec("G", k=10**6))
    assert cost == math.inf


def test_log_expectation_recomputes_only_rows_that_underflow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A row whose successors all have V = -inf is -inf at once; a row whose
    shifted sum underflows although a successor is alive (V = -800) is
    recomputed in log space, and only that row."""
    from coherence.reference import numpy_engine

    rows: list[int] = []
    original = numpy_engine.logsumexp

    def counted(x: np.ndarray, axis: int = -1) -> np.ndarray:
        rows.append(x.shape[0])
        return original(x, axis=axis)

    monkeypatch.setattr(numpy_engine, "logsumexp", counted)
    # PT[s', row]: row 0 -> s'0, row 1 -> s'1, row 2 -> s'2
    PT = np.eye(3)
    out = numpy_engine.log_expectation(PT, np.array([0.0, -np.inf, -np.inf]))
    assert list(out) == [0.0, -np.inf, -np.inf] and rows == []
    out = numpy_engine.log_expectation(PT, np.array([0.0, -800.0, -np.inf]))
    assert list(out) == [0.0, -800.0, -np.inf] and rows == [1]
