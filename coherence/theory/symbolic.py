"""Symbolic cases: a ``coherence-case/1`` file whose numbers may be expressions.

A symbolic case adds one key to docs/case-format.md's case object::

    "symbols": {"g": {"range": "(0, 1]"}, "alpha": {"range": "(0, inf)",
                "description": "inverse temperature"}}

and may then write a symbol or a rational expression of symbols (``"g"``,
``"1 - g"``, ``"g/2"``, ``"(1 - g)^2"``) wherever a probability, a success
value, a prior entry, an ``alpha`` or a Boltzmann ``delta`` may stand. The
expression language is numbers (``3/4``, ``0.25``), declared symbols,
``+ - * /``, parentheses and integer powers (``^`` or ``**``); nothing is
evaluated as code. Rows are checked identically: every transition row, every
listed prior row and ``initial`` sum to 1 as rational functions (the offending
row is named otherwise), and every probability lies in [0, 1] for every point
of the ranges (:mod:`coherence.theory.assumptions`).

:meth:`SymbolicCase.instantiate` gives every symbol a value and returns an
ordinary case object, which the ordinary reader
(:func:`coherence.reference.case.case_from_json`) accepts; the structure of a
symbolic case (states, actions, keys, queries) is validated by exactly that
reader on an instantiation at an interior point.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import sympy

from coherence._io import read_json
from coherence._numbers import format_rational, parse_rational
from coherence.reference.case import Case, case_from_json
from coherence.reference.recurrences import ExactMDP, NumberSystem
from coherence.theory.assumptions import (
    NONNEGATIVE,
    Range,
    parse_range,
    sign_of,
)

__all__ = [
    "CASES_DIR",
    "SymbolicCase",
    "load_symbolic_case",
    "parse_expression",
    "parse_point",
    "shipped_cases",
    "symbolic_case_from_json",
]

Expr = Any

#: Example symbolic cases shipped with the package.
CASES_DIR = Path(__file__).resolve().parent / "cases"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}", re.ASCII)
_TOKEN = re.compile(
    r"\s*(?:(?P<num>[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>\*\*|[-+*/^()]))",
    re.ASCII,
)
MAX_EXPRESSION_CHARS = 2000
MAX_NESTING = 50
MAX_POWER = 64
#: Largest total degree of one expression (an upper bound tracked while it is
#: parsed: sums take the larger degree, products and quotients add, integer
#: powers multiply), so ``((g^64)^64)^64`` is refused before it is expanded.
MAX_DEGREE = 64
#: Most declared symbols of one case.
MAX_SYMBOLS = 16


class _Parser:
    """Recursive descent over numbers, declared symbols, + - * / ^ ( )."""

    def __init__(self, text: str, symbols: Mapping[str, Expr], where: str) -> None:
        self.where = where
        self.text = text
        self.symbols = symbols
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN.match(text, pos)
            if match is None:
                raise self.error(f"unexpected {text[pos:].strip()[:10]!r}")
            kind = match.lastgroup
            assert kind is not None
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
        self.i = 0
        self.depth = 0
        self.degrees: dict[Expr, int] = {}

    def degree(self, value: Expr) -> int:
        """The tracked upper bound of the total degree of ``value``."""
        return self.degrees.get(value, 0)

    def result(self, value: Expr, degree: int) -> Expr:
        """Record ``value``'s degree bound; refuse one over MAX_DEGREE."""
        if degree > MAX_DEGREE:
            raise self.error(
                f"total degree up to {degree} exceeds the limit of {MAX_DEGREE}"
            )
        self.degrees[value] = max(degree, self.degrees.get(value, 0))
        return value

    def error(self, why: str) -> ValueError:
        shown = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return ValueError(f"{self.where}: {shown!r}: {why}")

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise self.error("unexpected end of expression")
        token = self.tokens[self.i]
        self.i += 1
        return token

    def parse(self) -> Expr:
        if not self.tokens:
            raise self.error("empty expression")
        value = self.sum()
        if self.i != len(self.tokens):
            raise self.error(f"unexpected {self.peek()!r}")
        return value

    def sum(self) -> Expr:
        value = self.product()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            right = self.product()
            degree = max(self.degree(value), self.degree(right))
            value = self.result(value + right if op == "+" else value - right, degree)
        return value

    def product(self) -> Expr:
        value = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()[1]
            right = self.unary()
            degree = self.degree(value) + self.degree(right)
            if op == "*":
                value = self.result(value * right, degree)
            else:
                if right == 0:
                    raise self.error("division by zero")
                value = self.result(value / right, degree)
        return value

    def unary(self) -> Expr:
        negative = False
        signs = 0
        while self.peek() in ("-", "+"):  # a loop: any number of signs
            negative ^= self.take()[1] == "-"
            signs += 1
            if signs > MAX_NESTING:
                raise self.error(f"more than {MAX_NESTING} signs in a row")
        value = self.power()
        return self.result(-value, self.degree(value)) if negative else value

    def power(self) -> Expr:
        base = self.atom()
        if self.peek() in ("^", "**"):
            self.take()
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise self.error(f"more than {MAX_NESTING} nested powers")
            exponent = self.unary()
            self.depth -= 1
            if not (exponent.is_Integer and abs(int(exponent)) <= MAX_POWER):
                raise self.error(
                    f"a power must be an integer constant of size at most "
                    f"{MAX_POWER}, got {exponent}"
                )
            if base == 0 and exponent < 0:
                raise self.error("division by zero")
            degree = self.degree(base) * abs(int(exponent))
            if degree > MAX_DEGREE:  # refused before the power is expanded
                raise self.error(
                    f"total degree up to {degree} exceeds the limit of {MAX_DEGREE}"
                )
            return self.result(base ** int(exponent), degree)
        return base

    def atom(self) -> Expr:
        kind, text = self.take()
        if kind == "num":
            q = parse_rational(text, self.where)
            return sympy.Rational(q.numerator, q.denominator)
        if kind == "name":
            if text not in self.symbols:
                known = ", ".join(sorted(self.symbols)) or "none"
                raise self.error(
                    f"undeclared symbol {text!r} (declared: {known}; add it to "
                    '"symbols")'
                )
            return self.result(self.symbols[text], 1)
        if text == "(":
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise self.error(f"more than {MAX_NESTING} nested parentheses")
            value = self.sum()
            if self.take()[1] != ")":
                raise self.error("expected ')'")
            self.depth -= 1
            return value
        raise self.error(f"unexpected {text!r}")


