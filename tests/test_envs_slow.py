"""Heavier ``coherence import`` checks (``-m slow``): the authors' horizons
(through the exact engine where auto's cost rule takes it), and a 10^5-state
unrolled MiniGrid case that stays in successor-list form."""

from __future__ import annotations

import json
import resource
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("gymnasium")
pytest.importorskip("minigrid")

from coherence.envs import case_json, import_source
from coherence.envs.output import write_case_json
from tests.test_envs import BRIDGE, check_import

B = str(BRIDGE)
FULL: list[tuple[str, int, str, dict[str, Any], str]] = [
    (f"bridge:{B}/MiniGrid-KeyCorridorS3R1-v0.npz", 100, "goal", {}, "auto"),
    (f"bridge:{B}/maze_easy_l0_30_fs1.npz", 30, "return>=10", {}, "auto"),
    (
        f"bridge:{B}/MiniGrid-Empty-16x16-DistanceShaped-v0.npz",
        40,
        "exp:1",
        {},
        "numpy",
    ),
    ("gymnasium:Taxi-v4", 8, "goal", {}, "auto"),
    ("gymnasium:FrozenLake8x8-v1", 16, "exp:1", {"is_slippery": True}, "auto"),
    ("minigrid:MiniGrid-DoorKey-5x5-v0", 20, "goal", {}, "auto"),
    ("minigrid:MiniGrid-FourRooms-v0", 12, "goal", {}, "auto"),
    ("minigrid:MiniGrid-KeyCorridorS3R1-v0", 20, "goal", {}, "auto"),
    ("minigrid:MiniGrid-LavaCrossingS9N1-v0", 10, "return>=0.5", {}, "numpy"),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("source", "horizon", "success", "options", "backend"),
    FULL,
    ids=[f"{s.rsplit('/', 1)[-1]}-{m}" for s, _, m, _, _ in FULL],
)
def test_full_horizon_imports_answer_all_operators(
    source: str, horizon: int, success: str, options: dict[str, Any], backend: str
) -> None:
    """As the default-run check, at the horizons the sources are used with
    (where exact arithmetic costs more than auto's budget, auto answers in
    floats and says so)."""
    if source.startswith("bridge:") and not BRIDGE.is_dir():
        pytest.skip("the BRIDGE files are absent")
    check_import(source, horizon, success, options, backend, within_budget=False)


@pytest.mark.slow
def test_unrolled_minigrid_case_of_1e5_states_keeps_successor_lists(
    tmp_path: Path,
) -> None:
    """MiniGrid-Empty-16x16 under exp:1 at horizon 150 unrolls to more than
    10^5 states; the import and the JSON hold one successor per row (7 per
    state), and the process grows by far less than one dense S x S row block
    (8 S^2 bytes would be 80 GB)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    table = import_source(
        "minigrid:MiniGrid-Empty-16x16-v0", horizon=150, success="exp:1"
    )
    assert table.n_states > 100_000
    assert table.n_successors == 7 * table.n_states
    out = tmp_path / "big.json"
    write_case_json(out, case_json(table))
    data = json.loads(out.read_text())
    assert (
        sum(len(r) for rows in data["transitions"].values() for r in rows.values())
        == table.n_successors
    )
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert grown < 4 * 2**30
