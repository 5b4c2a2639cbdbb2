"""The z3 number system for the generic recurrences (docs/queries.md).

Running :mod:`coherence.reference.recurrences` over z3 real terms turns the
backward pass into the terms of an SMT query; the conventions of SPEC §2 become
``If`` terms, so no assumption on zero tests is needed. Powers must have a
non-negative integer exponent (nonlinear real arithmetic has no general power).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import z3

__all__ = ["Z3", "FieldSystem", "Z3System"]


class Z3System:
    """z3 real arithmetic terms."""

    name = "z3"

    def const(self, q: Fraction) -> Any:
        """Embed an exact rational as a z3 real constant."""
        return z3.RealVal(f"{q.numerator}/{q.denominator}")

    def where_zero(self, x: Any, if_zero: Any, otherwise: Callable[[], Any]) -> Any:
        """``If(x == 0, if_zero, otherwise())`` (SPEC §2 conventions as a term)."""
        return z3.If(x == 0, if_zero, otherwise())

    def power(self, x: Any, exponent: Any) -> Any:
        """x ** exponent by repeated products (a non-negative integer exponent)."""
        e = Fraction(exponent)
        if e.denominator != 1 or e < 0:
            raise ValueError(f"exponent: z3 terms need a non-negative integer, got {e}")
        out: Any = z3.RealVal(1)
        for _ in range(int(e)):
            out = out * x
        return out

    def argmax_mask(self, xs: Sequence[Any]) -> list[Any]:
        """1 where x is >= every entry (a z3 term), else 0."""
        one, zero = z3.RealVal(1), z3.RealVal(0)
        return [z3.If(z3.And(*[x >= y for y in xs]), one, zero) for x in xs]


Z3 = Z3System()


class FieldSystem:
    """Exact rational functions over QQ in named symbols (``sympy.polys`` field).

    Elements are kept in canonical reduced form, so ``x == y`` decides identity
    of rational functions exactly and much faster than simplifying ``sympy.Expr``
    trees: running the recurrences here and comparing two results IS a symbolic
    proof of the identity for every value of the symbols where no denominator
    vanishes. The zero test of SPEC §2 is exact: a rational function is zero only
    when it is identically zero, so families over this system state that every
    symbol ranges over values making the tested quantities non-zero (success
    probabilities in (0, 1], priors with full support). Powers need an integer
    exponent; argmax is unavailable (a symbolic value has no order).
    """

    name = "field"

    def __init__(self, names: Sequence[str]) -> None:
        from sympy import QQ
        from sympy.polys.fields import field

        if len(set(names)) != len(names) or not names:
            raise ValueError(f"names: expected distinct symbol names, got {names!r}")
        self._qq = QQ
        made = field(",".join(names), QQ)
        self.field: Any = made[0]
        self.symbols: dict[str, Any] = dict(zip(names, made[1:], strict=True))

    def const(self, q: Fraction) -> Any:
        """Embed an exact rational in the field."""
        return self.field(self._qq(q.numerator, q.denominator))

    def where_zero(self, x: Any, if_zero: Any, otherwise: Callable[[], Any]) -> Any:
        """if_zero when x is identically zero, else otherwise()."""
        return if_zero if x == 0 else otherwise()

    def power(self, x: Any, exponent: Any) -> Any:
        """x ** exponent for an integer exponent (x ** 0 = 1)."""
        e = Fraction(exponent)
        if e.denominator != 1:
            raise ValueError(f"exponent: rational functions need an integer, got {e}")
        if e == 0:
            return self.field.one
        return x ** int(e)

    def argmax_mask(self, xs: Sequence[Any]) -> list[Any]:
        """Unavailable: raises ValueError (rational functions have no order)."""
        raise ValueError("argmax: symbolic rational functions have no order")
