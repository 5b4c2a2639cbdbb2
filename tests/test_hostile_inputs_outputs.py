"""Hostile inputs found by a second adversarial run: outputs checked before
any work (sweep tables, report pages, a foreign table never replaced), a
bounded anneal schedule, a bounded .npz member count, no empty backend option,
and auto's fallback engines held to their limits before a run starts."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from coherence._io import MAX_NPZ_MEMBERS, FileError, read_npz

ROOT = Path(__file__).resolve().parents[1]
RACE = ROOT / "coherence" / "cases" / "public" / "mountain-race.json"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "coherence", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _one_line_refusal(done: subprocess.CompletedProcess[str], words: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], lines
    assert "Traceback" not in done.stderr


def test_a_sweep_refuses_a_fifo_target_before_any_instance_runs(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    from coherence.experiments.runs import instance_items
    from coherence.experiments.sweep import run_sweep

    os.mkfifo(tmp_path / "n.parquet")
    with pytest.raises(FileError, match="FIFO"):
        run_sweep(instance_items("return-improvement")[:1], tmp_path, "n", workers=0)
    assert not (tmp_path / "n.parts").exists()


def test_a_foreign_table_is_refused_not_replaced(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from coherence.experiments.runs import instance_items
    from coherence.experiments.sweep import run_sweep

    target = tmp_path / "n.parquet"
    pq.write_table(pa.table({"zz": [1]}), target)
    before = (target.stat().st_ino, target.read_bytes())
    with pytest.raises(ValueError, match="not a table of the n sweep"):
        run_sweep(instance_items("return-improvement")[:1], tmp_path, "n", workers=0)
    assert (target.stat().st_ino, target.read_bytes()) == before
    assert not (tmp_path / "n.parts").exists()
    target.write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="not a readable Parquet table"):
        run_sweep(instance_items("return-improvement")[:1], tmp_path, "n", workers=0)


def test_the_report_refuses_a_fifo_page_before_the_sweeps(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from coherence.experiments.report import write_report

    os.mkfifo(tmp_path / "report.html")
    with pytest.raises(FileError, match="FIFO"):
        write_report(tmp_path, workers=0, progress=False)
    assert not (tmp_path / "results").exists()


def test_an_anneal_schedule_is_bounded(tmp_path: Path) -> None:
    schedule = ",".join(["1"] * 1001)
    done = _cli("anneal", str(RACE), "--schedule", schedule, cwd=tmp_path)
    _one_line_refusal(done, "1001 stages exceed the limit of 1000")


def test_an_npz_with_too_many_members_is_refused_before_reading_them() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(MAX_NPZ_MEMBERS + 1):
            member = io.BytesIO()
            np.save(member, np.zeros(1))
            z.writestr(f"a{i}.npy", member.getvalue())
    with pytest.raises(FileError, match=f"{MAX_NPZ_MEMBERS + 1} arrays"):
        read_npz("x.npz", "bridge file", data=buf.getvalue())


def test_an_empty_backend_option_is_refused(tmp_path: Path) -> None:
    done = _cli(
        "conformance", "run", str(RACE), "--out", "R", "--backend", "certified:",
        cwd=tmp_path,
    )  # fmt: skip
    _one_line_refusal(done, "empty option")
    assert not (tmp_path / "R").exists()


def test_auto_refuses_before_work_what_no_backend_can_answer(tmp_path: Path) -> None:
    """Horizon 10^5: auto's exact path is over its cells, and G_2's float
    fallback needs 2 x 10^5 steps, over the float engines' max_steps 10^5."""
    case = json.loads(RACE.read_text(encoding="utf-8"))
    case["horizon"] = 100_000
    case.pop("expected", None)
    path = tmp_path / "long.json"
    path.write_text(json.dumps(case), encoding="utf-8")
    done = _cli("conformance", "run", str(path), "--out", "R", cwd=tmp_path)
    _one_line_refusal(done, "max_steps")
    assert not (tmp_path / "R").exists()