def parse_expression(value: object, symbols: Mapping[str, Expr], where: str) -> Expr:
    """A case number (JSON number, rational string or expression string) as a
    sympy expression in the declared ``symbols``; a one-line ValueError naming
    ``where`` for an undeclared symbol or a malformed expression."""
    return _parse_with_degree(value, symbols, where)[0]


def _parse_with_degree(
    value: object, symbols: Mapping[str, Expr], where: str
) -> tuple[Expr, int]:
    """:func:`parse_expression` and the tracked degree bound of the result."""
    if isinstance(value, bool):
        raise ValueError(f"{where}: expected a number or an expression, got {value!r}")
    if isinstance(value, (int, float)):
        q = parse_rational(value, where)
        return sympy.Rational(q.numerator, q.denominator), 0
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a number or an expression, got {value!r}")
    if len(value) > MAX_EXPRESSION_CHARS:
        raise ValueError(
            f"{where}: expression of {len(value)} characters exceeds "
            f"{MAX_EXPRESSION_CHARS}"
        )
    parser = _Parser(value, symbols, where)
    expr = parser.parse()
    return expr, parser.degree(expr)


def _text(x: Expr) -> str:
    return str(sympy.sstr(x))


def parse_point(
    text: str | Mapping[str, object], symbols: Mapping[str, Range]
) -> dict[str, Fraction]:
    """``"g=3/4,alpha=2"`` (or a mapping) as symbol values, each checked to
    lie in its range; a one-line ValueError naming the symbol otherwise."""
    items: list[tuple[str, object]]
    if isinstance(text, str):
        items = []
        for part in (p for p in text.split(",") if p.strip()):
            if "=" not in part:
                raise ValueError(f"--at: expected NAME=VALUE, got {part.strip()!r}")
            key, raw = part.split("=", 1)
            items.append((key.strip(), raw.strip()))
    else:
        items = list(text.items())
    out: dict[str, Fraction] = {}
    for name, value in items:
        if name not in symbols:
            known = ", ".join(symbols) or "none"
            raise ValueError(f"--at: undeclared symbol {name!r} (declared: {known})")
        if name in out:
            raise ValueError(f"--at: {name!r} given twice")
        q = parse_rational(value, f"--at {name}")
        if not symbols[name].contains(q):
            raise ValueError(
                f"--at {name}: {q} lies outside its range {symbols[name].interval()}"
            )
        out[name] = q
    return out


