"""Case and results files: exact reading, exact round trip, atomic writes."""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from coherence import validate
from coherence.examples import mountain_race
from coherence.queries import run_case
from coherence.reference.case import (
    Case,
    CaseError,
    Query,
    Results,
    case_from_json,
    case_to_json,
    load_case,
    load_results,
    parse_answer,
    write_case,
    write_results,
)
from coherence.reference.model import MDP
from coherence.reference.operators import OPERATORS, PolicySpec
from coherence.reference.quantities import QUANTITIES
from tests.exact_mdps import small_mdps
from tests.shared import CASES, needs_shared_cases


def test_decimal_strings_are_read_exactly() -> None:
    assert parse_answer("0.1", "x") == Fraction(1, 10)
    assert parse_answer("25/61", "x") == Fraction(25, 61)
    assert parse_answer("-inf", "x") == -math.inf
    assert parse_answer(0.1, "x") == 0.1  # a JSON number is a float answer


def test_json_floats_in_a_case_are_exact_binary_values() -> None:
    mdp = MDP.build(
        states=["s"],
        actions=["a"],
        horizon=1,
        transitions={"s": {"a": {"s": 1.0}}},
        initial={"s": "1"},
        terminal_success={"s": 0.1},
    )
    assert mdp.terminal_success[0] == Fraction(0.1) != Fraction(1, 10)


@needs_shared_cases
@pytest.mark.parametrize(
    "path",
    sorted(CASES.glob("*.json")) if CASES.exists() else [],
    ids=lambda p: p.stem,
)
def test_public_cases_round_trip_exactly(path: Path, tmp_path: Path) -> None:
    case = load_case(path)
    out = tmp_path / "case.json"
    write_case(out, case)
    again = load_case(out)
    assert again.mdp == case.mdp
    assert again.queries == case.queries
    assert again.expected == case.expected
    assert case_to_json(again) == case_to_json(case)


@settings(max_examples=30)
@given(small_mdps())
def test_random_cases_round_trip(mdp: MDP) -> None:
    case = Case(
        mdp=mdp,
        queries=(Query("q", "J_prob", PolicySpec("G", k=1)),),
        expected={"q": Fraction(1, 3)},
    )
    again = case_from_json(json.loads(json.dumps(case_to_json(case))))
    assert again.mdp == mdp
    assert again.expected == case.expected


def test_results_round_trip_with_infinities(tmp_path: Path) -> None:
    answers = {
        "a": Fraction(25, 61),
        "b": math.inf,
        "c": -math.inf,
        "d": 0.5,
        "e": {"0": {"s": {"x": Fraction(1, 3)}}},
    }
    path = tmp_path / "r.json"
    write_results(path, Results(case="c", implementation="test", answers=answers))
    raw = json.loads(path.read_text())
    assert raw["answers"]["a"] == "25/61" and raw["answers"]["b"] == "inf"
    back = load_results(path)
    assert {k: parse_answer(v, k) for k, v in back.answers.items()} == answers


def test_writes_are_atomic(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_results(path, Results(case="c", implementation="x", answers={"a": 1.0}))
    before = path.read_text()
    with pytest.raises(ValueError):
        write_results(
            path, Results(case="c", implementation="x", answers={"a": math.nan})
        )
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("not json", "not valid JSON"),
        ("[]", "expected a JSON object"),
        ('{"format": "other"}', "format"),
        ('{"format": "coherence-results/1", "case": 3, "answers": {}}', "case"),
        ('{"format": "coherence-results/1", "case": "c", "answers": []}', "answers"),
    ],
)
def test_malformed_results_files(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(CaseError, match=words):
        load_results(path)


def test_missing_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match="no such file"):
        load_case(tmp_path / "absent.json")


def test_example_case_round_trips_through_files(tmp_path: Path) -> None:
    case = Case(
        mdp=mountain_race(),
        queries=(
            Query(
                "k",
                "kappa",
                PolicySpec("G", k=1),
                f=__import__(
                    "coherence.reference.recurrences", fromlist=["Argmax"]
                ).Argmax(),
            ),
        ),
    )
    write_case(tmp_path / "m.json", case)
    assert load_case(tmp_path / "m.json").mdp == case.mdp
    assert os.listdir(tmp_path) == ["m.json"]


# ------------------------------------------------ description and source
def _stochastic_case() -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (CASES / "stochastic-counterexample.json").read_text()
    )
    return data


