"""The package's shape: no import cycle, engines built only by the registry,
and a light core that answers cases without the optional extras."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "coherence"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _top_level_imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Package modules imported at module level (not inside functions or
    ``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")
                    up = up[: len(up) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                subs = {f"{base}.{a.name}" for a in node.names} & known
                # ``from pkg import submodule`` needs the submodule, not pkg's names
                if len(subs) < len(node.names):
                    found.add(base)
                found.update(subs)
            elif isinstance(node, ast.If):
                test = ast.unparse(node.test)
                if "TYPE_CHECKING" not in test:
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)

    visit(tree.body)
    return {m for m in found if m in known and m != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of size > 1 (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            strong(v)
    return out


def test_no_import_cycle_between_package_modules() -> None:
    modules = _modules()
    known = set(modules)
    graph = {
        name: {m for m in _top_level_imports(path, name, known) if m in known}
        for name, path in modules.items()
    }
    # a submodule depends on its parent package's __init__ implicitly; only
    # explicit imports can form a cycle
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_planted_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


@pytest.mark.slow
def test_every_module_imports_on_its_own() -> None:
    """Each module imported in a fresh interpreter state (the package's
    modules dropped from sys.modules before each import)."""
    names = sorted(n for n in _modules() if not n.endswith("__main__"))
    code = (
        "import importlib, json, sys\n"
        f"names = {names!r}\n"
        "bad = {}\n"
        "for n in names:\n"
        "    for m in [m for m in sys.modules if m == 'coherence' or "
        "m.startswith('coherence.')]:\n"
        "        del sys.modules[m]\n"
        "    try:\n"
        "        importlib.import_module(n)\n"
        "    except Exception as exc:\n"
        "        bad[n] = f'{type(exc).__name__}: {exc}'\n"
        "print(json.dumps(bad))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {}


ENGINE_MODULES = {
    "coherence/reference/exact.py",
    "coherence/reference/numpy_engine.py",
    "coherence/reference/certified.py",
    "coherence/gpu/engine.py",
    "coherence/backends.py",
}


def test_engines_are_constructed_only_by_the_registry() -> None:
    pattern = re.compile(r"\b(ExactEngine|NumpyEngine|TorchEngine|CertifiedEngine)\(")
    offenders = [
        f"{path.relative_to(ROOT)}:{i}"
        for path in PACKAGE.rglob("*.py")
        if str(path.relative_to(ROOT)) not in ENGINE_MODULES
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_the_core_answers_cases_without_the_extras(backend: str) -> None:
    """The conformance path (CLI, reader, query layer, exact and numpy engines)
    imports none of the optional extras."""
    case = PACKAGE / "cases" / "public" / "mountain-race.json"
    code = (
        "import sys, tempfile\n"
        "from coherence.cli import main\n"
        "d = tempfile.mkdtemp()\n"
        f"assert main(['conformance', 'run', {str(case)!r}, '--out', d, "
        f"'--backend', {backend!r}]) == 0\n"
        f"assert main(['conformance', 'check', {str(case)!r}, '--results', d]) == 0\n"
        "heavy = {'torch', 'sympy', 'z3', 'cvxpy', 'hypothesis', 'flint', "
        "'matplotlib', 'pyarrow', 'dask', 'gymnasium', 'minigrid'}\n"
        "loaded = sorted(heavy & {m.split('.')[0] for m in sys.modules})\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        check=True,
        timeout=120,
        capture_output=True,
    )
