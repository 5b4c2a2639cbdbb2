"""``coherence retrain`` / ``coherence anneal`` on every public case (--json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coherence.cli import main
from tests.shared import CASES, needs_shared_cases

PUBLIC = sorted(CASES.glob("*.json")) if CASES.is_dir() else []
pytestmark = needs_shared_cases


@pytest.mark.parametrize("path", PUBLIC, ids=[p.stem for p in PUBLIC])
def test_retrain_and_anneal_run_on_every_public_case(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "retrain",
                str(path),
                "--rounds",
                "2",
                "--episodes",
                "20000",
                "--seed",
                "1",
                "--json",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    rounds = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["round"] for r in rounds] == [1, 2]
    for r in rounds:
        assert 0.0 <= r["J_prob"] <= 1.0
        assert r["max_abs_dev_G_k"] >= 0.0
        assert r["max_sigma_ratio_G_prev"] <= 1.0  # 5-sigma binomial bound
    assert (
        main(
            [
                "anneal",
                str(path),
                "--schedule",
                "1,2,4",
                "--samples",
                "4096",
                "--seed",
                "1",
                "--json",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    stages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["alpha"] for s in stages] == [1.0, 2.0, 4.0]
    assert all(s["max_abs_dev_T_alpha"] >= 0.0 for s in stages)


def test_schedule_is_validated(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["anneal", str(PUBLIC[0]), "--schedule", "2,1"])
    assert "non-decreasing" in capsys.readouterr().err
