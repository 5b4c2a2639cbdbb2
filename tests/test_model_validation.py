"""Bad input gets a ValueError naming the field and the value (one row per case)."""

from __future__ import annotations

import copy
import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from coherence.reference.case import CaseError, case_from_json
from coherence.reference.model import MDP


def base_case() -> dict[str, Any]:
    return {
        "format": "coherence-case/1",
        "name": "tiny",
        "horizon": 2,
        "states": ["x", "y"],
        "actions": ["a", "b"],
        "initial": {"x": "1"},
        "transitions": {
            "x": {"a": {"x": "1/2", "y": "1/2"}, "b": {"y": "1"}},
            "y": {"a": {"y": "1"}, "b": {"x": "1"}},
        },
        "success": {"x": {"a": "1/2"}},
        "terminal_success": {"y": "3/4"},
        "prior": {"x": {"a": "1/3", "b": "2/3"}},
        "queries": [
            {"id": "q", "quantity": "J_prob", "policy": {"operator": "G", "k": 1}}
        ],
        "expected": {},
    }


def edit(path: str, value: Any) -> Any:
    """A case with the JSON value at ``path`` (slash separated) replaced;
    ``value`` DELETE removes the key."""

    def apply(case: dict[str, Any]) -> dict[str, Any]:
        keys = path.split("/")
        node: Any = case
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        last: Any = int(keys[-1]) if isinstance(node, list) else keys[-1]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
        return case

    return apply


DELETE = object()

# (id, edit, words the message must contain)
BAD_CASES = [
    ("row-not-summing", edit("transitions/x/a/y", "1/4"), ["transitions[x][a]", "3/4"]),
    (
        "negative-probability",
        edit("transitions/x/a/y", "-1/2"),
        ["transitions[x][a][y]", "negative"],
    ),
    (
        "probability-above-one",
        edit("transitions/x/b/y", "3/2"),
        ["transitions[x][b][y]", "3/2"],
    ),
    (
        "nan-probability",
        edit("transitions/x/b/y", math.nan),
        ["transitions[x][b][y]", "NaN"],
    ),
    ("nan-string", edit("success/x/a", "nan"), ["success[x][a]", "nan"]),
    (
        "infinite-probability",
        edit("terminal_success/y", math.inf),
        ["terminal_success[y]", "inf"],
    ),
    ("success-above-one", edit("success/x/a", "2"), ["success[x][a]", "exceeds 1"]),
    ("negative-success", edit("success/x/a", -0.5), ["success[x][a]", "negative"]),
    (
        "unknown-next-state",
        edit("transitions/x/b", {"z": "1"}),
        ["transitions[x][b]", "unknown state", "'z'"],
    ),
    (
        "unknown-state-row",
        edit("transitions/z", {"a": {"x": "1"}, "b": {"x": "1"}}),
        ["transitions", "unknown state", "'z'"],
    ),
    (
        "unknown-action",
        edit("transitions/x/c", {"x": "1"}),
        ["transitions[x]", "unknown action", "'c'"],
    ),
    (
        "missing-action-row",
        edit("transitions/y/b", DELETE),
        ["transitions[y]", "missing row for action", "'b'"],
    ),
    (
        "missing-state-row",
        edit("transitions/y", DELETE),
        ["transitions", "missing row for state", "'y'"],
    ),
    ("horizon-zero", edit("horizon", 0), ["horizon", ">= 1", "0"]),
    ("horizon-not-int", edit("horizon", 1.5), ["horizon", "1.5"]),
    ("empty-states", edit("states", []), ["states", "empty"]),
    ("empty-actions", edit("actions", []), ["actions", "empty"]),
    ("duplicate-state", edit("states", ["x", "x"]), ["states", "duplicate", "'x'"]),
    ("duplicate-action", edit("actions", ["a", "a"]), ["actions", "duplicate", "'a'"]),
    (
        "prior-not-distribution",
        edit("prior/x", {"a": "1/3", "b": "1/3"}),
        ["prior[x]", "2/3"],
    ),
    (
        "prior-unknown-action",
        edit("prior/x", {"a": "1/3", "c": "2/3"}),
        ["prior[x]", "unknown action", "'c'"],
    ),
    (
        "prior-unknown-state",
        edit("prior/z", {"a": "1"}),
        ["prior", "unknown state", "'z'"],
    ),
    ("initial-not-distribution", edit("initial", {"x": "1/2"}), ["initial", "1/2"]),
    (
        "initial-unknown-state",
        edit("initial", {"w": "1"}),
        ["initial", "unknown state"],
    ),
    (
        "float-row-off",
        edit("transitions/x/a", {"x": 0.5, "y": 0.4}),
        ["transitions[x][a]", "0.9"],
    ),
    (
        "terminal-unknown-state",
        edit("terminal_success/q", "1"),
        ["terminal_success", "unknown state", "'q'"],
    ),
    (
        "success-unknown-action",
        edit("success/x/zz", "1"),
        ["success[x]", "unknown action", "'zz'"],
    ),
    (
        "time-step-outside",
        edit("time_dependent_success", {"5": {"x": {"a": "1"}}}),
        ["time_dependent_success", "'5'"],
    ),
    ("not-a-number", edit("success/x/a", "half"), ["success[x][a]", "'half'"]),
    (
        "zero-denominator",
        edit("success/x/a", "1/0"),
        ["success[x][a]", "zero denominator"],
    ),
    ("bool-probability", edit("success/x/a", True), ["success[x][a]", "boolean"]),
    (
        "wrong-format",
        edit("format", "coherence-case/9"),
        ["format", "coherence-case/9"],
    ),
    ("unknown-quantity", edit("queries/0/quantity", "speed"), ["quantity", "'speed'"]),
    ("unknown-operator", edit("queries/0/policy/operator", "Z"), ["operator", "'Z'"]),
    ("negative-k", edit("queries/0/policy/k", -1), ["k", "-1"]),
    (
        "exact-true-on-float",
        edit(
            "queries/0",
            {
                "id": "q",
                "quantity": "J_sum",
                "exact": True,
                "policy": {"operator": "prior"},
            },
        ),
        ["'exact': true", "J_sum"],
    ),
    (
        "kappa-without-f",
        edit(
            "queries/0",
            {"id": "q", "quantity": "kappa", "policy": {"operator": "prior"}},
        ),
        ["kappa", "needs 'f'"],
    ),
    (
        "bad-delta",
        edit(
            "queries/0",
            {
                "id": "q",
                "quantity": "kappa",
                "policy": {"operator": "prior"},
                "f": {"boltzmann": "0"},
            },
        ),
        ["boltzmann", "> 0"],
    ),
    ("expected-unknown-id", edit("expected", {"nope": "1"}), ["expected", "'nope'"]),
]


