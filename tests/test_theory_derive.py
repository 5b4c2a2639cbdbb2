"""Symbolic cases and `coherence derive CASE`: closed forms, conditions, checks,
bad input."""

from __future__ import annotations

import copy
import dataclasses
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import sympy

from coherence._numbers import parse_rational
from coherence.cli import main as cli_main
from coherence.theory import (
    ClosedForm,
    assumptions,
    check,
    closed_form,
    derive,
    load_symbolic_case,
)
from coherence.theory.assumptions import (
    NONNEGATIVE,
    POSITIVE,
    ZERO,
    RangeSystem,
    parse_range,
    sign_of,
)
from coherence.theory.closed_form import derive_case
from coherence.theory.symbolic import (
    CASES_DIR,
    shipped_cases,
    symbolic_case_from_json,
)

MOUNTAIN = "mountain-race"


def _mountain_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CASES_DIR / f"{MOUNTAIN}.json").read_text())
    return data


def _symbols(form: ClosedForm) -> dict[str, Any]:
    return dict(form.symbols)


def test_mountain_race_t_alpha_closed_form() -> None:
    """SPEC §6 / claim 2: T_alpha(up|root) = (c^a + g^a)/(c^a + f1^a + f2^a + g^a)."""
    form = derive(MOUNTAIN, "T_alpha")
    s = _symbols(form)
    g, c, f1, f2, alpha = (s[n] for n in ("g", "c", "f1", "f2", "alpha"))
    want = (c**alpha + g**alpha) / (c**alpha + f1**alpha + f2**alpha + g**alpha)
    got = form.expression["0"]["root"]["up"]
    assert sympy.simplify(got - want) == 0
    assert (
        str(got)
        == "(c**alpha + g**alpha)/(c**alpha + f1**alpha + f2**alpha + g**alpha)"
    )
    assert "alpha > 0" in form.conditions
    assert "0 < g <= 1" in form.conditions
    assert form.decisions  # the w's at root, ridge and forest were decided non-zero
    value = form.at(g=1, c="1/2", f1="3/4", f2="3/4", alpha=2)
    # (1/4 + 1) / (1/4 + 9/16 + 9/16 + 1) = 10/19
    assert value["0"]["root"]["up"] == sympy.Rational(10, 19)


def test_cli_prints_t_alpha_under_its_assumptions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli_main(["derive", MOUNTAIN, "--query", "T_alpha"]) == 0
    out = capsys.readouterr().out
    assert (
        "T_alpha(up|root) = (c^alpha + g^alpha)/(c^alpha + f1^alpha + f2^alpha + "
        "g^alpha)" in out
    )
    assert (
        "valid for: 0 < g <= 1, 0 < c <= 1, 0 < f1 <= 1, 0 < f2 <= 1, alpha > 0" in out
    )


def test_g1_to_g4_four_symbols() -> None:
    """G_k(up|root) = (c^k + g^k)/(c^k + f1^k + f2^k + g^k) (G_k = T_k on a
    deterministic tree with a uniform prior, SPEC §7 claim 2), k = 1..4; the
    time is measured by benchmarks/bench_theory.py (docs/performance.md)."""
    case = load_symbolic_case(MOUNTAIN)
    forms = [derive_case(case, f"G{k}") for k in range(1, 5)]
    s = dict(case.symbols)
    g, c, f1, f2 = (s[n] for n in ("g", "c", "f1", "f2"))
    for k, form in enumerate(forms, start=1):
        want = (c**k + g**k) / (c**k + f1**k + f2**k + g**k)
        assert sympy.cancel(form.expression["0"]["root"]["up"] - want) == 0


def test_latex_json_and_sympy_formats(capsys: pytest.CaptureFixture[str]) -> None:
    for fmt, needle in (
        ("latex", r"\frac{c^{\alpha} + g^{\alpha}}"),
        ("sympy", "(c**alpha + g**alpha)/"),
    ):
        assert (
            cli_main(["derive", MOUNTAIN, "--query", "T_alpha", "--format", fmt]) == 0
        )
        assert needle in capsys.readouterr().out
    assert (
        cli_main(["derive", MOUNTAIN, "--query", "Jprob_G1", "--format", "json"]) == 0
    )
    (obj,) = json.loads(capsys.readouterr().out)
    assert obj["quantity"] == "J_prob"
    s = {n: sympy.Symbol(n, positive=True) for n in ("g", "c", "f1", "f2")}
    parsed = sympy.parse_expr(obj["expression"], local_dict=s)
    # J_prob(G_1) = sum_leaf x^2 / sum_leaf x (posterior-weighted success)
    want = sum(x**2 for x in s.values()) / sum(s.values())
    assert sympy.cancel(parsed - want) == 0


