"""The claims ledger: one machine-checked entry per claim of SPEC §7 (and scope).

Each entry is produced by a registered check: a function returning an
:class:`Outcome` (status, evidence, the lemmas it composes and how each was
checked, the counterexample case it ships). The registry carries what the
ledger prints beside it: the statement, the family it is checked on, and the
method. Statuses (SPEC §9):

* ``PROVED`` -- for the stated family, by exact symbolic identity, an SMT
  solver's refutation of the negation, exhaustive exact enumeration of a finite
  grid, or lemmas so checked composed by a recorded induction;
* ``REFUTED`` -- with an exact counterexample, shipped as a case file;
* ``UNKNOWN`` -- with the reason (a solver timeout, a claim not stated precisely
  enough to check). Sampling-based agreement is evidence, never ``PROVED``.

A check that raises is recorded as ``UNKNOWN`` with the error, so that one bug
shows up as a difference from the committed expectation instead of hiding the
other rows.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "CHECKS",
    "STATUSES",
    "Check",
    "Entry",
    "Outcome",
    "Status",
    "check",
    "run_ledger",
]

Status = Literal["PROVED", "REFUTED", "UNKNOWN"]
STATUSES: tuple[Status, ...] = ("PROVED", "REFUTED", "UNKNOWN")


@dataclass(frozen=True)
class Outcome:
    """What a check found. ``lemmas`` name each machine-checked step as
    ``"statement -- how checked: result"``; ``case`` is the counterexample file
    (relative to the package) and ``relation`` what its values show."""

    status: Status
    evidence: str
    lemmas: tuple[str, ...] = ()
    case: str | None = None
    relation: str | None = None


@dataclass(frozen=True)
class Check:
    """A registered check with the ledger's description of it."""

    claim: int
    scope: str
    statement: str
    family: str
    method: str
    run: Callable[[], Outcome]

    @property
    def key(self) -> str:
        """``"10"`` for a claim with one scope, ``"14/stochastic"`` otherwise."""
        return f"{self.claim}/{self.scope}" if self.scope else str(self.claim)


@dataclass(frozen=True)
class Entry:
    """One row of the ledger: a check and its outcome, with the running time."""

    check: Check
    outcome: Outcome
    seconds: float
    details: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        return self.check.key

    @property
    def status(self) -> Status:
        return self.outcome.status


CHECKS: list[Check] = []


def check(
    claim: int, scope: str, *, statement: str, family: str, method: str
) -> Callable[[Callable[[], Outcome]], Callable[[], Outcome]]:
    """Register the decorated function as the check of ``claim`` / ``scope``."""

    def register(fn: Callable[[], Outcome]) -> Callable[[], Outcome]:
        entry = Check(claim, scope, statement, family, method, fn)
        if any(c.key == entry.key for c in CHECKS):
            raise ValueError(f"claim: duplicate ledger key {entry.key!r}")
        CHECKS.append(entry)
        return fn

    return register


def load_checks() -> list[Check]:
    """Import the claim modules (they register on import) and return the checks
    in claim order."""
    from coherence.proofs import (  # noqa: F401  (imported to register)
        claims_coherence,
        claims_improvement,
        claims_operators,
        claims_values,
    )

    return sorted(CHECKS, key=lambda c: (c.claim, c.scope))


def run_ledger(
    only: Iterable[int] | None = None, progress: Callable[[Entry], None] | None = None
) -> list[Entry]:
    """Run every check (or those of the claims in ``only``), in claim order."""
    wanted = None if only is None else set(only)
    entries: list[Entry] = []
    for c in load_checks():
        if wanted is not None and c.claim not in wanted:
            continue
        start = time.perf_counter()
        try:
            outcome = c.run()
            details: tuple[str, ...] = ()
        except Exception as exc:  # a bug must surface as a status change
            outcome = Outcome(
                "UNKNOWN", f"the check raised {type(exc).__name__}: {exc}"
            )
            details = (traceback.format_exc(),)
        entry = Entry(c, outcome, time.perf_counter() - start, details)
        entries.append(entry)
        if progress is not None:
            progress(entry)
    return entries
