"""log of an exact rational: accurate to a few ulps for any size of numerator
and denominator (the exact engine's float quantities are logs of rationals)."""

from __future__ import annotations

import math
from decimal import Context, Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from coherence._numbers import log_rational

CTX = Context(prec=80)


def reference(x: Fraction) -> float:
    """ln x at 80 significant digits (stdlib decimal), then rounded."""
    return float(CTX.ln(Decimal(x.numerator)) - CTX.ln(Decimal(x.denominator)))


@given(
    st.integers(1, 10**60),
    st.integers(1, 10**60),
    st.integers(-(10**6), 10**6),
)
def test_log_rational_is_accurate_near_one_and_far_from_it(
    den: int, num: int, shift: int
) -> None:
    for x in (
        Fraction(num, den),
        Fraction(den + shift, den) if den + shift > 0 else None,
    ):
        if x is None:
            continue
        got, want = log_rational(x), reference(x)
        assert abs(got - want) <= 4 * math.ulp(want) + 1e-300, (x, got, want)


def test_log_rational_of_huge_denominators_and_zero() -> None:
    big = 10**5000
    assert (
        log_rational(Fraction(big + 1, big)) == 1e-5000
        or log_rational(Fraction(big + 1, big)) == 0.0
    )
    x = Fraction(3, 10**4000)
    assert abs(log_rational(x) - (math.log(3) - 4000 * math.log(10))) < 1e-9
    assert log_rational(Fraction(0)) == -math.inf