def test_at_point_prints_exact_value(capsys: pytest.CaptureFixture[str]) -> None:
    at = "g=1,c=1/4,f1=3/4,f2=3/4,alpha=2,delta=1"
    assert cli_main(["derive", MOUNTAIN, "--query", "T_alpha", "--at", at]) == 0
    out = capsys.readouterr().out
    # (1/16 + 1) / (1/16 + 9/16 + 9/16 + 1) = 17/35
    assert f"[at {at}: 17/35]" in out


def test_out_file_written_only_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "forms.json"
    code = cli_main(
        ["derive", MOUNTAIN, "--query", "G2", "--format", "json", "--out", str(target)]
    )
    assert code == 0
    assert json.loads(target.read_text())[0]["query"] == "G2"


@pytest.mark.parametrize(
    "name",
    [
        # the 27 queries of conventions-symbolic (B_4 with delta = 1/3 among
        # them) take about 8 s with python-flint: CI's slow pass runs them
        pytest.param(n, marks=pytest.mark.slow) if n == "conventions-symbolic" else n
        for n in sorted(shipped_cases())
    ],
)
def test_check_agrees_with_oracle_on_shipped_cases(name: str) -> None:
    """Each closed form equals the exact oracle (float64 within the case
    tolerance where the instance is irrational) at random points; 5 points per
    query here (the 27 queries of conventions-symbolic take about 8 s),
    `coherence derive CASE --check 50` in docs/theory.md."""
    case = load_symbolic_case(name)
    for qid in case.query_ids:
        form = derive_case(case, qid)
        report = check(case, form, 5, seed=1)
        assert report.ok, report.summary()
        assert report.points == 5


PUBLIC_CONVENTIONS = Path(__file__).resolve().parents[1] / "coherence" / "cases"
PUBLIC_CONVENTIONS = PUBLIC_CONVENTIONS / "public" / "conventions.json"


def _rationals(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _rationals(v) for k, v in obj.items()}
    if isinstance(obj, (str, int, float)) and not isinstance(obj, bool):
        return parse_rational(obj, "test")
    return obj


def test_conventions_twin_carries_every_public_query() -> None:
    """The symbolic twin has the public case's queries (same ids, same
    objects) and is the public case at g = 3/4."""
    public = json.loads(PUBLIC_CONVENTIONS.read_text())
    case = load_symbolic_case("conventions-symbolic")
    want = [{k: v for k, v in q.items() if k != "expected"} for q in public["queries"]]
    assert list(case.data["queries"]) == want
    assert len(case.query_ids) == 27
    at = case.instantiate({"g": Fraction(3, 4)})
    for key in (
        "initial",
        "transitions",
        "success",
        "terminal_success",
        "prior",
        "time_dependent_success",
    ):
        assert _rationals(at[key]) == _rationals(public[key]), key


@pytest.mark.slow
@pytest.mark.skipif(not assumptions._FLINT, reason="needs python-flint (certified)")
def test_conventions_twin_derives_every_query() -> None:
    """All 27 queries of the twin (B_4 with delta = 1/3 included) derive; the
    time is measured by benchmarks/bench_theory.py (docs/theory.md, Cost)."""
    case = load_symbolic_case("conventions-symbolic")
    ns = RangeSystem(case.by_symbol)
    forms = [derive_case(case, qid, ns=ns) for qid in case.query_ids]
    assert [f.query for f in forms] == case.query_ids
    bthird = next(f for f in forms if f.query == "Bthird")
    assert check(case, bthird, 2, seed=5).ok


