"""The claims ledger: one entry per claim of SPEC §7 (and scope), plus the rows of
SPEC §2's conventions (claim number 0).

The checks are listed explicitly by the claims modules (``CHECKS`` in each);
:mod:`coherence.proofs.outcome` defines what a check is, so no module imports
the ledger to register itself. A row that a Coq theorem of the manifest states
(:mod:`coherence.proofs.formal`) is ``PROVED`` when the theorem is
machine-checked *and* the row's own check of the code passes; the code check
then keeps the code honest (a planted bug in a recurrence changes the row), the
theorem carries the generality. Manifest theorems without a code check get a
row of their own.

Every Coq-backed row also rests on the row ``0/coq-python-link``
(:mod:`coherence.proofs.link`): the Coq definitions evaluated on conformance
cases must equal the Python exact oracle, else the row is ``UNKNOWN`` -- the
theorems are about Defs.v, and the link is what ties Defs.v to the code. The
theorem's statement printed is the one pinned in ``coq/Statements.v``
(:mod:`coherence.proofs.formal`).

A check that raises is recorded as ``UNKNOWN`` with the error, so that one bug
shows up as a difference from the committed expectation instead of hiding the
other rows.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from coherence.proofs.formal import Theorem, Verdict, load_manifest, prepare, row_of
from coherence.proofs.outcome import Check, Outcome, Settings, Status

__all__ = ["LINK_KEY", "Entry", "all_checks", "claim_numbers", "combine", "run_ledger"]


@dataclass(frozen=True)
class Entry:
    """One row of the ledger: a check and its outcome, with the running time."""

    check: Check
    outcome: Outcome
    seconds: float
    details: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        """The row's key, e.g. ``"14/stochastic"``."""
        return self.check.key

    @property
    def status(self) -> Status:
        """The row's status."""
        return self.outcome.status

    @property
    def statement(self) -> str:
        """The statement the status is about (the theorems' when Coq proves it)."""
        return self.outcome.statement or self.check.statement

    @property
    def family(self) -> str:
        """The family the status holds for (the theorem's when Coq proves it)."""
        return self.outcome.family or self.check.family


def all_checks() -> list[Check]:
    """Every code check of the claims modules, in claim order."""
    from coherence.proofs import (
        claims_coherence,
        claims_conventions,
        claims_improvement,
        claims_operators,
        claims_relabel,
        claims_values,
    )

    found: list[Check] = []
    for module in (
        claims_conventions,
        claims_values,
        claims_coherence,
        claims_improvement,
        claims_operators,
        claims_relabel,
    ):
        found.extend(module.CHECKS)
    keys = [c.key for c in found]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValueError(f"claim: duplicate ledger key {duplicates[0]!r}")
    return sorted(found, key=lambda c: (c.claim, c.scope))


def claim_numbers(theorems: Sequence[Theorem] | None = None) -> list[int]:
    """The claim numbers the ledger has rows for (0 = SPEC §2's conventions)."""
    theorems = load_manifest() if theorems is None else theorems
    return sorted({c.claim for c in all_checks()} | {t.claim for t in theorems})


def _coq_only(theorem: Theorem) -> Check:
    """The row of a manifest theorem that no code check covers."""

    def run(settings: Settings) -> Outcome:
        raise AssertionError("a Coq-only row has no code check")

    return Check(
        theorem.claim,
        theorem.scope,
        theorem.statement,
        theorem.family,
        f"Coq theorem {theorem.theorem}",
        run,
    )


LINK_KEY = "0/coq-python-link"
"""The ledger row of the Coq-Python link (:mod:`coherence.proofs.link`)."""


