"""The backend registry: names, options, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from coherence import backends
from coherence.examples import mountain_race
from coherence.queries import compute_policy
from coherence.reference.numpy_engine import NumpyEngine


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
