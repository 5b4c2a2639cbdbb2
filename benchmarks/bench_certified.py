"""Benchmarks of the certified backend (arb balls, issue "certified oracle");
never part of the tests.

Rows (each measured in this one run, on this machine):

* G_3 and G_8 on a random float 8x4x8 MDP drawn by ``coherence.testing.mdps``
  (stochastic, seed 11, the draw with the most successors of 60): certified at
  128 bits beside float64 numpy (the ratio) and, with ``--exact``, exact G_2;
  the largest relative radius of the policy table;
* the README's property-test pattern: 100 hypothesis examples of 6x4x6 MDPs,
  float64 G_3 checked by ``assert_matches_oracle`` with its default oracle
  (certified for these float MDPs).

Usage: ``python -m benchmarks.bench_certified [--exact] [--write docs/performance.md]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings

from benchmarks._report import machine, write_section
from coherence import backends
from coherence.reference.model import MDP
from coherence.reference.operators import PolicySpec, policy_for
from coherence.testing import assert_matches_oracle, mdps


def _best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def drawn_mdp(S: int = 8, A: int = 4, T: int = 8) -> MDP:
    """The stochastic S x A x T draw of ``mdps`` with the most successors among
    the first 60 examples of seed 11 (hypothesis starts with simple draws)."""
    got: list[MDP] = []
    strategy = mdps(min_states=S, max_states=S, min_actions=A, max_actions=A,
                    min_horizon=T, max_horizon=T, deterministic=False)  # fmt: skip

    @seed(11)
    @settings(max_examples=60, phases=[Phase.generate], database=None,
              deadline=None, suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def draw(m: MDP) -> None:
        got.append(m)

    draw()
    return max(got, key=lambda m: sum(len(r) for rows in m.transitions for r in rows))


def _relative_radius(engine: Any, pol: Any) -> float:
    worst = 0.0
    for pt in engine.policy_table(pol):
        for row in pt:
            for x in row:
                if not x.is_zero():
                    worst = max(worst, float(x.rad()) / abs(float(x.mid())))
    return worst


def property_pattern(examples: int = 100) -> float:
    """Seconds for ``examples`` examples of the README pattern (6x4x6, G_3)."""
    spec = PolicySpec("G", k=3)

    @seed(3)
    @settings(max_examples=examples, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(mdps(min_states=6, max_states=6, min_actions=4, max_actions=4,
                min_horizon=6, max_horizon=6))  # fmt: skip
    def check(mdp: MDP) -> None:
        got = np.exp(policy_for(backends.create("numpy", mdp), spec))
        assert_matches_oracle(got, mdp, "policy", spec)

    t0 = time.perf_counter()
    check()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    """Run the rows, print a markdown table, optionally write it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="MD", help="update this markdown file")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--exact", action="store_true", help="also time exact G_2")
    args = parser.parse_args(argv)
    mdp = drawn_mdp()
    rows = []
    for k, target in ((3, "<= 50 ms"), (8, "<= 0.2 s")):
        spec = PolicySpec("G", k=k)
        cert = backends.create("certified", mdp)
        t_c = _best(lambda: policy_for(cert, spec), args.repeat)  # noqa: B023
        radius = _relative_radius(cert, policy_for(cert, spec))
        fast = backends.create("numpy", mdp)
        t_n = _best(lambda: policy_for(fast, spec), args.repeat)  # noqa: B023
        rows.append(
            f"| certified G_{k}, float 8x4x8 (128 bits) | {t_c * 1e3:.1f} ms | "
            f"numpy float64 {t_n * 1e3:.2f} ms; ratio {t_c / t_n:.1f} | "
            f"{radius:.1e} | {target}; radius <= 1e-25 |"
        )
    if args.exact:
        ex = backends.create("exact", mdp)
        t_e = _best(lambda: policy_for(ex, PolicySpec("G", k=2)), 1)
        rows.append(f"| exact G_2, same MDP | {t_e:.2f} s | - | 0 | - |")
    t_p = property_pattern()
    rows.append(
        f"| README property pattern, 100 examples of 6x4x6, G_3, default oracle "
        f"| {t_p:.1f} s | - | - | < 20 s |"
    )
    text = "\n".join(
        [
            "### Certified backend (arb balls)",
            "",
            f"Machine: {machine()}. Command: `python -m benchmarks.bench_certified "
            f"--write docs/performance.md` (best of {args.repeat}).",
            "",
            "| benchmark | time | comparison | largest relative radius | target |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )
    print(text)
    if args.write:
        write_section(args.write, "bench_certified", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
