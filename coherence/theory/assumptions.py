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

Two number systems share one record of decisions. :class:`RangeSystem` works on
sympy expressions (needed where a power has a symbolic or fractional exponent,
``c^alpha``). :meth:`RangeSystem.fields` gives a :class:`FieldSystem` on the
same ranges that works in the field of rational functions over Q in the
symbols (sympy's sparse ``FracElement``): every ``+ - * /`` is reduced by a gcd
at once, so values stay canonical and a zero test of a non-zero value reduces
to a sign test of its numerator and denominator polynomials, done by the same
substitution as above (one variable at a time, in homogenised form
``sum_k c_k N^k D^(d-k)`` with ``x = N/D``, D > 0 on the piece).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import gcd
from typing import Any

import sympy
from sympy.core.mul import _keep_coeff
from sympy.polys.domains import QQ, ZZ
from sympy.polys.fields import FracElement, FracField
from sympy.polys.rings import PolyRing

from coherence._numbers import parse_rational
from coherence.theory.numbers import _flint as _probe_flint

__all__ = [
    "NEGATIVE",
    "POSITIVE",
    "ZERO",
    "FieldSystem",
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
    lies in its range; {-1, 0, 1} when the test cannot tell.

    A rational function of the symbols that the one-sign-coefficients test
    leaves open (not one strict sign) is decided again as the field system
    decides it, with Pólya multipliers (:func:`_u_signs`): that proves, for
    example, g^2 - g + 1/3 > 0 for g in (0, 1], which docs/theory.md cites.
    """
    x = sympy.sympify(x)
    result = _Signer(ranges).signs(x)
    if len(result) == 1 and 0 not in result:
        return result
    symbols = _sort_symbols(x.free_symbols)
    rational = (
        bool(symbols)
        and all(s in ranges for s in symbols)
        and not x.atoms(sympy.Function)
        and all(p.exp.is_Integer for p in x.atoms(sympy.Pow))
    )
    if not rational:
        return result
    field = _Field(symbols)
    value = field.from_expr(x)
    if not value:
        return ZERO
    num, den = field.parts(value)
    signer = _FieldSigner({s: ranges[s] for s in symbols}, symbols)
    proved = signer.signs(field.key(value), num, den)
    return proved if len(proved) < len(result) else result


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
        self._log: dict[Expr, None] = {}
        self._fields: FieldSystem | None = None

    def _ranges_text(self, x: Expr) -> str:
        syms = sorted(
            (s for s in x.free_symbols if s in self.ranges), key=sympy.default_sort_key
        )
        return ", ".join(self.ranges[s].text(str(s)) for s in syms) or "no symbols"

    def _record(self, x: Expr, outcome: str) -> None:
        if x.free_symbols:
            if x not in self.decisions:
                self.decisions[x] = Decision(x, outcome)
            self._log[x] = None

    def begin_log(self) -> None:
        """Start a new list of the decisions used (:meth:`logged`)."""
        self._log = {}

    def logged(self) -> list[Decision]:
        """The decisions used since :meth:`begin_log` (or since the system
        was made), first use first; shared across :meth:`fields`."""
        return [self.decisions[x] for x in self._log]

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
        return _argmax_mask(
            values,
            lambda x, y: sympy.cancel(x - y),
            self._signer.signs,
            self._record,
            lambda x: x,
            self._ranges_text,
            (sympy.Integer(1), sympy.Integer(0)),
        )

    def fields(self) -> FieldSystem:
        """The same ranges and decision record over the rational-function
        field of the symbols (one field per system)."""
        if self._fields is None:
            self._fields = FieldSystem(self)
        return self._fields

    def lift(self, x: Expr) -> Expr:
        """A case number (sympy expression) in this system: itself."""
        return sympy.sympify(x)

    def to_expr(self, x: Expr) -> Expr:
        """A value of this system as a sympy expression: itself."""
        return sympy.sympify(x)


# ------------------------------------------------- rational-function field
#: python-flint with the multivariate polynomials used here (fast gcds), or
#: None: sympy's sparse fractions instead (one probe, in theory.numbers)
_flint: Any = _probe_flint()
_FLINT = _flint is not None


def _sort_symbols(symbols: Iterable[Expr]) -> list[Expr]:
    return sorted(symbols, key=sympy.default_sort_key)


class _Ring:
    """Polynomials over Z in x_1..x_n (the symbols) and u_1..u_n (one per
    symbol, ring positions n..2n-1), through python-flint or sympy."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.flint = _FLINT
        names = [f"x{i}" for i in range(n)] + [f"u{i}" for i in range(n)]
        if self.flint:
            self.ctx = _flint.fmpz_mpoly_ctx.get(tuple(names), "lex")
            self.gens = list(self.ctx.gens()) if names else []
            self.one = self.ctx.from_dict({(0,) * (2 * n): 1})
            self.zero = self.ctx.from_dict({})
        else:
            ring = PolyRing(names, ZZ)
            self.ctx = ring
            self.gens = list(ring.gens)
            self.one, self.zero = ring.one, ring.zero

    def from_terms(self, terms: Iterable[tuple[tuple[int, ...], int]]) -> Any:
        d = {m: int(c) for m, c in terms}
        return self.ctx.from_dict(d) if d else self.zero

    def terms(self, p: Any) -> list[tuple[tuple[int, ...], int]]:
        if self.flint:
            return list(zip(p.monoms(), (int(c) for c in p.coeffs()), strict=True))
        return [(m, int(c)) for m, c in p.terms()]

    def degree(self, p: Any, i: int) -> int:
        if self.flint:
            return int(p.degrees()[i]) if not p.is_zero() else -1
        return int(p.degree(i))


@dataclass(frozen=True)
class _Piece:
    """x = N/D on a piece of x's range, N and D integer polynomials in one
    u >= 0 (u > 0 when ``open``), D > 0 there; ``u`` is None for one point."""

    num: Any
    den: Any
    u: int | None
    open: bool


def _integral(*qs: Fraction) -> list[int]:
    """The rationals scaled by their common denominator (> 0)."""
    lcm = 1
    for q in qs:
        lcm = lcm * q.denominator // gcd(lcm, q.denominator)
    return [int(q * lcm) for q in qs]


class _FieldSigner:
    """Sign decisions for rational functions over Q in symbols with ranges.

    A polynomial p is rewritten on a piece x_i = N_i/D_i of each range as
    ``D_i^d p(N_i/D_i)`` (d the degree in x_i), which has the sign of p since
    D_i > 0; the result, a polynomial in the u's, is decided by the
    coefficient test of :func:`_poly_signs`, strengthened in the exact pass
    by Pólya multipliers (:func:`_u_signs`)."""

    def __init__(self, ranges: Mapping[Expr, Range], symbols: Sequence[Expr]) -> None:
        self.ranges = dict(ranges)
        self.symbols = list(symbols)
        self.ring = _Ring(len(self.symbols))
        self._pieces = {
            relaxed: [self._range_pieces(i, relaxed) for i in range(len(symbols))]
            for relaxed in (True, False)
        }
        self._memo: dict[Any, Signs] = {}

    def _range_pieces(self, i: int, relaxed: bool) -> list[_Piece]:
        r = self.ranges[self.symbols[i]]
        R = self.ring
        u, one = R.gens[R.n + i], R.one
        lo, hi = r.lower, r.upper
        if lo is None and hi is None:
            return [_Piece(u, one, i, True), _Piece(-u, one, i, False)]
        if relaxed or hi is None or lo is None:
            if lo is None:  # (-inf, b]: b - u
                assert hi is not None
                k, m = _integral(hi, Fraction(1))
                return [_Piece(k * one - m * u, m * one, i, not r.upper_closed)]
            k, m = _integral(lo, Fraction(1))  # a + u
            return [_Piece(k * one + m * u, m * one, i, not r.lower_closed)]
        a, b, m = _integral(lo, hi, Fraction(1))
        den = m * (one + u)
        rising = a * (one + u) + (b - a) * u  # a + (b - a) u/(1 + u)
        if r.lower_closed and r.upper_closed:  # [a, b) and {b}
            return [_Piece(rising, den, i, False), _Piece(b * one, m * one, None, True)]
        if r.upper_closed:  # (a, b]: u = 0 is b
            return [_Piece(a * (one + u) + (b - a) * one, den, i, False)]
        return [_Piece(rising, den, i, not r.lower_closed)]

    def signs(
        self,
        key: Any,
        num: Iterable[tuple[tuple[int, ...], int]],
        den: Iterable[tuple[tuple[int, ...], int]],
    ) -> Signs:
        """Signs of num/den (integer terms in the symbols) on the ranges;
        ``key`` identifies the fraction for the memo."""
        if key in self._memo:
            return self._memo[key]
        n = len(self.symbols)
        pad = (0,) * n
        top = self.ring.from_terms((m + pad, c) for m, c in num)
        bottom = self.ring.from_terms((m + pad, c) for m, c in den)
        result = self._decide(top, bottom, relaxed=True)
        if 0 in result or len(result) > 1:
            result = self._decide(top, bottom, relaxed=False)
        self._memo[key] = result
        return result

    def _decide(self, num: Any, den: Any, *, relaxed: bool) -> Signs:
        R = self.ring
        used = [i for i in range(R.n) if R.degree(num, i) > 0 or R.degree(den, i) > 0]
        choices = [[(i, p) for p in self._pieces[relaxed][i]] for i in used]
        result: Signs = frozenset()
        for combo in _product(choices):
            top, bottom = num, den
            for i, piece in combo:
                top = _substitute(R, top, i, piece)
                bottom = _substitute(R, bottom, i, piece)
            open_vars = {piece.u for _, piece in combo if piece.open}
            polya = not relaxed
            den_signs = _u_signs(R, bottom, open_vars, polya=polya)
            if 0 in den_signs:
                return UNKNOWN
            result |= _times(_u_signs(R, top, open_vars, polya=polya), den_signs)
            if result == UNKNOWN:
                break
        return result


def _substitute(R: _Ring, p: Any, i: int, piece: _Piece) -> Any:
    """D^d p with x_i = N/D, d = deg_{x_i} p (Horner in homogenised form)."""
    d = R.degree(p, i)
    if d <= 0:
        return p
    parts: dict[int, list[tuple[tuple[int, ...], int]]] = {}
    for monom, coeff in R.terms(p):
        parts.setdefault(monom[i], []).append(((*monom[:i], 0, *monom[i + 1 :]), coeff))
    by_power = {k: R.from_terms(part) for k, part in parts.items()}
    out = by_power[d]
    den_power = R.one
    for k in range(d - 1, -1, -1):
        den_power = den_power * piece.den
        out = out * piece.num
        if k in by_power:
            out = out + by_power[k] * den_power
    return out


#: Most factors (1 + sum u) a mixed-sign polynomial is multiplied by (Pólya).
POLYA_ROUNDS = 64


def _u_signs(R: _Ring, p: Any, open_vars: set[int | None], *, polya: bool) -> Signs:
    """Signs of a polynomial in the u's (every u_i >= 0, those in
    ``open_vars`` > 0) by the one-sign-coefficients test. With ``polya``, a
    polynomial with coefficients of both signs is multiplied by
    (1 + u_1 + ... + u_n), positive there, up to :data:`POLYA_ROUNDS` times
    until its coefficients have one sign (Pólya's theorem: this succeeds for a
    polynomial positive on the closed orthant with a positive leading form)."""
    n = R.n
    terms = R.terms(p)
    if not terms:
        return ZERO
    closed = [n + i for i in range(n) if i not in open_vars]
    factor = None
    for _ in range(POLYA_ROUNDS + 1 if polya else 1):
        if all(c > 0 for _, c in terms):
            sign = 1
            break
        if all(c < 0 for _, c in terms):
            sign = -1
            break
        if factor is None:
            used = sorted({j for m, _ in terms for j in range(n, 2 * n) if m[j]})
            factor = R.one
            for j in used:
                factor = factor + R.gens[j]
        p = p * factor
        terms = R.terms(p)
    else:
        return UNKNOWN
    strict = any(all(m[j] == 0 for j in closed) for m, _ in terms)
    return frozenset({sign}) if strict else frozenset({0, sign})


class _Rat:
    """A rational function num/den over Z (python-flint ``fmpz_mpoly``),
    kept canonical: num and den coprime in Z[x], den with a positive leading
    coefficient, 0 as 0/1. Equal functions are equal objects."""

    __slots__ = ("den", "num")

    def __init__(self, num: Any, den: Any) -> None:
        self.num = num
        self.den = den

    @staticmethod
    def reduced(num: Any, den: Any) -> _Rat:
        if den.is_zero():
            raise ZeroDivisionError("rational function divided by 0")
        if num.is_zero():
            return _Rat(num, den.context().from_dict({(0,) * den.context().nvars(): 1}))
        g = num.gcd(den)
        if not g.is_one():
            num, den = num // g, den // g
        if den.leading_coefficient() < 0:
            num, den = -num, -den
        return _Rat(num, den)

    def _coerce(self, other: object) -> _Rat | None:
        if isinstance(other, _Rat):
            return other
        if isinstance(other, int):
            ctx = self.den.context()
            one = ctx.from_dict({(0,) * ctx.nvars(): 1})
            return _Rat(other * one, one)
        return None

    def __add__(self, other: object) -> _Rat:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        if self.num.is_zero():
            return o
        if o.num.is_zero():
            return self
        # Henrici: with g = gcd(b, d), a/b + c/d = t / ((b/g) d) where
        # t = a (d/g) + c (b/g), and gcd(t, (b/g) d) = gcd(t, g).
        g = self.den.gcd(o.den)
        b, d = self.den // g, o.den // g
        t = self.num * d + o.num * b
        if t.is_zero():
            return _Rat(
                t, self.den.context().from_dict({(0,) * g.context().nvars(): 1})
            )
        h = t.gcd(g)
        den = b * o.den
        if not h.is_one():
            t, den = t // h, den // h
        if den.leading_coefficient() < 0:
            t, den = -t, -den
        return _Rat(t, den)

    __radd__ = __add__

    def __neg__(self) -> _Rat:
        return _Rat(-self.num, self.den)

    def __sub__(self, other: object) -> _Rat:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        return self + (-o)

    def __rsub__(self, other: object) -> _Rat:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        return o + (-self)

    def __mul__(self, other: object) -> _Rat:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        if self.num.is_zero() or o.num.is_zero():
            return _Rat.reduced(self.num * 0, self.den)
        g1, g2 = self.num.gcd(o.den), o.num.gcd(self.den)
        num = (self.num // g1) * (o.num // g2)
        den = (self.den // g2) * (o.den // g1)
        if den.leading_coefficient() < 0:
            num, den = -num, -den
        return _Rat(num, den)

    __rmul__ = __mul__

    def inverse(self) -> _Rat:
        if self.num.is_zero():
            raise ZeroDivisionError("rational function divided by 0")
        num, den = self.den, self.num
        if den.leading_coefficient() < 0:
            num, den = -num, -den
        return _Rat(num, den)

    def __truediv__(self, other: object) -> _Rat:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        return self * o.inverse()

    def __rtruediv__(self, other: object) -> _Rat:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        return o * self.inverse()

    def __pow__(self, k: int) -> _Rat:
        if k < 0:
            return self.inverse() ** -k
        return _Rat(self.num**k, self.den**k)

    def __eq__(self, other: object) -> bool:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        return bool(self.num == o.num and self.den == o.den)

    def __bool__(self) -> bool:
        return not self.num.is_zero()

    def key(self) -> tuple[Any, ...]:
        """A hashable identity of the function."""
        return (
            tuple(self.num.monoms()),
            tuple(int(c) for c in self.num.coeffs()),
            tuple(self.den.monoms()),
            tuple(int(c) for c in self.den.coeffs()),
        )

    __hash__ = None  # type: ignore[assignment]


class _Field:
    """Q(symbols), one symbol or more: python-flint fractions (:class:`_Rat`)
    where python-flint is installed, sympy's sparse ``FracField`` otherwise."""

    def __init__(self, symbols: Sequence[Expr]) -> None:
        self.symbols = list(symbols)
        n = len(self.symbols)
        if n == 0:
            raise ValueError("a rational-function field needs at least one symbol")
        self.sympy_field = FracField(self.symbols, QQ)
        self.flint = _FLINT
        if self.flint:
            self.ctx = _flint.fmpz_mpoly_ctx.get(
                tuple(f"x{i}" for i in range(n)), "lex"
            )
            unit = self.ctx.from_dict({(0,) * n: 1})
            self.one: Any = _Rat(unit, unit)
            self.zero: Any = _Rat(self.ctx.from_dict({}), unit)
        else:
            self.one, self.zero = self.sympy_field.one, self.sympy_field.zero
        self._int_ring = PolyRing(self.symbols, ZZ)

    def const(self, q: Fraction) -> Any:
        if self.flint:
            unit = self.one.den
            return _Rat.reduced(q.numerator * unit, q.denominator * unit)
        return self.sympy_field.ground_new(QQ(q.numerator, q.denominator))

    def from_expr(self, x: Expr) -> Any:
        f = self.sympy_field.from_expr(sympy.sympify(x))
        if not self.flint:
            return f
        num, den = _integer_parts(f)
        return _Rat.reduced(
            self.ctx.from_dict(dict(num)), self.ctx.from_dict(dict(den))
        )

    def parts(self, x: Any) -> tuple[list[tuple[tuple[int, ...], int]], ...]:
        """Integer coefficient terms of numerator and denominator."""
        if self.flint:
            return (
                list(
                    zip(x.num.monoms(), (int(c) for c in x.num.coeffs()), strict=True)
                ),
                list(
                    zip(x.den.monoms(), (int(c) for c in x.den.coeffs()), strict=True)
                ),
            )
        return _integer_parts(x)

    def key(self, x: Any) -> Any:
        return x.key() if self.flint else x

    def _poly_expr(self, terms: Iterable[tuple[tuple[int, ...], int]]) -> Expr:
        return self._int_ring.from_dict(dict(terms)).as_expr()

    def as_expr(self, x: Any) -> Expr:
        num, den = self.parts(x)
        return self._poly_expr(num) / self._poly_expr(den)

    def factored(self, x: Any) -> Expr:
        """The function with numerator and denominator factored over Z, as
        ``sympy.factor`` writes it (primitive factors, the constant in front)."""
        if not self.flint:
            return sympy.factor(self.as_expr(x))
        c_num, f_num = self._factor(x.num)
        c_den, f_den = self._factor(x.den)
        args: list[Expr] = []
        for fs, sign in ((f_num, 1), (f_den, -1)):
            args += [sympy.Pow(f, sign * e) for f, e in fs]
        return _keep_coeff(sympy.Rational(c_num, c_den), sympy.Mul(*args))

    def _factor(self, p: Any) -> tuple[int, list[tuple[Expr, int]]]:
        """Content and irreducible factors over Z of a flint polynomial; a
        polynomial in one variable goes through ``fmpz_poly``."""
        n = len(self.symbols)
        monoms = p.monoms()
        used = [i for i in range(n) if any(m[i] for m in monoms)]
        if not used:
            return int(p.coeffs()[0]) if monoms else 0, []
        if len(used) == 1:
            (i,) = used
            dense = [0] * (int(p.degrees()[i]) + 1)
            for m, c in zip(monoms, p.coeffs(), strict=True):
                dense[m[i]] = int(c)
            content, fs = _flint.fmpz_poly(dense).factor()
            x = self.symbols[i]
            return int(content), [
                (sympy.Add(*(int(c) * x**k for k, c in enumerate(f.coeffs()))), int(e))
                for f, e in fs
            ]
        try:
            content, mfs = p.factor()
        except OverflowError:  # python-flint sorting very large factors
            terms = zip(monoms, (int(c) for c in p.coeffs()), strict=True)
            sc, sfs = sympy.factor_list(self._poly_expr(terms), *self.symbols)
            return int(sc), [(f, int(e)) for f, e in sfs]
        return int(content), [
            (
                self._poly_expr(
                    zip(f.monoms(), (int(c) for c in f.coeffs()), strict=True)
                ),
                int(e),
            )
            for f, e in mfs
        ]


def _integer_parts(f: FracElement) -> tuple[list[tuple[tuple[int, ...], int]], ...]:
    """A sympy field element as integer numerator and denominator terms."""
    num, den = f.numer, f.denom
    lcm = 1
    for c in (*num.coeffs(), *den.coeffs()):
        q = Fraction(int(QQ.numer(c)), int(QQ.denom(c)))
        lcm = lcm * q.denominator // gcd(lcm, q.denominator)
    out = []
    for p in (num, den):
        terms = []
        for m, c in p.terms():
            q = Fraction(int(QQ.numer(c)), int(QQ.denom(c))) * lcm
            terms.append((tuple(m), int(q)))
        out.append(terms)
    return out[0], out[1]


class FieldSystem:
    """The number system of :class:`RangeSystem` over the field Q(symbols).

    Values are rational functions kept canonical (reduced by a gcd after every
    operation: python-flint where installed, sympy's sparse polynomials
    otherwise); ``where_zero`` and ``argmax_mask`` decide on the whole ranges
    as :class:`RangeSystem` does and record their decisions (as sympy
    expressions) in the same ``decisions``. Powers take integer exponents
    only; a case with a symbolic or fractional exponent uses the sympy
    system."""

    name = "sympy-field"

    def __init__(self, parent: RangeSystem) -> None:
        self.parent = parent
        symbols = _sort_symbols(parent.ranges)
        self.field = _Field(symbols)
        self._signer = _FieldSigner(parent.ranges, symbols)
        self._exprs: dict[Any, Expr] = {}

    @property
    def decisions(self) -> dict[Expr, Decision]:
        """The decision record shared with the parent system."""
        return self.parent.decisions

    def lift(self, x: Expr) -> Any:
        """A rational expression in the symbols as a field element."""
        return self.field.from_expr(x)

    def to_expr(self, x: Any) -> Expr:
        """A field element as a sympy expression (numerator/denominator)."""
        return self.field.as_expr(x)

    def simplified(self, x: Any) -> Expr:
        """A field element as a factored sympy expression."""
        return self.field.factored(x)

    def signs(self, x: Any) -> Signs:
        """The signs ``x`` takes on the ranges (a subset of {-1, 0, 1})."""
        if not x:
            return ZERO
        num, den = self.field.parts(x)
        if (
            len(num) == 1
            and len(den) == 1
            and not any(num[0][0])
            and not any(den[0][0])
        ):
            return POSITIVE if num[0][1] * den[0][1] > 0 else NEGATIVE
        return self._signer.signs(self.field.key(x), num, den)

    def _record(self, x: Any, outcome: str) -> None:
        key = self.field.key(x)
        expr = self._exprs.get(key)
        if expr is None:
            expr = self._exprs[key] = self.to_expr(x)
        self.parent._record(expr, outcome)

    def decide_zero(self, x: Any) -> bool | None:
        """True when ``x`` is 0 at every point of the ranges (it is the zero
        function), False when at none, None when neither is proved."""
        if not x:
            return True
        signs = self.signs(x)
        if 0 not in signs:
            self._record(x, "!= 0")
            return False
        return None

    def is_zero(self, x: Any) -> bool:
        """:meth:`decide_zero`, with the one-line ValueError of
        :meth:`RangeSystem.is_zero` where it is not decided."""
        decided = self.decide_zero(x)
        if decided is None:
            raise self.parent._undecided(self.to_expr(x))
        return decided

    def const(self, q: Fraction) -> Any:
        """Embed an exact rational."""
        return self.field.const(q)

    def where_zero(self, x: Any, if_zero: Any, otherwise: Callable[[], Any]) -> Any:
        """``if_zero`` when ``x`` is 0 on the whole range, else ``otherwise()``;
        where the ranges do not decide, accepted when both branches are the
        same rational function (:meth:`RangeSystem.where_zero`)."""
        decided = self.decide_zero(x)
        if decided is True:
            return if_zero
        other = otherwise()
        if decided is False:
            return other
        if other == if_zero:
            self._record(x, "= 0 or not (both branches agree)")
            return other
        raise self.parent._undecided(self.to_expr(x))

    def power(self, x: Any, exponent: Any) -> Any:
        """``x ** exponent`` for an integer exponent, 1 where it is 0."""
        e = sympy.sympify(exponent)
        if not e.is_Integer:
            raise ValueError(
                f"exponent: {_plain(e)} is not an integer (the rational-function "
                "field has integer powers only)"
            )
        if e == 0:
            return self.field.one
        return x ** int(e)

    def argmax_mask(self, xs: Sequence[Any]) -> list[Any]:
        """1 for each maximiser, the order proved on the whole range."""
        return _argmax_mask(
            list(xs),
            lambda x, y: x - y,
            self.signs,
            self._record,
            self.to_expr,
            self.parent._ranges_text,
            (self.field.one, self.field.zero),
        )


def _argmax_mask(
    xs: Sequence[Any],
    sub: Callable[[Any, Any], Any],
    signs: Callable[[Any], Signs],
    record: Callable[[Any, str], None],
    to_expr: Callable[[Any], Expr],
    ranges_text: Callable[[Expr], str],
    one_zero: tuple[Any, Any],
) -> list[Any]:
    """1 for each maximiser of ``xs``, 0 elsewhere: every pairwise difference's
    sign proved on the whole range (``signs``), a ValueError naming the pair
    where it is not."""
    one, zero = one_zero
    mask = []
    for x in xs:
        top = True
        for y in xs:
            d = sub(x, y)
            found = signs(d)
            if found in (ZERO, POSITIVE):
                continue
            if found == NEGATIVE:
                record(d, "< 0")
                top = False
                continue
            raise ValueError(
                f"argmax: cannot order {_plain(to_expr(x))} and "
                f"{_plain(to_expr(y))} for {ranges_text(to_expr(d))} (the "
                "maximiser changes inside the range or the test cannot tell)"
            )
        mask.append(one if top else zero)
    return mask


def _plain(x: Expr) -> str:
    """An expression as one line, powers written ^."""
    return str(sympy.sstr(x)).replace("**", "^")