def _link_check(outcome: Outcome) -> Check:
    """The row of the Coq-Python link, reporting ``outcome``."""
    from coherence.proofs.link import SAMPLE_SIZE

    def run(settings: Settings) -> Outcome:
        return outcome

    return Check(
        0,
        LINK_KEY.split("/", 1)[1],
        "the Coq definitions of Defs.v that the theorems are about, evaluated "
        "by vm_compute over the rationals Q (QEval.v), give exactly the answers "
        "of the Python exact oracle (coherence.queries.Evaluator, backend "
        "exact, over coherence/reference) on every query the Coq side covers",
        "the public cases and a seeded sample of at least "
        f"{SAMPLE_SIZE} shipped generated cases (coherence/cases), rotating by "
        "day; every query of policy, z, w, occupancy, J_prob, J_count for "
        "prior, G, T, F, F_literal, H, H_literal (k <= 4), B (argmax; "
        "Boltzmann at delta = 1, 1/2, 1/3)",
        "Coq evaluation (one coqc run) vs the exact oracle, compared exactly",
        run,
    )


def combine(
    code: Outcome | None,
    verdicts: Sequence[Verdict],
    link: Outcome | None = None,
) -> Outcome:
    """The status of a row that one or more Coq theorems state.

    Args:
        code: the row's code check (None for a Coq-only row).
        verdicts: whether each theorem stating the row is machine-checked.
        link: the outcome of the Coq-Python link row (None: not part of this
            combination, as in tests that supply verdicts).
    Returns:
        PROVED (the theorems' family) when every theorem is checked, the
        code check passed and the link passed; a shipped counterexample stays
        REFUTED (the theorems record the refutation); UNKNOWN with the reason
        otherwise -- in particular when the code check or the link fails,
        since the code then is not what the theorems state.
    """
    if not verdicts:
        raise ValueError("verdicts: a Coq row needs at least one theorem")
    names = ", ".join(v.theorem.theorem for v in verdicts)
    family = "; ".join(dict.fromkeys(v.theorem.family for v in verdicts))
    lemmas: tuple[str, ...] = tuple(v.reason for v in verdicts)
    if code is not None:
        lemmas += (f"code check ({code.status}): {code.evidence}", *code.lemmas)
    if code is not None and code.status == "REFUTED" and code.case is not None:
        return replace(code, lemmas=lemmas, theorem=names)
    if code is not None and code.status not in ("PROVED", "CHECKED"):
        return Outcome(
            "UNKNOWN",
            f"the code check of this row did not pass ({code.status}: "
            f"{code.evidence}), so the code is not what {names} states",
            lemmas,
            code.case,
            code.relation,
            family,
            names,
        )
    failed = [v for v in verdicts if not v.proved]
    if failed:
        reason = "; ".join(v.reason for v in failed)
        return Outcome("UNKNOWN", reason, lemmas, family=family, theorem=names)
    if link is not None:
        linked = f"link ({LINK_KEY}, {link.status}): {link.evidence}"
        lemmas += (linked,)
        if link.status != "CHECKED":
            return Outcome(
                "UNKNOWN",
                f"the Coq definitions {names} is about did not match the Python "
                f"code in this run ({LINK_KEY}: {link.status}: {link.evidence})",
                lemmas,
                family=family,
                theorem=names,
            )
    statements = " ".join(
        f"Coq theorem {v.theorem.theorem} ({v.theorem.file}): {v.theorem.statement}"
        for v in verdicts
    )
    return Outcome(
        "PROVED",
        statements,
        lemmas,
        family=family,
        theorem=names,
        statement=" ".join(
            f"{v.theorem.statement} In Coq ({v.theorem.theorem}_statement, "
            f"Statements.v): {v.pinned}"
            if v.pinned
            else v.theorem.statement
            for v in verdicts
        ),
    )


def _run_link(
    build: object, settings: Settings, progress: Callable[[str], None] | None
) -> Outcome:
    """The link row's outcome on ``build`` (UNKNOWN when there is none)."""
    from coherence.proofs import link as linking
    from coherence.proofs.formal import COQC_MISSING, _coqrun

    runner = _coqrun()
    if build is None:
        reason = (
            COQC_MISSING
            if not runner.coq_available()
            else "the Coq proofs did not compile, so their definitions were not "
            "evaluated"
        )
        return Outcome("UNKNOWN", reason)
    seed = linking.daily_seed() if settings.link_seed is None else settings.link_seed
    started = time.perf_counter()
    try:
        outcome = linking.run_link(build, runner, seed)
    except Exception as exc:  # a broken evaluation is a status change
        return Outcome("UNKNOWN", f"the link raised {type(exc).__name__}: {exc}")
    if progress is not None:
        progress(
            f"coq: definitions evaluated and compared with the oracle in "
            f"{time.perf_counter() - started:.1f} s ({outcome.status})"
        )
    return outcome


