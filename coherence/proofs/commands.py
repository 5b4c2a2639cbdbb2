"""``coherence prove``: run the claims ledger (see :mod:`coherence.proofs`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _prove(args: argparse.Namespace) -> int:
    from coherence._io import atomic_write_text
    from coherence.proofs import cases
    from coherence.proofs.ledger import Entry, run_ledger
    from coherence.proofs.report import (
        differences,
        load_expected,
        render_json,
        render_markdown,
        render_table,
    )

    if args.out is not None and args.only:
        print(
            "coherence prove: --out needs the full ledger (no --only)", file=sys.stderr
        )
        return 2
    if args.write_cases:
        cases.WRITE_CASES["enabled"] = True

    def progress(entry: Entry) -> None:
        if not args.json:
            print(
                f"  {entry.key}: {entry.status} ({entry.seconds:.2f}s)",
                file=sys.stderr,
                flush=True,
            )

    entries = run_ledger(args.only, progress=progress)
    if args.json:
        print(render_json(entries))
    else:
        print(render_table(entries))
    if args.out is not None:
        if args.only:
            print(
                "coherence prove: --out needs the full ledger (no --only)",
                file=sys.stderr,
            )
            return 2
        atomic_write_text(Path(args.out), render_markdown(entries))
    for entry in entries:
        for detail in entry.details:
            print(detail, file=sys.stderr)
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
    parser = sub.add_parser(
        "prove",
        help="run the claims ledger (SPEC §7) and compare with the expectation",
        description="Re-derive the machine-checked status of every SPEC §7 claim; "
        "exit 1 when a status differs from coherence/proofs/expected.json.",
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
        help="write the ledger as Markdown (e.g. docs/claims.md)",
    )
    parser.add_argument(
        "--only",
        metavar="N",
        type=int,
        nargs="+",
        default=None,
        help="run only these claim numbers",
    )
    parser.add_argument(
        "--write-cases",
        action="store_true",
        help="regenerate coherence/proofs/cases/*.json from the "
        "oracle instead of comparing with them",
    )
    parser.set_defaults(handler=_prove)
