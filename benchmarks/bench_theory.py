"""Benchmarks of the symbolic layer (``coherence.theory``); never part of the tests.

Rows (each measured in this one run, on this machine, wall-clock seconds):

* the committed closed-form tables: each family's generator alone, then the
  whole regeneration ``derive_all`` into a temporary directory, with the
  byte comparison against the committed tables;
* ``coherence derive`` on the shipped symbolic cases: the mountain race's
  G_1..G_4 with its four success symbols, and every query of each shipped
  symbolic case (``coherence derive --list``).

Usage: ``python -m benchmarks.bench_theory [--write docs/performance.md]``.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks._report import machine, write_section
from coherence.theory import TABLES_DIR
from coherence.theory.closed_form import derive_case
from coherence.theory.regenerate import FAMILIES, derive_all
from coherence.theory.symbolic import SymbolicCase, load_symbolic_case, shipped_cases


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _derive_all_queries(case: SymbolicCase) -> None:
    for q in case.query_ids:
        derive_case(case, q)


def tables() -> list[str]:
    """Per-family generator times, then the whole regeneration and its diff."""
    lines = ["| table family | seconds |", "|---|---|"]
    for family, module in FAMILIES.items():
        derive = importlib.import_module(module).derive
        lines.append(f"| {family} (generator alone) | {_timed(derive):.1f} |")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        paths = derive_all(Path(tmp))
        total = time.perf_counter() - start
        same = all(p.read_bytes() == (TABLES_DIR / p.name).read_bytes() for p in paths)
    verdict = "byte-identical to the committed tables" if same else "DIFFERS"
    lines.append(f"| all four, `derive_all` ({verdict}) | {total:.1f} |")
    return lines


def symbolic_cases() -> list[str]:
    """derive on the shipped symbolic cases."""
    lines = ["| symbolic case | queries | seconds |", "|---|---|---|"]
    race = load_symbolic_case("mountain-race")
    four = [q for q in ("G1", "G2", "G3", "G4") if q in race.query_ids]
    seconds = _timed(lambda: [derive_case(race, q) for q in four])
    lines.append(f"| mountain-race, G_1..G_4 (symbols g, c, f1, f2) | {len(four)} | "
                 f"{seconds:.2f} |")  # fmt: skip
    for name in sorted(shipped_cases()):
        case = load_symbolic_case(name)
        seconds = _timed(functools.partial(_derive_all_queries, case))
        lines.append(f"| {name}, every query | {len(case.query_ids)} | {seconds:.1f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="PATH", help="replace this script's section")
    args = parser.parse_args(argv)
    text = "\n".join(
        [
            "### Symbolic layer (`python -m benchmarks.bench_theory`)",
            "",
            f"Machine: {machine()}.",
            "",
            *tables(),
            "",
            *symbolic_cases(),
        ]
    )
    print(text)
    if args.write:
        write_section(args.write, "bench_theory", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
