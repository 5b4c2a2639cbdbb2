"""The ``coherence`` command.

Subcommands are contributed by modules that expose ``register(subparsers)``;
each adds its parsers with ``set_defaults(handler=...)``, where the handler takes
the parsed namespace and returns an exit code. Heavy imports (torch, sympy, z3,
cvxpy) happen inside handlers, so ``coherence --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

#: Modules contributing subcommands, in the order they appear in ``--help``.
COMMAND_MODULES = (
    "coherence.demo",
    "coherence.conformance",
    "coherence.theory.commands",
    "coherence.proofs.commands",
    "coherence.gpu.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coherence",
        description="Reference implementation of incoherence in goal-conditioned "
        "autoregressive policies (SPEC.md).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        code: int = handler(args)
    except ValueError as exc:
        print(f"coherence: error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
