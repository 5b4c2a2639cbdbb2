"""Benchmarks of the reference oracle (issue "Foundation"); never part of the tests.

Rows (each measured in this one run, on this machine):

* exact G_8 on ``../shared/bench/g8-stochastic.json`` (S=8, A=3, T=4, success
  probabilities in sixths) with the default gmpy2.mpq number system, beside the
  same recurrences over plain ``fractions.Fraction``;
* the float64 backward pass (soft values of the prior, SPEC §3) on a dense
  S=1000, A=4, T=50 MDP, against the memory-bandwidth bound
  (bytes of P read once per step x T) / (bandwidth of a streaming read of a
  1 GiB array, measured here). time / bound below 1 means P was served from cache.

Usage: ``python -m benchmarks.bench_reference [--write docs/performance.md]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks._bandwidth import stream_bandwidth
from benchmarks._report import machine, write_section
from coherence.queries import compute_policy
from coherence.reference.case import load_case
from coherence.reference.exact import ExactEngine
from coherence.reference.numpy_engine import NumpyEngine
from coherence.reference.operators import PolicySpec
from coherence.reference.recurrences import FRACTION, MPQ

ROOT = Path(__file__).resolve().parents[1]
G8_CASE = ROOT.parent / "shared" / "bench" / "g8-stochastic.json"


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def dense_engine(S: int, A: int, T: int, seed: int) -> tuple[NumpyEngine, np.ndarray]:
    """A dense random MDP (rows uniform on the simplex, success in [1/2, 1])."""
    rng = np.random.default_rng(seed)
    P = rng.random((S, A, S))
    P /= P.sum(axis=2, keepdims=True)
    engine = NumpyEngine.from_arrays(
        transitions=P,
        log_success=np.log(rng.uniform(0.5, 1.0, (T, S, A))),
        log_terminal_success=np.log(rng.uniform(0.0, 1.0, S)),
        log_prior=np.full((S, A), -np.log(A)),
        initial=np.full(S, 1.0 / S),
    )
    return engine, P


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="MD", help="update this markdown file")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)

    rows: list[str] = []
    if G8_CASE.exists():
        mdp = load_case(G8_CASE).mdp
        spec = PolicySpec("G", k=8)
        mpq = timed(lambda: compute_policy(ExactEngine(mdp, MPQ), spec), args.repeat)
        frac = timed(lambda: compute_policy(ExactEngine(mdp, FRACTION), spec), 3)
        g8 = compute_policy(ExactEngine(mdp, MPQ), spec)
        bits = max(int(x.denominator).bit_length() for t in g8 for r in t for x in r)
        rows.append(
            f"| exact G_8, g8-stochastic (S=8, A=3, T=4), gmpy2.mpq | "
            f"{min(mpq) * 1e3:.0f} ms (median {statistics.median(mpq) * 1e3:.0f}) | "
            f"plain Fraction, same recurrences: {min(frac) * 1e3:.0f} ms "
            f"({min(frac) / min(mpq):.1f}x slower); largest denominator "
            f"{bits:,} bits | target < 1 s |"
        )
    else:
        rows.append(f"| exact G_8 | skipped: {G8_CASE} not found | | |")

    S, A, T = 1000, 4, 50
    engine, P = dense_engine(S, A, T, seed=0)
    prior = engine.prior_policy()
    reward = engine.base_reward()
    rates = stream_bandwidth()
    bandwidth = rates["best"]
    times = timed(lambda: engine.soft_values(prior, reward), args.repeat)
    bound = P.nbytes * T / bandwidth
    rows.append(
        f"| float64 backward pass, dense S={S}, A={A}, T={T} (numpy) | "
        f"{min(times) * 1e3:.1f} ms (median {statistics.median(times) * 1e3:.1f}) | "
        f"bound {bound * 1e3:.1f} ms = {P.nbytes * T / 1e9:.2f} GB / "
        f"{bandwidth / 1e9:.1f} GB/s; time/bound {min(times) / bound:.2f} "
        f"(median {statistics.median(times) / bound:.2f}) | target <= 1.3 |"
    )

    text = "\n".join(
        [
            "## reference/ oracle (issue 2)",
            "",
            f"Machine: {machine()}. Command: "
            "`python -m benchmarks.bench_reference --write docs/performance.md` "
            f"(best of {args.repeat}; every row measured in the same run).",
            "",
            "Streaming read of 1 GiB, this run: "
            + ", ".join(
                f"{k} {v / 1e9:.1f} GB/s" for k, v in rates.items() if k != "best"
            )
            + "; the bound uses the fastest.",
            "",
            "| benchmark | time | comparison | target |",
            "|---|---|---|---|",
            *rows,
        ]
    )
    print(text)
    if args.write:
        write_section(args.write, "bench_reference", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