def test_description_and_source_are_kept_and_ignored(tmp_path: Path) -> None:
    data = _stochastic_case()
    plain = case_from_json(data)
    data["description"] = "SPEC §6 stochastic counterexample"
    data["source"] = {"generator": "hand", "seed": [1, 2], "ok": None}
    case = case_from_json(data)
    assert case.description == "SPEC §6 stochastic counterexample"
    assert case.source == {"generator": "hand", "seed": [1, 2], "ok": None}
    write_case(tmp_path / "c.json", case)
    again = load_case(tmp_path / "c.json")
    assert (again.description, again.source) == (case.description, case.source)
    # the oracle ignores them: the same answers (exact, so equality)
    assert run_case(case)[0].answers == run_case(plain)[0].answers


# ------------------------------------------------------------ the reader
def _ring_case_text(n_states: int) -> str:
    names = [f"s{i}" for i in range(n_states)]
    rows = ",".join(
        f'"{names[i]}": {{"a": {{"{names[(i + 1) % n_states]}": "1/2", '
        f'"{names[(i + 7) % n_states]}": "1/2"}}, '
        f'"b": {{"{names[i]}": "1/3", "{names[(i + 3) % n_states]}": "2/3"}}}}'
        for i in range(n_states)
    )
    success = ",".join(f'"{names[i]}": {{"a": "1/2"}}' for i in range(0, n_states, 3))
    return (
        '{"format": "coherence-case/1", "name": "ring", "horizon": 10, '
        f'"states": {json.dumps(names)}, "actions": ["a", "b"], '
        '"initial": {"s0": "1"}, '
        f'"transitions": {{{rows}}}, "success": {{{success}}}, '
        '"queries": [{"id": "q", "quantity": "J_prob", '
        '"policy": {"operator": "G", "k": 1}}]}'
    )


def test_a_sparse_case_of_100000_states_loads_in_under_10_s(tmp_path: Path) -> None:
    # issue 10: the reader is O(size of the input) (it was O(S^2): a dense row
    # of S Fractions per (s, a)); 2 successors per (s, a)
    path = tmp_path / "ring.json"
    path.write_text(_ring_case_text(100_000))
    # CPU time of this process: other processes on a loaded machine do not
    # count against the reader
    start = time.process_time()
    case = load_case(path)
    elapsed = time.process_time() - start
    mdp = case.mdp
    assert mdp.n_states == 100_000 and mdp.horizon == 10
    assert mdp.transitions[5][0] == ((6, Fraction(1, 2)), (12, Fraction(1, 2)))
    assert mdp.transitions[99_999][1] == ((2, Fraction(2, 3)), (99_999, Fraction(1, 3)))
    assert mdp.success[9][3] == (Fraction(1, 2), Fraction(1))
    assert mdp.success[9][4] == (Fraction(1), Fraction(1))
    assert mdp.log_success.shape == (10, 100_000, 2)
    assert elapsed < 10.0, f"loading took {elapsed:.1f} s of CPU time"


def test_reader_cost_grows_linearly(tmp_path: Path) -> None:
    # 8x the states costs about 8x the time, not 64x (the old dense reader);
    # 30x leaves room for a loaded machine while still failing O(S^2)
    times = []
    for n in (1_000, 8_000):
        path = tmp_path / f"ring{n}.json"
        path.write_text(_ring_case_text(n))
        start = time.process_time()
        load_case(path)
        times.append(time.process_time() - start)
    assert times[1] < 30 * times[0] + 0.5


# ------------------------------------------------------------ from_arrays
def _named(mdp: MDP) -> MDP:
    """The same MDP through the named form (the reader of case files)."""
    return case_from_json(case_to_json(Case(mdp=mdp))).mdp


@pytest.mark.parametrize("seed", range(6))
def test_from_arrays_equals_the_named_form(seed: int) -> None:
    rng = np.random.default_rng(seed)
    S, A, T = 4, 3, 3
    P = rng.dirichlet(np.ones(S), size=(S, A))
    P[0, 0] = np.eye(S)[2]  # a deterministic row
    success = rng.uniform(0, 1, (T, S, A))
    success[1, 2, 1] = 0.0
    prior = rng.dirichlet(np.ones(A), size=S)
    prior[3] = [0.0, 0.25, 0.75]
    mdp = MDP.from_arrays(
        transitions=P,
        initial=rng.dirichlet(np.ones(S)),
        success=success,
        terminal_success=rng.uniform(0, 1, S),
        prior=prior,
    )
    assert mdp == _named(mdp)
    # float rows summing to 1 within 1e-12 are renormalised exactly
    assert all(sum(p for _, p in row) == 1 for rows in mdp.transitions for row in rows)
    np.testing.assert_allclose(mdp.transition_array, P, rtol=1e-15, atol=0)


