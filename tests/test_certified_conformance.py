"""The certified backend through the CLI, results files and the checker."""

from __future__ import annotations

import dataclasses
import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from coherence.cli import main
from coherence.conformance import check_case
from coherence.reference.case import Results, load_case, load_results
from coherence.reference.model import MDP
from coherence.reference.operators import PolicySpec
from coherence.testing import assert_matches_oracle
from tests.shared import CASES, ROOT

PROOF_CASES = ROOT / "coherence" / "proofs" / "cases"
ALL = sorted(CASES.glob("*.json")) + sorted(PROOF_CASES.glob("*.json"))


def test_run_and_check_pass_on_every_public_and_proofs_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``conformance run --backend certified`` answers every query, writes the
    enclosures (each containing its midpoint answer), and ``check`` passes."""
    paths = [str(p) for p in ALL]
    assert main(["conformance", "run", *paths, "--backend", "certified",
                 "--out", str(tmp_path)]) == 0  # fmt: skip
    assert main(["conformance", "check", *paths, "--results", str(tmp_path)]) == 0
    assert " 0 failed, 0 missing" in capsys.readouterr().out
    results = load_results(tmp_path / "mountain-race.json")
    assert set(results.enclosures) == set(results.answers)
    mid, rad = results.enclosures["naive"]["0"]["root"]["up"]
    assert rad > 0 and abs(mid - Fraction(2, 5)) <= rad  # exact: 2/5 (SPEC §6)


def test_bad_bits_on_the_command_line_is_one_error_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """certified:40 is refused with exit 2 and nothing written."""
    out = tmp_path / "out"
    code = main(["conformance", "run", str(ALL[0]), "--backend", "certified:40",
                 "--out", str(out)])  # fmt: skip
    assert code == 2 and not out.exists()
    assert "bits" in capsys.readouterr().err


def _float_case(tmp_path: Path) -> tuple[object, Results]:
    """mountain-race without expected answers: the checker's own oracle answers
    (certified for the float queries)."""
    case = dataclasses.replace(load_case(CASES / "mountain-race.json"), expected={})
    assert main(["conformance", "run", str(CASES / "mountain-race.json"),
                 "--backend", "numpy", "--out", str(tmp_path)]) == 0  # fmt: skip
    return case, load_results(tmp_path / "mountain-race.json")


def test_check_passes_float_answers_within_tolerance_of_the_enclosure(
    tmp_path: Path,
) -> None:
    """numpy's float answers pass against the certified enclosure and the check
    says so; an answer moved by 1e-6 fails."""
    case, results = _float_case(tmp_path)
    checks = check_case(case, results)  # type: ignore[arg-type]
    floats = [c for c in checks if c.source == "certified"]
    assert floats and all(c.status == "pass" for c in checks)
    assert all("certified enclosure" in c.detail for c in floats)
    qid = floats[0].query
    moved = dict(results.answers)
    value = moved[qid]
    assert isinstance(value, float)
    moved[qid] = value + 1e-6
    bad = check_case(case, dataclasses.replace(results, answers=moved))  # type: ignore[arg-type]
    assert [c.status for c in bad if c.query == qid] == ["fail"]


def test_results_file_round_trips_enclosures(tmp_path: Path) -> None:
    """Written enclosures read back as exact (mid, rad) rationals; infinities as
    exact floats."""
    from coherence.reference.case import write_results

    enclosures = {"q": (Fraction(1, 3), Fraction(1, 10**40)), "r": -math.inf}
    res = Results("c", "x", {"q": 1.0, "r": -math.inf}, enclosures)
    write_results(tmp_path / "c.json", res)
    back = load_results(tmp_path / "c.json")
    assert back.enclosures["q"] == (Fraction(1, 3), Fraction(1, 10**40))
    assert back.enclosures["r"] == (-math.inf, Fraction(0))
    data = json.loads((tmp_path / "c.json").read_text())
    data["enclosures"]["q"]["rad"] = "-1"
    (tmp_path / "c.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="rad"):
        load_results(tmp_path / "c.json")


def test_assert_matches_oracle_uses_certified_for_float_mdps() -> None:
    """A correct float64 G_3 passes on a float MDP; a planted 1e-6 error fails
    with the enclosures in the report; a 1e-45 tolerance asks for more bits."""
    from coherence import backends
    from coherence.reference.operators import policy_for

    rng = np.random.default_rng(5)
    mdp = MDP.from_arrays(
        transitions=rng.dirichlet(np.ones(3), size=(3, 2)),
        initial=rng.dirichlet(np.ones(3)),
        success=rng.uniform(0.1, 1.0, (3, 3, 2)),
        prior=rng.dirichlet(np.ones(2), size=3),
        horizon=3,
    )
    engine = backends.create("numpy", mdp)
    got = np.exp(policy_for(engine, PolicySpec("G", k=3)))
    assert_matches_oracle(got, mdp, "policy", PolicySpec("G", k=3), rel=1e-9)
    got[1, 0, 0] += 1e-6
    with pytest.raises(AssertionError, match=r"certified oracle.*\n.* \+/- \d"):
        assert_matches_oracle(got, mdp, "policy", PolicySpec("G", k=3))
    with pytest.raises(ValueError, match="bits"):
        assert_matches_oracle(got, mdp, "policy", PolicySpec("G", k=3),
                              rel=1e-45, abs=0.0)  # fmt: skip
