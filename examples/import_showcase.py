"""Imported environments under the reward-to-success maps: FrozenLake (slippery
and not) and MiniGrid LavaCrossing, where conditioning on success now heads for
the goal, then the ESPER gambling MDP and the Dichotomy-of-Control bandit, where
re-training (G_k) and lowering the temperature (T_alpha) part ways. Every number
below is computed here (docs/envs.md explains them).

Under ``exp:BETA`` a trajectory succeeds with probability exp(BETA (R - T r_top)):
the steps after the episode ends are charged at reward 0. Under the old per-step
map, kept as ``exp-free-end:BETA``, they are free, and ending early is the best
plan; its numbers are printed next to the new ones.

Run: python examples/import_showcase.py  (needs the [envs] extra; about 30 s)
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction
from typing import Any

from coherence.envs import DroppedRewardWarning, end_probability, import_source, to_mdp
from coherence.envs.benchmarks import doc_bandit_closed_form
from coherence.envs.grid import GridSource
from coherence.envs.toytext import ToyTextSource
from coherence.queries import Evaluator
from coherence.reference.operators import PolicySpec

STEPS = range(1, 9)
FROZEN_HORIZON = 8
LAVA = "MiniGrid-LavaCrossingS9N1-v0"
LAVA_HORIZON = 16  # the shortest way to the goal takes 14 steps
LAVA_BETA = 10


def _ends(table: Any, ev: Evaluator, spec: PolicySpec) -> tuple[float, float]:
    """P(ended in a goal), P(ended elsewhere) by the horizon under ``spec``."""
    occ = ev.value("occupancy", spec)
    return (
        end_probability(table, occ, goal=True),
        end_probability(table, occ, goal=False),
    )


def _frozen(slippery: bool, success: str) -> tuple[Any, Evaluator]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedRewardWarning)  # exp-free-end's
        table = import_source(
            "gymnasium:FrozenLake-v1",
            horizon=FROZEN_HORIZON,
            success=success,
            options={"map_name": "4x4", "is_slippery": slippery},
        )
    return table, Evaluator(to_mdp(table), "numpy")


def frozen_lake_prior_goal(T: int) -> Fraction:
    """P(goal within T) of the uniform prior, exact, on the environment's P
    (the same slippery or not: a uniform action that slips uniformly to
    itself or a perpendicular direction moves in a uniform direction)."""
    P = ToyTextSource("FrozenLake-v1", {"is_slippery": False}).raw_table()
    alive, goal = {0: Fraction(1)}, Fraction(0)
    for _ in range(T):
        nxt: dict[int, Fraction] = {}
        for s, m in alive.items():
            for a in range(4):
                for _, j, reward, done in P[s][a]:
                    if done:
                        goal += m / 4 if reward > 0 else 0
                    else:
                        nxt[int(j)] = nxt.get(int(j), Fraction(0)) + m / 4
        alive = nxt
    return goal


def frozen_lake_best_goal(T: int) -> float:
    """The largest P(goal within T) any policy reaches on slippery FrozenLake
    (backward induction on P)."""
    P = ToyTextSource("FrozenLake-v1", {"is_slippery": True}).raw_table()
    v = [0.0] * 16
    for _ in range(T):
        v = [
            max(
                sum(
                    p * ((1.0 if reward > 0 else 0.0) if done else v[int(j)])
                    for p, j, reward, done in P[s][a]
                )
                for a in range(4)
            )
            for s in range(16)
        ]
    return v[0]


def frozen_lake_deterministic() -> None:
    """Non-slippery: G_k = T_k reweights the prior's trajectories by
    exp(k (R - 8)), so P(goal) = q e^k / (q e^k + 1 - q), q the prior's."""
    q = frozen_lake_prior_goal(FROZEN_HORIZON)
    new, ev = _frozen(False, "exp:1")
    old, ev_old = _frozen(False, "exp-free-end:1")
    print(
        f"FrozenLake 4x4 not slippery, horizon {FROZEN_HORIZON}: prior P(goal) "
        f"= {q} = {float(q):.6f}"
    )
    print("  exp:1 (a trajectory succeeds with probability exp(R - 8)):")
    print("  k   P(goal) G_k   P(goal) T_k   q e^k/(q e^k + 1 - q)   P(hole) G_k")
    worst = 0.0
    for k in STEPS:
        g, h = _ends(new, ev, PolicySpec("G", k=k))
        t, _ = _ends(new, ev, PolicySpec("T", alpha=Fraction(k)))
        closed = float(q) * math.e**k / (float(q) * math.e**k + 1 - float(q))
        worst = max(worst, abs(g - closed) / closed, abs(t - closed) / closed)
        print(f"  {k}   {g:.6f}      {t:.6f}      {closed:.6f}                {h:.6f}")
    print(f"  largest relative difference from the closed form: {worst:.1e}")
    print("  exp-free-end:1 (the steps after the end are free):")
    print("  k   P(goal) G_k   P(hole) G_k")
    for k in (1, 2, 4, 8):
        g, h = _ends(old, ev_old, PolicySpec("G", k=k))
        print(f"  {k}   {g:.3e}     {h:.6f}")
    print()


