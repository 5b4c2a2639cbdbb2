"""Rollout throughput of coherence.gpu.learning.rollout against a plain Python loop.

Measures environment steps per second (one step = one (a_t, O_t, s_{t+1}) draw;
an episode of horizon T is T steps, O_T included) for N parallel episodes of a
small MDP, on cpu and, when available, cuda, and for the same sampling written as
a plain Python loop (``random`` + ``bisect``) over fewer episodes. All figures
come from one run of this script, so their ratios are comparable.

    python -m benchmarks.bench_rollouts [--episodes 1000000] [--repeats 3]
        [--python-episodes 20000] [--case PATH] [--write docs/performance.md]

``--write`` replaces this script's marked section of the file (or
appends it; the file is created with "# Performance" if missing).
"""

from __future__ import annotations

import argparse
import bisect
import math
import os
import random
import sys
import time
from pathlib import Path

import torch

from benchmarks._report import machine, write_section
from coherence.gpu.learning import Environment, make_generator, rollout
from coherence.reference.case import load_case
from coherence.reference.model import MDP

HEADING = "## gpu/ learning (issue 6)"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CASES = [
    ROOT.parent / "shared" / "bench" / "g8-stochastic.json",
    ROOT.parent / "shared" / "cases" / "mountain-race.json",
]


def python_rollouts(mdp: MDP, n: int, seed: int) -> float:
    """Seconds for n episodes of the prior, sampled step by step in Python."""
    rng = random.Random(seed)
    T, S, A = mdp.horizon, mdp.n_states, mdp.n_actions
    P = mdp.transition_array
    cdf_p = [[sum(mdp.prior_array[s][: a + 1]) for a in range(A)] for s in range(S)]
    cdf_t = [[[float(x) for x in P[s, a].cumsum()] for a in range(A)] for s in range(S)]
    rho = [[[math.exp(x) for x in row] for row in table] for table in mdp.log_success]
    rho_T = [math.exp(x) for x in mdp.log_terminal_success]
    cdf_mu = [float(x) for x in mdp.initial_array.cumsum()]
    start = time.perf_counter()
    successes = 0
    for _ in range(n):
        s = min(bisect.bisect_right(cdf_mu, rng.random()), S - 1)
        ok = True
        for t in range(T):
            a = min(bisect.bisect_right(cdf_p[s], rng.random()), A - 1)
            ok &= rng.random() < rho[t][s][a]
            s = min(bisect.bisect_right(cdf_t[s][a], rng.random()), S - 1)
        ok &= rng.random() < rho_T[s]
        successes += ok
    return time.perf_counter() - start


def torch_rollouts(mdp: MDP, n: int, device: str, repeats: int) -> float:
    """Best of ``repeats`` seconds for n parallel episodes of the prior."""
    env = Environment.from_mdp(mdp, device)
    gen = make_generator(0, device)
    policy = env.prior_policy()
    rollout(env, policy, min(n, 1000), generator=gen)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        rollout(env, policy, n, generator=gen)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=1_000_000)
    parser.add_argument("--python-episodes", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--case", type=Path, default=None)
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args(argv)
    path = args.case or next(p for p in DEFAULT_CASES if p.exists())
    mdp = load_case(path).mdp
    T = mdp.horizon
    info = machine()
    rows = []
    py_s = python_rollouts(mdp, args.python_episodes, 0)
    py_rate = args.python_episodes * T / py_s
    rows.append(("plain Python loop", "cpu", args.python_episodes, py_s, py_rate))
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    default_threads = torch.get_num_threads()
    for dev in devices:
        for threads in sorted({1, default_threads}) if dev == "cpu" else [0]:
            if threads:
                torch.set_num_threads(threads)
            secs = torch_rollouts(mdp, args.episodes, dev, args.repeats)
            label = f"torch rollout ({threads} thread{'s' if threads > 1 else ''})"
            rows.append(
                (
                    label if threads else "torch rollout",
                    dev,
                    args.episodes,
                    secs,
                    args.episodes * T / secs,
                )
            )
        torch.set_num_threads(default_threads)
    lines = [
        HEADING,
        "",
        f"Rollout throughput, `benchmarks/bench_rollouts.py`, case `{mdp.name}` "
        f"(T = {T}, S = {mdp.n_states}, A = {mdp.n_actions}; every O_t sampled). "
        "One step = one (a_t, O_t, s_{t+1}) draw; all rows from one run.",
        "",
        f"Machine: {info}.",
        "",
        "| implementation | device | episodes | seconds | steps/s | vs Python |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, dev, n, secs, rate in rows:
        lines.append(
            f"| {name} | {dev} | {n:,} | {secs:.3f} | {rate:.3e} | "
            f"{rate / py_rate:.0f}x |"
        )
    lines.append("")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load >= 0.5 * (os.cpu_count() or 1):
        lines.append(
            "Caveat: the machine was shared and loaded (load average above half "
            "the cores); figures are disturbed and should be re-run on a quiet "
            "machine."
        )
        lines.append("")
    if "cuda" not in devices:
        lines.append("No GPU on this machine: no CUDA figure.")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.write is not None:
        write_section(args.write, "bench_rollouts", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
