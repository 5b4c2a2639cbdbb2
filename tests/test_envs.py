"""``coherence import``: real gymnasium and MiniGrid environments, BRIDGE files
and the two published benchmarks as cases (issue 13, docs/envs.md)."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import itertools
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

from coherence._numbers import format_rational
from coherence.cli import main
from coherence.envs import (
    DroppedRewardWarning,
    case_json,
    end_probability,
    import_source,
    parse_success_map,
    to_mdp,
)
from coherence.envs.benchmarks import doc_bandit_closed_form
from coherence.envs.bridge import PACKAGED, packaged_files, resolve_bridge
from coherence.envs.commands import register
from coherence.envs.grid import GridSource
from coherence.envs.tabular import BEYOND_HORIZON, exact_probabilities
from coherence.envs.toytext import ToyTextSource
from coherence.queries import Evaluator, auto_backend, is_exact_leaf, run_case
from coherence.reference.case import case_from_json, load_case
from coherence.reference.operators import PolicySpec

#: The BRIDGE files ship with the package (coherence/envs/data/bridge), so no
#: test skips for them in a fresh clone.
BRIDGE = PACKAGED
SHARED_BRIDGE = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bridge"
)
needs_bridge = pytest.mark.skipif(
    not BRIDGE.is_dir(), reason="the package's BRIDGE files are missing"
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


# ----------------------------------------------- replay of the real step
TOYTEXT_REPLAYS = [
    ("FrozenLake-v1", {"is_slippery": True}, 12),
    ("FrozenLake8x8-v1", {"is_slippery": False}, 16),
    ("CliffWalking-v1", {}, 12),
    ("Taxi-v4", {}, 5),
]


@pytest.mark.parametrize(("env_id", "options", "horizon"), TOYTEXT_REPLAYS)
def test_toytext_case_replays_through_the_real_environment(
    env_id: str, options: dict[str, Any], horizon: int
) -> None:
    """The real ``env.step`` (``gymnasium.make``, reset and action seeds 5),
    sampled along 200 random episodes of up to T steps: each start state is in
    the case's initial distribution, each observed successor has positive
    probability in the case's row (the ended state, goal or not, where the
    environment terminates), and the successors of a deterministic row are the
    one observed. Slippery rows are compared in distribution by
    :func:`test_slippery_frequencies_match_the_case`."""
    import gymnasium

    table = import_source(
        f"gymnasium:{env_id}", horizon=horizon, options=options, warn=False
    )
    source = ToyTextSource(env_id, options)
    index = {name: i for i, name in enumerate(table.states)}
    start = {table.states[i] for i, _ in table.initial}
    env = gymnasium.make(env_id, **options)
    rng = random.Random(5)
    compared = 0
    for episode in range(200):
        obs, _ = env.reset(seed=5 + episode)
        name = source.state_name(int(obs))
        assert name in start
        for _ in range(horizon):
            action = rng.randrange(len(table.actions))
            row = dict(table.rows[index[name]][action])
            obs, reward, terminated, _, _ = env.step(action)
            nxt = source.state_name(int(obs))
            if terminated:
                goal = float(reward) > 0 or int(obs) in source.goal_states
                nxt = f"ended: {nxt}{' (goal)' if goal else ''}"
            assert row.get(index[nxt], 0) > 0, (name, action, nxt)
            if len(row) == 1:
                assert row == {index[nxt]: 1}
            compared += 1
            if terminated:
                break
            name = nxt
    assert compared > 500


def test_slippery_frequencies_match_the_case() -> None:
    """Slippery FrozenLake's real ``step``, sampled 40,000 times from every
    non-terminal state and action (seeded), against the case's probabilities:
    Pearson's chi-square over all rows (each row contributes its successors
    minus one degrees of freedom) has a p-value above 1e-3. The seeds fix the
    statistic, so the test is deterministic."""
    stats = pytest.importorskip("scipy.stats")
    import gymnasium

    table = import_source(
        "gymnasium:FrozenLake-v1", horizon=40, options={"is_slippery": True}
    )
    source = ToyTextSource("FrozenLake-v1", {"is_slippery": True})
    index = {name: i for i, name in enumerate(table.states)}
    env = gymnasium.make("FrozenLake-v1", is_slippery=True).unwrapped
    env.reset(seed=9)
    chi2, dof = 0.0, 0
    for s in range(16):
        name = source.state_name(s)
        if name not in index:  # holes and the goal: the episode has ended
            continue
        for a in range(4):
            counts: dict[int, int] = {}
            n = 625
            for _ in range(n):
                env.s = s
                obs, reward, terminated, _, _ = env.step(a)
                label = source.state_name(int(obs))
                if terminated:
                    label = f"ended: {label}{' (goal)' if reward > 0 else ''}"
                j = index[label]
                counts[j] = counts.get(j, 0) + 1
            row = dict(table.rows[index[name]][a])
            assert set(counts) <= set(row)
            chi2 += sum(
                (counts.get(j, 0) - n * float(p)) ** 2 / (n * float(p))
                for j, p in row.items()
            )
            dof += len(row) - 1
    assert dof > 50
    assert stats.chi2.sf(chi2, dof) > 1e-3


@needs_bridge
@pytest.mark.parametrize(
    "file",
    [
        "MiniGrid-KeyCorridorS3R1-v0.npz",
        "maze_easy_l0_30_fs1.npz",
        "MiniGrid-Empty-16x16-DistanceShaped-v0.npz",
    ],
)
def test_bridge_case_replays_through_the_file(file: str) -> None:
    """A BRIDGE file is its own dynamics: 300 random action sequences (seed
    13) read straight from ``transitions`` and ``rewards`` with numpy, against
    the case under return>=1000 (no cap is reached, so every state name carries
    the exact return): successors, terminations (next state -1) and returns
    agree at every step."""
    T = 30
    data = np.load(BRIDGE / file)
    nxt_of, reward_of = data["transitions"], data["rewards"]
    table = import_source(f"bridge:{BRIDGE / file}", horizon=T, success="return>=1000")
    index = {name: i for i, name in enumerate(table.states)}
    rng = random.Random(13)
    for _ in range(300):
        s, total = 0, Fraction(0)
        name = "s0 [return 0]"
        assert table.initial == [(index[name], Fraction(1))]
        for _t in range(T):
            a = rng.randrange(nxt_of.shape[1])
            ((j, p),) = table.rows[index[name]][a]
            assert p == 1
            r = reward_of[s, a]  # float32: str is its shortest decimal
            total += Fraction(str(r))
            s = int(nxt_of[s, a])
            goal = " (goal)" if s < 0 and r > 0 else ""
            where = "ended: episode ended" + goal if s < 0 else f"s{s}"
            name = f"{where} [return {format_rational(total)}]"
            assert table.states[j] == name
            if s < 0:
                break


# ---------------------------------------------------------- every import
B = str(BRIDGE)
IMPORTS: list[tuple[str, int, str, dict[str, Any], str]] = [
    ("gymnasium:FrozenLake-v1", 8, "goal", {"is_slippery": True}, "auto"),
    ("gymnasium:FrozenLake-v1", 6, "exp:1", {"is_slippery": True}, "auto"),
    ("gymnasium:FrozenLake-v1", 6, "exp-free-end:1", {"is_slippery": True}, "auto"),
    ("gymnasium:FrozenLake8x8-v1", 14, "return>=1", {"is_slippery": False}, "auto"),
    ("gymnasium:FrozenLake-v1", 8, "scored", {"is_slippery": True}, "auto"),
    ("gymnasium:CliffWalking-v1", 15, "exp:1/10", {}, "numpy"),
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
    table = import_source(
        source, horizon=horizon, success=success, options=options, warn=False
    )
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


def _direct_success(
    P: Any,
    T: int,
    beta: float,
    *,
    free_end: bool,
    r_top: float = 1.0,
    start: int = 0,
) -> float:
    """P(success) of the uniform policy from ``start`` under exp:beta, by the
    backward recursion on the environment's own P (r_top = max(r_max, 0): 1
    for FrozenLake), independent of the importer's state construction: after a
    terminating step each of the k remaining steps succeeds with probability
    exp(-beta r_top) (reward 0 in the absorbing end, docs/envs.md), or with
    probability 1 under exp-free-end."""
    n, n_a = len(P), len(P[0])
    w = [1.0] * n  # w_T
    for k in range(T):  # k steps remain after this one
        after = 1.0 if free_end else math.exp(-beta * r_top) ** k
        w = [
            sum(
                p
                * math.exp(beta * (reward - r_top))
                * (after if done else w[int(nxt)])
                / n_a
                for a in range(n_a)
                for p, nxt, reward, done in P[s][a]
            )
            for s in range(n)
        ]
    return w[start]


def test_exp_map_with_negative_rewards_subtracts_zero() -> None:
    """CliffWalking's rewards are -1 and -100 (r_max = -1), so exp subtracts
    r_top = max(r_max, 0) = 0: every step charges exp(r / 10), the absorbing
    end charges 1, and J_prob(prior) at T = 15 equals the direct recursion on
    P from the start cell (3,0)."""
    T = 15
    table = import_source("gymnasium:CliffWalking-v1", horizon=T, success="exp:1/10")
    assert table.source["r_top"] == "0" and table.source["reward_bounds"][1] == "-1"
    got = Evaluator(to_mdp(table), "numpy").value("J_prob", PolicySpec("prior"))
    P = ToyTextSource("CliffWalking-v1", {}).raw_table()
    want = _direct_success(P, T, 0.1, free_end=False, r_top=0.0, start=36)
    assert abs(got - want) <= 1e-12 * want


@pytest.mark.parametrize("success", ["exp:1", "exp-free-end:1"])
def test_exp_map_charged_on_arrival_keeps_the_success_probability(
    success: str,
) -> None:
    """Slippery FrozenLake: steps whose reward depends on the next state are
    charged on arrival; J_prob(prior) equals a direct recursion on P, with the
    steps after the end charged (exp) or free (exp-free-end)."""
    T = 8
    table = import_source(
        "gymnasium:FrozenLake-v1", horizon=T, success=success,
        options={"is_slippery": True}, warn=False,
    )  # fmt: skip
    assert any("due]" in name for name in table.states)  # arrival tags exist
    mdp = to_mdp(table)
    got = Evaluator(mdp, "numpy").value("J_prob", PolicySpec("prior"))
    P = ToyTextSource("FrozenLake-v1", {"is_slippery": True}).raw_table()
    want = _direct_success(P, T, 1.0, free_end=success.startswith("exp-free-end"))
    assert abs(got - want) <= 1e-12 * want


def _frozen_lake_endings(
    slippery: bool, T: int
) -> tuple[dict[int, Fraction], dict[int, Fraction], Fraction]:
    """Under the uniform prior, straight from the environment's P (exact):
    the probability that the episode ends in the goal at step n, in a hole at
    step n (n = 1..T), and that it is still running after T steps."""
    P = ToyTextSource("FrozenLake-v1", {"is_slippery": slippery}).raw_table()
    goal: dict[int, Fraction] = {}
    hole: dict[int, Fraction] = {}
    alive: dict[int, Fraction] = {0: Fraction(1)}
    for n in range(1, T + 1):
        nxt: dict[int, Fraction] = {}
        for s, m in alive.items():
            for a in range(4):
                row = P[s][a]
                probs = exact_probabilities([e[0] for e in row], "P")
                for (_, j, reward, done), p in zip(row, probs, strict=True):
                    mass = m * p / 4
                    if done:
                        where = goal if reward > 0 else hole
                        where[n] = where.get(n, Fraction(0)) + mass
                    else:
                        nxt[int(j)] = nxt.get(int(j), Fraction(0)) + mass
        alive = nxt
    return goal, hole, sum(alive.values(), Fraction(0))


def _reweighted(
    goal: dict[int, Fraction],
    hole: dict[int, Fraction],
    alive: Fraction,
    weight: Any,
    k: int,
) -> tuple[float, float]:
    """P(goal), P(hole) when every trajectory's prior probability is
    multiplied by weight(kind, n)^k and renormalised: G_k (= T_k) on
    deterministic dynamics (SPEC §7 claim 14)."""
    g = sum(float(m) * weight("goal", n) ** k for n, m in goal.items())
    h = sum(float(m) * weight("hole", n) ** k for n, m in hole.items())
    a = float(alive) * weight("alive", None) ** k
    return g / (g + h + a), h / (g + h + a)


def test_exp_map_heads_for_the_goal_on_deterministic_frozen_lake() -> None:
    """Non-slippery FrozenLake, T = 8: a trajectory's success probability is
    exp(R - 8) under exp:1 (the steps after the end charged at reward 0) and
    exp(R - n) under exp-free-end:1 (n its length). G_k = T_k reweights the
    prior's trajectories by that to the power k, so P(goal) and P(hole) follow
    from the prior's ending probabilities computed on P: exp:1 heads for the
    goal (P(goal) rises to 0.898 at k = 8), exp-free-end:1 for the nearest hole
    (P(hole) > 0.999 from k = 2). The engine agrees to 1e-12 at k = 1..8."""
    T = 8
    goal, hole, alive = _frozen_lake_endings(False, T)
    weights = {
        "exp:1": lambda kind, n: math.exp((1 if kind == "goal" else 0) - T),
        "exp-free-end:1": lambda kind, n: math.exp(
            (1 if kind == "goal" else 0) - (T if n is None else n)
        ),
    }
    rising = []
    for success, weight in weights.items():
        table = import_source(
            "gymnasium:FrozenLake-v1", horizon=T, success=success,
            options={"is_slippery": False}, warn=False,
        )  # fmt: skip
        ev = Evaluator(to_mdp(table), "numpy")
        for k in range(1, 9):
            want = _reweighted(goal, hole, alive, weight, k)
            for spec in (PolicySpec("G", k=k), PolicySpec("T", alpha=Fraction(k))):
                occ = ev.value("occupancy", spec)
                got = (
                    end_probability(table, occ, goal=True),
                    end_probability(table, occ, goal=False),
                )
                for g, w in zip(got, want, strict=True):
                    assert abs(g - w) <= 1e-12 * max(w, 1e-300), (success, k)
            if success == "exp:1":
                rising.append(want[0])
            elif k >= 2:
                assert want[1] > 0.999
    with pytest.raises(ValueError, match=r"^occupancy: expected 9 rows of 16 "):
        end_probability(table, [[0.0] * 16] * 8, goal=True)
    assert rising == sorted(rising) and rising[0] > float(sum(goal.values()))
    assert round(rising[-1], 3) == 0.898


def _ended(table: Any, goal: bool) -> list[int]:
    """Indices of the table's ended states, those in a goal or the others."""
    return [
        s
        for s, name in enumerate(table.states)
        if name.startswith("ended: ") and (" (goal)" in name) == goal
    ]