def _walk_rows(
    data: Mapping[str, Any],
) -> Iterator[tuple[tuple[Any, ...], Mapping[str, Any]]]:
    """(path, row) of every row that must sum to 1."""
    transitions = data.get("transitions")
    if isinstance(transitions, Mapping):
        for s, rows in transitions.items():
            if isinstance(rows, Mapping):
                for a, row in rows.items():
                    if isinstance(row, Mapping):
                        yield ("transitions", s, a), row
    prior = data.get("prior")
    if isinstance(prior, Mapping):
        for s, row in prior.items():
            if isinstance(row, Mapping):
                yield ("prior", s), row
    initial = data.get("initial")
    if isinstance(initial, Mapping):
        yield ("initial",), initial


def _walk_values(data: Mapping[str, Any]) -> Iterator[tuple[tuple[Any, ...], object]]:
    """(path, value) of every number slot that may hold an expression."""
    for head, row in _walk_rows(data):
        for key, value in row.items():
            yield (*head, key), value
    success = data.get("success")
    if isinstance(success, Mapping):
        for s, row in success.items():
            if isinstance(row, Mapping):
                for a, value in row.items():
                    yield ("success", s, a), value
    tds = data.get("time_dependent_success")
    if isinstance(tds, Mapping):
        for t, table in tds.items():
            if isinstance(table, Mapping):
                for s, row in table.items():
                    if isinstance(row, Mapping):
                        for a, value in row.items():
                            yield ("time_dependent_success", t, s, a), value
    terminal = data.get("terminal_success")
    if isinstance(terminal, Mapping):
        for s, value in terminal.items():
            yield ("terminal_success", s), value


def _walk_query_values(
    data: Mapping[str, Any],
) -> Iterator[tuple[tuple[Any, ...], object]]:
    queries = data.get("queries")
    if not isinstance(queries, list):
        return
    for i, query in enumerate(queries):
        if not isinstance(query, Mapping):
            continue
        for key in ("policy", "reference"):
            spec = query.get(key)
            if isinstance(spec, Mapping):
                if "alpha" in spec:
                    yield ("queries", i, key, "alpha"), spec["alpha"]
                f = spec.get("f")
                if isinstance(f, Mapping) and "boltzmann" in f:
                    yield ("queries", i, key, "f", "boltzmann"), f["boltzmann"]
        f = query.get("f")
        if isinstance(f, Mapping) and "boltzmann" in f:
            yield ("queries", i, "f", "boltzmann"), f["boltzmann"]


def _label(path: tuple[Any, ...], data: Mapping[str, Any]) -> str:
    if path[0] == "queries":
        queries = data["queries"]
        qid = queries[path[1]].get("id", path[1])
        return f"query {qid!r}.{'.'.join(str(p) for p in path[2:])}"
    return ".".join(str(p) for p in path)


def _set(target: Any, path: tuple[Any, ...], value: object) -> None:
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


