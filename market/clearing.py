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
- **Activation** (only with activation data, :class:`Activations`; without it awards are paid as
  above and nothing else). An award of a product paid capacity + mileage (Chinese frequency
  regulation) is paid its capacity plus the mileage moved in its block times the block's mileage
  clearing price (series ``<KEY>_MILEAGE``; none: 0) times the site's performance factor K. An
  award of a product paid per MWh called (peak shaving, valley filling) is paid nothing for its
  capacity; per DA interval of its block the called power, capped at the award, times the
  interval length (rounded to the Wh) is the called energy, paid at the block's clearing price
  [currency/MWh]. Called energy is an ordered change of consumption, not an imbalance: it is
  removed from the deviation (:mod:`market.settlement`). Calls outside an award pay nothing.
  Activation values of other products are ignored (their activation energy has no price here).

Prices given as floats are taken as the decimal they were read from (shortest round trip,
:func:`price_decimal`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pandas as pd

from market.calendar import block_index, delivery_intervals
from market.errors import MarketError, SeriesError
from market.products import Direction, Payment
from market.settlement import DaySettlement, IntervalInputs, Line, ReserveAward, settle_day
from market.zones import Zone

WH_PER_MWH = Decimal(1_000_000)
MILEAGE_SUFFIX = "_MILEAGE"
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


def placed_energy_mwh(it_mw: Iterable[float], interval_hours: float) -> Decimal:
    """IT energy a migratable job placed over intervals [MWh]: each interval's energy
    (``it_mw * interval_hours``) rounded once, half to even, to the Wh, then summed exactly."""
    return sum(
        (energy_to_wh(Decimal(repr(float(x) * interval_hours))) for x in it_mw), Decimal(0)
    ) + Decimal(0)


def placement_cost(placed: Iterable[tuple[Decimal, Decimal]], minor_unit: Decimal) -> Decimal:
    """The placement cost line of a site: the exact sum of ``cost_per_mwh * placed MWh`` over
    the migratable jobs placed there, rounded once, half to even, to the minor unit."""
    total = sum((price * mwh for price, mwh in placed), Decimal(0))
    return total.quantize(minor_unit, rounding=ROUND_HALF_EVEN) + Decimal(0)


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
    """The offers the market accepts (ask at most the block's published price), each paid that
    price, or its own ask for a pay-as-bid product (:attr:`~market.products.Product.pay_as_bid`).

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
            product = zone.product(offer.product)
            awards.append(
                ReserveAward(
                    product=offer.product,
                    direction=product.direction,
                    block_start=offer.block_start,
                    awarded_mw=offer.capacity_mw,
                    capacity_price=offer.price_per_mw if product.pay_as_bid else clearing_price,
                )
            )
    return awards


@dataclass(frozen=True, slots=True)
class Activations:
    """What the system operator called from the site, per product and DA interval.

    Parameters
    ----------
    called_mw
        Per product key, the power called in each interval, indexed by UTC interval start
        [MW]; an interval without a value was not called.
    mileage_mw
        Per product key, the regulation mileage the site moved in each interval [MW].
    """

    called_mw: Mapping[str, pd.Series] = field(default_factory=dict)
    mileage_mw: Mapping[str, pd.Series] = field(default_factory=dict)


def _on(series: pd.Series | None, intervals: pd.DatetimeIndex) -> list[Decimal]:
    if series is None:
        return [Decimal(0)] * len(intervals)
    got = series.reindex(intervals).to_numpy(dtype=np.float64)
    return [price_decimal(float(v)) if math.isfinite(v) else Decimal(0) for v in got]


def _block_of_interval(
    intervals: pd.DatetimeIndex, zone: Zone, block: timedelta
) -> list[pd.Timestamp]:
    idx = block_index(intervals, zone, block)
    starts = intervals[np.r_[True, idx[1:] != idx[:-1]]]
    return [starts[int(b)] for b in idx]


def activate_awards(
    zone: Zone,
    day: date,
    awards: Sequence[ReserveAward],
    reserve_clearing: Mapping[str, pd.Series],
    activations: Activations,
    performance_factor: Decimal = Decimal(1),
) -> tuple[list[ReserveAward], list[Decimal]]:
    """The awards of ``day`` with what their calls pay, and the called energy per DA interval.

    Returns
    -------
    tuple
        The awards (mileage, performance factor and called energy filled in; capacity of
        per-MWh products unpaid) and, per DA interval of ``day``, the net change of consumption
        ordered by calls [MWh] (negative: consumption lowered).

    Raises
    ------
    MarketError
        A performance factor outside (0, 1].
    """
    if not Decimal(0) < performance_factor <= Decimal(1):
        raise MarketError(f"performance factor must lie in (0, 1], got {performance_factor}")
    intervals = delivery_intervals(day, zone)
    hours = Decimal(int(zone.resolution_on(day).total_seconds())) / 3600
    net = [Decimal(0)] * len(intervals)
    blocks: dict[str, list[pd.Timestamp]] = {}
    out: list[ReserveAward] = []
    for aw in awards:
        product = zone.product(aw.product)
        if product.payment not in (Payment.CAPACITY_AND_MILEAGE, Payment.CURTAILMENT):
            out.append(aw)
            continue
        block_of = blocks.setdefault(
            product.key, _block_of_interval(intervals, zone, product.block)
        )
        start = pd.Timestamp(aw.block_start)
        inside = [i for i, b in enumerate(block_of) if b == start]
        if product.payment is Payment.CAPACITY_AND_MILEAGE:
            moved = _on(activations.mileage_mw.get(product.key), intervals)
            prices = reserve_clearing.get(f"{product.key}{MILEAGE_SUFFIX}")
            value = None if prices is None else prices.get(start)
            mileage_price = (
                price_decimal(float(value))
                if value is not None and math.isfinite(float(value))
                else Decimal(0)
            )
            out.append(
                replace(
                    aw,
                    mileage_mw=sum((moved[i] for i in inside), Decimal(0)),
                    mileage_price=mileage_price,
                    performance_factor=performance_factor,
                    payment=product.payment,
                )
            )
            continue
        called = _on(activations.called_mw.get(product.key), intervals)
        sign = Decimal(-1) if product.direction is Direction.UP else Decimal(1)
        energy = Decimal(0)
        for i in inside:
            e = energy_to_wh(min(max(called[i], Decimal(0)), aw.awarded_mw) * hours)
            energy += e
            net[i] += sign * e
        out.append(
            replace(
                aw,
                capacity_price=Decimal(0),
                activated_mwh=energy,
                activation_price=aw.capacity_price,
                payment=product.payment,
            )
        )
    return out, net


def called_energy_mwh(
    zone: Zone,
    day: date,
    bids: SubmittedDay,
    reserve_clearing: Mapping[str, pd.Series],
    activations: Activations,
) -> list[Decimal]:
    """Net change of consumption ordered by calls on the awards of ``bids``, per DA interval of
    ``day`` [MWh] (negative: lowered), as :func:`settle_submitted_day` counts it."""
    awards = award_reserves(bids.reserve_offers, reserve_clearing, zone)
    return activate_awards(zone, day, awards, reserve_clearing, activations)[1]


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
    activations: Activations | None = None,
    performance_factor: Decimal = Decimal(1),
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
    activations
        What the system operator called from the site (``None``: awards are paid as capacity
        only, as without activation data); see :func:`activate_awards`.
    performance_factor
        K of the site, applied to regulation mileage [-], in (0, 1].

    Raises
    ------
    SeriesError
        A DA interval of ``day`` without a curve or a DA price, or a meter of the wrong length.
    MarketError
        A performance factor outside (0, 1].
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
    clearing = reserve_clearing or {}
    awards = award_reserves(bids.reserve_offers, clearing, zone)
    ordered = [Decimal(0)] * len(intervals)
    if activations is not None:
        awards, ordered = activate_awards(
            zone, day, awards, clearing, activations, performance_factor
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
                activated_mwh=ordered[i],
            )
        )
    return settle_day(zone, day, rows, awards, extra_lines)
