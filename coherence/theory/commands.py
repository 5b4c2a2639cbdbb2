"""``coherence derive``: regenerate the closed-form tables, or print one.

    coherence derive [--out DIR] [--family NAME ...]
    coherence derive --show mountain-race

Heavy imports (sympy) happen inside the handler.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

__all__ = ["register"]

SHOWABLE = ("mountain-race",)


def register(subparsers: Any) -> None:
    """Add the ``derive`` subcommand."""
    parser = subparsers.add_parser(
        "derive",
        help="regenerate the closed-form reference tables (coherence/theory)",
        description="Derive closed forms with sympy and write the reference tables "
        "(default: the package's coherence/theory/tables).",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="output directory (default: the package's tables)",
    )
    parser.add_argument(
        "--family",
        action="append",
        default=None,
        metavar="NAME",
        help="only this family (repeatable): bandit, mountain_race, trees, stochastic",
    )
    parser.add_argument(
        "--show",
        choices=SHOWABLE,
        default=None,
        help="print a committed closed form instead of deriving",
    )
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    if args.show == "mountain-race":
        from coherence.theory.mountain_race import root_closed_form

        print(root_closed_form(args.out))
        return 0
    from coherence.theory.derive import derive_all

    start = time.perf_counter()
    paths = derive_all(
        args.out,
        families=None if args.family is None else tuple(args.family),
        log=lambda m: print(m, file=sys.stderr),
    )
    for path in paths:
        print(path)
    print(
        f"derived {len(paths)} tables in {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
    )
    return 0
