"""``coherence prove``: run the claims ledger (see :mod:`coherence.proofs`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["EXIT_NO_COQC", "PROOF_MODULES", "register"]

#: Exit status of ``prove`` when ``coqc`` is missing and rows needed it.
EXIT_NO_COQC = 3

COQC_MISSING_LINE = (
    "install Coq with Mathematical Components to check the Coq rows (Debian: "
    "apt-get install coq libcoq-mathcomp-ssreflect libcoq-mathcomp-algebra "
    "libcoq-mathcomp-field)"
)

#: The modules of the ``[proofs]`` extra the ledger's checks import.
PROOF_MODULES = ("sympy", "z3", "cvxpy", "clarabel")


def _directory(value: str, flag: str) -> Path:
    """An existing directory named by the user; a one-line ValueError if not."""
    path = Path(value)
    if not path.is_dir():
        raise ValueError(f"{flag}: {value!r} is not an existing directory")
    return path


def _prove(args: argparse.Namespace) -> int:
    """Run the ledger, print it, and compare with the committed expectation.

    Returns 0 iff every row has its expected status (and, for the full ledger,
    every expected row ran); 1 otherwise; :data:`EXIT_NO_COQC` (3) when
    ``coqc`` is missing and some selected row rests on a Coq theorem (the text
    output says which rows). Bad arguments raise a one-line ValueError (exit 2)
    before any work.
    """
    from coherence._io import atomic_write_text, read_text
    from coherence.proofs.coqrun import coq_available
    from coherence.proofs.formal import COQC_MISSING
    from coherence.proofs.ledger import Entry, claim_numbers, run_ledger
    from coherence.proofs.outcome import Settings
    from coherence.proofs.report import (
        README_BEGIN,
        README_END,
        SPEC_BEGIN,
        SPEC_END,
        differences,
        load_expected,
        render_json,
        render_markdown,
        render_readme_table,
        render_spec_table,
        render_table,
        replace_block,
        summary_rows,
    )

    if args.out is not None and args.only:
        raise ValueError("--out: needs the full ledger (no --only)")
    tables: list[tuple[Path, str, str, Any]] = []
    for flag, value, begin, end, render in (
        ("--spec", args.spec, SPEC_BEGIN, SPEC_END, render_spec_table),
        ("--readme", args.readme, README_BEGIN, README_END, render_readme_table),
    ):
        if value is None:
            continue
        if args.only:
            raise ValueError(f"{flag}: needs the full ledger (no --only)")
        path = Path(value)
        if not path.is_file():
            raise ValueError(f"{flag}: {value!r} is not an existing file")
        text = path.read_text(encoding="utf-8")
        replace_block(text, "", begin, end, flag)  # the markers must be there
        tables.append((path, begin, end, render))
    if args.only:
        known = claim_numbers()
        unknown = [n for n in args.only if n not in known]
        if unknown:
            raise ValueError(
                f"--only: no ledger rows for claim {unknown[0]}; the claims are "
                f"{', '.join(map(str, known))}"
            )
    out = None if args.out is None else Path(args.out)
    if out is not None and not out.parent.is_dir():
        raise ValueError(f"--out: directory {str(out.parent)!r} does not exist")
    write_dir = (
        None
        if args.write_cases is None
        else _directory(args.write_cases, "--write-cases")
    )
    build_dir = (
        None if args.coq_build is None else _directory(args.coq_build, "--coq-build")
    )

    def progress(entry: Entry) -> None:
        if not args.json:
            print(
                f"  {entry.key}: {entry.status} ({entry.seconds:.2f}s)",
                file=sys.stderr,
                flush=True,
            )

    def coq_progress(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    if not coq_available():
        print(
            "coherence prove: coqc not found on the PATH; rows that rest on Coq "
            f"theorems will be UNKNOWN; {COQC_MISSING_LINE}",
            file=sys.stderr,
            flush=True,
        )
    entries = run_ledger(
        args.only,
        progress=progress,
        settings=Settings(write_cases=write_dir, link_seed=args.link_seed),
        coq_build_dir=build_dir,
        coq_progress=coq_progress,
    )
    print(render_json(entries) if args.json else render_table(entries))
    if not args.json:
        for entry in entries:
            for note in entry.outcome.notes:
                print(f"{entry.key}: {note}")
        print(
            f"wall time {time.perf_counter() - started:.1f} s (rows, and the Coq "
            "build or the reuse of its cache)"
        )
    without_coq = [e for e in entries if COQC_MISSING in e.outcome.evidence]
    if without_coq and not args.json:
        print(
            f"coqc not found: {len(without_coq)} "
            f"{'row rests' if len(without_coq) == 1 else 'rows rest'} on Coq "
            "theorems and stay UNKNOWN, not machine-checked "
            f"({', '.join(e.key for e in without_coq)}); {COQC_MISSING_LINE}; "
            f"exit {EXIT_NO_COQC}"
        )
    if out is not None:
        previous = read_text(out, "--out") if out.is_file() else None
        atomic_write_text(out, render_markdown(entries, previous))
    if tables:
        rows = summary_rows(json.loads(render_json(entries)))
        for path, begin, end, render in tables:
            text = path.read_text(encoding="utf-8")
            new = replace_block(text, render(rows), begin, end, str(path))
            atomic_write_text(path, new)
    for entry in entries:
        for detail in entry.details:
            print(detail, file=sys.stderr)
    if write_dir is not None:
        print(
            f"coherence prove: counterexample cases written to {write_dir}",
            file=sys.stderr,
        )
    if without_coq:
        return EXIT_NO_COQC
    diff = differences(entries, load_expected(), complete=not args.only)
    if diff:
        print(
            "coherence prove: status differs from coherence/proofs/expected.json:",
            file=sys.stderr,
        )
        for line in diff:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


def register(sub: Any) -> None:
    """Add the ``prove`` subcommand to the CLI's subparsers."""
    parser = sub.add_parser(
        "prove",
        help="run the claims ledger (SPEC §7) and compare with the expectation",
        description="Re-derive the machine-checked status of every SPEC §7 claim "
        "and of SPEC §2's conventions (claim 0); exit 1 when a status differs "
        "from coherence/proofs/expected.json.",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per claim instead of the table",
    )
    parser.add_argument(
        "--out",
        metavar="PATH",
        default=None,
        help="write the ledger as Markdown (e.g. docs/claims.md); a mutation "
        "section already in the file is kept",
    )
    parser.add_argument(
        "--spec",
        metavar="PATH",
        default=None,
        help="rewrite the generated ledger table of this file (docs/spec.md "
        "section 7) from the ledger's JSON",
    )
    parser.add_argument(
        "--readme",
        metavar="PATH",
        default=None,
        help="rewrite the generated ledger table of this file (README.md, "
        "section 'Claims ledger') from the ledger's JSON",
    )
    parser.add_argument(
        "--only",
        metavar="N",
        type=int,
        nargs="+",
        default=None,
        help="run only these claim numbers (0 = SPEC §2 conventions)",
    )
    parser.add_argument(
        "--write-cases",
        metavar="DIR",
        nargs="?",
        const=".",
        default=None,
        help="write the regenerated counterexample cases into DIR (default: the "
        "current directory) instead of comparing them with the committed files",
    )
    parser.add_argument(
        "--link-seed",
        metavar="N",
        type=int,
        default=None,
        help="seed of the generated cases on which the Coq definitions are "
        "evaluated and compared with the Python oracle (default: the day's "
        "number, so the sample rotates)",
    )
    parser.add_argument(
        "--coq-build",
        metavar="DIR",
        default=None,
        help="compile the Coq proofs in DIR (reused by later runs) instead of "
        "the cache (COHERENCE_CACHE_DIR, else XDG_CACHE_HOME/coherence, else "
        "~/.cache/coherence; keyed on the sources' digest)",
    )
    parser.set_defaults(handler=_prove, needs=lambda _: PROOF_MODULES)
