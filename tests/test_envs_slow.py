"""Heavier ``coherence import`` checks (``-m slow``): the authors' horizons
(through the exact engine where auto's cost rule takes it), and a 10^5-state
unrolled MiniGrid case that stays in successor-list form."""

from __future__ import annotations

import math
import resource
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("gymnasium")
pytest.importorskip("minigrid")

from coherence.envs import case_json, end_probability, import_source, to_mdp
from coherence.envs.grid import GridSource
from coherence.envs.output import write_case_json
from coherence.queries import Evaluator
from coherence.reference.operators import PolicySpec
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
    data = case_json(table)
    assert (
        sum(len(r) for rows in data["transitions"].values() for r in rows.values())
        == table.n_successors
    )
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert grown < 4 * 2**30
    # 150 x 106,191 states x 7 actions is over the case reader's cell limit, so
    # the case is not written: the import refuses, in one line, what the
    # package's own reader would refuse
    out = tmp_path / "big.json"
    with pytest.raises(ValueError, match="MAX_CELLS") as refused:
        write_case_json(out, data)
    assert "\n" not in str(refused.value) and not out.exists()


def lava_goal_arrivals(env_id: str, T: int) -> dict[Fraction, Fraction]:
    """Under the uniform prior over the 7 actions, by a forward pass over the
    environment's own ``step`` (exact): the probability of reaching the goal
    within T steps, keyed by the goal's reward, which is MiniGrid's
    ``1 - 0.9 * (n / max_steps)`` in float64 for arrival at step n."""
    source = GridSource(env_id, seed=0)
    alive: dict[Any, Fraction] = {source.read(): Fraction(1)}
    arrivals: dict[Fraction, Fraction] = {}
    for t in range(T):
        nxt: dict[Any, Fraction] = {}
        for state, m in alive.items():
            for a in range(7):
                ((_, after, reward, terminated, goal),) = source.outcomes(state, a, t)
                if goal:
                    assert float(reward) == 1 - 0.9 * ((t + 1) / source.max_steps)
                    arrivals[reward] = arrivals.get(reward, Fraction(0)) + m / 7
                elif not terminated:
                    nxt[after] = nxt.get(after, Fraction(0)) + m / 7
        alive = nxt
    return arrivals


@pytest.mark.slow
def test_exp_map_heads_for_the_goal_on_lava_crossing() -> None:
    """LavaCrossingS9N1, T = 16, exp:10: lava ends the episode with reward 0,
    the goal at step n gives r_n = 1 - 0.9 n / max_steps (in float64), so a trajectory
    succeeds with probability exp(10 (R - 16)). The dynamics are deterministic,
    so G_k = T_k reweights the prior's trajectories by exp(10 k R): P(goal) =
    sum_n q_n e^(10 k r_n) / (sum_n q_n e^(10 k r_n) + 1 - sum_n q_n), q_n the
    prior's arrival probabilities (exact, from the environment's step). The
    engine agrees to 1e-12 for k = 1..4; P(goal) rises from about 1e-10 to
    above 0.99 at k = 3. Under exp-free-end:10, G_1 ends in lava (P > 0.999)."""
    env_id, T, beta = "MiniGrid-LavaCrossingS9N1-v0", 16, 10
    arrivals = lava_goal_arrivals(env_id, T)
    q = float(sum(arrivals.values()))
    assert 0 < q < 1e-9
    table = import_source(f"minigrid:{env_id}", horizon=T, success=f"exp:{beta}")
    ev = Evaluator(to_mdp(table), "numpy")
    seen = []
    for k in range(1, 5):
        weighted = math.fsum(
            float(m) * math.exp(beta * k * float(r)) for r, m in arrivals.items()
        )
        want = weighted / (weighted + 1 - q)
        for spec in (PolicySpec("G", k=k), PolicySpec("T", alpha=Fraction(k))):
            got = end_probability(table, ev.value("occupancy", spec), goal=True)
            assert abs(got - want) <= 1e-12 * want, (k, got, want)
        seen.append(want)
    assert seen == sorted(seen) and seen[2] > 0.99
    old = import_source(
        f"minigrid:{env_id}", horizon=T, success=f"exp-free-end:{beta}", warn=False
    )
    occ = Evaluator(to_mdp(old), "numpy").value("occupancy", PolicySpec("G", k=1))
    assert end_probability(old, occ, goal=False) > 0.999
