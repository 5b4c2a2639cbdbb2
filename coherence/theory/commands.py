"""``coherence derive``: closed forms of a symbolic case, or the committed tables.

    coherence derive CASE [--query ID ...] [--format text|latex|json|sympy]
                     [--at g=3/4,alpha=2] [--check N] [--seed S] [--out FILE]
    coherence derive --list
    coherence derive --tables [--family NAME ...] [--out DIR]
    coherence derive --show mountain-race

CASE is a symbolic case file (docs/theory.md) or the name of a shipped example.
Everything is computed before anything is written; ``--out`` is the only place
written to (tables: ``--out DIR``, default the current directory; never the
installed package). Heavy imports (sympy) happen inside the handler.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["FORMATS", "MAX_CHECK_POINTS", "SHOWABLE", "register", "render"]

SHOWABLE = ("mountain-race",)
#: Largest ``--check N``: each point runs the exact oracle once per query.
MAX_CHECK_POINTS = 1000
FORMATS = ("text", "latex", "json", "sympy")


def register(subparsers: Any) -> None:
    """Add the ``derive`` subcommand."""
    parser = subparsers.add_parser(
        "derive",
        help="closed forms of a symbolic case (or regenerate the theory tables)",
        description="Run the exact recurrences over sympy for a symbolic case and "
        "print each query's closed form with its validity conditions. "
        "--tables regenerates the committed closed-form tables instead.",
    )
    parser.add_argument(
        "case",
        nargs="?",
        metavar="CASE",
        help="symbolic case file, or the name of a shipped example (--list)",
    )
    parser.add_argument(
        "--query",
        action="append",
        default=None,
        metavar="ID",
        help="only this query (repeatable; default: every query)",
    )
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument(
        "--at",
        default=None,
        metavar="NAME=VALUE,...",
        help="also print the exact value at this point (e.g. g=3/4,alpha=2)",
    )
    parser.add_argument(
        "--check",
        type=int,
        default=None,
        metavar="N",
        help="compare each closed form with the exact oracle at N random points",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the --check points (default 0)"
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="PATH",
        help="write here instead of stdout (a file; with --tables a directory, "
        "default the current directory)",
    )
    parser.add_argument(
        "--list", action="store_true", help="list the shipped symbolic cases"
    )
    parser.add_argument(
        "--tables",
        action="store_true",
        help="regenerate the closed-form tables into --out DIR (default: .)",
    )
    parser.add_argument(
        "--family",
        action="append",
        default=None,
        metavar="NAME",
        help="with --tables: only this family (bandit, mountain_race, trees, "
        "stochastic; repeatable)",
    )
    parser.add_argument(
        "--show",
        choices=SHOWABLE,
        default=None,
        help="print a committed closed form instead of deriving",
    )
    parser.set_defaults(handler=_handle, needs=lambda _: ("sympy",))


def _plain(x: Any) -> str:
    import sympy

    return str(sympy.sstr(x)).replace("**", "^")


def render(forms: list[Any], fmt: str, at: dict[str, Any] | None = None) -> str:
    """The text of closed forms (:class:`~coherence.theory.closed_form.ClosedForm`)
    in one of :data:`FORMATS`; ``at`` (symbol -> value) adds the values there."""
    import sympy

    if fmt == "json":
        out = []
        for form in forms:
            obj = form.to_json()
            if at is not None:
                obj["at"] = {k: str(v) for k, v in at.items()}
                obj["value"] = _map_str(form.at(**at), str)
            out.append(obj)
        return json.dumps(out, indent=1, ensure_ascii=False) + "\n"
    lines: list[str] = []
    for form in forms:
        values = form.at(**at) if at is not None else None
        if fmt == "latex":
            lines.append(f"% {form.case} / {form.query}: {form.quantity}, {form.label}")
            lines.append(f"% valid for {', '.join(form.conditions) or 'every value'}")
            lines.append(form.latex)
            continue
        show = _plain if fmt == "text" else (lambda e: str(sympy.sstr(e)))
        head = f"{form.query}: {form.quantity} of {form.label}"
        lines.append(head)
        lines.append(
            f"  valid for: {', '.join(form.conditions) or 'every value of the symbols'}"
        )
        if fmt == "text" and form.decisions:
            shown = "; ".join(form.decisions[:3])
            more = len(form.decisions) - 3
            extra = f" (and {more} more; --format json lists all)" if more > 0 else ""
            lines.append(f"  zero tests decided by the ranges: {shown}{extra}")
        step = None
        for path, expr in form.cells():
            if path and path[0] != step:
                step = path[0]
                lines.append(f"  t={step}:")
            indent = "    " if path else "  "
            text = f"{indent}{form.cell_name(path)} = {show(expr)}"
            if values is not None:
                value: Any = values
                for key in path:
                    value = value[key]
                text += f"   [at {_point(at)}: {show(value)}{_decimal(value)}]"
            lines.append(text)
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _point(at: dict[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in (at or {}).items())


def _decimal(value: Any) -> str:
    import sympy

    if value.is_Rational or value.free_symbols or not value.is_number:
        return ""
    approx = sympy.N(value, 15)
    return f" ~ {approx}" if approx.is_real else ""


def _map_str(table: Any, fn: Any) -> Any:
    if isinstance(table, dict):
        return {k: _map_str(v, fn) for k, v in table.items()}
    return fn(table)


def _write_or_print(text: str, out: str | None) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    from coherence._io import atomic_write_text

    atomic_write_text(out, text)
    print(out, file=sys.stderr)


def _handle_tables(args: argparse.Namespace) -> int:
    from coherence._io import check_output_target, ensure_directory
    from coherence.theory.regenerate import FAMILIES, derive_all
    from coherence.theory.tables import table_path

    out = ensure_directory(args.out if args.out is not None else Path.cwd())
    for family in args.family or FAMILIES:  # before any work
        check_output_target(table_path(family, out))
    start = time.perf_counter()
    paths = derive_all(
        out,
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


def _handle(args: argparse.Namespace) -> int:
    if args.show == "mountain-race":
        from coherence.theory.mountain_race import root_closed_form

        print(root_closed_form())
        return 0
    if args.tables:
        if args.case is not None:
            raise ValueError("--tables: takes no CASE")
        return _handle_tables(args)
    if args.family is not None:
        raise ValueError("--family: only with --tables")
    if args.list:
        from coherence.theory.symbolic import CASES_DIR, shipped_cases

        for name in shipped_cases():
            print(f"{name}\t{CASES_DIR / (name + '.json')}")
        return 0
    if args.case is None:
        raise ValueError("CASE: give a symbolic case file (or --list, --tables)")
    if args.check is not None and not 1 <= args.check <= MAX_CHECK_POINTS:
        raise ValueError(
            f"--check: expected a number of points from 1 to {MAX_CHECK_POINTS}, "
            f"got {args.check}"
        )
    if args.at is not None and not args.at.strip(" ,"):
        raise ValueError("--at: expected NAME=VALUE,..., got an empty point")
    if args.out is not None:
        from coherence._io import check_output_target

        check_output_target(args.out)  # before any work
    from coherence.theory.assumptions import RangeSystem
    from coherence.theory.closed_form import check, check_derive_limits, derive_case
    from coherence.theory.symbolic import load_symbolic_case, parse_point

    case = load_symbolic_case(args.case)
    ids = args.query or case.query_ids
    for qid in ids:
        check_derive_limits(case, qid)  # unknown ids and limits before any work
    at = parse_point(args.at, case.ranges) if args.at is not None else None
    ns = RangeSystem(case.by_symbol)
    forms = [derive_case(case, qid, ns=ns) for qid in ids]
    text = render(forms, args.format, at)
    failed = 0
    if args.check is not None:
        for form in forms:
            report = check(case, form, args.check, seed=args.seed)
            print(report.summary(), file=sys.stderr)
            failed += not report.ok
    _write_or_print(text, args.out)
    return 1 if failed else 0
