"""Exact number parsing and formatting shared by the model, case I/O and results.

docs/case-format.md "Numbers": a rational or decimal string is read exactly ("0.1" is
1/10), a JSON number is read as the exact binary value of the float, and "inf" /
"-inf" stand for infinities where a quantity may be infinite.

Number strings are bounded before any expansion (docs/case-format.md, "Limits"):
at most :data:`MAX_NUMBER_DIGITS` digits and a decimal exponent of magnitude at
most :data:`MAX_DECIMAL_EXPONENT`, so that a few bytes such as ``"1e-99999999"``
cannot demand unbounded work.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Protocol

import gmpy2

__all__ = [
    "MAX_DECIMAL_EXPONENT",
    "MAX_NUMBER_DIGITS",
    "RationalLike",
    "format_rational",
    "log_rational",
    "parse_number",
    "parse_rational",
    "same_json",
    "to_float",
]

#: Relative tolerance between a committed float answer (a float64 engine's,
#: e.g. the max-ent policy) and its regeneration: numpy releases and BLAS
#: builds differ in the last bits of exp/log, a few ulp (1e-16 relative).
REGENERATED_FLOAT_REL = 1e-12

#: Largest magnitude of the exponent of a decimal string ("1e-4000" is read).
MAX_DECIMAL_EXPONENT = 4000
#: Most digits in one number string (numerator and denominator together).
MAX_NUMBER_DIGITS = 1_000_000
# whitespace, sign, the slash, a decimal point, the exponent and its sign
_MAX_NUMBER_CHARS = MAX_NUMBER_DIGITS + 64

_RATIONAL = re.compile(r"\s*([+-]?[0-9]+)\s*/\s*([0-9]+)\s*", re.ASCII)
_DECIMAL = re.compile(
    r"\s*([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?)([0-9]+))?\s*", re.ASCII
)

# Parsed short strings (cases repeat "1/2", "1" ... many times).
_CACHE: dict[str, Fraction] = {}
_CACHE_SIZE = 4096
_CACHE_KEY_LENGTH = 40


class RationalLike(Protocol):
    """Anything with integer ``numerator`` / ``denominator`` (Fraction, gmpy2.mpq)."""

    @property
    def numerator(self) -> object:
        """The numerator."""

    @property
    def denominator(self) -> object:
        """The denominator."""


def _digits(text: str) -> int:
    """A string of ASCII digits as an int (gmpy2: no 4,300-digit limit)."""
    return int(gmpy2.mpz(text))


def _parse_string(value: str, field: str) -> Fraction:
    if len(value) > _MAX_NUMBER_CHARS:
        raise ValueError(
            f"{field}: number string of {len(value)} characters exceeds the "
            f"limit of {MAX_NUMBER_DIGITS} digits"
        )
    match = _RATIONAL.fullmatch(value)
    if match:
        num_text, den_text = match.groups()
        if len(num_text.lstrip("+-")) + len(den_text) > MAX_NUMBER_DIGITS:
            raise ValueError(
                f"{field}: {value[:20]!r}... has more than {MAX_NUMBER_DIGITS} digits"
            )
        den = _digits(den_text)
        if den == 0:
            raise ValueError(f"{field}: zero denominator in {value!r}")
        return Fraction(_digits(num_text), den)
    match = _DECIMAL.fullmatch(value)
    if match is None or not (match.group(2) or match.group(3)):
        shown = value if len(value) <= 60 else value[:40] + "..."
        raise ValueError(f"{field}: {shown!r} is not a rational or decimal number")
    sign, whole, frac, exp_sign, exp_text = match.groups()
    frac = frac or ""
    if len(whole) + len(frac) > MAX_NUMBER_DIGITS:
        raise ValueError(
            f"{field}: {value[:20]!r}... has more than {MAX_NUMBER_DIGITS} digits"
        )
    exponent = 0
    if exp_text is not None:
        stripped = exp_text.lstrip("0")
        if len(stripped) > len(str(MAX_DECIMAL_EXPONENT)) or (
            stripped and int(stripped) > MAX_DECIMAL_EXPONENT
        ):
            shown = value if len(value) <= 60 else value[:40] + "..."
            raise ValueError(
                f"{field}: decimal exponent of {shown!r} exceeds the limit "
                f"|exponent| <= {MAX_DECIMAL_EXPONENT}"
            )
        exponent = int(stripped or "0") * (-1 if exp_sign == "-" else 1)
    mantissa = _digits(whole + frac or "0")
    if sign == "-":
        mantissa = -mantissa
    shift = exponent - len(frac)
    if shift >= 0:
        return Fraction(mantissa * 10**shift)
    return Fraction(mantissa, 10**-shift)


def parse_rational(value: object, field: str) -> Fraction:
    """Read an exact rational from a case value, naming ``field`` on error.

    Accepts rational strings ("3/4"), decimal strings (read exactly), ints and
    finite floats (their exact binary value). Rejects bools, NaN, infinities and
    number strings beyond the limits of :data:`MAX_NUMBER_DIGITS` and
    :data:`MAX_DECIMAL_EXPONENT` (checked before the number is expanded).
    """
    if isinstance(value, str):
        hit = _CACHE.get(value)
        if hit is not None:
            return hit
        q = _parse_string(value, field)
        if len(value) <= _CACHE_KEY_LENGTH and len(_CACHE) < _CACHE_SIZE:
            _CACHE[value] = q
        return q
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
    """Natural log of a non-negative rational, -inf at 0, accurate to a few ulps
    whatever the size of numerator and denominator.

    The rational is split as m * 2^e with m = num / (den * 2^e) in [2/3, 4/3]
    (integer shifts, no float underflow for denominators of thousands of
    digits); log m comes from ``log1p`` of the correctly rounded m - 1, so a
    value near 1 keeps its relative accuracy (log(num) - log(den) cancels there).
    """
    num = int(value.numerator)  # type: ignore[call-overload]
    den = int(value.denominator)  # type: ignore[call-overload]
    if num < 0:
        raise ValueError(f"log of a negative number {num}/{den}")
    if num == 0:
        return -math.inf
    e = num.bit_length() - den.bit_length()
    if e >= 0:
        top, bottom = num, den << e
    else:
        top, bottom = num << -e, den
    # top / bottom lies in (1/2, 2); move it into [2/3, 4/3] so that log m and
    # e * log 2 cannot cancel
    if 3 * top > 4 * bottom:
        bottom <<= 1
        e += 1
    elif 3 * top < 2 * bottom:
        top <<= 1
        e -= 1
    m1: float = (top - bottom) / bottom  # m - 1, correctly rounded division
    return float(math.log1p(m1) + e * _LN2)


_LN2 = math.log(2.0)


def to_float(value: RationalLike) -> float:
    """Correctly rounded float of a rational (integer true division); a rational
    beyond the float range rounds to +-inf, as IEEE 754 overflow does."""
    num = int(value.numerator)  # type: ignore[call-overload]
    den = int(value.denominator)  # type: ignore[call-overload]
    try:
        out: float = num / den
    except OverflowError:
        return math.inf if (num < 0) == (den < 0) else -math.inf
    return out


def same_json(committed: object, regenerated: object) -> bool:
    """Equal JSON, except that two JSON floats need only agree to
    :data:`REGENERATED_FLOAT_REL`: how a committed file is compared with its
    regeneration on another numpy build. Exact answers are strings, compared
    exactly; keys, lengths and types must match."""
    if isinstance(committed, float) and isinstance(regenerated, float):
        return math.isclose(committed, regenerated, rel_tol=REGENERATED_FLOAT_REL)
    if isinstance(committed, dict) and isinstance(regenerated, dict):
        return committed.keys() == regenerated.keys() and all(
            same_json(committed[k], regenerated[k]) for k in committed
        )
    if isinstance(committed, list) and isinstance(regenerated, list):
        return len(committed) == len(regenerated) and all(
            same_json(a, b) for a, b in zip(committed, regenerated, strict=True)
        )
    return type(committed) is type(regenerated) and committed == regenerated
