"""The claims ledger: machine-checked statuses of SPEC §7 (``coherence prove``).

* :mod:`~coherence.proofs.outcome` -- statuses, outcomes, checks, run settings;
* :mod:`~coherence.proofs.ledger` -- entries and the runner (the claims modules
  list their checks; the Coq manifest adds theorems);
* :mod:`~coherence.proofs.formal` -- the Coq manifest and its verdicts;
* ``claims_*`` -- one check per claim and scope (``claims_conventions``: SPEC §2);
* :mod:`~coherence.proofs.families` -- the parametric MDP families;
* :mod:`~coherence.proofs.numbers` -- z3 terms and exact rational functions as
  number systems for the generic recurrences;
* :mod:`~coherence.proofs.convex` -- the cvxpy oracle for the entropy-regularised
  optimum;
* :mod:`~coherence.proofs.cases` -- counterexample case files;
* :mod:`~coherence.proofs.report` -- table, Markdown and JSON renderings.

Heavy dependencies (sympy, z3, cvxpy) load on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Entry",
    "Outcome",
    "compare_with_dp",
    "run_ledger",
    "solve_maxent_program",
]


def __getattr__(name: str) -> Any:
    if name in ("Entry", "run_ledger"):
        from coherence.proofs import ledger

        return getattr(ledger, name)
    if name == "Outcome":
        from coherence.proofs import outcome

        return outcome.Outcome
    if name in ("compare_with_dp", "solve_maxent_program"):
        from coherence.proofs import convex

        return getattr(convex, name)
    raise AttributeError(f"module 'coherence.proofs' has no attribute {name!r}")
