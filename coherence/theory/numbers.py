"""Number systems for the generic recurrences over symbols (docs/queries.md).

Running :mod:`coherence.reference.recurrences` over symbolic numbers turns the
backward pass into closed forms or into exact identity checks. Two systems:

* :data:`SYMPY` -- sympy expressions, for the closed forms a table prints;
* :class:`RationalFunctions` -- exact rational functions kept as a rational
  constant times a product of integer powers of polynomial factors, for deciding
  identities quickly (no ``sympy.Expr`` trees, no ``sympy.cancel``).

The zero test of SPEC §2's conventions cannot be decided for a symbolic
quantity, so a family using these systems states its assumption: every quantity
the recurrences test for zero (w, a prior entry, a sum of Boltzmann weights) is
non-zero unless it is identically 0, e.g. all success probabilities lie in
(0, 1] and priors have full support. (:data:`SYMPY` calls a quantity zero when
sympy proves it is 0; :class:`RationalFunctions` when it is the zero rational
function, which it decides exactly.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import gmpy2
import sympy
from sympy.core.mul import _keep_coeff
from sympy.polys.polyutils import _sort_gens
from sympy.polys.rings import ring

__all__ = ["SYMPY", "RationalFunction", "RationalFunctions", "SympySystem"]


@functools.cache
def _flint() -> Any:
    """python-flint (the ``theory`` and ``certified`` extras) where installed
    with the multivariate polynomials this package uses (``fmpz_mpoly_ctx.get``,
    ``from_dict``, ``gcd``, ``factor``, ``to_dict``, ``monoms``, ``coeffs``,
    ``degrees``; the derive field of :mod:`coherence.theory.assumptions` and
    the factored forms here), else None: sympy is used instead."""
    try:
        import flint

        ctx = flint.fmpz_mpoly_ctx.get(("a", "b"), "lex")
        a, b = ctx.gens()
        p = (a + b) * (a - 2)
        ok = p.gcd(a - 2) == a - 2 and p.leading_coefficient() == 1
        ok = ok and len(p.factor()[1]) == 2 and p.degrees() == (2, 1)
        ok = ok and list(p.monoms()) != [] and p.context().nvars() == 2
        ok = ok and not p.is_zero() and (p // p).is_one()
        content, found = ctx.from_dict({(1, 0): 2, (0, 1): 2}).factor()
        ok = ok and int(content) == 2
        ok = ok and [f.to_dict() for f, _ in found] == [{(1, 0): 1, (0, 1): 1}]
        if not ok:
            return None  # pragma: no cover - an incompatible python-flint
    except Exception:  # pragma: no cover - absent, or an older python-flint
        return None
    return flint


class SympySystem:
    """sympy expressions; zero tests use sympy's own ``is_zero``."""

    name = "sympy"

    def const(self, q: Fraction) -> Any:
        """Embed an exact rational as a sympy Rational."""
        return sympy.Rational(q.numerator, q.denominator)

    def where_zero(self, x: Any, if_zero: Any, otherwise: Callable[[], Any]) -> Any:
        """``if_zero`` when sympy proves x = 0, else ``otherwise()`` (SPEC §2)."""
        return if_zero if sympy.sympify(x).is_zero is True else otherwise()

    def power(self, x: Any, exponent: Any) -> Any:
        """x ** exponent, 1 where the exponent is 0 (SPEC §2: rho^0 = 1)."""
        e = sympy.sympify(exponent)
        if e.is_zero is True:
            return sympy.Integer(1)
        return sympy.Pow(x, e)

    def argmax_mask(self, xs: Sequence[Any]) -> list[Any]:
        """1 for each maximiser; a ValueError when sympy cannot order them."""
        values = [sympy.sympify(x) for x in xs]
        mask = []
        for x in values:
            comparisons = [sympy.simplify(x - y) for y in values]
            if any(c.is_negative is None for c in comparisons):
                raise ValueError(
                    "argmax: cannot order symbolic values "
                    f"{', '.join(map(str, values))}"
                )
            mask.append(sympy.Integer(int(all(not c.is_negative for c in comparisons))))
        return mask


SYMPY = SympySystem()


# ------------------------------------------------------- rational functions
Factors = dict[int, int]  # factor id -> exponent (never 0)


