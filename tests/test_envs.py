"""``coherence import``: real gymnasium and MiniGrid environments, BRIDGE files
and the two published benchmarks as cases (issue 13, docs/envs.md)."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("gymnasium")
pytest.importorskip("minigrid")

from coherence.cli import main
from coherence.envs import (
    case_json,
    import_source,
    parse_success_map,
    to_mdp,
)
from coherence.envs.benchmarks import doc_bandit_closed_form
from coherence.envs.commands import register
from coherence.envs.grid import GridSource
from coherence.envs.tabular import BEYOND_HORIZON, exact_probabilities
from coherence.envs.toytext import ToyTextSource
from coherence.queries import Evaluator, auto_backend, is_exact_leaf, run_case
from coherence.reference.case import case_from_json, load_case
from coherence.reference.operators import PolicySpec

BRIDGE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bridge"
needs_bridge = pytest.mark.skipif(
    not BRIDGE.is_dir(), reason="the BRIDGE files (../shared/data/bridge) are absent"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coherence")
    register(parser.add_subparsers())
    return parser


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    code: int = args.handler(args)
    return code


# ------------------------------------------------------------ gymnasium P
@pytest.mark.parametrize("map_name", ["4x4", "8x8"])
@pytest.mark.parametrize("slippery", [True, False])
def test_frozenlake_table_equals_env_p(map_name: str, slippery: bool) -> None:
    """Every row of the case is the environment's P[s][a] with equal next
    states merged: probabilities to 1e-15, terminations as ended states, goals
    exactly where the reward is positive."""
    options = {"map_name": map_name, "is_slippery": slippery}
    table = import_source("gymnasium:FrozenLake-v1", horizon=40, options=options)
    source = ToyTextSource("FrozenLake-v1", options)
    P = source.raw_table()
    index = {name: i for i, name in enumerate(table.states)}
    assert BEYOND_HORIZON not in index  # every reachable state was expanded
    live = [s for s in range(len(P)) if source.state_name(s) in index]
    assert live  # the map's reachable cells
    for s in live:
        rows = table.rows[index[source.state_name(s)]]
        for a in range(4):
            want: dict[str, float] = {}
            for p, nxt, reward, done in P[s][a]:
                name = source.state_name(int(nxt))
                if done:
                    name = f"ended: {name}{' (goal)' if reward > 0 else ''}"
                want[name] = want.get(name, 0.0) + p
            got = {table.states[j]: q for j, q in rows[a]}
            assert set(got) == set(want), (s, a)
            for name, q in got.items():
                assert abs(float(q) - want[name]) <= 1e-15, (s, a, name)
            assert sum(got.values()) == 1


def test_only_states_reachable_within_the_horizon() -> None:
    """Deterministic FrozenLake at horizon 3: the live states are exactly those
    a breadth-first search on P reaches in at most 3 steps; successors of the
    step-3 frontier that were not enumerated are ``beyond horizon``."""
    T = 3
    options = {"is_slippery": False}
    source = ToyTextSource("FrozenLake-v1", options)
    P = source.raw_table()
    seen, layer = {0}, {0}
    for _ in range(T):
        layer = {
            int(nxt)
            for s in layer
            for a in range(4)
            for _, nxt, _, done in P[s][a]
            if not done and int(nxt) not in seen
        }
        seen |= layer
    table = import_source("gymnasium:FrozenLake-v1", horizon=T, options=options)
    live = {
        n for n in table.states if not n.startswith("ended") and n != BEYOND_HORIZON
    }
    assert live == {source.state_name(s) for s in seen}
    assert BEYOND_HORIZON in table.states


def test_slippery_probabilities_are_thirds() -> None:
    """0.33333333333333337 and 0.3333333333333333 read as 1/3 (rows sum to
    exactly 1); a row that is not close to 1 is refused."""
    assert (
        exact_probabilities(
            [0.33333333333333337, 0.3333333333333333, 0.33333333333333337], "row"
        )
        == [Fraction(1, 3)] * 3
    )
    assert exact_probabilities([0.1, 0.9], "row") == [Fraction(1, 10), Fraction(9, 10)]
    with pytest.raises(ValueError, match=r"row: probabilities sum to 0\.9"):
        exact_probabilities([0.4, 0.5], "row")


# ---------------------------------------------------------- every import
B = str(BRIDGE)
IMPORTS: list[tuple[str, int, str, dict[str, Any], str]] = [
    ("gymnasium:FrozenLake-v1", 8, "goal", {"is_slippery": True}, "auto"),
    ("gymnasium:FrozenLake-v1", 6, "exp:1", {"is_slippery": True}, "auto"),
    ("gymnasium:FrozenLake8x8-v1", 14, "return>=1", {"is_slippery": False}, "auto"),
    ("gymnasium:CliffWalking-v1", 15, "goal", {}, "auto"),
    ("gymnasium:Taxi-v4", 4, "goal", {}, "numpy"),
    ("minigrid:MiniGrid-Empty-5x5-v0", 8, "exp:1", {}, "auto"),
    ("minigrid:MiniGrid-DoorKey-5x5-v0", 14, "goal", {}, "numpy"),
    ("minigrid:MiniGrid-LavaCrossingS9N1-v0", 10, "goal", {}, "numpy"),
    ("minigrid:MiniGrid-KeyCorridorS3R1-v0", 10, "goal", {}, "numpy"),
    (f"bridge:{B}/MiniGrid-KeyCorridorS3R1-v0.npz", 100, "goal", {}, "numpy"),
    (f"bridge:{B}/maze_easy_l0_30_fs1.npz", 12, "return>=10", {}, "numpy"),
    (
        f"bridge:{B}/MiniGrid-Empty-16x16-DistanceShaped-v0.npz",
        12,
        "exp:1",
        {},
        "numpy",
    ),
    ("gambling", 1, "exp:1/10", {}, "auto"),
    ("doc-bandit", 1, "goal", {}, "auto"),
]


def check_import(
    source: str,
    horizon: int,
    success: str,
    options: dict[str, Any],
    backend: str,
    *,
    within_budget: bool = True,
) -> None:
    """The JSON reads back (the case reader validates every row) as the MDP
    built from the successor lists, and every default query (all operators of
    SPEC §4) is answered on ``backend``, exactly where CASE_FORMAT says so under
    ``auto`` (``within_budget``: every exact query is within auto's exact cost
    budget; else exactly those auto takes exact); J_prob is a probability and
    G_1 never lowers it (SPEC §7 claim 10)."""
    table = import_source(source, horizon=horizon, success=success, options=options)
    data = json.loads(json.dumps(case_json(table)))
    case = case_from_json(data)
    assert case.mdp == to_mdp(table)
    for rows in data["transitions"].values():
        assert all(row and "0" not in row.values() for row in rows.values())
    results, errors = run_case(case, backend)
    assert errors == {}
    answers = results.answers
    assert set(answers) == {q["id"] for q in data["queries"]}
    for qid, value in answers.items():
        if qid.startswith("J_prob"):
            assert 0 <= value <= 1 + 1e-12, qid
    exact = {q.id for q in case.queries if q.is_exact}
    assert bool(exact) == parse_success_map(success).exact
    if backend == "auto":
        for query in case.queries:
            if query.id in exact:
                on_exact = within_budget or auto_backend(case.mdp, query) == "exact"
                assert is_exact_leaf(answers[query.id]) == on_exact, query.id
    assert answers["J_prob:G_1"] >= answers["J_prob:prior"] - 1e-12
    assert math.isfinite(answers["kappa_1:G_1"]) and answers["kappa_1:G_1"] >= 0


@pytest.mark.parametrize(
    ("source", "horizon", "success", "options", "backend"),
    IMPORTS,
    ids=[f"{s.rsplit('/', 1)[-1]}-{m}" for s, _, m, _, _ in IMPORTS],
)
def test_every_import_is_a_valid_case_answering_all_operators(
    source: str, horizon: int, success: str, options: dict[str, Any], backend: str
) -> None:
    """Each source and map, through the exact (auto) or float64 engine."""
    if source.startswith("bridge:") and not BRIDGE.is_dir():
        pytest.skip("the BRIDGE files are absent")
    check_import(source, horizon, success, options, backend)


def test_provenance_is_recorded() -> None:
    """``source`` names the environment, its options, the package and its
    installed version, and the success map."""
    table = import_source(
        "gymnasium:FrozenLake-v1", horizon=3, options={"is_slippery": False}
    )
    data = case_json(table)
    src = data["source"]
    assert src["environment"] == "FrozenLake-v1"
    assert src["options"] == {"is_slippery": False}
    assert src["package_version"] == importlib.metadata.version("gymnasium")
    assert src["success_map"] == "goal"
    assert "FrozenLake-v1" in data["description"]
    assert case_from_json(data).mdp.horizon == 3


# ------------------------------------------------------------ benchmarks
def test_doc_bandit_closed_form_holds_exactly() -> None:
    """G_k(good) = 0.1 * 0.9^k / (0.1 * 0.9^k + 0.9 * 0.1^k), k = 1..10, in
    exact arithmetic; conditioning on success once gives 1/2 - 1/2."""
    mdp = to_mdp(import_source("doc-bandit", horizon=1))
    ev = Evaluator(mdp, "exact")
    start, good = mdp.state_index("start"), mdp.action_index("good")
    for k in range(1, 11):
        got = ev.value("policy", PolicySpec("G", k=k))[0][start][good]
        want = Fraction(1, 10) * Fraction(9, 10) ** k
        want /= want + Fraction(9, 10) * Fraction(1, 10) ** k
        assert Fraction(got) == want == doc_bandit_closed_form(k)
    assert doc_bandit_closed_form(1) == Fraction(1, 2)


def test_gambling_retraining_and_temperature_part_ways() -> None:
    """One decision, uniform prior, rho = exp(0.1 (r - 5)): the bandit closed
    forms G_k(a) = z(a)^k / sum z^k and T_k(a) = E[rho^k | a] / sum (SPEC §4
    with T = 1) give G_8(a2) = 0.734 and T_8(a0) = 0.891; float64 matches them
    to 1e-12."""
    mdp = to_mdp(import_source("gambling", horizon=1, success="exp:0.1"))
    ev = Evaluator(mdp, "numpy")
    s = mdp.state_index("start")
    outcomes = {"a0": (5, -15), "a1": (1, -6), "a2": (1, 1)}

    def moment(a: str, k: int) -> float:
        return sum(math.exp(0.1 * k * (r - 5)) for r in outcomes[a]) / 2

    for k in range(1, 9):
        z = {a: moment(a, 1) ** k for a in outcomes}
        t = {a: moment(a, k) for a in outcomes}
        g_pol = ev.value("policy", PolicySpec("G", k=k))[0][s]
        t_pol = ev.value("policy", PolicySpec("T", alpha=Fraction(k)))[0][s]
        for i, a in enumerate(outcomes):
            assert abs(g_pol[i] - z[a] / sum(z.values())) <= 1e-12
            assert abs(t_pol[i] - t[a] / sum(t.values())) <= 1e-12
    assert round(float(g_pol[2]), 3) == 0.734
    assert round(float(t_pol[0]), 3) == 0.891


def test_return_map_on_gambling_is_exact() -> None:
    """return>=1: a0 wins (+5), a1 wins (+1), a2 (+1): J_prob(prior) =
    (1/2 + 1/2 + 1) / 3 = 2/3 exactly."""
    mdp = to_mdp(import_source("gambling", horizon=1, success="return>=1"))
    assert Evaluator(mdp, "exact").value("J_prob", PolicySpec("prior")) == Fraction(
        2, 3
    )


def _direct_success(P: Any, T: int, beta: float) -> float:
    """P(success) of the uniform policy from state 0 under exp:beta, by the
    backward recursion on the environment's own P (r_max = 1 for FrozenLake),
    independent of the importer's state construction."""
    n = len(P)
    w = [1.0] * n  # w_T
    for _ in range(T):
        w = [
            sum(
                p * math.exp(beta * (reward - 1)) * (1.0 if done else w[int(nxt)]) / 4
                for a in range(4)
                for p, nxt, reward, done in P[s][a]
            )
            for s in range(n)
        ]
    return w[0]


