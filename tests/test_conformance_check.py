"""``coherence conformance check`` for real implementations: partial answers,
selections, machine-readable reports and useful failure details."""

from __future__ import annotations

import io
import json
import shutil
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from coherence import backends
from coherence.cli import main
from coherence.conformance import progress_bar
from coherence.reference.case import load_results
from coherence.reference.quantities import QUANTITIES

PUBLIC = Path(__file__).resolve().parents[1] / "coherence" / "cases" / "public"
RACE = str(PUBLIC / "mountain-race.json")
STORM = str(PUBLIC / "stochastic-counterexample.json")


def _run(tmp: Path, *cases: str) -> Path:
    out = tmp / "results"
    assert main(["conformance", "run", *cases, "--out", str(out)]) == 0
    return out


def _edit(path: Path, change: dict[str, object] | None = None, drop: str = "") -> None:
    data = json.loads(path.read_text())
    if drop:
        del data["answers"][drop]
    if change:
        data["answers"].update(change)
    path.write_text(json.dumps(data))


def test_allow_missing_accepts_a_partial_implementation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(tmp_path, RACE)
    _edit(out / "mountain-race.json", drop="T1")
    assert main(["conformance", "check", RACE, "--results", str(out)]) == 1
    capsys.readouterr()
    assert (
        main(["conformance", "check", RACE, "--results", str(out), "--allow-missing"])
        == 0
    )
    assert "1 missing (missing allowed)" in capsys.readouterr().out


def test_only_and_quantities_select_queries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(tmp_path, RACE)
    _edit(out / "mountain-race.json", drop="T1")
    # the missing T answer is outside the selection
    args = ["conformance", "check", RACE, "--results", str(out)]
    assert main([*args, "--only", "G,B"]) == 0
    text = capsys.readouterr().out
    assert "mountain-race/T1" not in text and "mountain-race/G1" in text
    assert main([*args, "--quantities", "J_prob,kappa"]) == 0
    text = capsys.readouterr().out
    assert "Jprob_G1" in text and "mountain-race/G1 " not in text
    assert main([*args, "--only", "Q"]) == 2
    assert "--only: unknown only Q" in capsys.readouterr().err


def test_failing_points_are_counted_and_labelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(tmp_path, RACE)
    path = out / "mountain-race.json"
    data = json.loads(path.read_text())
    g1 = data["answers"]["G1"]
    g1["0"]["root"]["up"], g1["0"]["root"]["down"] = "1/3", "2/3"
    g1["1"]["ridge"]["up"] = "1/7"
    path.write_text(json.dumps(data))
    assert main(["conformance", "check", RACE, "--results", str(out)]) == 1
    text = capsys.readouterr().out
    line = next(ln for ln in text.splitlines() if "mountain-race/G1 " in ln)
    assert "3 point(s) differ" in line
    assert "t=0 s=root a=" in text and "t=1 s=ridge a=up: got 1/7 (~0.142857)" in text


