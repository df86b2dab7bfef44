"""The one rule that turns a submitted day of bids and the market's results into settlement lines.

Live settlement and backtests both call :func:`settle_submitted_day`, so a backtest's figures are
the figures the desk's submitted bid would have been settled at.

Rules
-----
- **DA energy.** Per DA interval, the curve holds the quantity of its first step whose price is at
  or above the clearing price (:func:`clear_curve`). The cleared energy is that power times the
  interval length, rounded once, half to even, to the Wh (:func:`cleared_energy_mwh`).
- **Imbalance.** The deviation of metered consumption from the cleared position is settled at the
  imbalance price of the DA interval (:mod:`market.settlement`). Imbalance prices on a finer grid
  than the DA intervals are averaged over each DA interval (the schedule is flat within a DA
  interval, so the mean is the exact price of a flat deviation); an imbalance interval that
  contains the DA interval gives its own price; a DA interval without any imbalance price is
  settled at its DA price (:func:`imbalance_prices_on`).
- **Reserve award.** A capacity offer is accepted when its price is at or below the clearing price
  of its product and block, and is paid the clearing price for the capacity offered
  (:func:`award_reserves`). Blocks without a clearing price award nothing.

Prices given as floats are taken as the decimal they were read from (shortest round trip,
:func:`price_decimal`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pandas as pd

from market.calendar import delivery_intervals
from market.errors import SeriesError
from market.settlement import DaySettlement, IntervalInputs, Line, ReserveAward, settle_day
from market.zones import Zone

WH_PER_MWH = Decimal(1_000_000)
_WH = Decimal(1) / WH_PER_MWH


@dataclass(frozen=True, slots=True)
class DACurve:
    """A monotone price-quantity step curve for one DA interval (a buyer's bid).

    Parameters
    ----------
    interval_start
        UTC start of the interval.
    prices_per_mwh
        Strictly increasing step prices on the zone's tick, within floor and cap; the last one is
        the price cap [currency/MWh].
    quantities_mw
        Non-increasing quantities [MW]; negative is a sale.

    Notes
    -----
    At a clearing price ``P`` the curve holds ``quantities_mw[i]`` for the first ``i`` with
    ``prices_per_mwh[i] >= P`` (see :func:`clear_curve`).
    """

    interval_start: datetime
    prices_per_mwh: tuple[Decimal, ...]
    quantities_mw: tuple[float, ...]


def clear_curve(curve: DACurve, price: float | Decimal) -> float:
    """Quantity our curve holds at clearing ``price`` [MW].

    A price above the last step (only possible above the cap) clears nothing.
    """
    i = bisect.bisect_left(curve.prices_per_mwh, Decimal(str(price)))
    if i >= len(curve.prices_per_mwh):
        return 0.0
    return curve.quantities_mw[i]


@dataclass(frozen=True, slots=True)
class ReserveOffer:
    """A submitted capacity offer for one product and block.

    Parameters
    ----------
    product
        Product key of the zone.
    block_start
        UTC start of the block.
    capacity_mw
        Capacity offered [MW].
    price_per_mw
        Offer price per MW for the block [currency/MW].
    """

    product: str
    block_start: datetime
    capacity_mw: Decimal
    price_per_mw: Decimal


@dataclass(frozen=True, slots=True)
class SubmittedDay:
    """What was handed to the market for one delivery day: DA curves and reserve offers."""

    curves: tuple[DACurve, ...]
    reserve_offers: tuple[ReserveOffer, ...]


def price_decimal(value: float | Decimal) -> Decimal:
    """A float price as the decimal it was read from (shortest round-trip form)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(float(value)))


def energy_to_wh(value: Decimal) -> Decimal:
    """An energy rounded once, half to even, to the Wh [MWh] (``-0`` normalised to ``0``)."""
    return value.quantize(_WH, rounding=ROUND_HALF_EVEN) + Decimal(0)


def cleared_energy_mwh(curve: DACurve, price: Decimal, interval: timedelta) -> Decimal:
    """Energy the curve clears at ``price`` over an interval of length ``interval`` [MWh]."""
    hours = Decimal(int(interval.total_seconds())) / 3600
    return energy_to_wh(Decimal(repr(clear_curve(curve, price))) * hours)


