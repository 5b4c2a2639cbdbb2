"""The mutation check (tools/mutations.py): every planted bug still applies to
the core, and -- in the slow run -- every one is caught by the ledger or the
fast tests, with the table in docs/claims.md up to date."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "mutations", ROOT / "tools" / "mutations.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutations"] = module
    spec.loader.exec_module(module)
    return module


mutations = _load()


def test_at_least_eleven_named_mutations() -> None:
    names = [m.name for m in mutations.MUTATIONS]
    assert len(names) >= 11 and len(set(names)) == len(names)


@pytest.mark.parametrize(
    "mutation", mutations.MUTATIONS, ids=[m.name for m in mutations.MUTATIONS]
)
def test_mutation_applies_once_to_the_current_core(mutation: Any) -> None:
    text = (ROOT / mutation.path).read_text(encoding="utf-8")
    assert text.count(mutation.old) == 1


def test_apply_refuses_text_that_is_not_there(tmp_path: Path) -> None:
    target = tmp_path / "coherence" / "x.py"
    target.parent.mkdir()
    target.write_text("a = 1\n", encoding="utf-8")
    missing = mutations.Mutation("m", "coherence/x.py", "b = 2", "b = 3")
    with pytest.raises(ValueError, match="found it 0 times"):
        mutations.apply(tmp_path, missing)
    present = mutations.Mutation("m", "coherence/x.py", "a = 1", "a = 2")
    assert mutations.apply(tmp_path, present) == "a = 1\n"
    assert target.read_text(encoding="utf-8") == "a = 2\n"


def test_section_replacement_keeps_the_rest() -> None:
    text = "head\n\n" + mutations.MUTATIONS_BEGIN + "\nold\n" + mutations.MUTATIONS_END
    section = mutations.MUTATIONS_BEGIN + "\nnew\n" + mutations.MUTATIONS_END
    assert mutations.replace_section(text, section) == "head\n\n" + section
    assert mutations.replace_section("head\n", section) == "head\n\n" + section + "\n"


@pytest.mark.slow
def test_every_mutation_is_caught(tmp_path: Path) -> None:
    """Runs the whole check (about 8 minutes on 2 idle cores)."""
    out = tmp_path / "verdicts.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "mutations.py"), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    verdicts = json.loads(out.read_text(encoding="utf-8"))
    assert len(verdicts) == len(mutations.MUTATIONS)
    assert all(v["caught"] for v in verdicts)
    docs = (ROOT / "docs" / "claims.md").read_text(encoding="utf-8")
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert table and all(line in docs for line in table), (
        "docs/claims.md's mutation table is stale: run "
        "`python tools/mutations.py --docs docs/claims.md`"
    )
