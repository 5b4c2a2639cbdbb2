"""``coherence import SOURCE --horizon T [--success MAP] --out case.json``.

Everything (the source, the horizon, the map, every option, the state count
against ``--max-states``) is checked and the whole case is built in memory
before the output file is written, atomically; any error is one line and leaves
no file behind.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["parse_option", "register", "source_needs"]


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as true/false, an int, a float or a
    string; a one-line ValueError naming the option when there is no ``=``."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--option: expected KEY=VALUE, got {text!r}")
    value: Any = raw
    lowered = raw.strip().lower()
    if lowered in ("true", "false"):
        value = lowered == "true"
    elif lowered in ("none", "null"):
        value = None
    else:
        for kind in (int, float):
            try:
                value = kind(raw)
                break
            except ValueError:
                continue
    return key.strip(), value


def _cmd_import(args: argparse.Namespace) -> int:
    from coherence.envs import case_json, import_source
    from coherence.envs.output import write_case_json

    out = Path(args.out)
    if out.is_dir():
        raise ValueError(f"--out {os.fspath(out)!r}: is a directory, expected a file")
    options = dict(parse_option(o) for o in args.option or ())
    start = time.perf_counter()
    table = import_source(
        args.source,
        horizon=args.horizon,
        success=args.success,
        options=options,
        seed=args.seed,
        max_states=args.max_states,
        name=args.name,
        progress=not args.quiet and sys.stderr.isatty(),
        warn=False,
    )
    for line in table.warnings:
        print(f"coherence: warning: {line}", file=sys.stderr)
    data = case_json(table, queries=not args.no_queries)
    write_case_json(out, data)
    seconds = time.perf_counter() - start
    if not args.quiet:
        print(
            f"wrote {os.fspath(out)}: {table.n_states} states, "
            f"{len(table.actions)} actions, horizon {table.horizon} "
            f"({table.n_pairs} (t, s) pairs, {table.n_successors} successor "
            f"entries), success {data['source']['success_map']}, "
            f"{seconds:.2f} s"
        )
    return 0


def source_needs(source: str) -> tuple[str, ...]:
    """The optional modules an import of ``source`` needs: gymnasium for
    ``gymnasium:``, gymnasium and minigrid for ``minigrid:``, none otherwise."""
    kind = source.partition(":")[0]
    return {"gymnasium": ("gymnasium",), "minigrid": ("gymnasium", "minigrid")}.get(
        kind, ()
    )


def register(sub: Any) -> None:
    """Add the ``import`` subcommand."""
    from coherence.envs.tabular import DEFAULT_MAX_STATES

    parser = sub.add_parser(
        "import",
        help="an environment or benchmark as a case (gymnasium, MiniGrid, BRIDGE)",
        description="Import SOURCE as a coherence-case/1 file: gymnasium:ID "
        "(toy-text, its own P), minigrid:ID (its own step, breadth first from "
        "reset(seed)), bridge:PATH.npz, gambling or doc-bandit. See docs/envs.md.",
    )
    parser.add_argument("source", metavar="SOURCE")
    parser.add_argument(
        "--horizon", type=int, required=True, metavar="T", help="decision steps (>= 1)"
    )
    parser.add_argument(
        "--success",
        default="goal",
        metavar="MAP",
        help="goal | scored | exp:BETA | exp-free-end:BETA | return>=X "
        "(default goal; docs/envs.md)",
    )
    parser.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="keyword for gymnasium.make (repeatable), e.g. is_slippery=false",
    )
    parser.add_argument("--seed", type=int, default=0, help="MiniGrid reset seed")
    parser.add_argument(
        "--max-states",
        type=int,
        default=DEFAULT_MAX_STATES,
        metavar="N",
        help=f"refuse a case of more than N states (default {DEFAULT_MAX_STATES})",
    )
    parser.add_argument("--name", default=None, help="case name (default: derived)")
    parser.add_argument(
        "--no-queries", action="store_true", help="write the MDP without queries"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress, no summary")
    parser.add_argument("--out", required=True, metavar="CASE.json")
    parser.set_defaults(handler=_cmd_import, needs=lambda a: source_needs(a.source))
