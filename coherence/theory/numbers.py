"""The sympy number system for the generic recurrences (DESIGN.md).

Running :mod:`coherence.reference.recurrences` over sympy expressions turns the
backward pass into closed forms. The zero test of SPEC §2's conventions cannot
be decided for a symbolic quantity, so a family using this system states its
assumption: every quantity the recurrences test for zero (w, a prior entry, a
sum of Boltzmann weights) is non-zero unless sympy can prove it is 0, e.g. all
success probabilities lie in (0, 1] and priors have full support.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import sympy

__all__ = ["SYMPY", "SympySystem"]


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