class RationalFunction:
    """``c * prod_i f_i ** e_i``: c a non-zero rational (or 0 for the zero
    function, with no factors), f_i distinct primitive integer polynomials with
    positive leading coefficient (interned by the :class:`RationalFunctions`
    that made them), e_i non-zero integers.

    Products and quotients only add exponents. A sum takes the common factors
    out syntactically (the minimum exponent of each factor, denominators
    included), expands the two cofactors into polynomials and adds them; the
    sum is 0 exactly when that polynomial is 0. So ``x == y`` is an exact
    decision of the identity x = y of rational functions.
    """

    __slots__ = ("c", "factors", "field")

    def __init__(self, field: RationalFunctions, c: Any, factors: Factors) -> None:
        self.field = field
        self.c = c
        self.factors = factors

    def _lift(self, other: object) -> RationalFunction | None:
        if isinstance(other, RationalFunction):
            if other.field is not self.field:
                raise ValueError("rational functions of different fields")
            return other
        if isinstance(other, int | Fraction):
            return self.field.const(Fraction(other))
        if type(other) is type(self.c):  # a gmpy2.mpq
            return self.field.const(Fraction(str(other)))
        return None

    def is_zero(self) -> bool:
        """Whether this is the zero function."""
        return bool(self.c == 0)

    def __mul__(self, other: Any) -> RationalFunction:
        o = self._lift(other)
        if o is None:
            return NotImplemented
        c = self.c * o.c
        if c == 0:
            return self.field.zero
        out = dict(self.factors)
        for i, e in o.factors.items():
            v = out.get(i, 0) + e
            if v:
                out[i] = v
            else:
                del out[i]
        return RationalFunction(self.field, c, out)

    __rmul__ = __mul__

    def inverse(self) -> RationalFunction:
        """1 / self; ZeroDivisionError for the zero function."""
        if self.c == 0:
            raise ZeroDivisionError("division by the zero rational function")
        return RationalFunction(
            self.field, 1 / self.c, {i: -e for i, e in self.factors.items()}
        )

    def __truediv__(self, other: Any) -> RationalFunction:
        o = self._lift(other)
        if o is None:
            return NotImplemented
        return self * o.inverse()

    def __rtruediv__(self, other: Any) -> RationalFunction:
        o = self._lift(other)
        if o is None:
            return NotImplemented
        return o * self.inverse()

    def __neg__(self) -> RationalFunction:
        return RationalFunction(self.field, -self.c, self.factors)

    def __add__(self, other: Any) -> RationalFunction:
        o = self._lift(other)
        if o is None:
            return NotImplemented
        return self.field.add(self, o)

    __radd__ = __add__

    def __sub__(self, other: Any) -> RationalFunction:
        o = self._lift(other)
        if o is None:
            return NotImplemented
        return self.field.add(self, -o)

    def __rsub__(self, other: Any) -> RationalFunction:
        o = self._lift(other)
        if o is None:
            return NotImplemented
        return self.field.add(o, -self)

    def __pow__(self, exponent: int) -> RationalFunction:
        if isinstance(exponent, bool) or not isinstance(exponent, int):
            raise TypeError(f"exponent: expected an int, got {exponent!r}")
        if exponent == 0:
            return self.field.one
        if self.c == 0:
            if exponent < 0:
                raise ZeroDivisionError("0 to a negative power")
            return self.field.zero
        return RationalFunction(
            self.field,
            self.c**exponent,
            {i: e * exponent for i, e in self.factors.items()},
        )

    def __eq__(self, other: object) -> bool:
        o = self._lift(other)
        if o is None:
            return NotImplemented
        if self.factors == o.factors:
            return bool(self.c == o.c)
        return self.field.add(self, -o).is_zero()

    __hash__ = None  # type: ignore[assignment]

    def evaluate(self, point: Mapping[str, Fraction]) -> Fraction:
        """The value at a point (every generator given); ZeroDivisionError
        where a denominator factor vanishes."""
        value = Fraction(int(self.c.numerator), int(self.c.denominator))
        for i, e in self.factors.items():
            value *= self.field.evaluate_factor(i, point) ** e
        return value

    def as_expr(self) -> Any:
        """The function as a sympy expression (factored)."""
        out = sympy.Rational(int(self.c.numerator), int(self.c.denominator))
        for i, e in self.factors.items():
            out *= self.field.factor_expr(i) ** e
        return out

    def __repr__(self) -> str:
        return f"RationalFunction({self.as_expr()})"


