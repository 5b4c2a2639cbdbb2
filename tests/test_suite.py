"""The shipped conformance suite, ``coherence cases`` and ``coherence generate``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from coherence._numbers import same_json
from coherence.cli import main
from coherence.conformance import check_case
from coherence.queries import run_case
from coherence.reference.case import (
    Results,
    answer_to_json,
    case_from_json,
    load_case,
    write_case,
)
from coherence.reference.quantities import QUANTITIES
from coherence.suite import (
    CASES_DIR,
    GENERATED_COUNT,
    SPECS,
    build_generated,
    build_public,
    generate_cases,
    suite,
)
from coherence.testing import to_case
from tests.shared import SHARED_CASES

CONVENTION_TAGS = {
    "deterministic",
    "stochastic",
    "prior-uniform",
    "prior-random",
    "prior-sparse",
    "ties",
    "zero-success",
    "dead-state",
    "time-dependent-success",
    "multi-initial",
    "terminal-rewards",
}


def test_the_suite_has_every_group_and_enough_generated_cases() -> None:
    cases = suite()
    groups = Counter(c.tags[0] for c in cases)
    assert groups["public"] == 6 and groups["proofs"] >= 10
    assert groups["generated"] == GENERATED_COUNT >= 300
    assert len(suite("public")) == 6


def test_the_generated_suite_covers_every_operator_quantity_and_convention() -> None:
    pairs: set[tuple[str, str]] = set()
    tags: set[str] = set()
    for c in suite("generated"):
        data = json.loads(c.path.read_text())
        tags.update(data["source"]["tags"])
        for q in data["queries"]:
            pairs.add((json.dumps(q["policy"], sort_keys=True), q["quantity"]))
    wanted = {(json.dumps(s, sort_keys=True), q) for s in SPECS for q in QUANTITIES}
    assert wanted <= pairs
    assert tags >= CONVENTION_TAGS


def test_cases_export_writes_every_shipped_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cases", "export", str(tmp_path / "d"), "--tag", "public"]) == 0
    names = sorted(p.stem for p in (tmp_path / "d").glob("*.json"))
    assert names == sorted(c.name for c in suite("public"))
    capsys.readouterr()
    assert main(["cases", "list", "--tag", "ties"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[-1] == f"{len(suite('ties'))} cases" and len(listed) > 10
    assert main(["cases", "list", "--tag", "no-such-tag"]) == 2


def test_public_cases_are_regenerated_from_their_definitions(tmp_path: Path) -> None:
    """Each public case's expected answers are the oracle's on its MDP and
    queries; the committed files equal a regeneration byte for byte."""
    written = build_public(tmp_path)
    assert len(written) == 6
    for path in written:
        committed = CASES_DIR / "public" / path.name
        assert path.read_bytes() == committed.read_bytes(), path.name


@pytest.mark.skipif(
    not SHARED_CASES.is_dir(), reason="the contract's copy of the public cases"
)
def test_public_cases_agree_with_the_contracts_copy() -> None:
    """Cross-check against the contract's public cases (SPEC §6 values)."""
    for path in sorted(SHARED_CASES.glob("*.json")):
        theirs = load_case(path)
        ours = load_case(CASES_DIR / "public" / path.name)
        assert ours.queries == theirs.queries
        answers = {k: answer_to_json(v) for k, v in ours.expected.items()}
        mine = Results(case=ours.name, implementation="shipped", answers=answers)
        bad = [c for c in check_case(theirs, mine) if c.status != "pass"]
        assert bad == [], path.name


def test_generate_is_deterministic_and_valid(tmp_path: Path) -> None:
    a = generate_cases(seed=7, count=6, states=3, actions=2, horizon=3, expected=True)
    b = generate_cases(seed=7, count=6, states=3, actions=2, horizon=3, expected=True)
    c = generate_cases(seed=8, count=6, states=3, actions=2, horizon=3)
    assert a == b and a != c
    for data in a:
        case = case_from_json(data)
        checks = check_case(case, run_case(case, "numpy")[0])
        assert all(ch.status == "pass" for ch in checks)


def test_generate_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g"
    args = ["generate", "--seed", "3", "--count", "4", "--stochastic", "--ties"]
    assert main([*args, "--queries", "G,T", "--out", str(out)]) == 0
    files = sorted(out.glob("*.json"))
    assert len(files) == 4
    for f in files:
        data = json.loads(f.read_text())
        assert {q["policy"]["operator"] for q in data["queries"]} <= {"G", "T"}
        assert {"stochastic", "ties"} <= set(data["source"]["tags"])
    assert main(["generate", "--count", "0", "--out", str(tmp_path / "x")]) == 2
    assert (
        "--count: expected an integer in [1, 10000], got 0" in capsys.readouterr().err
    )
    assert main(["generate", "--queries", "Z", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_to_case_keeps_a_failing_example(tmp_path: Path) -> None:
    from coherence.examples import mountain_race

    case = to_case(
        mountain_race(),
        [{"id": "g2", "quantity": "policy", "policy": {"operator": "G", "k": 2}}],
        name="regression",
    )
    write_case(tmp_path / "regression.json", case)
    again = load_case(tmp_path / "regression.json")
    assert again.name == "regression" and again.queries == case.queries


@pytest.mark.slow
def test_the_generated_suite_regenerates(tmp_path: Path) -> None:
    """Every exact answer, key and layout regenerates exactly; float answers
    (the float64 engine's max-ent and kappa values) to 1e-12 relative, since
    numpy builds differ in the last ulp of exp/log (51 of 320 files differed in
    such digits between the committing machine's numpy and numpy 2.4.6)."""
    written = build_generated(tmp_path)
    committed = sorted((CASES_DIR / "generated").glob("*.json"))
    assert [p.name for p in written] == [p.name for p in committed]
    for new, old in zip(written, committed, strict=True):
        got = json.loads(new.read_text(encoding="utf-8"))
        want = json.loads(old.read_text(encoding="utf-8"))
        assert same_json(want, got), old.name


def test_generate_writes_the_authors_tree_family(tmp_path: Path) -> None:
    args = ["generate", "--family", "authors-tree", "--actions", "2", "--depth", "3"]
    assert main([*args, "--seed", "5", "--out", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("*.json")
    case = load_case(path)
    assert "root" in case.mdp.states and "end" in case.mdp.states
    again = tmp_path / "again"
    assert main([*args, "--seed", "5", "--out", str(again)]) == 0
    assert (again / path.name).read_bytes() == path.read_bytes()
    assert main([*args, "--seed", "5", "--clip", "1", "--out", str(tmp_path)]) == 2
