"""Symbol ranges and the zero decisions they allow (SPEC §2 over sympy).

A symbolic case declares each symbol with an interval (``"(0, 1]"``,
``"[0, inf)"``). The recurrences of :mod:`coherence.reference.recurrences` test
quantities for zero (w in conditioning, a prior entry in folding, a sum of
Boltzmann weights, an exponent in rho^alpha) and compare them (argmax). Over
symbols such a test has one answer for the whole range, or none:
:class:`RangeSystem` decides it for every point of the ranges at once, records
each decision, and refuses (one-line :class:`ValueError`) a test whose answer
changes inside the ranges or that it cannot prove.

The decision is a sufficient test, never a guess. Each symbol is written as a
rational function of a fresh variable u >= 0 (or u > 0) that maps onto its
interval exactly (``(a, b]``: a + (b - a)/(1 + u), u >= 0; ``[a, inf)``: a + u;
a closed ``[a, b]`` is ``[a, b)`` plus the point b); powers with a symbolic
exponent become fresh variables whose sign is that of their base. The numerator
and denominator are then polynomials in variables that are >= 0: a polynomial
whose coefficients all have one sign, with a term in the strictly positive
variables only, never vanishes; the zero polynomial always does. Anything else
is "cannot decide". A first, cheaper pass uses only the lower bounds (a + u) and
is accepted when it already proves a strict sign.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy

from coherence._numbers import parse_rational

__all__ = [
    "NEGATIVE",
    "POSITIVE",
    "ZERO",
    "Range",
    "RangeSystem",
    "parse_range",
    "sign_of",
]

Expr = Any
Signs = frozenset[int]

POSITIVE: Signs = frozenset({1})
NEGATIVE: Signs = frozenset({-1})
ZERO: Signs = frozenset({0})
NONNEGATIVE: Signs = frozenset({0, 1})
NONPOSITIVE: Signs = frozenset({-1, 0})
UNKNOWN: Signs = frozenset({-1, 0, 1})

_RANGE = re.compile(r"\s*([(\[])\s*([^,\s]+)\s*,\s*([^,\s]+)\s*([)\]])\s*")


@dataclass(frozen=True)
class Range:
    """An interval of the real line; ``None`` bounds are -inf / +inf (open)."""

    lower: Fraction | None
    upper: Fraction | None
    lower_closed: bool
    upper_closed: bool

    def contains(self, x: Fraction) -> bool:
        """Whether the rational ``x`` lies in the interval."""
        if self.lower is not None and (
            x < self.lower or (x == self.lower and not self.lower_closed)
        ):
            return False
        return not (
            self.upper is not None
            and (x > self.upper or (x == self.upper and not self.upper_closed))
        )

    def text(self, name: str = "x") -> str:
        """The interval as an inequality: ``0 < g <= 1``, ``alpha >= 0``."""
        low = (
            ""
            if self.lower is None
            else f"{self.lower} {'<=' if self.lower_closed else '<'} "
        )
        if self.upper is None:
            if self.lower is None:
                return f"{name} real"
            op = ">=" if self.lower_closed else ">"
            return f"{name} {op} {self.lower}"
        high = f" {'<=' if self.upper_closed else '<'} {self.upper}"
        return f"{low}{name}{high}"

    def interval(self) -> str:
        """The interval in bracket notation: ``(0, 1]``."""
        lo = "-inf" if self.lower is None else str(self.lower)
        hi = "inf" if self.upper is None else str(self.upper)
        left = "[" if self.lower_closed else "("
        right = "]" if self.upper_closed else ")"
        return f"{left}{lo}, {hi}{right}"

    def assumptions(self) -> dict[str, bool]:
        """sympy assumptions implied by the interval (real, positive, ...)."""
        out = {"real": True}
        if self.lower is not None:
            if self.lower > 0 or (self.lower == 0 and not self.lower_closed):
                out["positive"] = True
            elif self.lower == 0:
                out["nonnegative"] = True
        if self.upper is not None:
            if self.upper < 0 or (self.upper == 0 and not self.upper_closed):
                out["negative"] = True
            elif self.upper == 0:
                out["nonpositive"] = True
        return out


def _bound(text: str, where: str) -> Fraction | None:
    if text in ("inf", "+inf", "-inf"):
        return None
    try:
        return parse_rational(text, where)
    except ValueError:
        raise ValueError(
            f"{where}: bound {text!r} is not a rational number or inf"
        ) from None


def parse_range(text: object, where: str) -> Range:
    """Read an interval such as ``"(0, 1]"``, ``"[0, inf)"`` or ``"[1/4, 3/4]"``;
    a one-line ValueError naming ``where`` for anything that is not an interval
    with lower < upper (infinite ends open)."""
    hint = "an interval such as '(0, 1]' or '[0, inf)'"
    if not isinstance(text, str) or len(text) > 200:
        raise ValueError(f"{where}: expected {hint}, got {text!r}")
    match = _RANGE.fullmatch(text)
    if match is None:
        raise ValueError(f"{where}: {text!r} is not {hint}")
    left, lo_text, hi_text, right = match.groups()
    lo, hi = _bound(lo_text, where), _bound(hi_text, where)
    if lo is None and lo_text != "-inf":
        raise ValueError(f"{where}: {text!r}: the lower bound cannot be +inf")
    if hi is None and hi_text == "-inf":
        raise ValueError(f"{where}: {text!r}: the upper bound cannot be -inf")
    if (lo is None and left == "[") or (hi is None and right == "]"):
        raise ValueError(f"{where}: {text!r}: an infinite end must be open")
    if lo is not None and hi is not None and not lo < hi:
        raise ValueError(f"{where}: {text!r}: the lower bound must be below the upper")
    return Range(lo, hi, left == "[", right == "]")


# ----------------------------------------------------------------- sign test
def _rat(q: Fraction) -> Expr:
    return sympy.Rational(q.numerator, q.denominator)


@dataclass(frozen=True)
class _Var:
    """A substitution piece: symbol -> expression in u, u strictly positive or
    merely non-negative."""

    value: Expr
    u: Expr | None
    open: bool


def _pieces(r: Range, u: Expr, relaxed: bool) -> list[_Var]:
    """Substitutions covering the interval (a superset of it when relaxed)."""
    lo, hi = r.lower, r.upper
    if lo is None and hi is None:
        return [_Var(u, u, True), _Var(-u, u, False)]
    if relaxed or hi is None:
        if lo is None:
            assert hi is not None
            return [_Var(_rat(hi) - u, u, not r.upper_closed)]
        return [_Var(_rat(lo) + u, u, not r.lower_closed)]
    if lo is None:
        return [_Var(_rat(hi) - u, u, not r.upper_closed)]
    a, b = _rat(lo), _rat(hi)
    if r.lower_closed and r.upper_closed:  # [a, b) and {b}
        return [_Var(a + (b - a) * u / (1 + u), u, False), _Var(b, None, True)]
    if r.upper_closed:  # (a, b]: u = 0 is b, u -> inf tends to a
        return [_Var(a + (b - a) / (1 + u), u, False)]
    if r.lower_closed:  # [a, b)
        return [_Var(a + (b - a) * u / (1 + u), u, False)]
    return [_Var(a + (b - a) * u / (1 + u), u, True)]


def _poly_signs(p: Expr, gens: Sequence[Expr], open_vars: set[Expr]) -> Signs:
    """Signs a polynomial takes where every generator is >= 0 (those in
    ``open_vars`` > 0), by the one-sign-coefficients test."""
    if p == 0:
        return ZERO
    if not gens:
        value = sympy.sympify(p)
        return POSITIVE if value > 0 else NEGATIVE
    poly = sympy.Poly(p, *gens)
    coeffs = poly.coeffs()
    if all(c > 0 for c in coeffs):
        sign = 1
    elif all(c < 0 for c in coeffs):
        sign = -1
    else:
        return UNKNOWN
    closed = [i for i, g in enumerate(gens) if g not in open_vars]
    strict = any(all(m[i] == 0 for i in closed) for m in poly.monoms())
    return frozenset({sign}) if strict else frozenset({0, sign})


def _times(a: Signs, b: Signs) -> Signs:
    return frozenset(x * y for x in a for y in b)


class _Signer:
    """Sign decisions for expressions in symbols with known ranges."""

    def __init__(self, ranges: Mapping[Expr, Range]) -> None:
        self.ranges = dict(ranges)
        self._memo: dict[Expr, Signs] = {}

    def signs(self, x: Expr) -> Signs:
        x = sympy.sympify(x)
        if x.is_number:
            if x.is_zero:
                return ZERO
            if x.is_extended_real is not True or not x.is_finite:
                return UNKNOWN
            return POSITIVE if x > 0 else NEGATIVE
        if x in self._memo:
            return self._memo[x]
        result = self._decide(x, relaxed=True)
        if 0 in result or len(result) > 1:
            result = self._decide(x, relaxed=False)
        self._memo[x] = result
        return result

    def _atoms(self, x: Expr) -> tuple[Expr, dict[Expr, Expr], set[Expr]] | None:
        """Replace powers with a non-integer exponent by fresh non-negative
        variables; None when such a power's base may be negative or another
        function occurs."""
        powers = [p for p in x.atoms(sympy.Pow) if not p.exp.is_Integer]
        if x.atoms(sympy.Function):
            return None
        mapping: dict[Expr, Expr] = {}
        open_vars: set[Expr] = set()
        for i, p in enumerate(sorted(powers, key=sympy.default_sort_key)):
            base = self.signs(p.base)
            if not base <= NONNEGATIVE:
                return None
            v = sympy.Dummy(f"v{i}", nonnegative=True)
            mapping[p] = v
            if base == POSITIVE:
                open_vars.add(v)
        return x.xreplace(mapping), mapping, open_vars

    def _decide(self, x: Expr, *, relaxed: bool) -> Signs:
        replaced = self._atoms(x)
        if replaced is None:
            return UNKNOWN
        y, mapping, open_atoms = replaced
        symbols = sorted(
            (s for s in y.free_symbols if s in self.ranges), key=sympy.default_sort_key
        )
        if any(s not in self.ranges for s in y.free_symbols - set(mapping.values())):
            return UNKNOWN
        choices: list[list[tuple[Expr, _Var]]] = []
        for s in symbols:
            u = sympy.Dummy(f"u_{s}", nonnegative=True)
            choices.append(
                [(s, piece) for piece in _pieces(self.ranges[s], u, relaxed)]
            )
        result: Signs = frozenset()
        for combo in _product(choices):
            subs = {s: piece.value for s, piece in combo}
            gens = [piece.u for _, piece in combo if piece.u is not None]
            open_vars = {piece.u for _, piece in combo if piece.open} | open_atoms
            gens += list(mapping.values())
            z = sympy.together(y.xreplace(subs))
            num, den = sympy.fraction(z)
            num, den = sympy.expand(num), sympy.expand(den)
            used = [g for g in gens if g in num.free_symbols | den.free_symbols]
            try:
                num_signs = _poly_signs(num, used, open_vars)
                den_signs = _poly_signs(den, used, open_vars)
            except sympy.PolynomialError:
                return UNKNOWN
            if 0 in den_signs:
                return UNKNOWN
            result |= _times(num_signs, den_signs)
            if result == UNKNOWN:
                break
        return result


def _product(choices: list[list[Any]]) -> Iterable[list[Any]]:
    if not choices:
        yield []
        return
    head, rest = choices[0], choices[1:]
    for item in head:
        for tail in _product(rest):
            yield [item, *tail]


def sign_of(x: Expr, ranges: Mapping[Expr, Range]) -> Signs:
    """The signs (a subset of {-1, 0, 1}) that ``x`` may take when each symbol
    lies in its range; {-1, 0, 1} when the test cannot tell."""
    return _Signer(ranges).signs(x)


@dataclass(frozen=True)
class Decision:
    """One zero test or comparison decided for the whole range."""

    expression: Expr
    outcome: str  # "!= 0", "= 0", "> 0", "< 0"


class RangeSystem:
    """sympy expressions whose zero tests are decided over symbol ranges.

    Implements the number-system protocol of
    :mod:`coherence.reference.recurrences` (``const``, ``where_zero``,
    ``power``, ``argmax_mask``). Every branch taken by SPEC §2's conventions
    is proved for every point of the ranges; a test that cannot be decided is a
    one-line ValueError naming the expression and the ranges. Results of a
    non-zero branch are cancelled, so policies stay compact rational functions.
    """

    name = "sympy-ranges"

    def __init__(self, ranges: Mapping[Expr, Range]) -> None:
        """``ranges``: sympy symbol -> its :class:`Range`."""
        self.ranges = dict(ranges)
        self._signer = _Signer(self.ranges)
        self.decisions: dict[Expr, Decision] = {}

    def _ranges_text(self, x: Expr) -> str:
        syms = sorted(
            (s for s in x.free_symbols if s in self.ranges), key=sympy.default_sort_key
        )
        return ", ".join(self.ranges[s].text(str(s)) for s in syms) or "no symbols"

    def _record(self, x: Expr, outcome: str) -> None:
        if x.free_symbols and x not in self.decisions:
            self.decisions[x] = Decision(x, outcome)

    def decide_zero(self, x: Expr) -> bool | None:
        """True when ``x`` is 0 at every point of the ranges, False when at
        none, None when neither is proved."""
        x = sympy.sympify(x)
        signs = self._signer.signs(x)
        if signs == ZERO:
            self._record(x, "= 0")
            return True
        if 0 not in signs:
            self._record(x, "!= 0")
            return False
        return None

    def _undecided(self, x: Expr) -> ValueError:
        return ValueError(
            f"zero test: cannot decide whether {_plain(x)} is 0 for "
            f"{self._ranges_text(x)} (SPEC §2 needs one answer for the whole range; "
            "narrow the symbol ranges)"
        )

    def is_zero(self, x: Expr) -> bool:
        """:meth:`decide_zero`, with a one-line ValueError naming ``x`` and the
        ranges where it is not decided."""
        decided = self.decide_zero(x)
        if decided is None:
            raise self._undecided(sympy.sympify(x))
        return decided

    def const(self, q: Fraction) -> Expr:
        """Embed an exact rational."""
        return _rat(q)

    def where_zero(self, x: Expr, if_zero: Expr, otherwise: Callable[[], Expr]) -> Expr:
        """``if_zero`` when ``x`` is 0 on the whole range, else ``otherwise()``
        cancelled (SPEC §2 conventions). Where the ranges do not decide the
        test, the two branches are accepted when they are the same rational
        function (then either is the value at every point)."""
        decided = self.decide_zero(x)
        if decided is True:
            return if_zero
        if decided is False:
            return sympy.cancel(otherwise())
        other = sympy.cancel(otherwise())
        if sympy.cancel(other - if_zero) == 0:
            self._record(sympy.sympify(x), "= 0 or not (both branches agree)")
            return other
        raise self._undecided(sympy.sympify(x))

    def power(self, x: Expr, exponent: Any) -> Expr:
        """``x ** exponent``, 1 where the exponent is 0 (SPEC §2: rho^0 = 1)."""
        e = sympy.sympify(exponent)
        if self.is_zero(e):
            return sympy.Integer(1)
        return sympy.Pow(x, e)

    def argmax_mask(self, xs: Sequence[Expr]) -> list[Expr]:
        """1 for each maximiser, the order proved on the whole range."""
        values = [sympy.sympify(x) for x in xs]
        mask = []
        for x in values:
            top = True
            for y in values:
                d = sympy.cancel(x - y)
                signs = self._signer.signs(d)
                if signs in (ZERO, POSITIVE):
                    continue
                if signs == NEGATIVE:
                    self._record(d, "< 0")
                    top = False
                    continue
                raise ValueError(
                    f"argmax: cannot order {_plain(x)} and {_plain(y)} for "
                    f"{self._ranges_text(d)} (the maximiser changes inside the range "
                    "or the test cannot tell)"
                )
            mask.append(sympy.Integer(int(top)))
        return mask


def _plain(x: Expr) -> str:
    """An expression as one line, powers written ^."""
    return str(sympy.sstr(x)).replace("**", "^")
