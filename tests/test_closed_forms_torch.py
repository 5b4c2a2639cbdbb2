"""The committed closed forms (coherence/theory/tables/*.json) against the torch
engine, property-based.

hypothesis draws a point of a table group's symbols inside the validity range
of the closed forms (every success probability and prior in [1/20, 19/20], so
"every success > 0" and the probabilities in (0, 1) hold; alpha and delta in
[1/4, 4]; k in 1..4 and i in 1..3: several G_k, H_k and B_i forms hold for
k, i >= 1 only), evaluates EVERY committed entry at the point with sympy --
policy cells of G, T, F, F_literal, H, H_literal and B, the scalar J_prob,
J_sum and kappa entries, and the difference entries (one cell, or every cell
where the entry says the difference vanishes) -- instantiates the group's MDP
at the point, and compares with the torch engine, float32 and float64, on cpu
and on cuda when present. The default run draws a few points from a rotating
sample of groups; the full pass (``COHERENCE_FULL_PROPERTIES=1``, the
``properties`` marker) draws from all 34 groups. Tolerance (dtype-scaled,
absolute on probabilities, relative beyond 1 for the kappa and J entries):
TOL[dtype] = 1e-9 (float64) and 1e-4 (float32) -- a few hundred ulps of a
horizon <= 3 backward pass; the engines' stated float tolerances
(coherence.reference.tolerances) are of this order. A planted error in one
committed entry, written to a temporary copy of its table, makes the same
comparison fail.
"""

from __future__ import annotations

import functools
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from coherence import backends
from coherence.queries import Evaluator, compute_policy
from coherence.reference.case import Query, case_from_json
from coherence.reference.operators import PolicySpec
from coherence.reference.recurrences import Boltzmann
from coherence.theory import load_table
from tests.shared import examples

sympy = pytest.importorskip("sympy")

TOL = {"float64": 1e-9, "float32": 1e-4}
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
#: (family, group) pairs: one group of every family; the slow test takes all.
GROUPS = [
    ("bandit", "n=2"),
    ("mountain_race", "symbolic"),
    ("trees", "[[o][oo]]"),
    ("stochastic", "two-step"),
]
NUMERIC_FIELDS = (
    "initial",
    "transitions",
    "success",
    "time_dependent_success",
    "terminal_success",
    "prior",
)


@functools.cache
def committed(family: str) -> dict[str, Any]:
    return load_table(family)


def group_of(table: dict[str, Any], name: str) -> dict[str, Any]:
    for group in table["groups"]:
        if group["name"] == name:
            found: dict[str, Any] = group
            return found
    raise KeyError(name)


@functools.cache
def parsed(family: str, name: str) -> tuple[dict[str, Any], list[Any]]:
    """The group's symbols and each entry's parsed expression."""
    group = group_of(committed(family), name)
    syms = symbols_of(group)
    return syms, [
        sympy.parse_expr(e["expression"], local_dict=syms) for e in group["entries"]
    ]


def symbols_of(group: dict[str, Any]) -> dict[str, Any]:
    return {
        s["name"]: sympy.Symbol(s["name"], **s["assumptions"]) for s in group["symbols"]
    }


def substitute(tree: Any, syms: dict[str, Any], point: dict[str, Any]) -> Any:
    """Every expression leaf of an MDP field evaluated exactly at ``point``."""
    if isinstance(tree, dict):
        return {k: substitute(v, syms, point) for k, v in tree.items()}
    expr = sympy.parse_expr(str(tree), local_dict=syms)
    value = sympy.nsimplify(expr.subs(point))
    return str(sympy.Rational(value))


def draw_point(draw: st.DrawFn, group: dict[str, Any]) -> dict[str, Fraction]:
    point: dict[str, Fraction] = {}
    for sym in group["symbols"]:
        name = sym["name"]
        if name == "k":
            point[name] = Fraction(draw(st.integers(1, 4)))
        elif name == "i":
            point[name] = Fraction(draw(st.integers(1, 3)))
        elif name in ("alpha", "delta"):
            point[name] = Fraction(draw(st.integers(1, 16)), 4)
        else:
            point[name] = Fraction(draw(st.integers(1, 19)), 20)
    # a bandit's prior p1..pn must sum to 1: normalise the drawn weights
    priors = [n for n in point if n[:1] == "p" and n[1:].isdigit()]
    total = sum(point[n] for n in priors)
    for n in priors:
        point[n] /= total
    return point


def spec_of(policy: dict[str, Any], point: dict[str, Fraction]) -> PolicySpec:
    """The PolicySpec of a table entry's ``policy`` at ``point``."""

    def value(x: Any) -> Fraction:
        return point[x] if isinstance(x, str) else Fraction(x)

    op = policy["operator"]
    if op in ("G", "F", "F_literal", "H", "H_literal"):
        return PolicySpec(op, k=int(value(policy["k"])))
    if op == "T":
        return PolicySpec("T", alpha=value(policy["alpha"]))
    if op == "B":
        return PolicySpec("B", i=int(value(policy["i"])), f=f_of(policy["f"], point))
    raise KeyError(op)


def f_of(f: Any, point: dict[str, Fraction]) -> Boltzmann:
    """The Boltzmann map of an entry's ``f`` ({"boltzmann": delta})."""
    delta = f["boltzmann"]
    return Boltzmann(point[delta] if isinstance(delta, str) else Fraction(delta))


