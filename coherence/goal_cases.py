"""The shipped goal-conditioned cases (``coherence/cases/goals``, tag ``goals``).

Two groups:

* the two-goal bandit of Štrupl et al. (one state, two actions, action i
  reaches goal i with probability alpha = 3/5, goals commanded uniformly,
  horizon 1), from the uniform prior and from the optimum, with the numbers
  their public code prints kept in ``source.external`` (repository, commit,
  file, call) beside the closed forms of G_k;
* seeded random goal-conditioned cases covering relabel_k over every segment
  space, G_k and RWR_k and the rational quantities.

Expected answers come from the exact oracle (:func:`build_goals` regenerates
them byte for byte).
"""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path
from typing import Any

from coherence._io import atomic_write_json
from coherence.reference.case import case_from_json, case_to_json

__all__ = [
    "BANDIT_ALPHA",
    "EXTERNAL",
    "GOALS_DIR",
    "bandit_case",
    "build_goals",
    "goal_cases",
    "random_goal_case",
]

GOALS_DIR = Path(__file__).resolve().parent / "cases" / "goals"
GOALS_SEED = 20280
GOALS_COUNT = 12

#: alpha of the external bandit: P(action i reaches goal i).
BANDIT_ALPHA = Fraction(3, 5)

#: Where the external numbers come from: the public code of Štrupl et al.
#: (arXiv 2502.05672), run unmodified at this commit; ``J_saved[n]`` is
#: J of the policy before update n, i.e. J_prob(relabel_n[all]).
EXTERNAL: dict[str, Any] = {
    "repository": "https://github.com/struplm/eUDRL-GCSL-ODT-Convergence-public",
    "commit": "37f1b7d79544bc217f0a2586178f1cb07a6f2952",
    "files": ["udrl.py", "envs.py"],
    "environment": "envs.make_env_bandit(tr_kernel_stochasticty=0.4)",
    "uniform_start": {
        "call": "udrl.classical_udrl_theory2(env, 5).J_saved",
        "J_saved": [0.5, 0.52, 0.52, 0.52, 0.52],
    },
    "optimum_start": {
        "call": "udrl.classical_udrl_theory2(env, 4, pi_init=udrl.optimum(env).pi)"
        ".J_saved",
        "J_saved": [0.6, 0.52, 0.52, 0.52],
    },
    "other_segment_spaces": {
        "call": "udrl.classical_udrl_theory2(env, 3, SegSpace=S).J_saved, "
        "S = 'trailing' or 'diag'",
        "J_saved": [0.5, 0.5, 0.5],
        "note": "at this commit both branches sum over range(h, h), which is "
        "empty, and fall back to the uniform policy; coherence reads the "
        "names as h' = h (trailing) and (h', g') = (h, g) (diag)",
    },
    "G_closed_form": {
        "policy": "G_k(a0 | g0) = alpha^k / (alpha^k + (1 - alpha)^k)",
        "J_prob(G_k), k = 1..5": [0.52, 0.538462, 0.554286, 0.56701, 0.576727],
    },
}


def bandit_case(*, optimum_start: bool) -> dict[str, object]:
    """The two-goal bandit as a case object (expected answers not included)."""
    a = BANDIT_ALPHA
    b = 1 - a
    goals: dict[str, object] = {
        "names": ["g0", "g1"],
        "reached": {"s0": "g0", "s1": "g1"},
        "command": {"g0": "1/2", "g1": "1/2"},
    }
    if optimum_start:
        goals["prior"] = {"g0": {"s0": {"a0": "1"}}, "g1": {"s0": {"a1": "1"}}}
    queries: list[dict[str, object]] = []
    for k in range(5):
        queries.append(
            {
                "id": f"J_prob-relabel_{k}",
                "quantity": "J_prob",
                "policy": {"operator": "relabel", "k": k, "segments": "all"},
            }
        )
    for k in range(6):
        queries.append(
            {
                "id": f"J_prob-G_{k}",
                "quantity": "J_prob",
                "policy": {"operator": "G", "k": k},
            }
        )
    for k in (1, 2):
        queries.append(
            {
                "id": f"policy-relabel_{k}",
                "quantity": "policy",
                "policy": {"operator": "relabel", "k": k, "segments": "all"},
            }
        )
    for k in (1, 3):
        queries.append(
            {
                "id": f"policy-G_{k}",
                "quantity": "policy",
                "policy": {"operator": "G", "k": k},
            }
        )
    for seg in ("trailing", "diag"):
        queries.append(
            {
                "id": f"policy-relabel_2-{seg}",
                "quantity": "policy",
                "policy": {"operator": "relabel", "k": 2, "segments": seg},
            }
        )
    queries.append(
        {
            "id": "policy-RWR_3",
            "quantity": "policy",
            "policy": {"operator": "RWR", "k": 3},
        }
    )
    name = "two-goal-bandit" + ("-optimum-start" if optimum_start else "")
    start = "the optimum" if optimum_start else "the uniform prior"
    return {
        "format": "coherence-case/1",
        "name": name,
        "description": (
            f"Štrupl et al.'s two-goal bandit (alpha = {a}), started at {start}: "
            "hindsight relabelling (eUDRL, all segments) against goal "
            "conditioning G"
        ),
        "source": {"tags": ["external"], "external": EXTERNAL},
        "horizon": 1,
        "states": ["s0", "s1"],
        "actions": ["a0", "a1"],
        "initial": {"s0": "1"},
        "transitions": {
            "s0": {
                "a0": {"s0": str(a), "s1": str(b)},
                "a1": {"s0": str(b), "s1": str(a)},
            },
            "s1": {"a0": {"s1": "1"}, "a1": {"s1": "1"}},
        },
        "goals": goals,
        "queries": queries,
    }


