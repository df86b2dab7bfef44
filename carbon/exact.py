"""Exact arithmetic helpers: rationals inside, Decimals rounded once at the boundary.

Every figure is computed as an exact rational number (:class:`fractions.Fraction`) from the
Decimal inputs, so sums, products, minima and the divisions of the scores and of mean factors lose
nothing. Only reported figures are rounded, once, to :data:`PLACES` decimals, half to even.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction

from carbon.errors import CarbonInputError

#: Decimals of every reported figure: tCO2e (1 g), MWh (1 Wh) and scores.
PLACES = 6


def quantize(value: Fraction, places: int = PLACES) -> Decimal:
    """Round an exact rational to ``places`` decimals, half to even, as a Decimal."""
    scaled = value * 10**places
    q, r = divmod(scaled.numerator, scaled.denominator)  # floor division, 0 <= r < denominator
    twice = 2 * r
    if twice > scaled.denominator or (twice == scaled.denominator and q % 2 == 1):
        q += 1
    return Decimal(q).scaleb(-places)


def to_fraction(value: Decimal, what: str) -> Fraction:
    """Exact rational of a finite Decimal; NaN and infinities are refused."""
    if not value.is_finite():
        raise CarbonInputError(f"{what} must be a finite number, not {value}")
    return Fraction(value)


def location_based_tco2e(energy_and_factor: Iterable[tuple[Decimal, Decimal]]) -> Fraction:
    """Location-based emissions, exact: the sum of energy [MWh] times grid factor [tCO2e/MWh].

    The one statement of the location-based rule (docs/carbon.md): the carbon report applies it
    to each site-hour, the portfolio backtest to each metered interval with its hour's factor.
    Round the result once, with :func:`quantize`, where it is reported.
    """
    total = Fraction(0)
    for energy, factor in energy_and_factor:
        total += to_fraction(energy, "energy") * to_fraction(factor, "grid emission factor")
    return total