def instantiate(group: dict[str, Any], point: dict[str, Fraction]) -> Any:
    """The group's MDP at ``point`` (exact rationals)."""
    syms = symbols_of(group)
    subs = {
        syms[k]: sympy.Rational(v.numerator, v.denominator) for k, v in point.items()
    }
    mdp_json = dict(group["mdp"])
    for field in NUMERIC_FIELDS:
        if field in mdp_json:
            mdp_json[field] = substitute(mdp_json[field], syms, subs)
    return case_from_json(
        {"format": "coherence-case/1", "name": "closed-form", **mdp_json}
    ).mdp


def mismatches(
    group: dict[str, Any],
    point: dict[str, Fraction],
    dtype: str,
    device: str,
    exprs: list[Any] | None = None,
) -> list[str]:
    """The committed entries of ``group`` that the torch engine contradicts at
    ``point`` (beyond TOL[dtype]); ``exprs``: the entries' parsed expressions
    when known."""
    syms = symbols_of(group)
    subs = {
        syms[k]: sympy.Rational(v.numerator, v.denominator) for k, v in point.items()
    }
    mdp = instantiate(group, point)
    backend = f"torch:{dtype}:{device}"
    engine = backends.create(backend, mdp)
    evaluator = Evaluator(mdp, backend)
    bad: list[str] = []
    cache: dict[str, Any] = {}

    def policy(spec: PolicySpec) -> Any:
        label = spec.label()
        if label not in cache:
            cache[label] = np.exp(
                compute_policy(engine, spec)[0].detach().cpu().double().numpy()
            )
        return cache[label]

    def at(table: Any, cell: dict[str, Any]) -> float:
        t, s = cell["t"], mdp.state_index(cell["state"])
        return float(table[t, s, mdp.action_index(cell["action"])])

    for i, entry in enumerate(group["entries"]):
        quantity = entry["quantity"]
        expr = (
            exprs[i]
            if exprs is not None and exprs[i] is not None
            else sympy.parse_expr(entry["expression"], local_dict=syms)
        )
        spec = spec_of(entry["policy"], point)
        if quantity == "policy":
            got = at(policy(spec), entry["cell"])
        elif quantity == "difference":
            diff = policy(spec) - policy(spec_of(entry["minus"], point))
            if entry.get("cell") is None:
                assert entry.get("vanishes"), entry["name"]
                got = float(np.abs(diff).max())
            else:
                got = at(diff, entry["cell"])
        else:
            f = f_of(entry["f"], point) if "f" in entry else None
            query = Query(id="q", quantity=quantity, policy=spec, f=f)
            got = float(evaluator.answer(query))
        want = float(expr.subs(subs))
        if not abs(got - want) <= TOL[dtype] * max(1.0, abs(want)):
            bad.append(
                f"{entry['name']} at {point}: torch {got!r}, closed form {want!r}"
            )
    return bad


@st.composite
def group_points(
    draw: st.DrawFn, groups: list[tuple[str, str]]
) -> tuple[str, str, dict[str, Fraction]]:
    family, name = draw(st.sampled_from(groups))
    return family, name, draw_point(draw, group_of(committed(family), name))


ALL_GROUPS = [
    (family, g["name"])
    for family in ("bandit", "mountain_race", "trees", "stochastic")
    for g in committed(family)["groups"]
]


def rotating_sample() -> list[tuple[str, str]]:
    """One group of every family plus a few more, rotating with the day of the
    year, so successive default runs cover every group; all of them in the
    full pass."""
    if examples(0, 1):
        return ALL_GROUPS
    import datetime

    day = datetime.date.today().toordinal()
    extra = [ALL_GROUPS[(day * 7 + j) % len(ALL_GROUPS)] for j in range(2)]
    return sorted(set(GROUPS + extra))


@pytest.mark.properties
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@settings(max_examples=examples(4, 100))
@given(case=group_points(rotating_sample()))
def test_closed_forms_match_torch_engine(
    dtype: str, device: str, case: tuple[str, str, dict[str, Fraction]]
) -> None:
    family, name, point = case
    group = group_of(committed(family), name)
    exprs = parsed(family, name)[1]
    assert mismatches(group, point, dtype, device, exprs) == []


def test_every_group_is_in_the_full_pass() -> None:
    assert len(ALL_GROUPS) == 34
    kinds = {
        (e["quantity"], e["policy"]["operator"])
        for family, name in ALL_GROUPS
        for e in group_of(committed(family), name)["entries"]
    }
    for op in ("G", "T", "F", "F_literal", "H", "H_literal", "B"):
        assert ("policy", op) in kinds
    for q in ("J_prob", "J_sum", "kappa", "difference"):
        assert any(k[0] == q for k in kinds)


def test_planted_error_in_a_committed_entry_is_caught(tmp_path: Path) -> None:
    # a temporary copy of the bandit table with G_k(a1) off by a factor
    # (1 + 1/100) inside; the committed file is never touched
    source = committed("bandit")
    planted = json.loads(json.dumps(source))
    entry = group_of(planted, "n=2")["entries"][0]
    assert entry["name"] == "G_k(a1)"
    entry["expression"] = f"(101/100)*({entry['expression']})"
    (tmp_path / "bandit.json").write_text(json.dumps(planted))
    copy = load_table("bandit", out_dir=tmp_path)
    point = {
        "p1": Fraction(1, 2),
        "p2": Fraction(1, 2),
        "rho1": Fraction(1, 2),
        "rho2": Fraction(3, 4),
        "k": Fraction(2),
        "alpha": Fraction(1),
        "delta": Fraction(1),
        "i": Fraction(1),
    }
    for dtype in ("float64", "float32"):
        assert mismatches(group_of(source, "n=2"), point, dtype, "cpu") == []
        found = mismatches(group_of(copy, "n=2"), point, dtype, "cpu")
        assert len(found) == 1 and found[0].startswith("G_k(a1)")
