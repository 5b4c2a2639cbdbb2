"""Which extra (pyproject.toml) brings each optional dependency, and the check
every command runs before any work (``set_defaults(needs=...)``)."""

from __future__ import annotations

import argparse
import importlib.util
import shutil
from collections.abc import Callable, Iterable

__all__ = ["EXTRAS", "TOOLS", "Needs", "missing_extra", "unmet_need"]

#: The extra that brings each optional top-level module (pyproject.toml).
EXTRAS = {
    "torch": "torch",
    "sympy": "theory",
    "z3": "proofs",
    "cvxpy": "proofs",
    "clarabel": "proofs",
    "flint": "certified",
    "gymnasium": "envs",
    "minigrid": "envs",
    "matplotlib": "experiments",
    "pyarrow": "experiments",
    "dask": "experiments",
    "distributed": "experiments",
    "hypothesis": "testing",
}

#: External programs a command may need, with how to install them.
TOOLS = {
    "coqc": "Coq with Mathematical Components (Debian: apt-get install coq "
    "libcoq-mathcomp-ssreflect libcoq-mathcomp-algebra libcoq-mathcomp-field)",
}

Needs = Callable[[argparse.Namespace], Iterable[str]]
"""What a command needs for the options it was given: module names (keys of
:data:`EXTRAS`) or ``tool:NAME`` (keys of :data:`TOOLS`)."""


def missing_extra(module: str) -> str:
    """'needs MODULE: install the [EXTRA] extra (pip install ...)'."""
    extra = EXTRAS.get(module.split(".")[0], "all")
    return (
        f"needs {module!r}: install the [{extra}] extra "
        f"(pip install 'coherence[{extra}]')"
    )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def unmet_need(needs: Iterable[str]) -> str | None:
    """The first unmet need as 'needs ...: install ...', or None when all are met.

    Modules are looked up without importing them (``importlib.util.find_spec``),
    tools on the PATH, so the check costs milliseconds and runs before any work.
    """
    for need in needs:
        if need.startswith("tool:"):
            tool = need.removeprefix("tool:")
            if shutil.which(tool) is None:
                how = TOOLS.get(tool, tool)
                return f"needs the program {tool!r} on the PATH: install {how}"
        elif not _importable(need):
            return missing_extra(need)
    return None
