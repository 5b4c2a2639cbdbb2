"""The ``coherence`` command: demo, conformance run / check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from coherence.cli import main
from coherence.demo import demo_data
from tests.shared import CASES, needs_shared_cases

CASE_FILES = sorted(str(p) for p in CASES.glob("*.json")) if CASES.exists() else []


def test_demo_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    text = capsys.readouterr().out
    for value in ("2/5", "4/7", "7/17", "25/61", "128/209"):
        assert value in text
    assert main(["demo", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == json.loads(
        json.dumps(demo_data(), default=str).replace("Infinity", '"inf"')
    )
    race = data["mountain_race"]
    assert race["naive_policy"]["ridge"] == "2/5"
    assert [r["ridge"] for r in race["temperature"]] == [
        r["ridge"] for r in race["retraining"]
    ]
    assert race["boltzmann_fixed_point"]["ridge"] == "4/7"
    assert data["stochastic_counterexample"]["T_2"] == "7/17"
    assert data["stochastic_counterexample"]["G_2"] == "25/61"


@needs_shared_cases
@pytest.mark.parametrize("backend", ["auto", "exact", "numpy"])
def test_conformance_run_then_check_passes(
    backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "conformance",
                "run",
                *CASE_FILES,
                "--out",
                str(tmp_path),
                "--backend",
                backend,
            ]
        )
        == 0
    )
    assert main(["conformance", "check", *CASE_FILES, "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "0 failed, 0 missing" in out


@needs_shared_cases
def test_check_reports_fail_and_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = str(CASES / "stochastic-counterexample.json")
    assert main(["conformance", "run", case, "--out", str(tmp_path)]) == 0
    path = tmp_path / "stochastic-counterexample.json"
    data = json.loads(path.read_text())
    data["answers"]["G2"]["0"]["root"]["a1"] = "26/61"
    del data["answers"]["T2"]
    path.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["conformance", "check", case, "--results", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "26/61" in out and "25/61" in out
    assert "MISSING" in out
    assert "4 passed, 1 failed, 1 missing" in out


@needs_shared_cases
def test_check_float_tolerance_and_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = str(CASES / "return-sum-not-monotone.json")
    assert (
        main(["conformance", "run", case, "--out", str(tmp_path), "--backend", "numpy"])
        == 0
    )
    assert main(["conformance", "check", case, "--results", str(tmp_path)]) == 0
    # float answers to exact queries fail under --strict
    assert (
        main(["conformance", "check", case, "--results", str(tmp_path), "--strict"])
        == 1
    )
    path = tmp_path / "return-sum-not-monotone.json"
    data = json.loads(path.read_text())
    data["answers"]["Jsum_G1"] *= 1 + 1e-7
    path.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["conformance", "check", case, "--results", str(tmp_path)]) == 1
    assert (
        main(
            ["conformance", "check", case, "--results", str(tmp_path), "--rel", "1e-6"]
        )
        == 0
    )
    assert "loosened" in capsys.readouterr().out


@needs_shared_cases
def test_malformed_results_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = str(CASES / "stochastic-counterexample.json")
    (tmp_path / "stochastic-counterexample.json").write_text("{broken")
    assert main(["conformance", "check", case, "--results", str(tmp_path)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


@needs_shared_cases
def test_malformed_answer_fails_that_query(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = str(CASES / "stochastic-counterexample.json")
    assert main(["conformance", "run", case, "--out", str(tmp_path)]) == 0
    path = tmp_path / "stochastic-counterexample.json"
    data = json.loads(path.read_text())
    data["answers"]["G1"] = ["not", "an", "answer"]
    path.write_text(json.dumps(data))
    assert main(["conformance", "check", case, "--results", str(tmp_path)]) == 1
    assert "malformed answer" in capsys.readouterr().out


def test_case_without_expected_is_checked_against_the_oracle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from coherence.examples import mountain_race
    from coherence.reference.case import Case, Query, write_case
    from coherence.reference.operators import PolicySpec

    case_path = tmp_path / "case.json"
    write_case(
        case_path,
        Case(
            mdp=mountain_race(),
            queries=(
                Query("g3", "policy", PolicySpec("G", k=3)),
                Query(
                    "t_half",
                    "policy",
                    PolicySpec("T", alpha=__import__("fractions").Fraction(1, 2)),
                ),
                Query(
                    "maxent",
                    "J_sum",
                    PolicySpec("maxent", alpha=__import__("fractions").Fraction(2)),
                ),
            ),
        ),
    )
    out = tmp_path / "R"
    assert main(["conformance", "run", str(case_path), "--out", str(out)]) == 0
    assert main(["conformance", "check", str(case_path), "--results", str(out)]) == 0
    assert "vs oracle" in capsys.readouterr().out
    shutil.rmtree(out)
    # the exact backend cannot answer a non-rational policy: run says so and fails
    assert (
        main(
            [
                "conformance",
                "run",
                str(case_path),
                "--out",
                str(out),
                "--backend",
                "exact",
            ]
        )
        == 1
    )
