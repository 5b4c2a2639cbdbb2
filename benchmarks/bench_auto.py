"""Benchmarks of ``auto``'s choice, ``conformance check`` and ``validate``;
never part of the tests.

Rows (each measured in this one run, on this machine; every command in a fresh
process, wall-clock seconds and the CPU seconds of the process):

* ``conformance run`` of four imported cases (slippery FrozenLake ``exp:1``
  T = 8, MiniGrid DoorKey-5x5 T = 20, BRIDGE KeyCorridorS3R1 T = 100, the
  gambling MDP) under ``auto`` and ``numpy``, then ``conformance check`` of the
  auto results (default oracle, and ``--oracle numpy``);
* ``validate`` and ``conformance run`` of the shipped suite (337 cases);
* the cost rule's inputs against measured per-query times on DoorKey (T = 20)
  and KeyCorridor (T = 30): elementary steps, estimated bits, the exact cost
  estimate and the seconds of a fresh evaluator on exact, certified and numpy.

``--baseline DIR`` runs the same commands with ``PYTHONPATH=DIR`` too (a source
tree of an earlier version) and reports both, "before" and "after".

Usage: ``python -m benchmarks.bench_auto [--baseline DIR] [--bridge DIR]
[--write docs/performance.md]``; needs the ``[envs]`` and ``[certified]``
extras.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._report import machine, write_section

ROOT = Path(__file__).resolve().parents[1]
IMPORTS = [
    ("fl", ["gymnasium:FrozenLake-v1", "--option", "is_slippery=true", "--horizon",
            "8", "--success", "exp:1"]),
    ("doorkey", ["minigrid:MiniGrid-DoorKey-5x5-v0", "--horizon", "20"]),
    ("kc", ["bridge:{bridge}/MiniGrid-KeyCorridorS3R1-v0.npz", "--horizon", "100"]),
    ("gambling", ["gambling", "--horizon", "1", "--success", "exp:0.1"]),
]  # fmt: skip


def _cli(tree: Path, args: list[str], cwd: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of ``python -m coherence ARGS`` with ``tree`` first
    on the path, run in ``cwd`` (not a source tree: ``-m`` puts the working
    directory before PYTHONPATH); output discarded, a non-zero exit stops the
    benchmark."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "coherence", *args],
        env=env,
        cwd=cwd,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _commands(work: Path) -> list[tuple[str, list[str]]]:
    four = [str(work / f"{name}.json") for name, _ in IMPORTS]
    suite = sorted(str(p) for p in (work / "suite").glob("*.json"))
    return [
        ("`conformance run` 4 imported cases, auto", ["conformance", "run", *four,
         "--out", str(work / "r-auto")]),
        ("`conformance run` 4 imported cases, `--backend numpy`", ["conformance",
         "run", *four, "--out", str(work / "r-numpy"), "--backend", "numpy"]),
        ("`conformance check` 4 imported cases (no expected answers)",
         ["conformance", "check", *four, "--results", str(work / "r-auto")]),
        ("`conformance check` 4 imported cases, `--oracle numpy`",
         ["conformance", "check", *four, "--results", str(work / "r-auto"),
          "--oracle", "numpy"]),
        ("`validate` shipped suite (337 cases)", ["validate", *suite]),
        ("`conformance run` shipped suite, auto", ["conformance", "run", *suite,
         "--out", str(work / "r-suite")]),
    ]  # fmt: skip


def commands(work: Path, baseline: Path | None) -> list[str]:
    """The CLI rows (before/after where a baseline is given)."""
    rows = _commands(work)
    if baseline is None:
        lines = ["| command | wall s | CPU s |", "|---|---:|---:|"]
    else:
        lines = [
            "| command | before wall s | before CPU s | after wall s | after CPU s |",
            "|---|---:|---:|---:|---:|",
        ]
    for label, args in rows:
        cells = []
        if baseline is not None:
            if "--oracle" in args:
                cells += ["-", "-"]  # the option is new
            else:
                wall, cpu = _cli(baseline, args, work)
                cells += [f"{wall:.1f}", f"{cpu:.1f}"]
        wall, cpu = _cli(ROOT, args, work)
        cells += [f"{wall:.1f}", f"{cpu:.1f}"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def calibration(work: Path) -> list[str]:
    """Estimated cost against measured seconds, per query, fresh evaluators."""
    from coherence import backends
    from coherence.queries import Evaluator
    from coherence.reference import limits
    from coherence.reference.case import load_case

    lines = [
        "| case | query | steps | est. bits | exact cost est. | auto | exact s | "
        "certified s | numpy s |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for name in ("doorkey", "kc30"):
        case = load_case(work / f"{name}.json")
        mdp = case.mdp
        for query in case.queries:
            if query.id not in ("J_prob:prior", "J_prob:G_2", "J_prob:H_2"):
                continue
            spec = query.policy
            cells = [
                f"{limits.elementary_steps(mdp, spec):,}",
                f"{2 ** limits.estimated_bits_log2(mdp, spec):,.0f}",
                f"{limits.exact_cost(mdp, spec):.3g}",
                backends.auto_choice(mdp, spec).backend,
            ]
            for backend in ("exact", "certified", "numpy"):
                evaluator = Evaluator(mdp, backend)
                start = time.perf_counter()
                evaluator.answer(query)
                cells.append(f"{time.perf_counter() - start:.2f}")
            label = f"{case.mdp.n_states} states, T = {mdp.horizon}"
            lines.append(
                f"| {name} ({label}) | {query.id} | " + " | ".join(cells) + " |"
            )
    return lines


def _prepare(work: Path, bridge: Path) -> None:
    for name, args in IMPORTS:
        filled = [a.format(bridge=bridge) for a in args]
        _cli(ROOT, ["import", *filled, "--out", str(work / f"{name}.json")], work)
    kc30 = [a.format(bridge=bridge) for a in IMPORTS[2][1]]
    kc30[kc30.index("100")] = "30"
    _cli(ROOT, ["import", *kc30, "--out", str(work / "kc30.json")], work)
    _cli(ROOT, ["cases", "export", str(work / "suite")], work)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", metavar="DIR", help="an earlier source tree")
    parser.add_argument(
        "--baseline-label", metavar="TEXT", help="what the baseline is (a commit)"
    )
    parser.add_argument(
        "--bridge",
        metavar="DIR",
        default=str(ROOT.parent / "shared" / "data" / "bridge"),
        help="the directory of the BRIDGE .npz files",
    )
    parser.add_argument("--write", metavar="PATH", help="replace this script's section")
    args = parser.parse_args(argv)
    baseline = Path(args.baseline).resolve() if args.baseline else None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _prepare(work, Path(args.bridge).resolve())
        rows = commands(work, baseline)
        calib = calibration(work)
    label = args.baseline_label or f"`PYTHONPATH={args.baseline}`"
    before = f" Before: {label}." if baseline else ""
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "unset (OpenBLAS default)")
    before += f" `OPENBLAS_NUM_THREADS`: {blas}."
    text = "\n".join(
        [
            "## auto's cost rule, check and validate (issue 20)",
            "",
            f"Machine: {machine()}. Command: `python -m benchmarks.bench_auto"
            f"{' --baseline DIR' if baseline else ''} --write docs/performance.md` "
            f"(one run of each command, each in a fresh process).{before}",
            "",
            *rows,
            "",
            "The cost rule (`coherence.backends.auto_choice`, budget "
            "`AUTO_MAX_COST` = 200,000): estimated cost = steps x (1 + estimated "
            "bits / 1024); per query, a fresh evaluator on each engine:",
            "",
            *calib,
            "",
            "Notes: "
            + "The default `check` keeps an exact or certified reference (the cheaper "
            "estimate of the two), so its time is the oracle's: most of it the "
            "exact answers of KeyCorridor T = 100; `--oracle numpy` is the fast "
            "float64 reference. `validate` now costs less than `run` on the "
            "suite. "
            "On a loaded 2-core machine OpenBLAS's default threads spin "
            "against other work and numpy's row-vector products ran 3-6x slower "
            "in wall time (MiniGrid DoorKey T = 20, every query on numpy: 13.6 s "
            "with the default threads, 2.2 s with `OPENBLAS_NUM_THREADS=1`, load "
            "average about 6); set it to 1 there. CPU seconds are the steadier "
            "measure under load.",
        ]
    )
    print(text)
    if args.write:
        write_section(args.write, "bench_auto", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
