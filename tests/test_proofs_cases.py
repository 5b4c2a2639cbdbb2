"""Counterexample cases of the ledger: valid coherence-case/1 files whose
expected answers the reference oracle reproduces through the conformance
checker, and the rational-function number system the identities rely on."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from coherence import backends
from coherence.cli import main
from coherence.conformance import check_case
from coherence.proofs.cases import CASE_DIR
from coherence.proofs.families import (
    deterministic_tree,
    instantiate,
    stochastic_bandit,
)
from coherence.proofs.numbers import FieldSystem
from coherence.queries import run_case
from coherence.reference.case import (
    load_case,
    load_results,
    results_path,
    write_results,
)
from coherence.reference.operators import retrain, temperature

CASES = sorted(CASE_DIR.glob("*.json"))


def test_cases_exist() -> None:
    assert len(CASES) >= 8


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_reverified_by_oracle(path: Path, tmp_path: Path) -> None:
    case = load_case(path)
    assert case.queries and set(case.expected) == {q.id for q in case.queries}
    results, errors = run_case(case)
    assert errors == {}
    out = results_path(tmp_path, case.name)
    write_results(out, results)
    checks = check_case(case, load_results(out), strict=True)
    assert [c for c in checks if c.status != "pass"] == []


def test_conformance_cli_passes_every_case(tmp_path: Path) -> None:
    paths = [str(p) for p in CASES]
    assert main(["conformance", "run", *paths, "--out", str(tmp_path)]) == 0
    assert (
        main(["conformance", "check", *paths, "--results", str(tmp_path), "--strict"])
        == 0
    )


def test_field_identity_decides_both_ways() -> None:
    det = deterministic_tree(2, 1, symbolic_prior=True)
    ns = FieldSystem(det.names)
    e = backends.create("exact", instantiate(det, ns, ns.symbols))
    assert retrain(e, 2) == temperature(e, Fraction(2))
    sto = stochastic_bandit(2, 2, symbolic_prior=False)
    ns = FieldSystem(sto.names)
    e = backends.create("exact", instantiate(sto, ns, ns.symbols))
    assert retrain(e, 2) != temperature(e, Fraction(2))


@pytest.mark.parametrize(
    ("names", "message"),
    [([], "names"), (["a", "a"], "names")],
    ids=["empty", "duplicate"],
)
def test_field_system_rejects_bad_names(names: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FieldSystem(names)


def test_field_system_refuses_order_and_fractional_powers() -> None:
    ns = FieldSystem(["x"])
    x = ns.symbols["x"]
    with pytest.raises(ValueError, match="argmax"):
        ns.argmax_mask([x, x])
    with pytest.raises(ValueError, match="exponent"):
        ns.power(x, Fraction(1, 2))
    assert ns.power(x, 0) == 1