def test_exp_map_charged_on_arrival_keeps_the_success_probability() -> None:
    """Slippery FrozenLake, exp:1: steps whose reward depends on the next state
    are charged on arrival; J_prob(prior) equals a direct recursion on P."""
    T = 8
    table = import_source(
        "gymnasium:FrozenLake-v1", horizon=T, success="exp:1",
        options={"is_slippery": True},
    )  # fmt: skip
    assert any("due]" in name for name in table.states)  # arrival tags exist
    mdp = to_mdp(table)
    got = Evaluator(mdp, "numpy").value("J_prob", PolicySpec("prior"))
    P = ToyTextSource("FrozenLake-v1", {"is_slippery": True}).raw_table()
    assert abs(got - _direct_success(P, T, 1.0)) <= 1e-12


def test_goal_map_makes_temperature_idle() -> None:
    """With 0/1 success, rho^alpha = rho: T_alpha = T_1 exactly for alpha > 0,
    while G_2 moves (slippery FrozenLake, exact)."""
    mdp = to_mdp(
        import_source(
            "gymnasium:FrozenLake-v1", horizon=6, options={"is_slippery": True}
        )
    )
    ev = Evaluator(mdp, "exact")
    t1 = ev.value("policy", PolicySpec("T", alpha=Fraction(1)))
    assert ev.value("policy", PolicySpec("T", alpha=Fraction(3))) == t1
    assert ev.value("policy", PolicySpec("G", k=2)) != t1