def frozen_lake_slippery() -> None:
    """Slippery: G_k and T_k raise P(goal) at every k (T_k faster: the
    temperature route conditions the dynamics too), while under exp-free-end:1
    G_k raises P(hole)."""
    new, ev = _frozen(True, "exp:1")
    old, ev_old = _frozen(True, "exp-free-end:1")
    prior_goal, prior_hole = _ends(new, ev, PolicySpec("prior"))
    print(
        f"FrozenLake 4x4 slippery, horizon {FROZEN_HORIZON}, exp:1: prior "
        f"P(goal) = {prior_goal:.6f}, P(hole) = {prior_hole:.6f}; the best "
        f"policy reaches the goal with {frozen_lake_best_goal(FROZEN_HORIZON):.6f}"
    )
    print("  k   P(goal) G_k   P(goal) T_k   P(hole) G_k   | exp-free-end:1 "
          "P(goal) G_k  P(hole) G_k")  # fmt: skip
    for k in STEPS:
        g, h = _ends(new, ev, PolicySpec("G", k=k))
        t, _ = _ends(new, ev, PolicySpec("T", alpha=Fraction(k)))
        og, oh = _ends(old, ev_old, PolicySpec("G", k=k))
        print(
            f"  {k}   {g:.6f}      {t:.6f}      {h:.6f}      |   {og:.6f}"
            f"          {oh:.6f}"
        )
    print()


def lava_crossing() -> None:
    """LavaCrossingS9N1 under exp:10: deterministic, so P(goal) of G_k = T_k is
    sum_n q_n e^(10 k r_n) / (sum_n q_n e^(10 k r_n) + 1 - sum_n q_n), q_n the
    prior's probability of reaching the goal at step n with reward r_n."""
    source = GridSource(LAVA, seed=0)
    alive: dict[Any, Fraction] = {source.read(): Fraction(1)}
    arrivals: dict[Fraction, Fraction] = {}
    for step in range(LAVA_HORIZON):
        nxt: dict[Any, Fraction] = {}
        for state, m in alive.items():
            for a in range(7):
                ((_, after, reward, ended, goal),) = source.outcomes(state, a, step)
                if goal:
                    arrivals[reward] = arrivals.get(reward, Fraction(0)) + m / 7
                elif not ended:
                    nxt[after] = nxt.get(after, Fraction(0)) + m / 7
        alive = nxt
    q = float(sum(arrivals.values()))
    spec = f"exp:{LAVA_BETA}"
    table = import_source(f"minigrid:{LAVA}", horizon=LAVA_HORIZON, success=spec)
    ev = Evaluator(to_mdp(table), "numpy")
    prior_goal, prior_lava = _ends(table, ev, PolicySpec("prior"))
    print(
        f"MiniGrid {LAVA}, horizon {LAVA_HORIZON}, {spec} ({table.n_states} "
        f"states, unrolled over time): prior P(goal) = {prior_goal:.3e} "
        f"(exact {q:.3e}), P(lava) = {prior_lava:.6f}"
    )
    print("  k   P(goal) G_k   P(goal) T_k   closed form   P(lava) G_k")
    for k in range(1, 5):
        g, lava = _ends(table, ev, PolicySpec("G", k=k))
        t, _ = _ends(table, ev, PolicySpec("T", alpha=Fraction(k)))
        w = math.fsum(
            float(m) * math.exp(LAVA_BETA * k * float(r)) for r, m in arrivals.items()
        )
        closed = w / (w + 1 - q)
        print(f"  {k}   {g:.6e}  {t:.6e}  {closed:.6e}  {lava:.6f}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedRewardWarning)
        old = import_source(
            f"minigrid:{LAVA}",
            horizon=LAVA_HORIZON,
            success=f"exp-free-end:{LAVA_BETA}",
        )
    old_goal, old_lava = _ends(
        old, Evaluator(to_mdp(old), "numpy"), PolicySpec("G", k=1)
    )
    print(
        f"  exp-free-end:{LAVA_BETA}: G_1 P(lava) = {old_lava:.6f}, P(goal) = "
        f"{old_goal:.3e}"
    )
    print()


def gambling() -> None:
    """G_k(a2) and T_k(a0) at the start, exp:0.1 success, uniform prior."""
    mdp = to_mdp(import_source("gambling", horizon=1, success="exp:0.1"))
    ev = Evaluator(mdp, "numpy")
    start = mdp.state_index("start")
    a0, a2 = mdp.action_index("a0"), mdp.action_index("a2")
    print("Gambling (ESPER), success exp:0.1, uniform prior, float64")
    print("  k   G_k(a2)   T_k(a0)")
    for k in STEPS:
        g = ev.value("policy", PolicySpec("G", k=k))[0][start][a2]
        t = ev.value("policy", PolicySpec("T", alpha=Fraction(k)))[0][start][a0]
        print(f"  {k}   {g:.3f}     {t:.3f}")
    print()


def doc_bandit() -> None:
    """G_k(good) in exact arithmetic against the closed form, k = 1..10."""
    mdp = to_mdp(import_source("doc-bandit", horizon=1))
    ev = Evaluator(mdp, "exact")
    start, good = mdp.state_index("start"), mdp.action_index("good")
    print("Dichotomy-of-Control bandit, success = reward 1, exact")
    print("  k   G_k(good)                      closed form equal")
    for k in range(1, 11):
        value = Fraction(ev.value("policy", PolicySpec("G", k=k))[0][start][good])
        closed = doc_bandit_closed_form(k)
        print(f"  {k:<3} {value!s:<30} {value == closed}")


def main() -> None:
    """Print the showcases."""
    frozen_lake_deterministic()
    frozen_lake_slippery()
    lava_crossing()
    gambling()
    doc_bandit()


if __name__ == "__main__":
    main()
