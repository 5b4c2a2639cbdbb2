"""The Coq side of the ledger beyond compilation: every theorem's statement is
pinned in Statements.v (a weakened theorem fails the ledger), and the Coq
definitions are evaluated against the Python exact oracle inside the ledger
(a planted change to Defs.v or to the Python backward pass fails it).

The default tests use the exact oracle and stand-in runners; the tests that
compile or evaluate Coq are slow (CI runs them in its slow pass)."""

from __future__ import annotations

import datetime
import inspect
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from coherence.proofs import coqrun, formal, link
from coherence.proofs.formal import Verdict
from coherence.proofs.ledger import LINK_KEY, combine, run_ledger
from coherence.proofs.outcome import Outcome
from coherence.reference import recurrences as rec

PUBLIC = sorted(link.PUBLIC_DIR.glob("*.json"))
POOL = sorted(link.GENERATED_DIR.glob("*.json"))


# ------------------------------------------------------------ pinned statements


def test_every_manifest_theorem_has_a_pinned_statement() -> None:
    pins = coqrun.pinned_statements()
    names = [t.theorem for t in formal.load_manifest()]
    assert sorted(pins) == sorted(names)
    assert coqrun.source_files()[-1] == "Statements.v"
    # the text printed is the Coq text, read from the compiled source
    assert "0 < k -> t < horizon M ->" in pins["H_eq_G_deterministic"]
    assert "H (rops R)" in pins["H_eq_G_deterministic"]


def test_a_theorem_without_a_pin_is_not_proved(tmp_path: Path) -> None:
    stripped = tmp_path / "Statements.v"
    text = formal.STATEMENTS_PATH.read_text(encoding="utf-8")
    stripped.write_text(
        text.replace("Definition F_eq_G_canonical_pinned", "Definition other"),
        encoding="utf-8",
    )
    pins = formal.pinned_statements(stripped)
    assert "F_eq_G_canonical" not in pins and "H_eq_G_deterministic" in pins

    @dataclass
    class Build:
        ok: bool = True
        log: str = ""
        build_dir: Path = tmp_path

    @dataclass
    class Check:
        theorem: str
        ok: bool = True
        assumptions: tuple[str, ...] = ()
        allowed: bool = True

    class Runner:
        @staticmethod
        def coq_available() -> bool:
            return True

        @staticmethod
        def compile_proofs(build_dir: Path | None = None) -> Build:
            return Build()

        @staticmethod
        def check_manifest(build: Build) -> list[Check]:
            return [Check("F_eq_G_canonical"), Check("H_eq_G_deterministic")]

        @staticmethod
        def pinned_statements() -> dict[str, str]:
            return pins

    theorems = [
        t
        for t in formal.load_manifest()
        if t.theorem in ("F_eq_G_canonical", "H_eq_G_deterministic")
    ]
    verdicts = formal.verify(theorems, tmp_path / "b", runner=Runner)
    assert not verdicts["F_eq_G_canonical"].proved
    assert "no statement pinned" in verdicts["F_eq_G_canonical"].reason
    assert verdicts["H_eq_G_deterministic"].proved
    assert verdicts["H_eq_G_deterministic"].pinned == pins["H_eq_G_deterministic"]


def test_a_failing_pin_is_named_from_the_coq_error() -> None:
    lines = formal.STATEMENTS_PATH.read_text(encoding="utf-8").splitlines()
    at = next(i for i, x in enumerate(lines, 1) if "H_eq_G_deterministic_pinned" in x)
    log = f'File "./Statements.v", line {at}, characters 0-9:\nError: mismatch'
    assert formal._failed_pin(log) == "H_eq_G_deterministic"
    assert formal._failed_pin("Error: elsewhere") is None


def test_a_failed_link_unproves_a_coq_row() -> None:
    theorem = formal.load_manifest()[0]
    verdict = Verdict(theorem, True, "Coq: ok", "forall x, x = x")
    code = Outcome("CHECKED", "code agrees")
    proved = combine(code, [verdict], Outcome("CHECKED", "linked"))
    assert proved.status == "PROVED"
    assert "In Coq (" in (proved.statement or "")
    assert "forall x, x = x" in (proved.statement or "")
    assert any(LINK_KEY in lemma for lemma in proved.lemmas)
    failed = combine(code, [verdict], Outcome("UNKNOWN", "G2 differs"))
    assert failed.status == "UNKNOWN"
    assert "did not match the Python code" in failed.evidence
    assert "G2 differs" in failed.evidence


# ------------------------------------------------------------ the sample


def test_daily_seed_rotates() -> None:
    day = datetime.date(2026, 12, 8)
    assert link.daily_seed(day) + 1 == link.daily_seed(day + datetime.timedelta(1))


