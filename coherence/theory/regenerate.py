"""Regenerate every closed-form table (``coherence derive --tables``).

Runs the generators, each table written atomically, in a fixed order:

* :mod:`coherence.theory.bandit` -- one-step bandits, n = 2..4 (~3 s);
* :mod:`coherence.theory.mountain_race` -- SPEC §6's mountain race (~2 s);
* :mod:`coherence.theory.trees` -- all deterministic trees of depth <= 3 and
  branching <= 2 (~8 s);
* :mod:`coherence.theory.stochastic` -- stochastic one- and two-step families
  (~3 s; ~5 s without python-flint).

Times are single-core on the project's 2-core machines (~15 s in all). With
``workers`` > 1 the families are derived in that many processes (trees in one,
the others in the rest, ~8 s on two cores); the tables are the same bytes
either way, written by this process in the order above.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from coherence.theory.tables import write_table

__all__ = ["FAMILIES", "derive_all"]

#: Family name -> generator module, in generation order.
FAMILIES = {
    "bandit": "coherence.theory.bandit",
    "mountain_race": "coherence.theory.mountain_race",
    "trees": "coherence.theory.trees",
    "stochastic": "coherence.theory.stochastic",
}

#: Longest first, so that two workers finish together (trees vs the rest).
_COST_ORDER = ("trees", "stochastic", "bandit", "mountain_race")


def _derive(family: str) -> tuple[dict[str, Any], list[str]]:
    """One family's table and its progress lines (run in a worker process)."""
    lines: list[str] = []
    module = importlib.import_module(FAMILIES[family])
    table: dict[str, Any] = module.derive(log=lines.append)
    return table, lines


def derive_all(
    out_dir: Path | str | None = None,
    *,
    families: tuple[str, ...] | None = None,
    log: Callable[[str], None] | None = None,
    workers: int | None = None,
) -> list[Path]:
    """Regenerate the tables of ``families`` (default: all) into ``out_dir``
    (default: the package's tables directory); returns the written paths.

    ``workers``: processes to derive in (default: the CPU count, at most one
    per family); 1 derives every family in this process, one after another.
    """
    chosen = tuple(FAMILIES) if families is None else families
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown:
        raise ValueError(
            f"families: unknown {', '.join(unknown)}; expected some of "
            f"{', '.join(FAMILIES)}"
        )
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: expected a positive integer, got {workers!r}")
    workers = min(workers, len(chosen))
    paths = []
    if workers == 1:
        for family in chosen:
            module = importlib.import_module(FAMILIES[family])
            table = module.derive(log=log)
            paths.append(write_table(family, table, out_dir))
        return paths
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending = {
            family: pool.submit(_derive, family)
            for family in sorted(chosen, key=_COST_ORDER.index)
        }
        for family in chosen:
            table, lines = pending[family].result()
            if log is not None:
                for line in lines:
                    log(line)
            paths.append(write_table(family, table, out_dir))
    return paths