# --------------------------------------------------------------- MiniGrid
@pytest.mark.parametrize(
    ("env_id", "horizon"),
    [("MiniGrid-DoorKey-5x5-v0", 24), ("MiniGrid-KeyCorridorS3R1-v0", 18)],
)
def test_minigrid_case_replays_through_the_real_environment(
    env_id: str, horizon: int
) -> None:
    """Random action sequences (seed 7) stepped through a fresh environment,
    with its own random generator and observations, visit exactly the states
    the case's deterministic rows predict, up to termination."""
    table = import_source(f"minigrid:{env_id}", horizon=horizon)
    index = {name: i for i, name in enumerate(table.states)}
    rng = random.Random(7)
    for _ in range(30):
        fresh = GridSource(env_id, seed=0)
        env = fresh.env
        name = fresh.state_name(fresh.read())
        assert table.initial == [(index[name], Fraction(1))]
        for _t in range(horizon):
            action = rng.randrange(7)
            ((nxt, p),) = table.rows[index[name]][action]
            assert p == 1
            _, reward, terminated, _, _ = env.step(action)
            state = fresh.read()
            if terminated:
                goal = float(reward) > 0
                label = fresh.end_name(state) + (" (goal)" if goal else "")
                assert table.states[nxt] == f"ended: {label}"
                break
            name = fresh.state_name(state)
            assert table.states[nxt] == name


