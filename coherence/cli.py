"""The ``coherence`` command.

Subcommands are contributed by modules that expose ``register(subparsers)``;
each adds its parsers with ``set_defaults(handler=...)``, where the handler takes
the parsed namespace and returns an exit code. Heavy imports (torch, sympy, z3,
cvxpy) happen inside handlers, so ``coherence --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from coherence import __version__
from coherence._extras import EXTRAS, missing_extra, unmet_need

__all__ = ["COMMAND_MODULES", "OneLineParser", "build_parser", "main"]

#: Modules contributing subcommands, in the order they appear in ``--help``.
COMMAND_MODULES = (
    "coherence.demo",
    "coherence.conformance",
    "coherence.validate",
    "coherence.suite",
    "coherence.theory.commands",
    "coherence.proofs.commands",
    "coherence.gpu.commands",
    "coherence.envs.commands",
    "coherence.experiments.commands",
)


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr
    (``coherence retrain: error: argument --threads: ...``), exit code 2."""

    def error(self, message: str) -> NoReturn:
        """Print one line naming the command and the problem; exit 2."""
        text = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {text} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every contributed subcommand."""
    parser = OneLineParser(
        prog="coherence",
        description="Reference implementation of incoherence in goal-conditioned "
        "autoregressive policies (docs/spec.md).",
    )
    parser.add_argument(
        "--version", action="version", version=f"coherence {__version__}"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if not (name == missing or name.startswith(missing + ".")):
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    A ValueError or a file-system error is printed as one line
    ``coherence: error: ...`` (exit 2), and so, as a last resort, is a
    MemoryError or RecursionError; a missing optional dependency or external
    program names what to install (exit 2), checked before any work from the
    command's ``needs`` (set with ``set_defaults``); a closed output pipe ends
    quietly.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    needs = getattr(args, "needs", None)
    try:
        unmet = None if needs is None else unmet_need(needs(args))
        if unmet is not None:
            print(f"coherence: error: this command {unmet}", file=sys.stderr)
            return 2
        code: int = handler(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (``coherence demo --json | head``): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top not in EXTRAS:
            raise
        print(f"coherence: error: this command {missing_extra(top)}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"coherence: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except (MemoryError, RecursionError) as exc:
        # a last resort: the readers and limits refuse such inputs first
        what = "out of memory" if isinstance(exc, MemoryError) else "nested too deeply"
        print(f"coherence: error: {what} ({_one_line(exc)})", file=sys.stderr)
        return 2
    return code


def _one_line(exc: BaseException) -> str:
    text = (
        str(exc)
        if not isinstance(exc, OSError) or not exc.filename
        else (f"{exc.filename}: {exc.strerror or exc}")
    )
    return " ".join(text.split()) or type(exc).__name__
