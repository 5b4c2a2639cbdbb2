"""The ``torch`` backend through the registry: every query of every shared case.

float64 answers must pass the cases' own tolerance (rel 1e-9, abs 1e-12) against
their expected answers or the oracle; float32 answers pass with the looser
float32 tolerance the conformance CLI is given (rel 1e-5, abs 1e-7, see
docs/performance.md) and are compared with the float64 reference within
:func:`coherence.testing.tolerance_for`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from coherence import backends
from coherence.conformance import check_case
from coherence.gpu.engine import TorchEngine, make_engine, parse_options
from coherence.queries import Evaluator, run_case
from coherence.reference.case import Case, Tolerance, load_case
from coherence.testing import assert_close, tolerance_for
from tests.shared import CASES as CASE_DIR
from tests.shared import needs_shared_cases

CASES = sorted(CASE_DIR.glob("*.json"))
FLOAT32_CLI_TOLERANCE = Tolerance(rel=1e-5, abs=1e-7)

pytestmark = needs_shared_cases


@pytest.fixture(scope="module", params=CASES, ids=lambda p: p.stem)
def case(request: pytest.FixtureRequest) -> Case:
    return load_case(request.param)


@pytest.mark.parametrize(
    "name", ["torch", "torch:float64", "torch:float64:cpu", "torch:successors"]
)
def test_float64_conformance_passes_every_query(case: Case, name: str) -> None:
    results, errors = run_case(case, name)
    assert errors == {}
    checks = check_case(case, results)
    failed = [c for c in checks if c.status != "pass"]
    assert checks and not failed, failed


def test_float32_conformance_passes_with_the_stated_tolerance(case: Case) -> None:
    results, errors = run_case(case, "torch:float32")
    assert errors == {}
    checks = check_case(case, results, tolerance=FLOAT32_CLI_TOLERANCE)
    failed = [c for c in checks if c.status != "pass"]
    assert checks and not failed, failed


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_query_matches_the_numpy_reference(case: Case, dtype: str) -> None:
    mine = Evaluator(case.mdp, f"torch:{dtype}")
    ref = Evaluator(case.mdp, "numpy")
    for query in case.queries:
        k = max(1, query.policy.k, query.policy.i)
        tol = tolerance_for(dtype, case.mdp.horizon, iterations=k)
        got = mine.answer(query)
        want = ref.answer(query)
        assert_close(
            flatten(got),
            flatten(want),
            rel=tol.rel,
            abs=max(tol.abs, 1e-6 * k if dtype == "float32" else 0),
            name=f"{case.name}/{query.id}",
        )


def flatten(answer: object) -> np.ndarray:
    if isinstance(answer, dict):
        return np.concatenate([flatten(v) for v in answer.values()])
    return np.array([float(answer)])  # type: ignore[arg-type]


def test_the_query_layer_returns_numpy_tables_and_python_floats(case: Case) -> None:
    """The registry's torch engine answers batched tensors; the query layer
    drops the batch axis and returns numpy float64 tables and Python floats."""
    eng = backends.create("torch:float32", case.mdp)
    assert isinstance(eng, TorchEngine) and eng.batched
    T, S, A = case.mdp.horizon, case.mdp.n_states, case.mdp.n_actions
    ev = Evaluator(case.mdp, "torch:float32")
    spec = case.queries[0].policy
    table = ev.value("policy", spec)
    assert isinstance(table, np.ndarray) and table.dtype == np.float64
    assert table.shape == (T, S, A)
    assert ev.value("w", spec).shape == (T + 1, S)
    assert ev.value("occupancy", spec).shape == (T + 1, S)
    assert type(ev.value("J_prob", spec)) is float
    assert type(ev.value("J_sum", spec)) is float
    assert isinstance(make_engine(case.mdp, ("float64",)), TorchEngine)


BAD_OPTIONS = [
    ("two-dtypes", ("float32", "float64"), "dtype"),
    ("two-devices", ("cpu", "cpu"), "device"),
    ("two-layouts", ("dense", "successors"), "layout"),
    ("unknown", ("float16",), "unknown torch option"),
]


@pytest.mark.parametrize(
    ("options", "message"),
    [(o, m) for _, o, m in BAD_OPTIONS],
    ids=[i for i, _, _ in BAD_OPTIONS],
)
def test_bad_backend_options_are_rejected(
    options: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_options(options)


def test_options_default_to_float64_automatic_device_dense() -> None:
    assert parse_options(()) == (torch.float64, None, "dense")
    assert parse_options(("FLOAT32", "cpu", "successors")) == (
        torch.float32,
        "cpu",
        "successors",
    )


def test_gpu_package_imports_torch_lazily() -> None:
    """``import coherence.gpu`` (done by the CLI) must not import torch."""
    import subprocess
    import sys

    code = (
        "import sys, coherence.gpu as g; assert 'torch' not in sys.modules; "
        "g.TorchEngine; assert 'torch' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