def imbalance_prices_on(
    imbalance: pd.Series, resolution: timedelta, intervals: pd.DatetimeIndex, step: timedelta
) -> list[Decimal | None]:
    """Imbalance price per DA interval [currency/MWh]; ``None`` where there is none.

    Parameters
    ----------
    imbalance
        Imbalance prices indexed by their UTC interval starts, sorted [currency/MWh].
    resolution
        Length of an imbalance interval.
    intervals
        UTC starts of the DA intervals.
    step
        Length of a DA interval.
    """
    index = pd.DatetimeIndex(imbalance.index)
    values = imbalance.to_numpy(dtype=np.float64)
    span = pd.Timedelta(step)
    res = pd.Timedelta(resolution)
    out: list[Decimal | None] = []
    for start in intervals:
        lo = int(index.searchsorted(start, side="left"))
        hi = int(index.searchsorted(start + span, side="left"))
        finite = [v for v in values[lo:hi] if math.isfinite(v)]
        if hi > lo:
            if len(finite) != hi - lo:
                out.append(None)
            else:
                parts = [price_decimal(v) for v in finite]
                out.append(sum(parts, Decimal(0)) / len(parts))
        elif lo > 0 and index[lo - 1] + res > start and math.isfinite(values[lo - 1]):
            out.append(price_decimal(values[lo - 1]))
        else:
            out.append(None)
    return out


def award_reserves(
    offers: Iterable[ReserveOffer], clearing: Mapping[str, pd.Series], zone: Zone
) -> list[ReserveAward]:
    """The offers the market accepts, each paid its block's clearing price.

    Parameters
    ----------
    offers
        Submitted capacity offers.
    clearing
        Clearing prices per product key, indexed by UTC block start [currency/MW per block].
    zone
        Zone of the products.
    """
    awards: list[ReserveAward] = []
    for offer in offers:
        prices = clearing.get(offer.product)
        if prices is None or offer.capacity_mw <= 0:
            continue
        value = prices.get(pd.Timestamp(offer.block_start))
        if value is None or not math.isfinite(float(value)):
            continue
        clearing_price = price_decimal(float(value))
        if offer.price_per_mw <= clearing_price:
            awards.append(
                ReserveAward(
                    product=offer.product,
                    direction=zone.product(offer.product).direction,
                    block_start=offer.block_start,
                    awarded_mw=offer.capacity_mw,
                    capacity_price=clearing_price,
                )
            )
    return awards


def settle_submitted_day(
    zone: Zone,
    day: date,
    bids: SubmittedDay,
    *,
    da_prices: pd.Series,
    metered_mwh: Sequence[Decimal],
    imbalance_prices: pd.Series | None = None,
    imbalance_resolution: timedelta | None = None,
    reserve_clearing: Mapping[str, pd.Series] | None = None,
    extra_lines: Sequence[Line] = (),
) -> DaySettlement:
    """Settle one delivery day of submitted bids against the market's results and the meter.

    Parameters
    ----------
    zone, day
        Zone and local delivery day.
    bids
        The submitted curves (one per DA interval of ``day``) and reserve offers.
    da_prices
        Final DA prices indexed by UTC interval start [currency/MWh] (may hold other days).
    metered_mwh
        Metered consumption per DA interval of ``day`` [MWh], exact.
    imbalance_prices, imbalance_resolution
        Final imbalance prices and their interval length; ``None``: deviations at the DA price.
    reserve_clearing
        Reserve clearing prices per product key, indexed by block start [currency/MW per block].
    extra_lines
        Further money lines of the day (PPA settlement), added as given.

    Raises
    ------
    SeriesError
        A DA interval of ``day`` without a curve or a DA price, or a meter of the wrong length.
    """
    intervals = delivery_intervals(day, zone)
    step = zone.resolution_on(day)
    curves = {pd.Timestamp(c.interval_start): c for c in bids.curves}
    for t in intervals:
        if t not in curves:
            raise SeriesError(f"the bid of {day} has no curve for {t.isoformat()}")
    got = da_prices.reindex(intervals)
    if got.isna().any():
        missing = intervals[int(np.flatnonzero(got.isna().to_numpy())[0])]
        raise SeriesError(f"no DA price of {zone.key} at {missing.isoformat()}")
    if len(metered_mwh) != len(intervals):
        raise SeriesError(
            f"{len(metered_mwh)} metered values for the {len(intervals)} intervals of {day}"
        )
    imbalance: list[Decimal | None] = [None] * len(intervals)
    if imbalance_prices is not None:
        imbalance = imbalance_prices_on(
            imbalance_prices, imbalance_resolution or step, intervals, step
        )
    rows = []
    for i, t in enumerate(intervals):
        da = price_decimal(float(got.iloc[i]))
        rows.append(
            IntervalInputs(
                interval_start=t.to_pydatetime(),
                position_mwh=cleared_energy_mwh(curves[t], da, step),
                da_price=da,
                metered_mwh=metered_mwh[i],
                imbalance_price=imbalance[i],
            )
        )
    awards = award_reserves(bids.reserve_offers, reserve_clearing or {}, zone)
    return settle_day(zone, day, rows, awards, extra_lines)
