"""Regenerate every closed-form table (``coherence derive --tables``).

Runs the generators in a fixed order, each writing its table atomically:

* :mod:`coherence.theory.bandit` -- one-step bandits, n = 2..4 (~10 s);
* :mod:`coherence.theory.mountain_race` -- SPEC §6's mountain race (~5 s);
* :mod:`coherence.theory.trees` -- all deterministic trees of depth <= 3 and
  branching <= 2 (~60 s);
* :mod:`coherence.theory.stochastic` -- stochastic one- and two-step families
  (~15 s).

Times are single-core on the project's 2-core machines.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from coherence.theory.tables import write_table

__all__ = ["FAMILIES", "derive_all"]

#: Family name -> generator module, in generation order.
FAMILIES = {
    "bandit": "coherence.theory.bandit",
    "mountain_race": "coherence.theory.mountain_race",
    "trees": "coherence.theory.trees",
    "stochastic": "coherence.theory.stochastic",
}


def derive_all(
    out_dir: Path | str | None = None,
    *,
    families: tuple[str, ...] | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Path]:
    """Regenerate the tables of ``families`` (default: all) into ``out_dir``
    (default: the package's tables directory); returns the written paths."""
    chosen = tuple(FAMILIES) if families is None else families
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown:
        raise ValueError(
            f"families: unknown {', '.join(unknown)}; expected some of "
            f"{', '.join(FAMILIES)}"
        )
    paths = []
    for family in chosen:
        module = importlib.import_module(FAMILIES[family])
        table = module.derive(log=log)
        paths.append(write_table(family, table, out_dir))
    return paths
