"""Sweeps: tables with provenance, resume, interruption, Dask, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coherence.cli import main
from coherence.experiments.runs import instance_items, run_item
from coherence.experiments.sweep import check_scheduler, item_key, read_table, run_sweep


def _items(n: int = 3) -> list[dict[str, object]]:
    return instance_items("effective-horizon")[:n]


def test_sweep_tables_and_resume(tmp_path: Path) -> None:
    rows = run_sweep(_items(), tmp_path, "eh", workers=0, progress=False)
    assert len(rows) == 3
    table = read_table(tmp_path / "eh.parquet")
    assert [r["seed"] for r in table] == [r["seed"] for r in rows]
    assert (tmp_path / "eh.csv").read_text().count("\n") == 4
    assert all(len(str(r["case_hash"])) == 64 and r["coherence_version"] for r in table)
    seen: list[str] = []
    run_sweep(
        _items(), tmp_path, "eh", workers=0, progress=False, on_result=seen.append
    )
    assert seen == []  # everything was done
    key = item_key(_items()[1])
    (tmp_path / "eh.parts" / f"{key}.json").unlink()
    run_sweep(
        _items(), tmp_path, "eh", workers=0, progress=False, on_result=seen.append
    )
    assert seen == [key]


def test_interrupt_leaves_no_half_written_file(tmp_path: Path) -> None:
    def stop(_: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(
            _items(2),
            tmp_path,
            "eh",
            workers=0,
            chunk=1,
            progress=False,
            on_result=stop,
        )
    assert not (tmp_path / "eh.parquet").exists() and not (tmp_path / "eh.csv").exists()
    parts = list((tmp_path / "eh.parts").iterdir())
    assert len(parts) == 1 and json.loads(parts[0].read_text())["rows"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert len(run_sweep(_items(2), tmp_path, "eh", workers=0, progress=False)) == 2


def test_process_pool_matches_in_process(tmp_path: Path) -> None:
    items = instance_items("misalignment")[:2]
    pooled = run_sweep(items, tmp_path / "a", "m", workers=2, chunk=1, progress=False)
    local = [row for it in items for row in run_item(it)]
    assert pooled == local


def test_dask_local_cluster(tmp_path: Path) -> None:
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        rows = run_sweep(
            _items(2),
            tmp_path,
            "eh",
            scheduler=cluster.scheduler_address,
            progress=False,
        )
    assert [r["seed"] for r in rows] == [it["seed"] for it in _items(2)]
    assert (tmp_path / "eh.parquet").exists()


def test_unreachable_scheduler_fails_before_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot reach") as info:
        check_scheduler("tcp://127.0.0.1:9", timeout=1.0)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="scheduler"):
        run_sweep(_items(1), tmp_path / "x", "eh", scheduler="", progress=False)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["effective-horizon", "--ks", "0"], "--ks"),
        (["misalignment", "--temperatures", ","], "temperature list is empty"),
        (["effective-horizon", "--families", "T9_A9"], "unknown family"),
        (["effective-horizon", "--limit", "0"], "--limit"),
    ],
    ids=["k0", "temps-empty", "family", "limit"],
)
def test_cli_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = tmp_path / "r"
    assert main(["experiments", *args, "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not out.exists()
