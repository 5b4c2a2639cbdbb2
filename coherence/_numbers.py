"""Exact number parsing and formatting shared by the model, case I/O and results.

CASE_FORMAT.md "Numbers": a rational or decimal string is read exactly ("0.1" is
1/10), a JSON number is read as the exact binary value of the float, and "inf" /
"-inf" stand for infinities where a quantity may be infinite.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Protocol

import gmpy2

__all__ = [
    "RationalLike",
    "format_rational",
    "log_rational",
    "parse_number",
    "parse_rational",
    "to_float",
]

_RATIONAL = re.compile(r"^\s*[+-]?\d+\s*/\s*\d+\s*$")
_DECIMAL = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")


class RationalLike(Protocol):
    """Anything with integer ``numerator`` / ``denominator`` (Fraction, gmpy2.mpq)."""

    @property
    def numerator(self) -> object: ...

    @property
    def denominator(self) -> object: ...


def parse_rational(value: object, field: str) -> Fraction:
    """Read an exact rational from a case value, naming ``field`` on error.

    Accepts rational strings ("3/4"), decimal strings (read exactly), ints and
    finite floats (their exact binary value). Rejects bools, NaN and infinities.
    """
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected a number, got the boolean {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if math.isnan(value):
            raise ValueError(f"{field}: NaN is not a number here")
        if math.isinf(value):
            raise ValueError(f"{field}: {value!r} is not finite")
        return Fraction(value)
    if isinstance(value, Fraction):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _RATIONAL.match(text):
            num, den = (int(gmpy2.mpz(part.strip())) for part in text.split("/"))
            if den == 0:
                raise ValueError(f"{field}: zero denominator in {value!r}")
            return Fraction(num, den)
        if _DECIMAL.match(text):
            return Fraction(text)
        raise ValueError(f"{field}: {value!r} is not a rational or decimal number")
    raise ValueError(
        f"{field}: expected a number or a numeric string, got {type(value).__name__}"
        f" {value!r}"
    )


def parse_number(value: object, field: str) -> Fraction | float:
    """Like :func:`parse_rational` but also accepts "inf" / "-inf" (as floats)."""
    if isinstance(value, str) and value.strip() in ("inf", "+inf", "-inf"):
        return -math.inf if value.strip() == "-inf" else math.inf
    if isinstance(value, float) and math.isinf(value):
        return value
    return parse_rational(value, field)


def format_rational(value: RationalLike) -> str:
    """Lowest-terms rational string: "25/61", "1", "0", "-3/4"."""
    # gmpy2 prints integers of any length (int.__str__ stops at 4300 digits).
    num: str = gmpy2.mpz(value.numerator).digits(10)
    den: str = gmpy2.mpz(value.denominator).digits(10)
    return num if den == "1" else f"{num}/{den}"


def log_rational(value: RationalLike) -> float:
    """Natural log of a non-negative rational, -inf at 0.

    Computed as log(numerator) - log(denominator) so that rationals whose
    denominators have thousands of digits do not underflow to 0 first.
    """
    num = int(value.numerator)  # type: ignore[call-overload]
    den = int(value.denominator)  # type: ignore[call-overload]
    if num < 0:
        raise ValueError(f"log of a negative number {num}/{den}")
    if num == 0:
        return -math.inf
    return math.log(num) - math.log(den)


def to_float(value: RationalLike) -> float:
    """Correctly rounded float of a rational (integer true division)."""
    num = int(value.numerator)  # type: ignore[call-overload]
    den = int(value.denominator)  # type: ignore[call-overload]
    out: float = num / den
    return out
