"""Case and results files: exact reading, exact round trip, atomic writes."""

from __future__ import annotations

import json
import math
import os
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings

from coherence.examples import mountain_race
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
from coherence.reference.operators import PolicySpec
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
        queries=(Query("q", "policy", PolicySpec("G", k=1)),),
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
