"""Units: the one place where power, duration and energy meet.

Names carry units (``power_mw``, ``energy_mwh``, ``energy_wh``). Floats are for physics and the
optimiser; certificate energy is integer Wh and money is :class:`decimal.Decimal`.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import overload

import numpy as np
import numpy.typing as npt

MAX_SITE_MW = 10_000.0
"""Largest power of one site [MW] (ten times today's largest data-centre campuses): a site file
with more is refused as implausible, its energies [MWh] are bounded by one day at this power,
and a meter interval (at most an hour) by one hour of it."""

WH_PER_MWH = 1_000_000
SECONDS_PER_HOUR = 3600


def hours(duration: timedelta) -> float:
    """Length of ``duration`` [h] as a float."""
    return duration.total_seconds() / SECONDS_PER_HOUR


@overload
def energy_mwh(power_mw: float, duration: timedelta) -> float: ...
@overload
def energy_mwh(
    power_mw: npt.NDArray[np.float64], duration: timedelta
) -> npt.NDArray[np.float64]: ...
def energy_mwh(
    power_mw: float | npt.NDArray[np.float64], duration: timedelta
) -> float | npt.NDArray[np.float64]:
    """Energy [MWh] of a constant power [MW] held for ``duration``."""
    return power_mw * hours(duration)


def mwh_to_wh(energy: Decimal | int | str) -> int:
    """Exact conversion of energy [MWh] to integer [Wh]; refuses fractions of a Wh."""
    value = Decimal(energy) * WH_PER_MWH
    if value != value.to_integral_value():
        raise ValueError(f"{energy} MWh is not a whole number of Wh")
    return int(value)


def wh_to_mwh(energy_wh: int) -> Decimal:
    """Exact conversion of integer energy [Wh] to [MWh]."""
    return Decimal(energy_wh) / WH_PER_MWH


def float_mwh_to_wh(energy: float) -> int:
    """Round an optimiser float energy [MWh] to whole [Wh], half to even, once."""
    return int(Decimal(repr(energy)).scaleb(6).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def to_money(value: float | str | Decimal, minor_unit: Decimal = Decimal("0.01")) -> Decimal:
    """Round a value to a currency's minor unit, half to even (banker's rounding)."""
    if isinstance(value, float):
        value = Decimal(repr(value))
    return Decimal(value).quantize(minor_unit, rounding=ROUND_HALF_EVEN)