def test_sample_is_seeded_rotates_and_covers_every_feature() -> None:
    covered: set[str] = set()
    for path in [*PUBLIC, *link.LINK_CASES]:
        covered |= link.case_features(path)
    first, have = link.draw_sample(1, POOL, covered)
    again, _ = link.draw_sample(1, POOL, covered)
    other, have_other = link.draw_sample(2, POOL, covered)
    assert first == again and first != other
    assert len(first) >= link.SAMPLE_SIZE
    assert have >= set(link.FEATURES) and have_other >= set(link.FEATURES)


def test_case_features_are_found() -> None:
    by_name = {p.stem: link.case_features(p) for p in [*PUBLIC, *link.LINK_CASES]}
    assert {"argmax tie", "fold where p = 0", "null event (w = 0)"} <= by_name[
        "conventions"
    ]
    assert "stochastic transitions" in by_name["stochastic-counterexample"]
    assert "stochastic transitions" not in by_name["mountain-race"]
    assert "Boltzmann power 1/delta > 1" in by_name["link-mountain-race"]
    assert "argmax tie" not in by_name["link-mountain-race"]
    assert "cumulative folding H_k, k >= 3" in by_name["link-mountain-race"]
    assert "cumulative folding H_k, k >= 3" not in by_name["stochastic-counterexample"]


class OracleRunner:
    """Stands in for coqrun: answers with the exact oracle, one answer changed."""

    def __init__(self, change: str | None = None) -> None:
        self.change = change

    def evaluate_cases(self, build: Any, paths: list[Path]) -> list[dict[str, Any]]:
        out = []
        for path in paths:
            _, _, answers = link._oracle(path)
            if self.change is not None and path.stem == "mountain-race":
                answers[self.change] = Fraction(-1)
            out.append(answers)
        return out


def test_link_reports_a_differing_answer() -> None:
    assert link.run_link(None, OracleRunner(), 3).status == "CHECKED"
    failed = link.run_link(None, OracleRunner("Jprob_G1"), 3)
    assert failed.status == "UNKNOWN"
    assert "mountain-race/Jprob_G1: Coq -1 != Python 17/20" in failed.evidence
    assert failed.notes and "link seed 3" in failed.notes[0]


# ------------------------------------------------------------ with Coq


@pytest.fixture(scope="module")
def coq_build() -> Iterator[coqrun.CoqBuild]:
    """The cached build of the installed sources."""
    build = coqrun.compile_proofs()
    assert build.ok, build.log
    yield build


def _plant_theorem(source: Path, name: str, weakened: str, proof: str) -> None:
    """Rename theorem ``name`` of ``source`` to ``name_full`` and append a
    theorem ``name`` with the statement ``weakened``, proved from it."""
    text = source.read_text(encoding="utf-8")
    text = re.sub(rf"\b{name}\b", f"{name}_full", text)
    # the pinned text reads in nat_scope, as in Statements.v
    text += f"\nOpen Scope nat_scope.\nTheorem {name} : {weakened}.\n"
    text += f"Proof. {proof} Qed.\n"
    source.write_text(text, encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("file", "name", "weaken", "proof"),
    [
        (
            "Cumulative.v",
            "H_eq_G_deterministic",
            lambda s: s.replace("0 < k ->", "0 < k -> k <= 3 ->"),
            "intros; eapply H_eq_G_deterministic_full; eassumption.",
        ),
        (
            "BanditLimit.v",
            "J_prob_G_bandit_limit",
            lambda s: "False -> " + s,
            "by [].",
        ),
    ],
    ids=["k bounded", "vacuous premise"],
)
def test_a_weakened_theorem_fails_the_ledger(
    coq_build: coqrun.CoqBuild,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    file: str,
    name: str,
    weaken: Any,
    proof: str,
) -> None:
    """The weakened theorem compiles axiom-free; the pin in Statements.v
    refuses it, so its row is not PROVED and prove's statuses differ."""
    sources, build = tmp_path / "src", tmp_path / "build"
    shutil.copytree(coqrun.COQ_DIR, sources)
    shutil.copytree(coq_build.build_dir, build)  # keeps the unchanged files' .vo
    pinned = coqrun.pinned_statements()[name]
    _plant_theorem(sources / file, name, weaken(pinned), proof)
    monkeypatch.setattr(coqrun, "COQ_DIR", sources)
    theorem = next(t for t in formal.load_manifest() if t.theorem == name)
    verdicts, _ = formal.prepare([theorem], build)
    reason = verdicts[name].reason
    assert not verdicts[name].proved
    assert "Statements.v" in reason  # the planted file itself compiled
    assert f"the theorem {name} no longer has the statement pinned" in reason
    entries = {e.key: e for e in run_ledger([theorem.claim], coq_build_dir=build)}
    row = formal.row_of(theorem, list(entries))
    assert entries[row].status == "UNKNOWN"
    assert entries[LINK_KEY].status == "UNKNOWN"  # no build, nothing evaluated