@pytest.mark.parametrize(
    ("change", "words"),
    [(c, w) for _, c, w in BAD_CASES],
    ids=[i for i, _, _ in BAD_CASES],
)
def test_bad_case_is_rejected_with_a_clear_message(
    change: Any, words: list[str]
) -> None:
    case = change(copy.deepcopy(base_case()))
    with pytest.raises(ValueError) as info:
        case_from_json(case)
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_base_case_is_valid() -> None:
    case = case_from_json(base_case())
    assert case.mdp.horizon == 2
    assert case.mdp.prior[0] == tuple(
        map(__import__("fractions").Fraction, ("1/3", "2/3"))
    )


def test_case_errors_are_value_errors() -> None:
    assert issubclass(CaseError, ValueError)


BAD_ARRAYS = [
    ("transitions-shape", {"transitions": np.ones((2, 2))}, "transitions"),
    ("initial-shape", {"initial": [1.0]}, "initial"),
    ("success-shape", {"success": np.ones((3, 3))}, "success"),
    ("prior-shape", {"prior": np.ones((2, 3)) / 3}, "prior"),
    ("terminal-shape", {"terminal_success": [1.0, 1.0, 1.0]}, "terminal_success"),
    (
        "negative-prob",
        {"transitions": np.array([[[-0.5, 1.5]], [[0.0, 1.0]]])},
        "negative",
    ),
    ("nan-success", {"success": np.array([[math.nan], [1.0]])}, "NaN"),
    ("names-mismatch", {"states": ["only-one"]}, "states"),
]


@pytest.mark.parametrize(
    ("override", "word"),
    [(o, w) for _, o, w in BAD_ARRAYS],
    ids=[i for i, _, _ in BAD_ARRAYS],
)
def test_bad_arrays_are_rejected(override: dict[str, Any], word: str) -> None:
    kwargs: dict[str, Any] = {
        "transitions": np.array([[[0.0, 1.0]], [[0.0, 1.0]]]),
        "initial": [1.0, 0.0],
        "success": np.array([[0.5], [1.0]]),
        "horizon": 2,
    }
    kwargs.update(override)
    with pytest.raises(ValueError, match=word):
        MDP.from_arrays(**kwargs)


def test_float_rows_are_renormalised_exactly() -> None:
    from fractions import Fraction

    mdp = MDP.from_arrays(
        transitions=np.array([[[0.1, 0.9 - 1e-14]], [[0.0, 1.0]]]),
        initial=[1.0, 0.0],
        horizon=1,
    )
    row = dict(mdp.transitions[0][0])
    assert sum(row.values()) == 1
    assert row[0] == Fraction(0.1) / (Fraction(0.1) + Fraction(0.9 - 1e-14))


HALF, ONE = Fraction(1, 2), Fraction(1)


def _direct(**override: Any) -> MDP:
    """The MDP constructor itself (no reader), with one field replaced."""
    one, half = ONE, HALF
    fields: dict[str, Any] = {
        "states": ("x", "y"),
        "actions": ("a",),
        "horizon": 1,
        "transitions": ((((0, half), (1, half)),), (((1, one),),)),
        "success": (((one,), (one,)),),
        "terminal_success": (one, one),
        "initial": (one, Fraction(0)),
        "prior": ((one,), (one,)),
    }
    fields.update(override)
    return MDP(**fields)


@pytest.mark.parametrize(
    ("override", "words"),
    [
        (
            {"transitions": ((((1, HALF), (0, HALF)),), (((1, ONE),),))},
            "out of order",
        ),
        ({"transitions": ((((0, HALF), (5, HALF)),), (((1, ONE),),))}, "unknown"),
        ({"horizon": 10**7}, "MAX_HORIZON"),
        ({"initial": (0.5, 0.5)}, "not a probability"),
        ({"success": ()}, "1 time steps"),
    ],
    ids=["unsorted-successors", "unknown-successor", "huge-horizon", "float", "steps"],
)
def test_the_constructor_checks_its_fields(
    override: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        _direct(**override)


def test_the_constructor_accepts_valid_fields() -> None:
    assert _direct().n_states == 2


def test_unlisted_rows_are_shared_and_still_correct() -> None:
    case = case_from_json(base_case())
    mdp = case.mdp
    # steps without time_dependent_success overrides share one success table
    assert mdp.success[0] is mdp.success[1]
    assert mdp.success[0][1] == (ONE, ONE)
    assert mdp.log_success.shape == (2, 2, 2)
    assert math.isclose(mdp.log_success[1, 0, 0], math.log(0.5))
