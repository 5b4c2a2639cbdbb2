"""Which extra (pyproject.toml) brings each optional dependency."""

from __future__ import annotations

__all__ = ["EXTRAS", "missing_extra"]

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


def missing_extra(module: str) -> str:
    """'needs MODULE: install the [EXTRA] extra (pip install ...)'."""
    extra = EXTRAS.get(module.split(".")[0], "all")
    return (
        f"needs {module!r}: install the [{extra}] extra "
        f"(pip install 'coherence[{extra}]')"
    )