def test_json_and_junit_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(tmp_path, RACE, STORM)
    _edit(out / "mountain-race.json", change={"Jprob_G1": "1/2"})
    args = ["conformance", "check", RACE, STORM, "--results", str(out)]
    capsys.readouterr()
    assert main([*args, "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["counts"]["fail"] == 1
    bad = [c for c in report["checks"] if c["status"] == "fail"]
    assert [c["query"] for c in bad] == ["Jprob_G1"] and bad[0]["failing_points"] == 1
    assert main([*args, "--format", "junit"]) == 1
    suite = ET.fromstring(capsys.readouterr().out)
    assert suite.get("failures") == "1"
    assert int(suite.get("tests") or 0) == len(report["checks"])


def test_a_missing_results_file_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(tmp_path, RACE)
    assert main(["conformance", "check", RACE, STORM, "--results", str(out)]) == 1
    text = capsys.readouterr().out
    assert "no results file: looked for" in text
    assert str(out / "stochastic-counterexample.json") in text


def test_a_decimal_string_for_an_exact_query_gets_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(tmp_path, STORM)
    path = out / "stochastic-counterexample.json"
    data = json.loads(path.read_text())
    data["answers"]["G1"]["0"]["root"]["a1"] = "0.45454545454545453"  # 5/11 in float
    path.write_text(json.dumps(data))
    assert main(["conformance", "check", STORM, "--results", str(out)]) == 1
    assert (
        "hint: a decimal string is read as an exact decimal" in capsys.readouterr().out
    )


def test_a_results_file_of_another_case_fails_that_case_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(tmp_path, RACE, STORM)
    shutil.copyfile(out / "mountain-race.json", out / "stochastic-counterexample.json")
    assert main(["conformance", "check", RACE, STORM, "--results", str(out)]) == 1
    text = capsys.readouterr().out
    race = [
        ln for ln in text.splitlines() if ln.split()[1].startswith("mountain-race/")
    ]
    storm = [ln for ln in text.splitlines() if "stochastic-counterexample/" in ln]
    assert race and all(ln.startswith("PASS") for ln in race)
    assert storm and all(ln.startswith("FAIL") and "answer case" in ln for ln in storm)
    assert load_results(out / "mountain-race.json").case == "mountain-race"


def test_an_unavailable_device_is_one_error_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    out = tmp_path / "r"
    code = main(
        [
            "conformance",
            "run",
            RACE,
            STORM,
            "--out",
            str(out),
            "--backend",
            "torch:cuda",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("CUDA is not available") == 1
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_dtype_allows_the_stated_float32_bound_and_no_more(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """kappa of G_1 on the mountain race (T = 2, k = 1): the float32 bound is
    abs 1e-6 * T * k = 2e-6; an error of 1e-6 passes, 1e-4 fails."""
    out = _run(tmp_path, RACE)
    path = out / "mountain-race.json"
    want = json.loads(path.read_text())["answers"]["kappa_naive"]
    args = ["conformance", "check", RACE, "--results", str(out)]
    _edit(path, change={"kappa_naive": want + 1e-6})
    assert main(args) == 1
    assert main([*args, "--dtype", "float32"]) == 0
    _edit(path, change={"kappa_naive": want + 1e-4})
    assert main([*args, "--dtype", "float32"]) == 1
    assert "engine tolerance" in capsys.readouterr().out


# ------------------------------------------------ what check and run compute
def _without_expected(tmp: Path, case: str) -> str:
    """A copy of ``case`` without expected answers (the oracle must answer)."""
    data = json.loads(Path(case).read_text())
    data.pop("expected", None)
    path = tmp / Path(case).name
    path.write_text(json.dumps(data))
    return str(path)


def _no_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any engine construction (backends.create is the only constructor) fails."""

    def refuse(name: str, mdp: object) -> None:
        raise AssertionError(f"an engine ({name}) was created")

    monkeypatch.setattr(backends, "create", refuse)


def _count_primitives(monkeypatch: pytest.MonkeyPatch, engine: type) -> list[str]:
    """Record every outermost call of a quantity primitive on ``engine``'s
    class (primitives that call others count once)."""
    calls: list[str] = []
    depth = [0]
    for name in {row.primitive for row in QUANTITIES.values()}:
        original = getattr(engine, name)

        def counted(
            self: object, *args: Any, _f: Any = original, _n: str = name
        ) -> Any:
            if depth[0] == 0:
                calls.append(_n)
            depth[0] += 1
            try:
                return _f(self, *args)
            finally:
                depth[0] -= 1

        monkeypatch.setattr(engine, name, counted)
    return calls


def test_check_with_expected_answers_creates_no_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every query of the mountain race has an expected answer: check compares
    the results with them and computes nothing."""
    out = _run(tmp_path, RACE)
    _no_engines(monkeypatch)
    assert main(["conformance", "check", RACE, "--results", str(out)]) == 0
    text = capsys.readouterr().out
    assert "20 passed, 0 failed, 0 missing" in text and "vs oracle" not in text


def test_check_of_missing_answers_asks_no_oracle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without expected answers and without results there is nothing to
    compare: every query is missing and no engine is created."""
    case = _without_expected(tmp_path, RACE)
    (tmp_path / "empty").mkdir()
    _no_engines(monkeypatch)
    args = ["conformance", "check", case, "--results", str(tmp_path / "empty")]
    assert main([*args, "--allow-missing"]) == 0
    assert "0 passed, 0 failed, 20 missing" in capsys.readouterr().out


def test_check_computes_each_oracle_answer_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The two kappa queries (float) are checked against certified enclosures:
    one certified computation of each (midpoints and enclosure from the same
    balls), the exact queries on one exact engine."""
    pytest.importorskip("flint")
    from coherence.reference.certified import CertifiedEngine

    case = _without_expected(tmp_path, RACE)
    out = _run(tmp_path, case)
    calls = _count_primitives(monkeypatch, CertifiedEngine)
    created: list[str] = []
    create = backends.create
    monkeypatch.setattr(
        backends, "create", lambda name, mdp: created.append(name) or create(name, mdp)
    )
    assert main(["conformance", "check", case, "--results", str(out)]) == 0
    assert "20 passed" in capsys.readouterr().out
    assert calls == ["kappa", "kappa"]
    assert sorted(created) == ["certified", "exact"]


def test_run_on_certified_computes_each_answer_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run --backend certified`` writes answers and enclosures from one
    computation per query (20 queries: 20 primitive calls)."""
    pytest.importorskip("flint")
    from coherence.reference.certified import CertifiedEngine

    calls = _count_primitives(monkeypatch, CertifiedEngine)
    out = tmp_path / "r"
    args = ["conformance", "run", RACE, "--out", str(out), "--backend", "certified"]
    assert main(args) == 0
    assert len(calls) == 20
    results = load_results(out / "mountain-race.json")
    assert set(results.enclosures) == set(results.answers)


def test_run_says_when_auto_leaves_the_exact_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a zero cost budget every query of the race leaves the exact path:
    the run says so, with the reason, on one stderr line per case, and the
    answers to exact queries are floats."""
    monkeypatch.setattr(backends, "AUTO_MAX_COST", 0)
    out = _run(tmp_path, RACE)
    captured = capsys.readouterr()
    notes = [ln for ln in captured.err.splitlines() if "auto answered" in ln]
    assert len(notes) == 1
    assert "mountain-race: auto answered numpy for 20" in notes[0]
    assert "exact cost estimate" in notes[0] and "> 0" in notes[0]
    answer = json.loads((out / "mountain-race.json").read_text())["answers"]["Jprob_G1"]
    assert isinstance(answer, float)


def test_run_on_exact_paths_prints_no_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped race is well within the budget: no note, nothing on stderr
    (not a terminal: no progress bar either)."""
    _run(tmp_path, RACE)
    assert capsys.readouterr().err == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_shows_on_a_terminal_unless_quiet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a terminal the bar is drawn (after its delay); --quiet and a
    non-terminal stderr draw nothing."""
    for stream, quiet, shown in (
        (_Terminal(), False, True),
        (_Terminal(), True, False),
        (io.StringIO(), False, False),
    ):
        monkeypatch.setattr(sys, "stderr", stream)
        with progress_bar(3, "answering", quiet=quiet, delay=0) as bar:
            bar.update(3)
        assert ("answering" in stream.getvalue()) == shown, (quiet, shown)


def test_the_oracle_takes_the_cheaper_rigorous_engine() -> None:
    """Past auto's budget an exact query is checked exactly where exact costs
    no more than balls (small numbers), against certified enclosures where the
    numbers are large; a float query against enclosures."""
    from coherence.conformance import Oracle
    from coherence.reference.case import Case, Query
    from coherence.reference.operators import PolicySpec
    from coherence.reference.recurrences import Boltzmann
    from tests.test_backends import _coin, _ring

    wide = Case(_ring(400, 150), [Query("g", "J_prob", PolicySpec("G", k=1))])
    assert backends.auto_choice(wide.mdp, PolicySpec("G", k=1)).backend == "numpy"
    assert Oracle(wide).engine_for(wide.queries[0]) == "exact"
    deep = Case(_coin(5), [Query("g", "J_prob", PolicySpec("G", k=15))])
    assert Oracle(deep).engine_for(deep.queries[0]) == "certified"
    kappa = Query("k", "kappa", PolicySpec("G", k=1), f=Boltzmann(Fraction(1)))
    assert Oracle(Case(_coin(2), [kappa])).engine_for(kappa) == "certified"