def random_goal_case(seed: int, index: int) -> dict[str, object]:
    """A seeded random goal-conditioned case (2-3 states, 2 actions, 2 goals,
    horizon 2-3, stochastic, full-support random prior and command
    distribution; a per-goal prior every third case)."""
    rng = random.Random(f"{seed}:{index}")
    n_s = rng.choice((2, 3))
    horizon = rng.choice((2, 3))
    st = [f"s{i}" for i in range(n_s)]
    ac = ["a0", "a1"]
    goals = ["g0", "g1"]

    def weights(n: int, low: int = 0) -> list[Fraction]:
        raw = [rng.randint(low, 3) for _ in range(n)]
        if sum(raw) == 0:
            raw[rng.randrange(n)] = 1
        return [Fraction(x, sum(raw)) for x in raw]

    transitions = {
        s: {
            a: {j: str(p) for j, p in zip(st, weights(n_s), strict=True) if p != 0}
            for a in ac
        }
        for s in st
    }
    reached = {s: rng.choice(goals) for s in st if rng.random() < 0.8}
    command = dict(zip(goals, (str(p) for p in weights(2, low=1)), strict=True))
    prior = {
        s: dict(zip(ac, (str(p) for p in weights(2, low=1)), strict=True)) for s in st
    }
    goal_obj: dict[str, object] = {
        "names": goals,
        "reached": reached,
        "command": {g: p for g, p in command.items() if p != "0"},
    }
    if index % 3 == 2:
        goal_obj["prior"] = {"g1": {st[0]: {"a0": "1/4", "a1": "3/4"}}}
    queries: list[dict[str, object]] = []
    for seg in ("all", "trailing", "diag"):
        for k in (1, 2):
            for quantity in ("policy", "J_prob", "occupancy"):
                queries.append(
                    {
                        "id": f"{quantity}-relabel_{k}-{seg}",
                        "quantity": quantity,
                        "policy": {"operator": "relabel", "k": k, "segments": seg},
                    }
                )
    for op in ("G", "RWR"):
        queries.append(
            {
                "id": f"policy-{op}_2",
                "quantity": "policy",
                "policy": {"operator": op, "k": 2},
            }
        )
    queries.append(
        {"id": "J_prob-G_2", "quantity": "J_prob", "policy": {"operator": "G", "k": 2}}
    )
    return {
        "format": "coherence-case/1",
        "name": f"goals-{seed}-{index:04d}",
        "source": {
            "generator": "coherence.goal_cases.random_goal_case",
            "seed": seed,
            "index": index,
            "tags": ["random"],
        },
        "horizon": horizon,
        "states": st,
        "actions": ac,
        "initial": {st[0]: "1"},
        "transitions": transitions,
        "prior": prior,
        "goals": goal_obj,
        "queries": queries,
    }


def goal_cases() -> list[dict[str, object]]:
    """Every shipped goal case's definition (no expected answers)."""
    out = [bandit_case(optimum_start=False), bandit_case(optimum_start=True)]
    out += [random_goal_case(GOALS_SEED, i) for i in range(GOALS_COUNT)]
    return out


def build_goals(directory: Path | None = None) -> list[Path]:
    """Write the goal cases with the exact oracle's answers into ``directory``
    (default: the package's ``cases/goals``)."""
    from coherence.suite import _expected_of

    dst = GOALS_DIR if directory is None else Path(directory)
    written: list[Path] = []
    for data in goal_cases():
        extras: dict[str, object] = {
            k: data[k] for k in ("description", "source") if k in data
        }
        case = _expected_of(case_from_json(data))
        out = case_to_json(case)
        out.update(extras)
        target = dst / f"{data['name']}.json"
        atomic_write_json(target, out)
        written.append(target)
    return written
