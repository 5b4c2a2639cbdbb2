"""``coherence validate``'s compiled schema check gives jsonschema's verdict:
the same valid / invalid answer on the shipped files and on seeded mutations
of them (a file the fast check accepts is never one jsonschema rejects); a
case that passes the schema and the reader has no semantic problem."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from coherence import validate
from coherence.queries import run_case
from coherence.reference.case import answer_to_json, load_case
from tests.shared import examples

ROOT = Path(__file__).resolve().parents[1] / "coherence"
#: The public cases and one generated case (jsonschema's own verdict on each
#: mutation costs about 10 ms, so the default run keeps the count small).
FILES = sorted(
    [
        *(ROOT / "cases" / "public").glob("*.json"),
        sorted((ROOT / "cases" / "generated").glob("*.json"))[0],
    ]
)
MUTATIONS = examples(12, 400)
#: Replacement values: every JSON type, near-misses of the schema's constraints.
VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2.0,
    1.5,
    1000001,
    "",
    "x",
    "1/2",
    "0.25",
    "1e-3",
    "inf",
    "-inf",
    "1/2/3",
    "argmax",
    "prior",
    "G",
    "kappa",
    [],
    ["a"],
    ["a", "a"],
    [1],
    {},
    {"k": "1"},
    {"boltzmann": "1"},
    {"operator": "G"},
    {"operator": "G", "k": 1},
    {"operator": "B", "i": 1, "f": "argmax"},
    {"mid": "1", "rad": "0"},
]


def _paths(x: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(x, dict):
        for k, v in x.items():
            out += _paths(v, (*here, k))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            out += _paths(v, (*here, i))
    return out


def _mutate(data: Any, rng: random.Random) -> Any:
    """One random edit: replace a value, delete a key or add an unknown one."""
    out = copy.deepcopy(data)
    path = rng.choice(_paths(out)[1:])
    parent = out
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    edit = rng.random()
    if edit < 0.7:
        parent[last] = copy.deepcopy(rng.choice(VALUES))
    elif edit < 0.85 and isinstance(parent, dict):
        del parent[last]
    elif isinstance(parent, dict):
        parent[rng.choice(["zz", "id", "f", "k", "alpha", "reference", "0"])] = (
            copy.deepcopy(rng.choice(VALUES))
        )
    return out


def _agree(data: Any, kind: str) -> None:
    """The compiled check's verdict is jsonschema's; and where a case passes
    the schema and the reader, the collected semantic checks find nothing
    (what lets ``validate`` stop after the reader)."""
    fast = validate._fast_check(kind)
    assert fast is not None, "the shipped schema compiles"
    want = validate._validator(kind).is_valid(data)
    assert fast(data) == want, json.dumps(data)[:300]
    if kind == "case" and want and validate._reads(data):
        assert validate._semantic_case_problems(data) == [], json.dumps(data)[:300]


@pytest.mark.properties
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_fast_check_agrees_with_jsonschema_on_mutated_cases(path: Path) -> None:
    """The file itself and seeded mutations of it."""
    data = json.loads(path.read_text())
    _agree(data, "case")
    rng = random.Random(f"validate-{path.stem}")
    for _ in range(MUTATIONS):
        _agree(_mutate(data, rng), "case")


@pytest.mark.properties
def test_fast_check_agrees_with_jsonschema_on_mutated_results() -> None:
    """Results of the mountain race, with and without enclosures."""
    case = load_case(ROOT / "cases" / "public" / "mountain-race.json")
    answers = run_case(case)[0].answers
    data: dict[str, Any] = {
        "format": "coherence-results/1",
        "case": case.name,
        "implementation": "x",
        "answers": {k: answer_to_json(v) for k, v in answers.items()},
    }
    data["enclosures"] = {"T1": {"0": {"root": {"up": {"mid": "1/2", "rad": "0"}}}}}
    _agree(data, "results")
    rng = random.Random("validate-results")
    for _ in range(2 * MUTATIONS):
        _agree(_mutate(data, rng), "results")


#: One edit per schema keyword of the case schema, on the mountain race:
#: (path, new value); ``DELETE`` removes the key. Valid and invalid edits both.
DELETE = object()
EDITS: list[tuple[tuple[Any, ...], Any]] = [
    (("format",), "coherence-case/2"),  # const
    (("horizon",), True),  # integer is not boolean
    (("horizon",), 2.0),  # an integral float is an integer (valid)
    (("horizon",), 2.5),
    (("horizon",), 0),  # minimum
    (("horizon",), 1000001),  # maximum
    (("name",), ""),  # minLength
    (("zz",), 1),  # additionalProperties: false
    (("states",), []),  # minItems
    (("states",), ["root", "root"]),  # uniqueItems
    (("states", 0), 7),  # items type
    (("initial", "root"), "1/2/3"),  # pattern
    (("initial", "root"), " 1 / 1 "),  # pattern with blanks (valid)
    (("initial", "root"), 1),  # a JSON number (valid)
    (("initial", "root"), True),  # anyOf: neither number nor string
    (("time_dependent_success",), {"01": {}}),  # propertyNames
    (("time_dependent_success",), {"1": {}}),  # (valid)
    (("tolerance",), {"rel": -1}),  # minimum in a $ref
    (("tolerance",), {"rel": 0, "abs": 1e-9}),  # (valid)
    (("queries", 0, "id"), DELETE),  # required
    (("queries", 0, "quantity"), "Q"),  # enum
    (("queries", 0, "policy", "operator"), "B"),  # if/then: B needs i and f
    (("queries", 0, "policy", "k"), -1),  # count minimum
    (("queries", 0, "policy", "alpha"), "1"),  # additionalProperties in then
    (("queries", 0, "f"), "argmax"),  # else: not required f
    (("queries", 14, "f"), DELETE),  # then: kappa requires f
    (("queries", 14, "f"), "argmax"),  # soft_q const (valid)
    (("queries", 14, "f"), {"boltzmann": "1", "x": 1}),  # in an anyOf branch
    (("queries", 0, "reference"), {"operator": "prior"}),  # not causal_kl
    (("queries", 0, "exact"), 1),  # boolean
    (("expected", "Jprob_G1"), {"0": {"root": "1/2"}}),  # nested answer (valid)
    (("expected", "Jprob_G1"), {"0": {"root": [1]}}),  # nested bad leaf
    (("expected", "Jprob_G1"), "-inf"),  # enum branch (valid)
]


@pytest.mark.parametrize(("path", "value"), EDITS, ids=[str(e) for e in EDITS])
def test_fast_check_agrees_with_jsonschema_on_each_keyword(
    path: tuple[Any, ...], value: Any
) -> None:
    """Every keyword the compiled check implements, on a targeted edit."""
    data = json.loads((ROOT / "cases" / "public" / "mountain-race.json").read_text())
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    _agree(data, "case")


def test_an_unsupported_keyword_leaves_the_verdict_to_jsonschema() -> None:
    """A schema with a keyword outside the compiled subset has no fast check."""
    compiler = validate._Compiler({"$defs": {}})
    with pytest.raises(validate._Unsupported):
        compiler.compile({"patternProperties": {"^a": True}})