def test_from_arrays_keeps_exact_inputs_exact() -> None:
    third = Fraction(1, 3)
    mdp = MDP.from_arrays(
        transitions=[[[third, 1 - third]], [["0", "1"]]],
        initial=["1/2", Fraction(1, 2)],
        success=[[third], [1]],
        horizon=2,
    )
    assert mdp.transitions[0][0] == ((0, third), (1, 2 * third))
    assert mdp.initial == (Fraction(1, 2), Fraction(1, 2))
    assert mdp.success[1][0] == (third,)
    int_mdp = MDP.from_arrays(
        transitions=np.array([[[0, 1]], [[1, 0]]]), initial=np.array([1, 0]), horizon=1
    )
    assert int_mdp.transitions == ((((1, Fraction(1)),),), (((0, Fraction(1)),),))


# ------------------------------------------------------- schema, validate
def _validate_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    validate.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


SHIPPED = sorted(
    [
        *CASES.glob("*.json"),
        # every 10th case of the generated suite (the schema check costs about
        # 15 ms of CPU a case); `coherence validate` in CI covers them all
        *sorted((CASES.parent / "generated").glob("*.json"))[::10],
        *(CASES.parent.parent / "proofs" / "cases").glob("*.json"),
    ]
)


def test_every_shipped_case_is_valid() -> None:
    assert SHIPPED
    for path in SHIPPED:
        assert validate.file_problems(path) == ("case", []), path


def test_results_written_by_the_runner_are_valid(tmp_path: Path) -> None:
    case = load_case(CASES / "mountain-race.json")
    results, errors = run_case(case)
    assert not errors
    write_results(tmp_path / "r.json", results)
    assert validate.file_problems(tmp_path / "r.json") == ("results", [])


def test_results_with_enclosures_are_valid(tmp_path: Path) -> None:
    enclosure = {"0": {"x": (Fraction(1, 2), Fraction(1, 10**20))}}
    results = Results(
        case="c",
        implementation="x",
        answers={"q": {"0": {"x": 0.5}}},
        enclosures={"q": enclosure},
    )
    write_results(tmp_path / "r.json", results)
    assert validate.file_problems(tmp_path / "r.json") == ("results", [])
    raw = json.loads((tmp_path / "r.json").read_text())
    raw["enclosures"]["q"]["0"]["x"] = {"mid": "1/2"}  # no radius
    (tmp_path / "r.json").write_text(json.dumps(raw))
    kind, problems = validate.file_problems(tmp_path / "r.json")
    assert kind == "results"
    assert problems and problems[0].path.startswith("$.enclosures.q")


def test_schema_lists_the_package_operators_and_quantities() -> None:
    defs = validate.schema("case")["$defs"]
    assert defs["policy"]["properties"]["operator"]["enum"] == list(OPERATORS)
    assert defs["query"]["properties"]["quantity"]["enum"] == list(QUANTITIES)
    with_parameter = {
        branch["if"]["properties"]["quantity"]["const"]
        for branch in defs["query"]["allOf"]
    }
    assert with_parameter == {q for q, row in QUANTITIES.items() if row.parameters}


def test_validate_reports_every_problem_with_path_and_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _stochastic_case()
    data["transitions"]["root"]["a1"]["s1"] = "1/4"  # type: ignore[index]
    data["success"] = {"s1": {"a2": "3/2"}}
    data["time_dependent_success"] = {"1_0": {}}
    data["typo"] = True
    data["expected"]["nope"] = "1"  # type: ignore[index]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    good = CASES / "mountain-race.json"
    assert _validate_cli(["validate", str(good), str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{good}: valid case"
    text = "\n".join(out)
    for line in (
        "$.transitions.root.a1: probabilities sum to 1/2, not 1",
        "$.success.s1.a2: probability '3/2' exceeds 1 (value: \"3/2\")",
        "$.time_dependent_success['1_0']: step '1_0' is not a canonical integer",
        "$: Additional properties are not allowed ('typo' was unexpected)",
        "$.expected.nope: 'nope' is not a query id",
    ):
        assert line in text, line
    assert out[-1] == "1 valid, 1 invalid"


def test_schema_command_prints_the_schemas(capsys: pytest.CaptureFixture[str]) -> None:
    for kind in ("case", "results"):
        assert _validate_cli(["schema", kind]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed["title"] == f"coherence-{kind}/1"
