"""Every public function, method and class of the package has a docstring."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "coherence"


def _missing(tree: ast.Module, path: Path) -> list[str]:
    out: list[str] = []

    def walk(nodes: list[ast.stmt], prefix: str) -> None:
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if node.name.startswith("_"):
                    continue
                if ast.get_docstring(node) is None:
                    out.append(
                        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} "
                        f"{prefix}{node.name}"
                    )
                if isinstance(node, ast.ClassDef):
                    walk(node.body, f"{node.name}.")

    walk(tree.body, "")
    return out


def test_every_public_definition_has_a_docstring() -> None:
    missing = [
        line
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in _missing(ast.parse(path.read_text(encoding="utf-8")), path)
    ]
    assert missing == []


def test_the_docstring_check_finds_a_missing_one() -> None:
    tree = ast.parse(
        "def f():\n    pass\n\nclass C:\n    def g(self):\n        '''x'''\n"
    )
    assert [m.split()[-1] for m in _missing(tree, PACKAGE / "x.py")] == ["f", "C"]