def test_minigrid_state_names_are_readable() -> None:
    """Names say where the agent is, where it faces and what changed."""
    table = import_source("minigrid:MiniGrid-DoorKey-5x5-v0", horizon=14)
    assert table.states[0] == "(1,3) left"
    assert any("carrying yellow key" in n for n in table.states)
    assert any("yellow door (2,1) open" in n for n in table.states)
    assert any(n.startswith("ended:") and "on goal (goal)" in n for n in table.states)


def test_minigrid_unrolls_time_for_reward_valued_maps() -> None:
    """MiniGrid's reward depends on the step, so exp and return>= put t into
    the state; goal does not."""
    goal = import_source("minigrid:MiniGrid-Empty-5x5-v0", horizon=6)
    timed = import_source("minigrid:MiniGrid-Empty-5x5-v0", horizon=6, success="exp:1")
    assert not any(n.startswith("t=") for n in goal.states)
    assert timed.states[0] == "t=0 | (1,1) right"
    assert timed.source["unrolled_over_time"] is True


# ----------------------------------------------------------------- BRIDGE
@needs_bridge
def test_bridge_keycorridor_is_solved_by_one_conditioning() -> None:
    """KeyCorridorS3R1 at the authors' horizon 100: deterministic, so G_1 is
    the posterior and succeeds surely (SPEC §7 claim 2); the prior does not."""
    table = import_source(
        f"bridge:{BRIDGE}/MiniGrid-KeyCorridorS3R1-v0.npz", horizon=100
    )
    assert table.source["licence"].startswith("CC-BY-4.0")
    ev = Evaluator(to_mdp(table), "exact")
    assert ev.value("J_prob", PolicySpec("G", k=1)) == 1
    assert ev.value("J_prob", PolicySpec("prior")) < Fraction(1, 100)


