"""``coherence retrain`` / ``anneal`` / ``profile``: the table, --check, --json,
--repeats, --plot, --save-policy judged by ``conformance check``.

Statistical rows use the commands' own stated verdict (family-wise level 1e-3,
Chernoff / empirical Bernstein intervals, coherence.gpu.learning.verdict); fixed
seeds. A check that must fail is run with a tolerance no learner can meet
(1e-9: insufficient data) or a planted wrong target, so each verdict can fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coherence.cli import main
from tests.shared import CASES, needs_shared_cases

PUBLIC = sorted(CASES.glob("*.json")) if CASES.is_dir() else []
pytestmark = [needs_shared_cases, pytest.mark.usefixtures("one_torch_thread")]
RACE = str(CASES / "mountain-race.json")
CPU = ["--device", "cpu"]


@pytest.mark.parametrize("path", PUBLIC, ids=[p.stem for p in PUBLIC])
def test_retrain_and_anneal_json_on_every_public_case(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # no cell of any row rejects its target at level 1e-3; a row may lack the
    # samples for +-0.05 (insufficient data, which --check refuses)
    args = ["--rounds", "2", "--episodes", "20000", "--seed", "1", "--json"]
    assert main(["retrain", str(path), *args, *CPU]) == 0
    rounds = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["round"] for r in rounds] == [1, 2]
    for r in rounds:
        assert 0.0 <= r["J_prob"] <= 1.0
        assert r["rejected"] == 0 and r["outcome"] != "FAIL", r
        assert r["cells"] >= 1
        assert (r["outcome"] == "pass") == (r["insufficient"] == 0)
    sched = ["--schedule", "1,2,4", "--samples", "4096", "--seed", "1", "--json"]
    assert main(["anneal", str(path), *sched, *CPU]) == 0
    stages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["alpha"] for s in stages] == [1.0, 2.0, 4.0]
    assert all(s["rejected"] == 0 and s["outcome"] != "FAIL" for s in stages)
    assert [s["warm"] for s in stages] == [0, 0, 0]  # default: no pseudo-count


def test_retrain_table_and_check(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["retrain", RACE, "--rounds", "2", "--episodes", "20000", *CPU]
    assert main(base) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("retrain mountain-race: learner mc")
    header = next(i for i, line in enumerate(out) if line.split()[:1] == ["round"])
    rows = out[header + 1 : header + 3]
    assert [row.split()[0] for row in rows] == ["1", "2"]
    assert all(row.split()[-1] == "pass" for row in rows)
    assert out[-1].startswith("verdict: PASS (2/2")
    assert "family-wise level 0.001" in out[1]
    # an unreachable tolerance: no round has the data, --check exits 1
    assert main([*base, "--tolerance", "1e-9"]) == 0
    assert "verdict: insufficient data (2/2" in capsys.readouterr().out
    assert main([*base, "--tolerance", "1e-9", "--check"]) == 1
    capsys.readouterr()


def test_retrain_repeats_report_intervals(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["retrain", RACE, "--rounds", "2", "--episodes", "10000", "--repeats", "3"]
    assert main([*args, *CPU]) == 0
    out = capsys.readouterr().out
    assert "median [min, max] over seeds [0, 1, 2]:" in out
    line = next(x for x in out.splitlines() if x.startswith("round 2"))
    assert "passed 3/3" in line and "[" in line


def test_plot_and_saved_policy_judged_by_conformance_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fig = tmp_path / "curves.png"
    saved = tmp_path / "race-learned.json"
    args = ["retrain", RACE, "--rounds", "3", "--episodes", "50000", *CPU]
    assert main([*args, "--plot", str(fig), "--save-policy", str(saved)]) == 0
    capsys.readouterr()
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    case_file = tmp_path / "race-learned.case.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [fig.name, saved.name, case_file.name]
    )
    check = ["conformance", "check", str(case_file), "--results", str(tmp_path)]
    assert main(check) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out
    # the check can fail: move one well-visited probability by 0.05
    data = json.loads(saved.read_text())
    root = data["answers"]["learned"]["0"]["root"]
    root["up"], root["down"] = root["up"] + 0.05, root["down"] - 0.05
    saved.write_text(json.dumps(data))
    assert main(check) == 1
    capsys.readouterr()
    # the profile of the saved policy: kappa_1 learned vs exact G_3
    assert main(["profile", RACE, str(saved), "--k", "3", "--json"]) == 0
    prof = json.loads(capsys.readouterr().out)
    assert prof["k"] == 3 and prof["distance"] >= 0.05 - 1e-12
    assert prof["kappa_gap"] == prof["kappa_learned"] - prof["kappa_exact"]


def test_anneal_table_plot_and_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fig = tmp_path / "anneal.svg"
    args = ["anneal", RACE, "--schedule", "1,4", "--samples", "16384", *CPU]
    assert main([*args, "--plot", str(fig), "--check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("anneal mountain-race: backup z vs T_alpha")
    assert "verdict: PASS (2/2" in out
    assert fig.read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--plot", "/nonexistent-dir/x.png"], "--plot: directory"),
        (["--plot", "curves.txt"], "expected a .png, .pdf or .svg"),
        (["--save-policy", "/nonexistent-dir/x.json"], "--save-policy: directory"),
        (["--save-policy", "x.case.json"], "expected NAME.json"),
    ],
)
def test_bad_outputs_rejected_before_work(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["retrain", RACE, "--episodes", "10", *CPU, *extra]) == 2
    assert message in capsys.readouterr().err


def test_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in (
        ["anneal", RACE, "--schedule", "1,-2"],
        ["anneal", RACE, "--warm", "-1"],
        ["retrain", RACE, "--level", "2"],
        ["retrain", RACE, "--tolerance", "0"],
    ):
        with pytest.raises(SystemExit):
            main(bad)
    assert "expected" in capsys.readouterr().err