def test_field_and_expression_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rational-function field (python-flint or sympy's sparse fractions)
    gives the closed forms and decisions of the sympy-expression path."""
    case = load_symbolic_case("conventions-symbolic")
    ids = ["G1", "T1", "F1", "Bargmax"]
    fast = [derive_case(case, q) for q in ids]
    monkeypatch.setattr(assumptions, "_FLINT", False)
    plain_field = [derive_case(case, q) for q in ids]
    monkeypatch.setattr(closed_form, "_integer_exponents", lambda case, i: False)
    slow = [derive_case(case, q) for q in ids]
    for a, b, c in zip(fast, plain_field, slow, strict=True):
        assert a.expression == b.expression, a.query
        assert a.decisions == b.decisions, a.query
        assert a.conditions == c.conditions, a.query
        for (path, x), (_, y) in zip(a.cells(), c.cells(), strict=True):
            assert sympy.cancel(x - y) == 0, (a.query, path)


@pytest.mark.parametrize("flint", [True, False])
def test_field_sign_decisions(flint: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Zero tests in the field: exact, sufficient, Pólya-strengthened."""
    monkeypatch.setattr(assumptions, "_FLINT", flint and assumptions._FLINT)
    g = sympy.Symbol("g", positive=True)
    h = sympy.Symbol("h", positive=True)
    ns = RangeSystem({g: parse_range("(0, 1]", "g"), h: parse_range("[1/4, 3/4]", "h")})
    fs = ns.fields()
    x, y = fs.lift(g), fs.lift(h)
    assert (x + 1) * (x - 1) / (x - 1) == x + 1  # canonical: reduced at once
    # sums reduce too: (x - 1)/(x^2 - 1) is stored as 1/(x + 1)
    assert fs.to_expr(x / (x * x - 1) - 1 / (x * x - 1)) == 1 / (g + 1)
    assert fs.decide_zero(x - x) is True
    assert fs.signs(1 - x) == NONNEGATIVE
    assert fs.signs(1 - x / 2) == POSITIVE
    assert fs.decide_zero(x - fs.const(Fraction(1, 2))) is None
    # positive on (0, 1] with a negative middle coefficient: Pólya decides it
    quad = x * x - x + fs.const(Fraction(1, 3))
    assert fs.signs(quad) == POSITIVE
    assert fs.decide_zero(quad) is False
    assert fs.signs((y - fs.const(Fraction(1, 8))) / (x + y)) == POSITIVE
    assert fs.signs(x * y - fs.const(Fraction(1, 2))) == frozenset({-1, 0, 1})
    assert fs.argmax_mask([x, x + y, x * y]) == [
        fs.const(Fraction(0)),
        fs.const(Fraction(1)),
        fs.const(Fraction(0)),
    ]
    with pytest.raises(ValueError, match="zero test: cannot decide whether g - 1/2"):
        fs.is_zero(x - fs.const(Fraction(1, 2)))
    assert ns.logged()  # the decisions above are on the shared record


def test_check_fails_on_a_planted_error() -> None:
    """A closed form with one cell perturbed by g/1000 must fail the check."""
    case = load_symbolic_case(MOUNTAIN)
    form = derive_case(case, "G2")
    g = case.symbols["g"]
    planted = copy.deepcopy(form.expression)
    planted["0"]["root"]["up"] = planted["0"]["root"]["up"] * (1 + g / 1000)
    bad = dataclasses.replace(form, expression=planted)
    report = check(case, bad, 10, seed=3)
    assert not report.ok
    assert "G_2(up|root) t=0" in report.failures[0]
    assert check(case, form, 10, seed=3).ok


def test_cli_check_reports_agreement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _mountain_data()
    data["queries"] = [q for q in data["queries"] if q["id"] == "G1"]
    path = tmp_path / "one.json"
    path.write_text(json.dumps(data))
    assert cli_main(["derive", str(path), "--check", "3"]) == 0
    assert "CHECK G1: 3 points agree (3 exact, 0 float64)" in capsys.readouterr().err


# --------------------------------------------------------------- bad input
def _with(change: Any) -> dict[str, Any]:
    data = _mountain_data()
    change(data)
    return data


BAD: list[tuple[str, Any, str]] = [
    (
        "undeclared symbol",
        lambda d: d["terminal_success"].update({"gold": "h"}),
        "terminal_success.gold: 'h': undeclared symbol 'h'",
    ),
    (
        "range not an interval",
        lambda d: d["symbols"].update({"g": {"range": "(0, 1"}}),
        "symbols.g.range: '(0, 1' is not an interval",
    ),
    (
        "empty interval",
        lambda d: d["symbols"].update({"g": {"range": "(1, 0)"}}),
        "symbols.g.range: '(1, 0)': the lower bound must be below the upper",
    ),
    (
        "closed infinite end",
        lambda d: d["symbols"].update({"alpha": {"range": "[0, inf]"}}),
        "an infinite end must be open",
    ),
    (
        "row not summing to 1",
        lambda d: d["transitions"]["root"].update(
            {"up": {"ridge": "g", "forest": "g"}}
        ),
        "transitions.root.up: sums to 2*g, not 1 identically",
    ),
    (
        "probability leaving [0, 1]",
        lambda d: d["terminal_success"].update({"gold": "2*g"}),
        "terminal_success.gold: 2*g is not in [0, 1]",
    ),
    (
        "code in an expression",
        lambda d: d["terminal_success"].update({"gold": "__import__('os')"}),
        "terminal_success.gold",
    ),
    (
        "non-integer power",
        lambda d: d["terminal_success"].update({"gold": "g^(1/2)"}),
        "a power must be an integer constant",
    ),
    (
        "unknown symbol key",
        lambda d: d["symbols"].update({"g": {"range": "(0, 1]", "rangee": 1}}),
        "symbols.g: unknown keys ['rangee']",
    ),
    (
        "structure error found by the ordinary reader",
        lambda d: d["transitions"].pop("gold"),
        "(symbolic case read at",
    ),
]


@pytest.mark.parametrize(("label", "change", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_symbolic_case_is_one_line_error(
    label: str, change: Any, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        symbolic_case_from_json(_with(change))
    text = str(info.value)
    assert message in text, text
    assert "\n" not in text


def test_undecidable_zero_test_is_named(tmp_path: Path) -> None:
    """With c in [0, 1], kappa needs 0 log 0 at c = 0 only: no single answer."""
    data = _with(lambda d: d["symbols"].update({"c": {"range": "[0, 1]"}}))
    data["queries"] = [q for q in data["queries"] if q["id"] == "kappa_naive"]
    case = symbolic_case_from_json(data)
    with pytest.raises(
        ValueError,
        match=r"^query 'kappa_naive': zero test: cannot decide whether c/\(c \+ g\)",
    ):
        derive_case(case, "kappa_naive")
    path, out = tmp_path / "case.json", tmp_path / "out.txt"
    path.write_text(json.dumps(data))
    assert cli_main(["derive", str(path), "--out", str(out)]) == 2
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--query", "nope"], "query: 'nope' is not a query"),
        (["--at", "g=2"], "--at g: 2 lies outside its range (0, 1]"),
        (["--at", "h=1"], "--at: undeclared symbol 'h'"),
        (["--check", "0"], "--check: expected a number of points from 1 to 1000"),
    ],
)
def test_bad_cli_arguments_write_nothing(
    tmp_path: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.txt"
    assert cli_main(["derive", MOUNTAIN, *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"coherence: error: {message}" in err
    assert err.count("\n") == 1
    assert not out.exists()


def test_unknown_case_names_the_shipped_ones() -> None:
    with pytest.raises(ValueError, match="no such file, nor a shipped symbolic case"):
        load_symbolic_case("no-such-case")


# -------------------------------------------------------------- sign tests
def test_sign_decisions_on_ranges() -> None:
    """The sign test is sufficient, never a guess: 1 - g vanishes at g = 1."""
    unit = parse_range("(0, 1]", "g")
    g = sympy.Symbol("g", **unit.assumptions())
    ranges = {g: unit}
    assert sign_of(g, ranges) == POSITIVE
    assert sign_of(1 - g, ranges) == NONNEGATIVE
    assert sign_of(1 - g / 2, ranges) == POSITIVE
    assert sign_of(g - g, ranges) == ZERO
    assert 0 in sign_of(g - sympy.Rational(1, 2), ranges)
    closed = parse_range("[1/4, 3/4]", "p")
    p = sympy.Symbol("p", real=True, positive=True)
    assert sign_of(1 - p, {p: closed}) == POSITIVE
    assert closed.text("p") == "1/4 <= p <= 3/4"


def test_provable_interval_claims_of_the_docs() -> None:
    """docs/theory.md: Pólya's multipliers prove g^2 - g + 1/3 > 0 on (0, 1],
    and the symbolic reader's [0, 1] check uses them, so a case whose gold
    finish succeeds with g^2 - g + 1/3 is read; g^2 - g + 1/5 (-1/20 at
    g = 1/2) is refused. c/(c + g) is not proved non-zero for c in [0, 1] (it
    is 0 at c = 0) and is for c in (0, 1]."""
    unit = parse_range("(0, 1]", "g")
    g = sympy.Symbol("g", **unit.assumptions())
    third = g**2 - g + sympy.Rational(1, 3)
    assert sign_of(third, {g: unit}) == POSITIVE
    assert sign_of(1 - third, {g: unit}) == POSITIVE
    assert 0 in sign_of(g**2 - g + sympy.Rational(1, 5), {g: unit})
    case = symbolic_case_from_json(
        _with(lambda d: d["terminal_success"].update({"gold": "g^2 - g + 1/3"}))
    )
    assert case.values[("terminal_success", "gold")] == third
    with pytest.raises(ValueError, match=r"terminal_success.gold: .* is not in"):
        symbolic_case_from_json(
            _with(lambda d: d["terminal_success"].update({"gold": "g^2 - g + 1/5"}))
        )
    closed, half_open = parse_range("[0, 1]", "c"), parse_range("(0, 1]", "c")
    c0 = sympy.Symbol("c", **closed.assumptions())
    c1 = sympy.Symbol("c", **half_open.assumptions())
    assert 0 in sign_of(c0 / (c0 + g), {g: unit, c0: closed})
    assert sign_of(c1 / (c1 + g), {g: unit, c1: half_open}) == POSITIVE


def test_tables_default_to_current_directory_not_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`coherence derive --tables` writes into the current directory."""
    monkeypatch.chdir(tmp_path)
    assert cli_main(["derive", "--tables", "--family", "mountain_race"]) == 0
    assert (tmp_path / "mountain_race.json").exists()
