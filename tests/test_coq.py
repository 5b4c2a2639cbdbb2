"""The Coq proofs of coherence/proofs/coq: they compile, hide no gap, rest on no
axiom, and their definitions evaluate to the exact oracle's answers.

Compilation needs ``coqc`` with mathcomp (CI installs both); without it these
tests fail. ``COHERENCE_NO_COQ=1`` skips them explicitly.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest

from coherence.proofs import coqrun
from coherence.queries import Evaluator
from coherence.reference.case import load_case

#: The compile takes most of a minute on 2 cores: CI compiles the proofs in
#: `coherence prove` and runs these tests once in its slow pass.
pytestmark = pytest.mark.slow

PUBLIC_CASES = Path(__file__).resolve().parent.parent / "coherence" / "cases" / "public"

COMPILE_LIMIT_S = 300.0
"""Issue 14: compiling every proof takes under 5 minutes on 2 cores."""

GAP = re.compile(r"Admitted|admit\.|Axiom")


def _case_path(name: str) -> Path:
    path = PUBLIC_CASES / f"{name}.json"
    assert path.exists(), path
    return path


@pytest.fixture(scope="session")
def coq_build() -> Iterator[coqrun.CoqBuild]:
    """The Coq sources compiled once (the cached build of ``coherence prove``,
    keyed on the sources' digest, compiled here when absent)."""
    if os.environ.get("COHERENCE_NO_COQ") == "1":
        pytest.skip("COHERENCE_NO_COQ=1: Coq checks switched off explicitly")
    yield coqrun.compile_proofs()


def test_proofs_compile(coq_build: coqrun.CoqBuild) -> None:
    assert coq_build.ok, coq_build.log
    assert coq_build.seconds < COMPILE_LIMIT_S
    assert coq_build.build_dir == coqrun.default_build_dir()


def test_build_cache_is_keyed_on_the_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached build of other sources is never reused; a build of the same
    sources is, and nothing is left in the cache but the build."""
    monkeypatch.setenv("COHERENCE_CACHE_DIR", str(tmp_path / "cache"))
    first = coqrun.default_build_dir()
    assert first.parent == tmp_path / "cache" / "coq"
    sources = tmp_path / "coq"
    shutil.copytree(coqrun.COQ_DIR, sources)
    monkeypatch.setattr(coqrun, "COQ_DIR", sources)
    assert coqrun.default_build_dir() == first
    with (sources / "Defs.v").open("a", encoding="utf-8") as f:
        f.write("\n(* edited *)\n")
    assert coqrun.default_build_dir() != first


def test_cached_build_is_reused(coq_build: coqrun.CoqBuild) -> None:
    lines: list[str] = []
    again = coqrun.compile_proofs(progress=lines.append)
    assert again.ok and again.build_dir == coq_build.build_dir
    assert lines == [f"coq: reusing the build cached in {coq_build.build_dir}"]
    leftovers = [p.name for p in coq_build.build_dir.parent.iterdir()]
    assert [n for n in leftovers if n.startswith("staging-")] == []


def test_no_gap_in_sources() -> None:
    files = sorted(p for p in coqrun.COQ_DIR.iterdir() if p.is_file())
    assert {"Defs.v", "Values.v"} <= {f.name for f in files}
    for path in files:
        found = GAP.findall(path.read_text(encoding="utf-8"))
        assert not found, f"{path.name}: {found}"


def test_manifest_names_proved_theorems() -> None:
    entries = coqrun.manifest()
    assert entries
    keys = {"claim", "scope", "theorem", "file", "statement", "family"}
    for entry in entries:
        assert set(entry) == keys
        source = (coqrun.COQ_DIR / entry["file"]).read_text(encoding="utf-8")
        assert re.search(rf"\bTheorem {re.escape(entry['theorem'])}\b", source)


def test_manifest_theorems_are_closed(coq_build: coqrun.CoqBuild) -> None:
    checks = coqrun.check_manifest(coq_build)
    assert len(checks) == len(coqrun.manifest())
    for check in checks:
        assert check.compiled, check.theorem
        assert check.assumptions == (), check
        assert check.allowed, check


def test_assumptions_reports_an_axiom(
    coq_build: coqrun.CoqBuild, tmp_path: Path
) -> None:
    # mathcomp's ssrnat states no axiom, but the checker must see one that is
    # declared: a module that assumes the excluded middle (planted in a copy,
    # never in the cached build).
    shutil.copytree(coq_build.build_dir, tmp_path / "build")
    coq_build = coqrun.CoqBuild(True, 0.0, "copy", tmp_path / "build")
    extra = coq_build.build_dir / "Planted.v"
    extra.write_text("Axiom planted : forall P : Prop, P \\/ ~ P.\n", encoding="utf-8")
    assert coqrun._run_coqc(coq_build.build_dir, "Planted.v").returncode == 0
    # the module is imported by name only in this scratch script
    out = coqrun._run_script(
        coq_build,
        "PlantedCheck",
        "Require Import Coherence.Planted.\n"
        "Lemma uses_it : True \\/ ~ True. Proof. exact: planted. Qed.\n"
        "Print Assumptions uses_it.\n",
    )
    assert "planted" in out
    assert coqrun.assumptions(coq_build, "G_improves_w") == []


def test_missing_coqc_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert not coqrun.coq_available()
    with pytest.raises(RuntimeError, match="coqc: not found") as info:
        coqrun.compile_proofs()
    assert "\n" not in str(info.value)


def test_build_dir_inside_sources_is_refused() -> None:
    if not coqrun.coq_available():
        pytest.fail("coqc: not found on PATH")
    with pytest.raises(ValueError, match="build_dir"):
        coqrun.compile_proofs(coqrun.COQ_DIR / "build")


def _fractions(x: object) -> object:
    if isinstance(x, list):
        return [_fractions(y) for y in x]
    num, den = getattr(x, "numerator"), getattr(x, "denominator")  # noqa: B009
    return Fraction(int(num), int(den))


def _compare(build: coqrun.CoqBuild, name: str) -> dict[str, object]:
    path = _case_path(name)
    got = coqrun.evaluate_case(build, path)
    case = load_case(path)
    supported = [q for q in case.queries if coqrun.supports(q)]
    assert supported and set(got) == {q.id for q in supported}
    oracle = Evaluator(case.mdp, "exact")
    for query in supported:
        want = _fractions(oracle.value(query.quantity, query.policy, f=query.f))
        assert got[query.id] == want, query.id
    return got


def test_coq_matches_oracle_stochastic_counterexample(
    coq_build: coqrun.CoqBuild,
) -> None:
    got = _compare(coq_build, "stochastic-counterexample")
    policy = got["G2"]
    assert isinstance(policy, list)
    # SPEC §6: G_2(a1|root) = 25/61, T_2(a1|root) = 7/17
    assert policy[0][0][0] == Fraction(25, 61)
    t2 = got["T2"]
    assert isinstance(t2, list) and t2[0][0][0] == Fraction(7, 17)


def test_coq_matches_oracle_mountain_race(coq_build: coqrun.CoqBuild) -> None:
    got = _compare(coq_build, "mountain-race")
    # SPEC §6: J_prob(G_1) = 17/20 is in the case's expected answers
    assert got["Jprob_G1"] == Fraction(17, 20)


@pytest.mark.slow
def test_coq_matches_oracle_conventions(coq_build: coqrun.CoqBuild) -> None:
    got = _compare(coq_build, "conventions")
    assert {"G3", "H_literal3", "w_G2", "occ_G1", "Jprob_G3", "Jcount_T2"} <= set(got)
