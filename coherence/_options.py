"""Numeric command-line options read like a case's numbers, with their ranges.

Each function returns an ``argparse`` ``type=`` callable. The text is read by
the case reader's number parser (:func:`coherence._numbers.parse_rational`:
decimals, fractions and exponents up to the stated bounds, so ``1e99999999`` is
refused before it is expanded; ``nan`` and ``inf`` are not numbers), then
checked against the option's range; a failure is an
``argparse.ArgumentTypeError`` whose message names the value and the range
(argparse adds the option's name).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from fractions import Fraction

from coherence._numbers import parse_rational, to_float

__all__ = ["float_option", "int_option", "rational_list_option"]


def _rational(text: str, what: str) -> Fraction:
    try:
        return parse_rational(text.strip(), what)
    except ValueError as exc:
        # argparse names the option already
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{what}: ")) from None


def _shown(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _range(low: float | None, high: float | None, low_open: bool) -> str:
    lo = (
        "" if low is None else (f"> {_shown(low)}" if low_open else f">= {_shown(low)}")
    )
    hi = "" if high is None else f"<= {_shown(high)}"
    return " and ".join(x for x in (lo, hi) if x) or "finite"


def float_option(
    what: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> Callable[[str], float]:
    """A finite float in ``[low, high]`` (``(low, high]`` with ``low_open``)."""

    def parse(text: str) -> float:
        value = to_float(_rational(text, what))
        if (
            not math.isfinite(value)
            or (low is not None and (value < low or (low_open and value == low)))
            or (high is not None and value > high)
        ):
            raise argparse.ArgumentTypeError(
                f"expected a finite number {_range(low, high, low_open)}, got {text!r}"
            )
        return value

    return parse


def int_option(
    what: str, *, low: int | None = None, high: int | None = None
) -> Callable[[str], int]:
    """An integer in ``[low, high]``."""

    def parse(text: str) -> int:
        q = _rational(text, what)
        if (
            q.denominator != 1
            or (low is not None and q < low)
            or (high is not None and q > high)
        ):
            raise argparse.ArgumentTypeError(
                f"expected an integer {_range(low, high, False)}, got {text!r}"
            )
        return int(q)

    return parse


def rational_list_option(
    what: str, *, low: Fraction | None = None, high: float | None = None
) -> Callable[[str], list[Fraction]]:
    """A non-empty comma-separated list of rationals, each in ``[low, high]``
    and finite as a float."""

    def parse(text: str) -> list[Fraction]:
        parts = [p for p in text.split(",") if p.strip()]
        if not parts:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated numbers, got {text!r}"
            )
        values = [_rational(p, what) for p in parts]
        for part, q in zip(parts, values, strict=True):
            if (
                (low is not None and q < low)
                or (high is not None and q > high)
                or not math.isfinite(to_float(q))
            ):
                bounds = _range(None if low is None else float(low), high, False)
                raise argparse.ArgumentTypeError(
                    f"expected numbers {bounds}, got {part.strip()!r} in {text!r}"
                )
        return values

    return parse
