"""The z3 number system for the generic recurrences (DESIGN.md).

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

__all__ = ["Z3", "Z3System"]


class Z3System:
    """z3 real arithmetic terms."""

    name = "z3"

    def const(self, q: Fraction) -> Any:
        return z3.RealVal(f"{q.numerator}/{q.denominator}")

    def where_zero(self, x: Any, if_zero: Any, otherwise: Callable[[], Any]) -> Any:
        return z3.If(x == 0, if_zero, otherwise())

    def power(self, x: Any, exponent: Any) -> Any:
        e = Fraction(exponent)
        if e.denominator != 1 or e < 0:
            raise ValueError(f"exponent: z3 terms need a non-negative integer, got {e}")
        out: Any = z3.RealVal(1)
        for _ in range(int(e)):
            out = out * x
        return out

    def argmax_mask(self, xs: Sequence[Any]) -> list[Any]:
        one, zero = z3.RealVal(1), z3.RealVal(0)
        return [z3.If(z3.And(*[x >= y for y in xs]), one, zero) for x in xs]


Z3 = Z3System()
