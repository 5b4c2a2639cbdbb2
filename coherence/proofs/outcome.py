"""What a ledger check is and what it finds (no registry, no imports of claims).

Statuses (SPEC §9):

* ``PROVED`` -- the printed statement is machine-checked end to end for the
  printed family: by a Coq theorem (its name is printed), by an exact symbolic
  identity over the whole family, or by an SMT query whose negation is unsat
  with every hypothesis stated;
* ``CHECKED`` -- finite instances, bounded k or grids, checked exhaustively and
  exactly (or in float64 with the tolerance printed); the family printed says
  which instances, e.g. "k = 0..3 on the binary tree of horizon 2";
* ``REFUTED`` -- with an exact counterexample, shipped as a case file;
* ``UNKNOWN`` -- with the reason.

A written induction over checked lemmas is a proof sketch (SPEC §9): a row
resting on one is ``CHECKED`` for the instances its lemmas cover, or ``PROVED``
only when a Coq theorem states it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["STATUSES", "Check", "Outcome", "Settings", "Status", "check"]

Status = Literal["PROVED", "CHECKED", "REFUTED", "UNKNOWN"]
STATUSES: tuple[Status, ...] = ("PROVED", "CHECKED", "REFUTED", "UNKNOWN")


@dataclass(frozen=True)
class Outcome:
    """What a check found.

    ``lemmas`` name each machine-checked step as ``"statement -- how checked:
    result"``; ``case`` is the counterexample file (relative to the repository)
    and ``relation`` what its values show; ``family`` and ``statement``, when
    given, replace the check's printed ones (a Coq theorem states more than the
    code check covers); ``theorem`` names the Coq theorems; ``notes`` are
    facts of this run only (the seeded sample drawn), printed by ``prove``
    and in ``--json`` but not in ``docs/claims.md``, which stays reproducible.
    """

    status: Status
    evidence: str
    lemmas: tuple[str, ...] = ()
    case: str | None = None
    relation: str | None = None
    family: str | None = None
    theorem: str | None = None
    statement: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    """Configuration of one ledger run, passed to every check.

    ``write_cases``: the directory into which counterexample cases are written
    instead of being compared with the committed files (``coherence prove
    --write-cases DIR``); None compares. ``link_seed``: the seed of the
    generated cases the Coq-Python link evaluates (``--link-seed``); None uses
    the day's number, so the sample rotates.
    """

    write_cases: Path | None = None
    link_seed: int | None = None


CheckFn = Callable[[Settings], Outcome]


@dataclass(frozen=True)
class Check:
    """A check with the ledger's description of it.

    ``family`` is what the check itself covers; ``method`` how it checks.
    """

    claim: int
    scope: str
    statement: str
    family: str
    method: str
    run: CheckFn

    @property
    def key(self) -> str:
        """``"10"`` for a claim with one scope, ``"14/stochastic"`` otherwise."""
        return f"{self.claim}/{self.scope}" if self.scope else str(self.claim)


def check(
    claim: int, scope: str, *, statement: str, family: str, method: str
) -> Callable[[CheckFn], Check]:
    """Decorator: turn a function ``Settings -> Outcome`` into a :class:`Check`.

    Nothing is registered; each claims module lists its checks in ``CHECKS``.
    """
    if not isinstance(claim, int) or claim < 0:
        raise ValueError(f"claim: expected a non-negative integer, got {claim!r}")

    def make(fn: CheckFn) -> Check:
        return Check(claim, scope, statement, family, method, fn)

    return make