@dataclass(frozen=True)
class SymbolicCase:
    """A parsed symbolic case.

    Attributes:
        name: the case name.
        data: the case object as read (JSON), ``symbols`` included.
        ranges: symbol name -> its interval.
        symbols: symbol name -> its sympy symbol (assumptions from the range).
        values: JSON path (tuple) -> sympy expression, for every number slot of
            the MDP and of the queries' alpha / delta.
        degree: the largest tracked total degree of an MDP number (at most
            :data:`MAX_DEGREE`; 0 when every number is a constant).
    """

    name: str
    data: Mapping[str, Any]
    ranges: Mapping[str, Range]
    symbols: Mapping[str, Expr]
    values: Mapping[tuple[Any, ...], Expr]
    degree: int = 1

    @property
    def by_symbol(self) -> dict[Expr, Range]:
        """sympy symbol -> its range."""
        return {self.symbols[n]: r for n, r in self.ranges.items()}

    @property
    def query_ids(self) -> list[str]:
        """The ids of the case's queries, in order."""
        return [str(q["id"]) for q in self.data.get("queries", [])]

    def query(self, qid: str) -> Mapping[str, Any]:
        """The query object with id ``qid``; a ValueError listing the ids."""
        for q in self.data.get("queries", []):
            if q.get("id") == qid:
                return dict(q)
        raise ValueError(
            f"query: {qid!r} is not a query of case {self.name!r} (queries: "
            f"{', '.join(self.query_ids) or 'none'})"
        )

    def value(self, path: tuple[Any, ...]) -> Expr:
        """The expression at a JSON path of the case."""
        return self.values[path]

    def subs(self, point: Mapping[str, Fraction]) -> dict[Expr, Expr]:
        """sympy substitution of a point (symbol name -> rational)."""
        return {
            self.symbols[n]: sympy.Rational(q.numerator, q.denominator)
            for n, q in point.items()
        }

    def instantiate(self, point: Mapping[str, Fraction]) -> dict[str, Any]:
        """The ordinary case object with every symbol given its value in
        ``point`` (each inside its range); ``expected`` is dropped (a symbolic
        case has none) and numbers are written as rational strings."""
        missing = [n for n in self.ranges if n not in point]
        if missing:
            raise ValueError(f"--at: no value for {', '.join(missing)}")
        for name, q in point.items():
            if name not in self.ranges:
                raise ValueError(f"--at: undeclared symbol {name!r}")
            if not self.ranges[name].contains(q):
                raise ValueError(
                    f"--at {name}: {q} lies outside its range "
                    f"{self.ranges[name].interval()}"
                )
        subs = self.subs(point)
        out = copy.deepcopy(dict(self.data))
        out.pop("symbols", None)
        out.pop("expected", None)
        for path, expr in self.values.items():
            value = expr.xreplace(subs)
            if not value.is_Rational:
                raise ValueError(f"{_label(path, self.data)}: {value} is not rational")
            _set(out, path, format_rational(Fraction(int(value.p), int(value.q))))
        return out

    def case_at(self, point: Mapping[str, Fraction]) -> Case:
        """The instantiated case, read by the ordinary reader."""
        return case_from_json(self.instantiate(point))

    def exact_mdp(
        self, ns: NumberSystem[Any], lift: Callable[[Expr], Any] | None = None
    ) -> ExactMDP[Any]:
        """The MDP in the number system ``ns`` (CASE_FORMAT defaults: success
        1, prior uniform, initial 0); each number is a sympy expression, or
        ``lift`` of it (the system's own representation) when given."""
        d = self.data
        states, actions = list(d["states"]), list(d["actions"])
        horizon = int(d["horizon"])
        conv: Callable[[Expr], Any] = (lambda x: x) if lift is None else lift
        one, zero = conv(sympy.Integer(1)), conv(sympy.Integer(0))
        v = {path: conv(x) for path, x in self.values.items()}
        index = {s: i for i, s in enumerate(states)}
        successors = [
            [
                [
                    (index[j], v[("transitions", s, a, j)])
                    for j in d["transitions"][s][a]
                ]
                for a in actions
            ]
            for s in states
        ]
        base = [[v.get(("success", s, a), one) for a in actions] for s in states]
        tds = d.get("time_dependent_success") or {}
        rho = []
        for t in range(horizon):
            table = [list(row) for row in base]
            for s, row in (tds.get(str(t)) or {}).items():
                for a in row:
                    table[index[s]][actions.index(a)] = v[
                        ("time_dependent_success", str(t), s, a)
                    ]
            rho.append(table)
        prior_data = d.get("prior") or {}
        n_a = len(actions)
        prior = [
            [v.get(("prior", s, a), zero) for a in actions]
            if s in prior_data
            else [conv(sympy.Rational(1, n_a))] * n_a
            for s in states
        ]
        return ExactMDP(
            ns=ns,
            successors=successors,
            rho=rho,
            rho_T=[v.get(("terminal_success", s), one) for s in states],
            initial=[v.get(("initial", s), zero) for s in states],
            prior=prior,
        )

    def interior_point(self) -> dict[str, Fraction]:
        """A fixed point strictly inside every range (structure checks)."""
        out = {}
        for i, (name, r) in enumerate(self.ranges.items()):
            frac = Fraction(3 + 2 * (i % 5), 17)  # in (0, 1), distinct per symbol
            if r.lower is not None and r.upper is not None:
                out[name] = r.lower + (r.upper - r.lower) * frac
            elif r.lower is not None:
                out[name] = r.lower + 1 + frac
            elif r.upper is not None:
                out[name] = r.upper - 1 - frac
            else:
                out[name] = frac
        return out


def _plain_symbol(name: str) -> bool:
    """Whether sympy reads ``name`` back as the symbol ``name`` (not as a
    constant such as ``E``, ``I``, ``pi``, ``oo``, a function such as ``N`` or
    ``beta``, or a keyword such as ``lambda``), so the ``sympy`` and ``text``
    formats carry it unambiguously."""
    try:
        parsed = sympy.parse_expr(name)
    except (SyntaxError, TypeError, ValueError, AttributeError):
        return False
    return isinstance(parsed, sympy.Symbol) and parsed.name == name