def test_exp_map_heads_for_the_goal_on_slippery_frozen_lake() -> None:
    """Slippery FrozenLake, T = 8, in ball arithmetic (every value an
    enclosure of the exact one, so each comparison is proved): under exp:1,
    P(goal) of G_k and of T_k rises strictly with k = 1..4 from the prior's;
    under exp-free-end:1, P(hole) of G_k rises instead. The prior's P(goal)
    equals the non-slippery prior's (computed on P, exact): a uniform action
    that slips uniformly to itself or a perpendicular direction moves in a
    uniform direction."""
    pytest.importorskip("flint")
    T = 8
    goal, _, _ = _frozen_lake_endings(True, T)
    prior_goal = sum(goal.values(), Fraction(0))
    assert prior_goal == sum(_frozen_lake_endings(False, T)[0].values(), Fraction(0))
    for success in ("exp:1", "exp-free-end:1"):
        table = import_source(
            "gymnasium:FrozenLake-v1", horizon=T, success=success,
            options={"is_slippery": True}, warn=False,
        )  # fmt: skip
        ev = Evaluator(to_mdp(table), "certified")

        def ends(
            spec: PolicySpec, goal: bool, ev: Evaluator = ev, table: Any = table
        ) -> Any:
            occ = ev.value("occupancy", spec)
            total: Any = 0
            for s in _ended(table, goal):
                total = total + occ[T][s]
            return total

        prior = ends(PolicySpec("prior"), True)
        assert prior.contains(float(prior_goal)) and prior.rad() < 1e-15
        if success == "exp:1":
            for make in (lambda k: PolicySpec("G", k=k),
                         lambda k: PolicySpec("T", alpha=Fraction(k))):  # fmt: skip
                seq = [prior] + [ends(make(k), True) for k in range(1, 5)]
                assert all(b - a > 0 for a, b in itertools.pairwise(seq)), seq
        else:
            seq = [ends(PolicySpec("prior"), False)]
            seq += [ends(PolicySpec("G", k=k), False) for k in range(1, 5)]
            assert all(b - a > 0 for a, b in itertools.pairwise(seq)), seq


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
#: One layout of each supported MiniGrid family, at horizons that keep the
#: import and the replay well under a second each.
MINIGRID_REPLAYS = [
    ("MiniGrid-DoorKey-5x5-v0", 24),
    ("MiniGrid-KeyCorridorS3R1-v0", 18),
    ("MiniGrid-LavaCrossingS9N1-v0", 16),
    ("MiniGrid-FourRooms-v0", 10),
    ("MiniGrid-MemoryS7-v0", 14),
    ("MiniGrid-Unlock-v0", 12),
    ("MiniGrid-MultiRoom-N2-S4-v0", 12),
    ("MiniGrid-GoToDoor-5x5-v0", 10),
    ("MiniGrid-Fetch-5x5-N2-v0", 10),
]