def _two_steps_ahead() -> Any:
    """recurrences.soft_values with the backward pass reading w_{t+2}."""
    source = inspect.getsource(rec.soft_values)
    assert source.count("nxt = w[t + 1]") == 1
    namespace = dict(vars(rec))
    exec(source.replace("nxt = w[t + 1]", "nxt = w[min(t + 2, T)]"), namespace)
    return namespace["soft_values"]


@pytest.mark.slow
def test_link_passes_and_catches_a_two_steps_ahead_backward_pass(
    coq_build: coqrun.CoqBuild, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert link.run_link(coq_build, coqrun, 0).status == "CHECKED"
    monkeypatch.setattr(rec, "soft_values", _two_steps_ahead())
    entries = {e.key: e for e in run_ledger([16])}
    assert entries[LINK_KEY].status == "UNKNOWN"
    assert "differ from the Python exact oracle" in entries[LINK_KEY].outcome.evidence
    # the code check compares code with code and still passes; the link does not
    assert entries["16/deterministic"].status == "UNKNOWN"
    assert (
        "did not match the Python code" in entries["16/deterministic"].outcome.evidence
    )


#: one planted change per definition of Defs.v (and QEval.v's operations),
#: including the ones no theorem uses (literal folding, J_count, the uniform
#: fallback of normalise, qops). Not listed: the value of the canonical fold
#: where p = 0 -- every reader multiplies it by p = 0 (cond(p, R) weighs R by
#: p), so changing it changes no answer (an equivalent change; seen to pass
#: the link).
DEFS_MUTATIONS = [
    ("Defs.v", "then omul o (rbase t s a) (pi t s a)", "then rbase t s a"),
    (
        "Defs.v",
        "(let d := occ pi T in osum es (fun s => omul o (d s) (rhoT M s)))",
        "(o0 o)",
    ),
    ("Defs.v", "then odiv o (o1 o) (onat (size ea))", "then o0 o"),
    ("Defs.v", "iter n (oadd o (o1 o)) (o0 o)", "iter n.+1 (oadd o (o1 o)) (o0 o)"),
    (
        "Defs.v",
        "all (fun b => oleb o (q b) (q a)) ea",
        "all (fun b => oleb o (q a) (q b)) ea",
    ),
    ("Defs.v", "if oeq0 o (wt s) then base t s a", "if oeq0 o (wt s) then o0 o"),
    ("Defs.v", "| Some m => opow (zt s a) m", "| Some m => opow (zt s a) 1"),
    ("Defs.v", "(fun s => opow (rhoT M s) k)", "(rhoT M)"),
    ("Defs.v", "(h, fold literal prev h)", "(h, fold literal (rho M) h)"),
    (
        "Defs.v",
        "omul o (omul o (d s) (pi t' s a)) (P s a s')",
        "omul o (d s) (P s a s')",
    ),
    ("Defs.v", "let t := T - n'.+1 in", "let t := T - n' in"),
    ("QEval.v", "(fun x y => Qred (x / y)%Q)", "(fun x y => Qred (y / x)%Q)"),
]


@pytest.mark.slow
def test_a_planted_change_to_a_coq_definition_fails_the_link(
    coq_build: coqrun.CoqBuild, tmp_path: Path
) -> None:
    """Each change is compiled in a copy of the build (Defs.v and QEval.v
    only: the evaluation imports nothing else) and evaluated on the cheap
    public cases, the link's own and a sample of generated cases."""
    public = [p for p in PUBLIC if p.stem != "conventions"] + list(link.LINK_CASES)
    escaped = []
    for i, (file, old, new) in enumerate(DEFS_MUTATIONS):
        build = tmp_path / f"b{i}"
        shutil.copytree(coq_build.build_dir, build)
        text = (build / file).read_text(encoding="utf-8")
        assert text.count(old) == 1, old
        (build / file).write_text(text.replace(old, new), encoding="utf-8")
        for name in ("Defs.v", "QEval.v"):
            proc = coqrun._run_coqc(build, name)
            assert proc.returncode == 0, (old, proc.stdout, proc.stderr)
        outcome = link.run_link(
            coqrun.CoqBuild(True, 0.0, "planted", build), coqrun, i, public=public
        )
        if "differ from the Python exact oracle" not in outcome.evidence:
            escaped.append((old, outcome.status, outcome.evidence))
        shutil.rmtree(build)
    assert escaped == [], "\n".join(f"{old!r}: {status}" for old, status, _ in escaped)
