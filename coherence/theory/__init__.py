"""Closed forms of the theory, derived with sympy and committed as tables.

The exact recurrences of :mod:`coherence.reference.recurrences` run over sympy
expressions (:data:`SYMPY`) for parametric families of MDPs; the generators
(:mod:`~coherence.theory.bandit`, :mod:`~coherence.theory.mountain_race`,
:mod:`~coherence.theory.trees`, :mod:`~coherence.theory.stochastic`) write
``coherence/theory/tables/<family>.json`` (format in
:mod:`coherence.theory.tables`), which every other part is tested against.
Regenerate with ``coherence derive``. Importing this package does not import
sympy except through :data:`SYMPY`.
"""

from __future__ import annotations

from typing import Any

from coherence.theory.tables import FORMAT, TABLES_DIR, load_table

__all__ = ["FAMILIES", "FORMAT", "SYMPY", "TABLES_DIR", "SympySystem", "load_table"]

#: The table families, in generation order.
FAMILIES = ("bandit", "mountain_race", "trees", "stochastic")


def __getattr__(name: str) -> Any:
    if name in ("SYMPY", "SympySystem"):
        from coherence.theory import numbers

        return getattr(numbers, name)
    raise AttributeError(f"module 'coherence.theory' has no attribute {name!r}")