def replay_minigrid(
    env_id: str, horizon: int, success: str, episodes: int, seed: int
) -> int:
    """Random action sequences (``random.Random(seed)``) stepped through a
    fresh environment, with its own random generator and observations, from
    ``reset(seed=0)``; every observed successor, termination and goal must be
    the case's row (deterministic: one successor of probability 1), and under
    ``return>=`` every observed reward the one the case accumulates in its
    state names. Returns the number of steps compared."""
    table = import_source(f"minigrid:{env_id}", horizon=horizon, success=success)
    index = {name: i for i, name in enumerate(table.states)}
    smap = parse_success_map(success)
    rng = random.Random(seed)
    steps = 0

    def tagged(label: str, t: int, total: Fraction) -> str:
        if smap.kind != "return>=":
            return label
        assert smap.parameter is not None
        shown = min(total, smap.parameter) if total >= smap.parameter else total
        return f"{label} [return {format_rational(shown)}]"

    def timed(label: str, t: int) -> str:
        return f"t={t} | {label}" if table.source["unrolled_over_time"] else label

    for _ in range(episodes):
        fresh = GridSource(env_id, seed=0)
        env = fresh.env
        total = Fraction(0)
        name = timed(tagged(fresh.state_name(fresh.read()), 0, total), 0)
        assert table.initial == [(index[name], Fraction(1))]
        for t in range(horizon):
            action = rng.randrange(7)
            ((nxt, p),) = table.rows[index[name]][action]
            assert p == 1
            _, reward, terminated, _, _ = env.step(action)
            steps += 1
            total += Fraction(str(float(reward)))
            state = fresh.read()
            if terminated:
                goal = float(reward) > 0
                label = fresh.end_name(state) + (" (goal)" if goal else "")
                assert table.states[nxt] == tagged(f"ended: {label}", t + 1, total)
                break
            name = timed(tagged(fresh.state_name(state), t + 1, total), t + 1)
            assert table.states[nxt] == name, (env_id, t, action)
    return steps


