"""The claims ledger: statuses, families and theorems printed, configuration by
argument, Coq verdicts combined with the code checks, SPEC §2's convention rows
failing on planted bugs, and the CLI's errors.

The full ledger (about 35 s) runs once, in the slow test at the end; CI's
``coherence prove`` step runs it too. Every default test uses a subset."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coherence.cli import main
from coherence.proofs import cases, formal, ledger, report
from coherence.proofs.formal import Theorem, Verdict
from coherence.proofs.ledger import Entry, combine, run_ledger
from coherence.proofs.outcome import STATUSES, Outcome, Settings
from coherence.reference import recurrences as rec
from coherence.reference.numpy_engine import NumpyEngine

ROOT = Path(__file__).resolve().parents[1]
PROOFS = ROOT / "coherence" / "proofs"


def _statuses(entries: list[Entry]) -> dict[str, str]:
    return {e.key: e.status for e in entries}


# ------------------------------------------------------------ structure


def test_outcome_module_imports_no_claims() -> None:
    code = (
        "import sys, coherence.proofs.outcome, coherence.proofs.ledger; "
        "print(sorted(m for m in sys.modules if m.startswith('coherence.proofs.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "claims_" not in out  # the ledger imports the claims only when run
    assert "coherence.proofs.outcome" in out


def test_no_module_global_configuration() -> None:
    assert not hasattr(cases, "WRITE_CASES")
    assert not hasattr(ledger, "CHECKS")


def test_every_public_function_in_proofs_has_a_docstring() -> None:
    """Module-level functions and classes and their methods (nested helpers
    are private to their function)."""
    missing = []
    for path in sorted(PROOFS.glob("*.py")):
        if path.name == "coqrun.py":
            continue  # the Coq runner's module, documented with the Coq proofs
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes: list[ast.stmt] = list(tree.body)
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                nodes += node.body
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                public = not node.name.startswith("_")
                if public and ast.get_docstring(node) is None:
                    missing.append(f"{path.name}:{node.lineno} {node.name}")
    assert missing == []


def test_keys_are_unique_and_expectation_covers_every_row() -> None:
    keys = [c.key for c in ledger.all_checks()]
    assert len(keys) == len(set(keys))
    expected = report.load_expected()
    theorem_rows = {formal.row_of(t, keys) for t in formal.load_manifest()}
    assert set(expected) == set(keys) | theorem_rows | {ledger.LINK_KEY}
    assert set(expected.values()) <= set(STATUSES)
    # SPEC §7 rows 1..19, §2 (0) and 20: hindsight relabelling against G
    assert {int(k.split("/")[0]) for k in expected} == set(range(21))


def test_no_bounded_k_row_is_proved_without_coq() -> None:
    keys = [c.key for c in ledger.all_checks()]
    theorem_keys = {formal.row_of(t, keys) for t in formal.load_manifest()}
    expected = report.load_expected()
    for key in ("14/deterministic", "16/deterministic", "15/literal-uniform"):
        if key not in theorem_keys:
            assert expected[key] == "CHECKED", key
    families = {c.key: c.family for c in ledger.all_checks()}
    assert "k = 0..3" in families["14/deterministic"]
    assert "k = 0..3" in families["15/literal-uniform"]


def test_docs_table_matches_the_expectation() -> None:
    """docs/claims.md lists every row with its expected status and a family
    (the full regeneration is compared in the slow test)."""
    text = (ROOT / "docs" / "claims.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split(" | ")]
        if len(cells) == 5 and cells[2].startswith("**"):
            claim = "0" if cells[0] == "| §2" else cells[0].lstrip("| ")
            key = claim if cells[1] == "-" else f"{claim}/{cells[1]}"
            rows[key] = (cells[2].strip("*"), cells[3])
    expected = report.load_expected()
    assert {k: s for k, (s, _) in rows.items()} == expected
    assert all(family for _, family in rows.values())


def _block(path: Path, begin: str, end: str) -> str:
    text = path.read_text(encoding="utf-8")
    start = text.index(begin)
    return text[start : text.index(end, start) + len(end)]


@pytest.mark.parametrize(
    ("path", "render", "begin", "end"),
    [
        (
            ROOT / "docs" / "spec.md",
            report.render_spec_table,
            report.SPEC_BEGIN,
            report.SPEC_END,
        ),
        (
            ROOT / "README.md",
            report.render_readme_table,
            report.README_BEGIN,
            report.README_END,
        ),
    ],
    ids=["spec §7", "README"],
)
def test_generated_tables_are_current(
    path: Path, render: Any, begin: str, end: str
) -> None:
    """SPEC §7's and the README's ledger tables are what `coherence prove
    --spec/--readme` writes for the committed expectation (the slow test
    checks that the summary equals the live ledger's JSON)."""
    rows = report.ledger_summary()
    assert [r["key"] for r in rows] == sorted(
        report.load_expected(), key=lambda k: (int(k.split("/")[0]), k)
    )
    assert all(r["claim"] and r["family"] for r in rows)
    assert _block(path, begin, end) == render(rows), (
        f"{path.name} is stale: run `coherence prove --out docs/claims.md "
        "--spec docs/spec.md --readme README.md`"
    )


def test_summary_gives_coq_only_rows_their_claim_and_family() -> None:
    rows = {r["key"]: r for r in report.ledger_summary()}
    bandit = rows["13/T = 1 bandit limit"]
    assert bandit["claim"].startswith("For every archimedean field R")
    assert "full-support prior" in bandit["family"]
    assert rows["8/uniform-deterministic"]["status"] == "CHECKED"


def test_spec_flag_needs_the_markers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "spec.md"
    plain.write_text("# no table here\n", encoding="utf-8")
    assert main(["prove", "--spec", str(plain)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--spec" in err[0] and "markers" in err[0]
    assert plain.read_text(encoding="utf-8") == "# no table here\n"


# ------------------------------------------------------------ the CLI


def test_only_unknown_claim_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["prove", "--only", "99"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("coherence: error: --only: no ledger rows for claim 99")


def test_prove_exits_non_zero_on_a_status_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prove", "--only", "12"]) == 0
    wrong = tmp_path / "expected.json"
    wrong.write_text(json.dumps({"12": "PROVED"}), encoding="utf-8")
    monkeypatch.setattr(report, "EXPECTED_PATH", wrong)
    assert main(["prove", "--only", "12"]) == 1
    assert "12: expected PROVED, got REFUTED" in capsys.readouterr().err


def test_write_cases_goes_to_the_named_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    committed = {p: p.stat().st_mtime_ns for p in cases.CASE_DIR.glob("*.json")}
    named = tmp_path / "named"
    named.mkdir()
    assert main(["prove", "--only", "12", "--write-cases", str(named)]) == 0
    assert [p.name for p in named.iterdir()] == [
        "proofs-12-success-count-deterministic.json"
    ]
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    assert main(["prove", "--only", "12", "--write-cases"]) == 0
    assert [p.name for p in here.iterdir()] == [
        "proofs-12-success-count-deterministic.json"
    ]
    assert (named / "proofs-12-success-count-deterministic.json").read_bytes() == (
        cases.CASE_DIR / "proofs-12-success-count-deterministic.json"
    ).read_bytes()
    assert {p: p.stat().st_mtime_ns for p in cases.CASE_DIR.glob("*.json")} == committed


def test_write_cases_into_a_missing_directory_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    assert main(["prove", "--only", "12", "--write-cases", str(missing)]) == 2
    assert "--write-cases" in capsys.readouterr().err
    assert not missing.exists()


def test_table_and_json_print_the_family(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["prove", "--only", "0", "19"]) == 0
    table = capsys.readouterr().out
    for c in ledger.all_checks():
        if c.claim in (0, 19):
            assert c.family in table, c.key
    assert main(["prove", "--only", "19", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    scopes = data["19"]["scopes"]
    assert scopes["exclusive"]["family"].startswith("the witness")
    assert scopes["paper-example"]["status"] == "REFUTED"


# ------------------------------------------------------ SPEC §2 conventions


@pytest.fixture
def conventions_expected() -> dict[str, str]:
    # the link row runs with the Coq-backed rows only (claim 0 has none)
    return {
        k: v
        for k, v in report.load_expected().items()
        if k.startswith("0/") and k != ledger.LINK_KEY
    }


def test_convention_rows_hold(conventions_expected: dict[str, str]) -> None:
    assert _statuses(run_ledger([0])) == conventions_expected


def _plant_zero_power(monkeypatch: pytest.MonkeyPatch) -> None:
    original = rec.RationalSystem.power

    def power(self: Any, x: Any, exponent: Any) -> Any:
        if Fraction(exponent) == 0 and x == 0:
            return self.const(Fraction(0))
        return original(self, x, exponent)

    monkeypatch.setattr(rec.RationalSystem, "power", power)


def _plant_nan_scaling(monkeypatch: pytest.MonkeyPatch) -> None:
    def scale(self: Any, reward: Any, alpha: Any) -> Any:
        with np.errstate(invalid="ignore"):  # the planted 0 * (-inf) = NaN
            return float(alpha) * reward[0], float(alpha) * reward[1]

    monkeypatch.setattr(NumpyEngine, "scale_reward", scale)


def _plant_null_event_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    def condition(m: Any, base: Any, values: Any) -> Any:
        zero = m.ns.const(Fraction(0))
        return [
            [
                [
                    zero if values.w[t][s] == 0 else b * z / values.w[t][s]
                    for b, z in zip(row, values.z[t][s], strict=True)
                ]
                for s, row in enumerate(table)
            ]
            for t, table in enumerate(base)
        ]

    monkeypatch.setattr(rec, "condition", condition)


@pytest.mark.parametrize(
    ("plant", "row"),
    [
        (_plant_zero_power, "0/power-zero"),
        (_plant_nan_scaling, "0/power-zero"),
        (_plant_null_event_zero, "0/null-event"),
    ],
    ids=["0^0=0 exact", "0*(-inf)=NaN numpy", "null event returns 0"],
)
def test_planted_convention_bug_fails_prove(
    plant: Any,
    row: str,
    monkeypatch: pytest.MonkeyPatch,
    conventions_expected: dict[str, str],
) -> None:
    plant(monkeypatch)
    got = _statuses(run_ledger([0]))
    assert got[row] != conventions_expected[row]
    assert main(["prove", "--only", "0"]) == 1


def test_claim_6_catches_argmax_picking_the_first_maximiser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def first(self: Any, xs: Any) -> list[Any]:
        top = max(xs)
        index = list(xs).index(top)
        return [self.const(Fraction(int(i == index))) for i in range(len(xs))]

    monkeypatch.setattr(rec.RationalSystem, "argmax_mask", first)
    # the row's code check alone (no Coq theorem attached): it refutes the bug;
    # with the theorem attached the row turns UNKNOWN (combine), as prove shows
    got = run_ledger([6], theorems=[])
    assert _statuses(got)["6/reachable-uniform"] == "REFUTED"


def test_claim_19_decided_under_both_readings() -> None:
    got = _statuses(run_ledger([19]))
    assert got == {"19/exclusive": "PROVED", "19/paper-example": "REFUTED"}


# ------------------------------------------------------------ Coq verdicts


@dataclass
class FakeBuild:
    ok: bool
    seconds: float = 0.1
    log: str = "coqc: compiled"
    build_dir: Path = Path(".")


@dataclass
class FakeCheck:
    theorem: str
    ok: bool
    assumptions: list[str]
    allowed: bool


@dataclass
class FakeCoq:
    """Stands in for coherence.proofs.coqrun: counts compilations."""

    available: bool = True
    compiles: bool = True
    checks: dict[str, FakeCheck] = field(default_factory=dict)
    compilations: int = 0

    def coq_available(self) -> bool:
        return self.available

    def compile_proofs(self, build_dir: Path | None = None) -> FakeBuild:
        self.compilations += 1
        return FakeBuild(self.compiles, log="Error: line 3\nfailed")

    def check_manifest(self, build: FakeBuild) -> list[FakeCheck]:
        return list(self.checks.values())

    def pinned_statements(self) -> dict[str, str]:
        return {name: f"{name} as pinned" for name in self.checks}

    def evaluate_cases(self, build: FakeBuild, paths: list[Path]) -> list[Any]:
        """The Coq evaluation stood in by the exact oracle (the link passes)."""
        from coherence.proofs import link

        return [link._oracle(path)[2] for path in paths]


THEOREMS = [
    Theorem(
        0,
        "null-event",
        "cond_null_event",
        "Conv.v",
        "cond keeps the base where w = 0",
        "every finite MDP",
    ),
    Theorem(0, "coq-only", "extra_fact", "Extra.v", "an extra fact", "every k"),
]


@pytest.fixture
def fake_coq(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCoq]:
    fake = FakeCoq(
        checks={
            "cond_null_event": FakeCheck("cond_null_event", True, [], True),
            "extra_fact": FakeCheck("extra_fact", True, ["classic"], True),
        }
    )
    monkeypatch.setattr(formal, "_coqrun", lambda: fake)
    yield fake


def test_coq_rows_proved_once_compiled(fake_coq: FakeCoq) -> None:
    entries = {e.key: e for e in run_ledger([0], theorems=THEOREMS)}
    assert fake_coq.compilations == 1
    row = entries["0/null-event"]
    assert row.status == "PROVED"
    assert row.outcome.theorem == "cond_null_event"
    assert row.family == "every finite MDP"
    assert entries["0/coq-only"].status == "PROVED"
    assert entries["0/power-zero"].status == "CHECKED"  # no theorem: code check
    assert "[Coq: cond_null_event]" in report.render_table(list(entries.values()))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"available": False}, "coqc not found"),
        ({"compiles": False}, "do not compile"),
    ],
    ids=["no coqc", "compile error"],
)
def test_coq_rows_unknown_without_a_build(
    fake_coq: FakeCoq, change: dict[str, bool], reason: str
) -> None:
    for name, value in change.items():
        setattr(fake_coq, name, value)
    entries = {e.key: e for e in run_ledger([0], theorems=THEOREMS)}
    for key in ("0/null-event", "0/coq-only"):
        assert entries[key].status == "UNKNOWN"
        assert reason in entries[key].outcome.evidence


def test_coq_row_with_extra_assumptions_is_unknown(fake_coq: FakeCoq) -> None:
    fake_coq.checks["cond_null_event"] = FakeCheck(
        "cond_null_event", True, ["my_axiom"], False
    )
    entries = {e.key: e for e in run_ledger([0], theorems=THEOREMS)}
    assert entries["0/null-event"].status == "UNKNOWN"
    assert "my_axiom" in entries["0/null-event"].outcome.evidence


def test_coq_row_whose_code_check_fails_is_not_proved(
    fake_coq: FakeCoq, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plant_null_event_zero(monkeypatch)
    entries = {e.key: e for e in run_ledger([0], theorems=THEOREMS)}
    assert entries["0/null-event"].status == "UNKNOWN"
    assert "not what cond_null_event states" in entries["0/null-event"].outcome.evidence
    verdict = Verdict(THEOREMS[0], True, "Coq: ok")
    crashed = combine(Outcome("UNKNOWN", "the check raised"), [verdict])
    assert crashed.status == "UNKNOWN"
    assert "not what cond_null_event states" in crashed.evidence


def test_check_that_raises_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(m: Any, policy: Any) -> Any:
        raise ArithmeticError("planted")

    monkeypatch.setattr(rec, "occupancy", boom)
    entries = {e.key: e for e in run_ledger([3], theorems=[])}
    assert entries["3"].status == "UNKNOWN"
    assert "ArithmeticError: planted" in entries["3"].outcome.evidence
    assert entries["3"].details


def test_manifest_is_validated(tmp_path: Path) -> None:
    assert formal.load_manifest(tmp_path / "absent.json") == []
    bad = tmp_path / "manifest.json"
    bad.write_text(json.dumps({"theorems": [{"claim": "one"}]}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"theorems\[0\]\.claim"):
        formal.load_manifest(bad)
    row = dict(
        zip(
            ("claim", "scope", "theorem", "file", "statement", "family"),
            (1, "", "t", "f.v", "s", "fam"),
            strict=True,
        )
    )
    bad.write_text(json.dumps({"theorems": [row, row]}), encoding="utf-8")
    with pytest.raises(ValueError, match="appears twice"):
        formal.load_manifest(bad)


def test_theorems_attach_to_their_rows() -> None:
    keys = ["10", "13/values", "14/deterministic", "14/stochastic"]

    def row(claim: int, scope: str) -> str:
        return formal.row_of(Theorem(claim, scope, "t", "f.v", "s", "f"), keys)

    assert row(10, "all dynamics") == "10"  # the claim's only, unscoped row
    assert row(13, "values") == "13/values"
    assert row(14, "stochastic refutation") == "14/stochastic"
    assert row(13, "bandit limit") == "13/bandit limit"  # a row of its own


def test_settings_are_passed_not_global(tmp_path: Path) -> None:
    entries = run_ledger([12], settings=Settings(write_cases=tmp_path))
    assert entries[0].status == "REFUTED"
    assert (tmp_path / "proofs-12-success-count-deterministic.json").is_file()


# ------------------------------------------------------------ the full ledger


@pytest.mark.slow
def test_full_ledger_equals_expectation_and_docs() -> None:
    entries = run_ledger()
    expected = report.load_expected()
    assert report.differences(entries, expected, complete=True) == []
    for e in entries:
        if e.status == "REFUTED":
            assert e.outcome.case is not None and (ROOT / e.outcome.case).is_file()
            assert e.outcome.relation, e.key
        if e.status == "UNKNOWN":
            assert e.outcome.evidence, e.key
    docs = ROOT / "docs" / "claims.md"
    committed = docs.read_text(encoding="utf-8")
    assert committed == report.render_markdown(entries, committed), (
        "docs/claims.md is stale: run `coherence prove --out docs/claims.md`"
    )
    data = json.loads(report.render_json(entries))
    assert set(data) == {str(n) for n in range(21)}
    # the generated tables (SPEC §7, README) come from this JSON
    assert report.summary_rows(data) == report.ledger_summary()


def test_coq_build_is_reused_only_from_identical_sources(tmp_path: Path) -> None:
    source, build = tmp_path / "src", tmp_path / "build"
    source.mkdir()
    build.mkdir()
    (source / "A.v").write_text("Lemma a : True. Proof. exact I. Qed.\n")
    (build / "A.v").write_text("Lemma a : True. Proof. exact I. Qed.\n")
    (build / "A.vo").write_bytes(b"compiled")

    class Runner:
        COQ_DIR = source
        CoqBuild = FakeBuild

        @staticmethod
        def source_files() -> list[str]:
            return ["A.v"]

    reused = formal._reuse(Runner, build)
    assert reused is not None and reused.ok
    (source / "A.v").write_text("Lemma a : False. Admitted.\n")
    assert formal._reuse(Runner, build) is None
    assert formal._reuse(Runner, None) is None