# -------------------------------------------------------------- bad input
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    """Each bad argument is a one-line ValueError naming it; no file appears
    and an existing output is left as it was."""
    no_transitions = tmp_path / "rewards_only.npz"
    np.savez(no_transitions, rewards=np.zeros((2, 2), dtype=np.float32))
    out = tmp_path / "case.json"
    cases = [
        ("gymnasium:NoSuchEnv-v9 --horizon 3", "unknown gymnasium id 'NoSuchEnv-v9'"),
        ("minigrid:MiniGrid-Nope-v0 --horizon 3", "unknown MiniGrid id"),
        ("gymnasium:CartPole-v1 --horizon 3", "has no transition table P"),
        ("gymnasium:FrozenLake-v1 --horizon 0", "--horizon: must be >= 1, got 0"),
        ("gambling --horizon -2", "--horizon: must be >= 1, got -2"),
        ("gambling --horizon 1 --success exp:0", "BETA must satisfy 0 < BETA"),
        ("gambling --horizon 1 --success exp:x", "BETA must be a number"),
        ("gambling --horizon 1 --success return>=?", "X must be a finite number"),
        ("gambling --horizon 1 --success best", "unknown map 'best'"),
        (f"bridge:{no_transitions} --horizon 3", "no array 'transitions'"),
        ("gymnasium:Taxi-v4 --horizon 3 --max-states 50",
         "--max-states: the state space exceeds 50"),
        ("minigrid:MiniGrid-Empty-5x5-v0 --horizon 101",
         "exceeds MiniGrid-Empty-5x5-v0's max_steps 100"),
        ("gymnasium:FrozenLake-v1 --horizon 3 --option map_name=5x5",
         "--option: FrozenLake-v1 rejects"),
        ("gymnasium:FrozenLake-v1 --horizon 3 --option slippery",
         "--option: expected KEY=VALUE"),
        ("doc-bandit --horizon 1 --option k=1", "take no options"),
        ("atari:Pong --horizon 1", "SOURCE: unknown source 'atari:Pong'"),
    ]  # fmt: skip
    for line, message in cases:
        argv = line.split()
        with pytest.raises(ValueError) as info:
            _run(["import", *argv, "--quiet", "--out", str(out)])
        text = str(info.value)
        assert message in text, (argv, text)
        assert "\n" not in text
        assert not out.exists(), argv
    out.write_text("keep\n")
    with pytest.raises(ValueError, match="--horizon"):
        _run(["import", "gambling", "--horizon", "0", "--quiet", "--out", str(out)])
    assert out.read_text() == "keep\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "case.json",
        "rewards_only.npz",
    ]


def test_cli_writes_a_case_the_reader_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``coherence import`` through the command line: exit 0, a summary line,
    and a file that load_case validates; a bad horizon is exit 2 with one
    ``coherence: error:`` line."""
    out = tmp_path / "sub" / "fl.json"
    argv = ["import", "gymnasium:FrozenLake-v1", "--horizon", "4",
            "--option", "is_slippery=false", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert "14 states, 4 actions, horizon 4" in capsys.readouterr().out
    case = load_case(out)
    assert case.mdp.horizon == 4 and case.mdp.is_deterministic
    assert (
        main(
            ["import", "gambling", "--horizon", "0", "--out", str(tmp_path / "x.json")]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["coherence: error: --horizon: must be >= 1, got 0"]
    assert not (tmp_path / "x.json").exists()


def test_success_map_specs_round_trip() -> None:
    """The parsed maps print as they parse, with exact parameters."""
    assert parse_success_map("exp:0.1").spec == "exp:1/10"
    assert parse_success_map("return>=-2.5").parameter == Fraction(-5, 2)
    assert parse_success_map("goal").exact