def _run_one(c: Check, settings: Settings) -> tuple[Outcome, tuple[str, ...]]:
    try:
        return c.run(settings), ()
    except Exception as exc:  # a bug must surface as a status change
        outcome = Outcome("UNKNOWN", f"the check raised {type(exc).__name__}: {exc}")
        return outcome, (traceback.format_exc(),)


def run_ledger(
    only: Iterable[int] | None = None,
    progress: Callable[[Entry], None] | None = None,
    *,
    settings: Settings | None = None,
    theorems: Sequence[Theorem] | None = None,
    coq_build_dir: Path | None = None,
    verdicts: Mapping[str, Verdict] | None = None,
    coq_progress: Callable[[str], None] | None = None,
    link: Outcome | None = None,
) -> list[Entry]:
    """Run every row (or those of the claims in ``only``), in claim order.

    Args:
        only: claim numbers to run; an unknown number is a one-line ValueError
            before any work.
        progress: called with each entry as it is produced.
        settings: configuration passed to every check (default: compare cases).
        theorems: the Coq manifest (default: :func:`formal.load_manifest`).
        coq_build_dir: where to compile the Coq proofs (once for the run).
        verdicts: precomputed Coq verdicts by theorem name (tests); default
            compiles the proofs once.
        coq_progress: called with a line per step of the Coq build.
        link: the outcome of the Coq-Python link when ``verdicts`` are given
            (tests); default: when the verdicts are computed here and a
            Coq-backed row is selected, the link row is run on the build
            (:func:`coherence.proofs.link.run_link`, seed
            ``settings.link_seed``) and every Coq-backed row depends on it.
    Returns:
        One :class:`Entry` per row.
    """
    settings = Settings() if settings is None else settings
    theorems = load_manifest() if theorems is None else list(theorems)
    known = claim_numbers(theorems)
    wanted = None if only is None else set(only)
    if wanted is not None:
        unknown = sorted(wanted - set(known))
        if unknown:
            raise ValueError(
                f"--only: no ledger rows for claim {unknown[0]}; the claims are "
                f"{', '.join(map(str, known))}"
            )
    checks = all_checks()
    row_keys = [c.key for c in checks]
    by_row: dict[str, list[Theorem]] = {}
    for t in theorems:
        by_row.setdefault(row_of(t, row_keys), []).append(t)
    covered = set(row_keys)
    checks += [_coq_only(ts[0]) for k, ts in by_row.items() if k not in covered]
    checks.sort(key=lambda c: (c.claim, c.scope))
    if wanted is not None:
        checks = [c for c in checks if c.claim in wanted]
    if verdicts is None:
        needed = [t for c in checks for t in by_row.get(c.key, [])]
        if needed:
            verdicts, build = prepare(needed, coq_build_dir, progress=coq_progress)
            link = _run_link(build, settings, coq_progress)
        else:
            verdicts = {}
    if link is not None:
        checks.append(_link_check(link))
        checks.sort(key=lambda c: (c.claim, c.scope))
    entries: list[Entry] = []
    for c in checks:
        start = time.perf_counter()
        stated = by_row.get(c.key, [])
        details: tuple[str, ...] = ()
        code: Outcome | None = None
        if c.key in covered or c.key == LINK_KEY:
            code, details = _run_one(c, settings)
        if not stated:
            assert code is not None
            outcome = code
        else:
            found = [
                verdicts.get(t.theorem)
                or Verdict(t, False, f"{t.theorem} was not verified in this run")
                for t in stated
            ]
            outcome = combine(code, found, link)
            if code is not None:
                covers = f"the code check ({c.method}) covers: {c.family}"
                outcome = replace(outcome, lemmas=(*outcome.lemmas, covers))
        entry = Entry(c, outcome, time.perf_counter() - start, details)
        entries.append(entry)
        if progress is not None:
            progress(entry)
    return entries