def symbolic_case_from_json(data: object, where: str = "case") -> SymbolicCase:
    """Validate and read a symbolic case object (module docstring).

    Checks, each a one-line ValueError naming the field: the ``symbols``
    declarations and ranges, every expression (undeclared symbols included),
    rows summing to 1 identically, probabilities in [0, 1] on the ranges, and
    the whole structure by the ordinary reader at an interior point.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
    raw = data.get("symbols", {})
    if not isinstance(raw, Mapping):
        raise ValueError(f"symbols: expected an object, got {raw!r}")
    if len(raw) > MAX_SYMBOLS:
        raise ValueError(
            f"symbols: {len(raw)} symbols exceed the limit of {MAX_SYMBOLS}"
        )
    ranges: dict[str, Range] = {}
    symbols: dict[str, Expr] = {}
    for name, decl in raw.items():
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"symbols: {name!r} is not a name (a letter or _, then letters, "
                "digits or _, at most 40 characters)"
            )
        if not _plain_symbol(name):
            raise ValueError(
                f"symbols: {name!r} is a constant or function name in the sympy "
                "output format (E, I, pi, oo, S, N, beta, ...); choose another "
                "name"
            )
        if not isinstance(decl, Mapping) or "range" not in decl:
            raise ValueError(
                f'symbols.{name}: expected {{"range": "(0, 1]"}}, got {decl!r}'
            )
        unknown = set(decl) - {"range", "description"}
        if unknown:
            raise ValueError(f"symbols.{name}: unknown keys {sorted(unknown)}")
        if "description" in decl and not isinstance(decl["description"], str):
            raise ValueError(f"symbols.{name}.description: expected a string")
        ranges[name] = parse_range(decl["range"], f"symbols.{name}.range")
        symbols[name] = sympy.Symbol(name, **ranges[name].assumptions())
    values: dict[tuple[Any, ...], Expr] = {}
    degree = 0
    for path, value in (*_walk_values(data), *_walk_query_values(data)):
        values[path], d = _parse_with_degree(value, symbols, _label(path, data))
        if path[0] != "queries":
            degree = max(degree, d)
    by_symbol = {symbols[n]: r for n, r in ranges.items()}
    for row_path, row in _walk_rows(data):
        total = sympy.Integer(0)
        for key in row:
            total += values[(*row_path, key)]
        if sympy.cancel(total - 1) != 0:
            raise ValueError(
                f"{_label(row_path, data)}: sums to "
                f"{_text(sympy.factor(total))}, not 1 identically"
            )
    for path, expr in values.items():
        if path[0] == "queries" or not expr.free_symbols:
            continue
        low, high = sign_of(expr, by_symbol), sign_of(1 - expr, by_symbol)
        if not (low <= NONNEGATIVE and high <= NONNEGATIVE):
            raise ValueError(
                f"{_label(path, data)}: {_text(expr)} is not in [0, 1] for every "
                "point of the symbol ranges (or the test cannot prove it)"
            )
    case = SymbolicCase(
        name=str(data.get("name", "")),
        data=data,
        ranges=ranges,
        symbols=symbols,
        values=values,
        degree=degree,
    )
    point = case.interior_point()
    try:
        case_from_json(case.instantiate(point))
    except ValueError as exc:
        shown = ", ".join(f"{n}={q}" for n, q in point.items())
        raise ValueError(f"{exc} (symbolic case read at {shown})") from None
    return case


def shipped_cases() -> list[str]:
    """Names of the example symbolic cases shipped in ``theory/cases``."""
    return sorted(p.stem for p in CASES_DIR.glob("*.json"))


def load_symbolic_case(source: str | os.PathLike[str]) -> SymbolicCase:
    """Read a symbolic case from a file, or by the name of a shipped example
    (:func:`shipped_cases`) when no such file exists."""
    path = Path(source)
    if not path.exists() and isinstance(source, str) and source in shipped_cases():
        path = CASES_DIR / f"{source}.json"
    if not path.exists():
        raise ValueError(
            f"case {os.fspath(source)!r}: no such file, nor a shipped symbolic case "
            f"({', '.join(shipped_cases())})"
        )
    data = read_json(path, "case")
    try:
        return symbolic_case_from_json(data)
    except ValueError as exc:
        raise ValueError(f"case {os.fspath(path)!r}: {exc}") from None