class RationalFunctions:
    """The field Q(x_1, ..., x_n) of :class:`RationalFunction` s, and the number
    system of the recurrences over it.

    ``names`` are the generators. ``powers`` optionally names one symbolic
    exponent and, for some generators x, a further generator standing for
    x ** exponent (e.g. ``(alpha, {"x": "x_alpha"})``): :meth:`power` then
    raises a monomial in those generators to that exponent. This treats the
    powers x ** alpha as independent indeterminates, so an identity decided
    here holds for every alpha.
    """

    name = "rational functions"

    def __init__(
        self,
        names: Sequence[str],
        powers: tuple[Any, Mapping[str, str]] | None = None,
    ) -> None:
        exponent, powered = powers if powers is not None else (None, {})
        all_names = [*names, *powered.values()]
        if not all_names or len(set(all_names)) != len(all_names):
            raise ValueError(f"names: expected distinct names, got {all_names!r}")
        made = ring([sympy.Symbol(n) for n in all_names], sympy.ZZ)
        self.ring: Any = made[0]
        self.names = tuple(all_names)
        self._n = len(all_names)
        self._polys: list[Any] = []
        self._index: dict[Any, int] = {}
        self._gen_id = {
            name: self._intern(g) for name, g in zip(all_names, made[1:], strict=True)
        }
        self.exponent = None if exponent is None else sympy.sympify(exponent)
        self._power_of = {
            self._gen_id[x]: self._gen_id[xe] for x, xe in powered.items()
        }
        self._power_names = dict(powered)
        self.zero = RationalFunction(self, gmpy2.mpq(0), {})
        self.one = RationalFunction(self, gmpy2.mpq(1), {})

    def _intern(self, poly: Any) -> int:
        i = self._index.get(poly)
        if i is None:
            i = len(self._polys)
            self._polys.append(poly)
            self._index[poly] = i
        return i

    # ------------------------------------------------------------ elements
    def gen(self, name: str) -> RationalFunction:
        """The generator ``name``."""
        return RationalFunction(self, gmpy2.mpq(1), {self._gen_id[name]: 1})

    def from_poly(self, poly: Any, scale: Any) -> RationalFunction:
        """scale * poly (poly in :attr:`ring`, scale rational), factored as
        content * monomial * primitive part."""
        if not poly:
            return self.zero
        content, prim = poly.primitive()
        c = scale * gmpy2.mpq(int(content))
        if prim.LC < 0:
            prim, c = -prim, -c
        monoms = iter(prim.keys())
        low = list(next(monoms))
        for m in monoms:
            for k in range(self._n):
                if m[k] < low[k]:
                    low[k] = m[k]
        out: Factors = {}
        if any(low):
            prim = prim.quo_term((tuple(low), sympy.ZZ(1)))
            for k, e in enumerate(low):
                if e:
                    out[self._gen_id[self.names[k]]] = e
        if not prim.is_one:
            i = self._intern(prim)
            out[i] = out.get(i, 0) + 1
        return RationalFunction(self, c, out)

    def _expand(self, factors: Factors) -> Any:
        out = self.ring.one
        for i, e in factors.items():
            out = out * self._polys[i] ** e
        return out

    def add(self, a: RationalFunction, b: RationalFunction) -> RationalFunction:
        """a + b with the common factors of a and b kept out of the expansion."""
        if a.c == 0:
            return b
        if b.c == 0:
            return a
        if a.factors == b.factors:
            c = a.c + b.c
            return RationalFunction(self, c, dict(a.factors)) if c != 0 else self.zero
        common: Factors = {}
        rest_a: Factors = {}
        rest_b: Factors = {}
        for i in a.factors.keys() | b.factors.keys():
            ea, eb = a.factors.get(i, 0), b.factors.get(i, 0)
            low = min(ea, eb)
            if low:
                common[i] = low
            if ea != low:
                rest_a[i] = ea - low
            if eb != low:
                rest_b[i] = eb - low
        na, da = int(a.c.numerator), int(a.c.denominator)
        nb, db = int(b.c.numerator), int(b.c.denominator)
        total = self._expand(rest_a) * (na * db) + self._expand(rest_b) * (nb * da)
        out = self.from_poly(total, gmpy2.mpq(1, da * db))
        if out.c == 0:
            return self.zero
        return out * RationalFunction(self, gmpy2.mpq(1), common)

    def evaluate_factor(self, i: int, point: Mapping[str, Fraction]) -> Fraction:
        """Factor ``i`` at a point (generator name -> value)."""
        values = [Fraction(point[n]) for n in self.names]
        total = Fraction(0)
        for monom, coeff in self._polys[i].terms():
            term = Fraction(int(coeff))
            for v, k in zip(values, monom, strict=True):
                if k:
                    term *= v**k
            total += term
        return total

    def factor_expr(self, i: int) -> Any:
        """Factor ``i`` as a sympy expression in symbols named by the generators."""
        return self._polys[i].as_expr(*[sympy.Symbol(n) for n in self.names])

    def factored(self, x: RationalFunction, symbols: Mapping[str, Any]) -> Any:
        """``sympy.factor`` of x, in the sympy ``symbols`` named like the
        generators: the same expression, built from the factorisation over Z of
        each of x's factors (python-flint's multivariate factorisation where it is
        installed, sympy's otherwise) instead of from one large expanded
        numerator and denominator."""
        if x.is_zero():
            return sympy.Integer(0)
        coeff = sympy.Rational(int(x.c.numerator), int(x.c.denominator))
        collected: dict[Any, int] = {}
        for i, e in x.factors.items():
            c, parts = self._factor_poly(i, symbols)
            coeff *= c**e
            for expr, k in parts:
                collected[expr] = collected.get(expr, 0) + k * e
        product = sympy.Mul(*[f**k for f, k in collected.items()])
        return _keep_coeff(coeff, product)

    def _factor_poly(
        self, i: int, symbols: Mapping[str, Any]
    ) -> tuple[Any, list[tuple[Any, int]]]:
        """Factor ``i`` over Z as (content, [(irreducible, multiplicity)]), each
        irreducible normalised as sympy's ``factor_list`` does: primitive with a
        positive leading coefficient in sympy's order of its generators."""
        poly = self._polys[i]
        used = [k for k in range(self._n) if any(m[k] for m in poly.itermonoms())]
        gens = _sort_gens([symbols[self.names[k]] for k in used])
        order = [used[[symbols[self.names[k]] for k in used].index(g)] for g in gens]
        terms = {tuple(m[k] for k in order): int(c) for m, c in poly.terms()}
        parts: list[tuple[dict[tuple[int, ...], int], int]]
        flint = _flint()
        if flint is not None:
            ctx = flint.fmpz_mpoly_ctx.get(
                tuple(f"v{j}" for j in range(len(gens))), "lex"
            )
            content, found = ctx.from_dict(terms).factor()
            coeff = sympy.Integer(int(content))
            parts = [
                (
                    {tuple(int(e) for e in m): int(c) for m, c in f.to_dict().items()},
                    int(k),
                )
                for f, k in found
            ]
        else:
            content, found = sympy.Poly.from_dict(terms, *gens).factor_list()
            coeff = sympy.sympify(content)
            parts = [({m: int(c) for m, c in f.terms()}, int(k)) for f, k in found]
        out = []
        for rep, k in parts:
            factor = sympy.Poly.from_dict(rep, *gens, domain=sympy.ZZ)
            if factor.LC() < 0:
                factor = -factor
                coeff *= (-1) ** k
            out.append((factor.as_expr(), k))
        return coeff, out

    def from_sympy(self, expr: Any) -> RationalFunction:
        """A sympy rational expression in symbols named like the generators
        (integer powers; ``x ** exponent`` for a powered generator x)."""
        e = sympy.sympify(expr)
        if e.is_Rational:
            return self.const(Fraction(int(e.p), int(e.q)))
        if e.is_Symbol:
            if e.name not in self._gen_id:
                raise ValueError(f"expression: unknown symbol {e.name!r}")
            return self.gen(e.name)
        if e.is_Add:
            out = self.zero
            for arg in e.args:
                out = out + self.from_sympy(arg)
            return out
        if e.is_Mul:
            out = self.one
            for arg in e.args:
                out = out * self.from_sympy(arg)
            return out
        if e.is_Pow:
            if e.exp.is_Integer:
                return self.from_sympy(e.base) ** int(e.exp)
            if self.exponent is not None and e.exp == self.exponent:
                return self.power(self.from_sympy(e.base), e.exp)
        raise ValueError(f"expression: {e} is not a rational function here")

    # -------------------------------------------------- number system (SPEC)
    def const(self, q: Fraction) -> RationalFunction:
        """Embed an exact rational."""
        if q == 0:
            return self.zero
        return RationalFunction(self, gmpy2.mpq(q.numerator, q.denominator), {})

    def where_zero(
        self,
        x: RationalFunction,
        if_zero: RationalFunction,
        otherwise: Callable[[], RationalFunction],
    ) -> RationalFunction:
        """if_zero when x is identically zero, else otherwise() (exact)."""
        return if_zero if x.is_zero() else otherwise()

    def power(self, x: RationalFunction, exponent: Any) -> RationalFunction:
        """x ** exponent for an integer exponent (x ** 0 = 1), or x ** alpha for
        the declared symbolic exponent where x is 0, 1 or a monomial in powered
        generators (0 ** alpha = 0: the exponent is positive)."""
        e = sympy.sympify(exponent)
        if e.is_Integer:
            return x ** int(e)
        if self.exponent is None or e != self.exponent:
            raise ValueError(f"exponent: {e} is neither an integer nor declared")
        if x.is_zero():
            return self.zero
        if x.c != 1 or any(
            i not in self._power_of or k < 0 for i, k in x.factors.items()
        ):
            raise ValueError(f"power: {x} ** {e} needs a monomial of powered symbols")
        return RationalFunction(
            self, gmpy2.mpq(1), {self._power_of[i]: k for i, k in x.factors.items()}
        )

    def argmax_mask(self, xs: Sequence[RationalFunction]) -> list[RationalFunction]:
        """Unavailable: raises ValueError (rational functions have no order)."""
        raise ValueError("argmax: symbolic rational functions have no order")