@pytest.mark.parametrize(("env_id", "horizon"), MINIGRID_REPLAYS)
def test_minigrid_case_replays_through_the_real_environment(
    env_id: str, horizon: int
) -> None:
    """30 random episodes (seed 7) of the real environment follow the case's
    rows exactly, up to termination (:func:`replay_minigrid`)."""
    assert replay_minigrid(env_id, horizon, "goal", episodes=30, seed=7) > 0


def test_minigrid_rewards_replay_through_the_real_environment() -> None:
    """Under return>=1 the case keeps the exact return in its (time-unrolled)
    states: the real environment's rewards, summed along 30 random episodes of
    DoorKey-5x5 (seed 11), are the returns the case's states name."""
    assert replay_minigrid("MiniGrid-Empty-5x5-v0", 12, "return>=1", 30, 11) > 0
    assert replay_minigrid("MiniGrid-DoorKey-5x5-v0", 16, "return>=1", 30, 11) > 0


def test_moving_obstacles_are_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dynamic-Obstacles moves its obstacles with np_random inside
    ``except Exception: pass``, which swallows the guard's exception; the guard
    records the draw anyway and the import is refused (exit 2, one line, no
    file)."""
    for env_id in ("MiniGrid-Dynamic-Obstacles-5x5-v0",
                   "MiniGrid-Dynamic-Obstacles-Random-6x6-v0"):  # fmt: skip
        out = tmp_path / "case.json"
        assert main(["import", f"minigrid:{env_id}", "--horizon", "5",
                     "--out", str(out)]) == 2  # fmt: skip
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert err[0].startswith(f"coherence: error: environment: {env_id}'s step")
        assert "draws random numbers (np_random.integers" in err[0]
        assert not out.exists()


class _CoinFlip:
    """MiniGrid Empty layouts whose ``step`` turns the agent on a coin flip of
    Python's own generator (not ``np_random``), keeps a counter outside the
    state, builds a wall, or raises; registered under test-only ids."""

    @staticmethod
    def register() -> None:
        import gymnasium
        from gymnasium.envs.registration import registry
        from minigrid.core.world_object import Wall
        from minigrid.envs import EmptyEnv

        class CoinEnv(EmptyEnv):  # type: ignore[misc]
            coin = random.Random(3)

            def step(self, action: Any) -> Any:
                out = super().step(action)
                if self.coin.random() < 0.5:
                    self.agent_dir = (self.agent_dir + 1) % 4
                return out

        class CounterEnv(EmptyEnv):  # type: ignore[misc]
            def step(self, action: Any) -> Any:
                self.presses = getattr(self, "presses", 0) + 1
                return super().step(action)

        class WallEnv(EmptyEnv):  # type: ignore[misc]
            def step(self, action: Any) -> Any:
                out = super().step(action)
                if self.grid.get(1, 3) is None and action == 2:
                    self.grid.set(1, 3, Wall())
                return out

        class FailEnv(EmptyEnv):  # type: ignore[misc]
            def step(self, action: Any) -> Any:
                if action == 6:
                    raise RuntimeError("done is not wired")
                return super().step(action)

        for name, cls in (("Coin", CoinEnv), ("Counter", CounterEnv),
                          ("Wall", WallEnv), ("Fail", FailEnv)):  # fmt: skip
            env_id = f"MiniGrid-Test{name}-v0"
            if env_id not in registry:
                gymnasium.register(id=env_id, entry_point=lambda c=cls: c(size=5))


@pytest.mark.parametrize(
    ("env_id", "message"),
    [
        ("MiniGrid-TestCoin-v0", "is not a function of the state"),
        ("MiniGrid-TestCounter-v0", "changes env.presses, which the state"),
        ("MiniGrid-TestWall-v0", "changes cell (1,3) beyond what the state"),
        ("MiniGrid-TestFail-v0", "step raised RuntimeError (done is not wired)"),
    ],
)
def test_steps_that_are_not_functions_of_the_state_are_refused(
    env_id: str, message: str
) -> None:
    """Randomness from another generator shows as two copies of the
    environment disagreeing on a re-run step; hidden state as an attribute or
    a grid cell the step changes outside the enumerated state; an exception in
    ``step`` is named. All are one-line refusals."""
    _CoinFlip.register()
    with pytest.raises(ValueError) as info:
        import_source(f"minigrid:{env_id}", horizon=6)
    text = str(info.value)
    assert message in text and "\n" not in text
    assert text.startswith(f"environment: {env_id}")


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
def test_bridge_files_ship_with_their_attribution() -> None:
    """The three BRIDGE MDPs are package data, found by name, and (where the
    contract's copy lies beside the checkout) byte-identical to it."""
    names = [p.name for p in packaged_files()]
    assert names == [
        "MiniGrid-Empty-16x16-DistanceShaped-v0.npz",
        "MiniGrid-KeyCorridorS3R1-v0.npz",
        "maze_easy_l0_30_fs1.npz",
    ]
    readme = (PACKAGED / "README.md").read_text(encoding="utf-8")
    assert "CC-BY-4.0" in readme and "Laidlaw" in readme
    assert resolve_bridge("maze_easy_l0_30_fs1") == PACKAGED / names[2]
    assert resolve_bridge("maze_easy_l0_30_fs1.npz") == PACKAGED / names[2]
    with pytest.raises(ValueError, match="shipped: MiniGrid-Empty"):
        resolve_bridge("no-such-mdp")
    if SHARED_BRIDGE.is_dir():
        for name in names:
            assert (PACKAGED / name).read_bytes() == (SHARED_BRIDGE / name).read_bytes()


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


@needs_bridge
def test_goal_map_warns_about_the_rewards_it_ignores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Empty-16x16-DistanceShaped under goal at T = 40 (all 784 states
    reached): one warning on stderr counting the (s, a) entries that do not end
    the episode (next state >= 0) and have a positive reward, counted from the
    file's arrays, and naming the maps that keep them; it is also recorded in
    the case. KeyCorridor and the Procgen maze have no positive reward on a
    step that does not end the episode, so no warning."""
    file = BRIDGE / "MiniGrid-Empty-16x16-DistanceShaped-v0.npz"
    data = np.load(file)
    dropped = int(((data["transitions"] >= 0) & (data["rewards"] > 0)).sum())
    out = tmp_path / "case.json"
    assert main(["import", f"bridge:{file}", "--horizon", "40", "--quiet",
                 "--out", str(out)]) == 0  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("coherence: warning: success goal")
    assert f": {dropped} reached (state, action) entries" in err[0]
    assert "--success scored (at least one scoring step)" in err[0]
    case = json.loads(out.read_text())
    assert sum(name.startswith("s") for name in case["states"]) == 784
    assert case["source"]["warnings"] == [err[0].removeprefix("coherence: warning: ")]
    for quiet in ("MiniGrid-KeyCorridorS3R1-v0.npz", "maze_easy_l0_30_fs1.npz"):
        arrays = np.load(BRIDGE / quiet)
        assert not ((arrays["transitions"] >= 0) & (arrays["rewards"] > 0)).any()
        assert main(["import", f"bridge:{BRIDGE / quiet}", "--horizon", "30",
                     "--quiet", "--out", str(out)]) == 0  # fmt: skip
        assert capsys.readouterr().err == ""
    with pytest.warns(DroppedRewardWarning, match=f": {dropped} reached"):
        import_source(f"bridge:{file}", horizon=40)


def test_goal_warning_counts_time_limit_markers(tmp_path: Path) -> None:
    """A BRIDGE-shaped file where scoring happens before the episode ends at
    a -1 with reward 0 (how BRIDGE marks its time limit, as in Freeway): the
    warning counts both kinds of entries; goal gives J_prob 0 where scored
    gives the probability of the scoring step (exact)."""
    file = tmp_path / "crossings.npz"
    np.savez(
        file,
        transitions=np.array([[1, 0], [-1, 1]], dtype=np.int64),
        rewards=np.array([[1, 0], [0, 0]], dtype=np.float32),
    )
    table = import_source(f"bridge:{file}", horizon=3, warn=False)
    (line,) = table.warnings
    assert ": 1 reached (state, action) entries have one, and 1 entries end" in line
    assert "(BRIDGE marks its time limit with next state -1 as well)" in line
    goal = Evaluator(to_mdp(table), "exact").value("J_prob", PolicySpec("prior"))
    scored = import_source(f"bridge:{file}", horizon=3, success="scored")
    assert scored.warnings == [] and goal == 0
    # a1 stays in s0, a0 scores: P(a0 at one of the 3 steps) = 1 - (1/2)^3
    assert Evaluator(to_mdp(scored), "exact").value(
        "J_prob", PolicySpec("prior")
    ) == Fraction(7, 8)


def test_exp_free_end_warns_that_ending_is_free() -> None:
    """exp-free-end names what it does to terminations; exp does not warn."""
    with pytest.warns(DroppedRewardWarning, match="charges nothing after the"):
        import_source("gymnasium:FrozenLake-v1", horizon=4, success="exp-free-end:1")
    assert (
        import_source("gymnasium:FrozenLake-v1", horizon=4, success="exp:1").warnings
        == []
    )


@needs_bridge
def test_scored_map_is_at_least_one_scoring_step() -> None:
    """scored: KeyCorridor's rewards are 0 and 1, so scored is return>=1 (the
    same J_prob(prior), exact); on Empty-16x16-DistanceShaped (rewards -0.2 ..
    1.1) J_prob(prior) at T = 12 is P(some step has reward > 0) under the
    uniform prior, by a forward pass over the file's arrays (exact)."""
    kc = f"bridge:{BRIDGE}/MiniGrid-KeyCorridorS3R1-v0.npz"
    values = [
        Evaluator(to_mdp(import_source(kc, horizon=40, success=m)), "exact").value(
            "J_prob", PolicySpec("prior")
        )
        for m in ("scored", "return>=1")
    ]
    assert values[0] == values[1] > 0
    file = BRIDGE / "MiniGrid-Empty-16x16-DistanceShaped-v0.npz"
    data = np.load(file)
    nxt_of, reward_of = data["transitions"], data["rewards"]
    T, n_a = 12, nxt_of.shape[1]
    alive, scored = {0: Fraction(1)}, Fraction(0)
    for _ in range(T):
        nxt: dict[int, Fraction] = {}
        for s, m in alive.items():
            for a in range(n_a):
                j, r = int(nxt_of[s, a]), reward_of[s, a]
                if r > 0:
                    scored += m / n_a
                elif j >= 0:
                    nxt[j] = nxt.get(j, Fraction(0)) + m / n_a
        alive = nxt
    table = import_source(f"bridge:{file}", horizon=T, success="scored")
    got = Evaluator(to_mdp(table), "exact").value("J_prob", PolicySpec("prior"))
    assert got == scored and 0 < scored < 1
    assert any(name.endswith(" [scored]") for name in table.states)


def test_case_names_carry_the_source() -> None:
    """The same environment through minigrid: and bridge: gives two names."""
    grid = import_source("minigrid:MiniGrid-KeyCorridorS3R1-v0", horizon=5)
    assert grid.name == "minigrid-MiniGrid-KeyCorridorS3R1-v0_seed-0_goal_T5"
    toy = import_source("gymnasium:Taxi-v4", horizon=2)
    assert toy.name == "gymnasium-Taxi-v4_goal_T2"
    if BRIDGE.is_dir():
        bridge = import_source(
            f"bridge:{BRIDGE}/MiniGrid-KeyCorridorS3R1-v0.npz", horizon=5
        )
        assert bridge.name == "bridge-MiniGrid-KeyCorridorS3R1-v0_goal_T5"


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
        ("gymnasium:tabular/CliffWalking-v0 --horizon 3",
         "needs the module 'jax', which is not installed"
         if importlib.util.find_spec("jax") is None else "has no transition table P"),
        ("gambling --horizon 1 --success exp-free-end:-1",
         "BETA must satisfy 0 < BETA"),
        ("gambling --horizon 1 --success scored:1", "unknown map 'scored:1'"),
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
