"""Closed forms of the theory: symbolic cases, ``derive``, and the committed tables.

The exact recurrences of :mod:`coherence.reference.recurrences` run over sympy
expressions. For a user's own parametric MDP, a *symbolic case*
(:mod:`coherence.theory.symbolic`, docs/theory.md) declares symbols with ranges,
and :func:`derive` returns a query's :class:`ClosedForm` with the conditions
SPEC §2's zero decisions used (:mod:`coherence.theory.closed_form`); the
command is ``coherence derive CASE``.

Four fixed families (:mod:`~coherence.theory.bandit`,
:mod:`~coherence.theory.mountain_race`, :mod:`~coherence.theory.trees`,
:mod:`~coherence.theory.stochastic`) are committed as
``coherence/theory/tables/<family>.json`` (format in
:mod:`coherence.theory.tables`), which every other part is tested against;
``coherence derive --tables --out DIR`` regenerates them. Importing this package
does not import sympy: the names below that need it load on first use.
"""

from __future__ import annotations

from typing import Any

from coherence.theory.tables import FORMAT, TABLES_DIR, load_table

__all__ = [
    "FAMILIES",
    "FORMAT",
    "SYMPY",
    "TABLES_DIR",
    "ClosedForm",
    "SymbolicCase",
    "SympySystem",
    "check",
    "derive",
    "load_symbolic_case",
    "load_table",
]

#: The table families, in generation order.
FAMILIES = ("bandit", "mountain_race", "trees", "stochastic")

_LAZY = {
    "SYMPY": "coherence.theory.numbers",
    "SympySystem": "coherence.theory.numbers",
    "ClosedForm": "coherence.theory.closed_form",
    "check": "coherence.theory.closed_form",
    "derive": "coherence.theory.closed_form",
    "SymbolicCase": "coherence.theory.symbolic",
    "load_symbolic_case": "coherence.theory.symbolic",
}


def __getattr__(name: str) -> Any:
    """The sympy-backed names of ``__all__``, imported on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'coherence.theory' has no attribute {name!r}")
