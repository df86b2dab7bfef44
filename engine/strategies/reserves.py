"""Reserve prices a strategy prices its offers at: a forecast from the past, or hindsight.

Beside the prices, the expected activation of products paid per MWh called (peak shaving, valley
filling) is estimated from the calls on the site (activation series ``<KEY>_CALLED_MW`` in the
market data, :mod:`engine.io.activations`) and handed to the valuation as ``<KEY>_ACTIVATION``
[-]: per block of the day, the share of past days with a call in the same local block
(:func:`expected_activation`). Hindsight uses the day's own calls (1 in a called block, else 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from bidding.day import ACTIVATION_SUFFIX, ASK_SUFFIX
from engine.io.activations import CALLED_SUFFIX, MOVED_SUFFIX
from market import KnownSeries, Zone, block_index, delivery_day_bounds, delivery_intervals
from market.clearing import MILEAGE_SUFFIX

DEFAULT_REFERENCE_DAYS = 7
ACTIVATION_REFERENCE_DAYS = 28


def _block_starts(day: date, zone: Zone, block: timedelta) -> tuple[pd.DatetimeIndex, list[int]]:
    """UTC block starts of ``day`` and, per quarter hour of the day, its block number."""
    quarters = delivery_intervals(day, zone, timedelta(minutes=15))
    idx = block_index(quarters, zone, block)
    first = np.r_[True, idx[1:] != idx[:-1]]
    return quarters[first], [int(b) for b in idx]


def _called_blocks(called: pd.Series, day: date, zone: Zone, block: timedelta) -> pd.Series:
    """Per block of ``day``: 1.0 when some interval in it was called, else 0.0; empty when the
    series does not cover the whole day."""
    starts, _ = _block_starts(day, zone, block)
    lo, hi = (pd.Timestamp(t) for t in delivery_day_bounds(day, zone))
    part = called[(called.index >= lo) & (called.index < hi)]
    if part.empty or len(part) != len(delivery_intervals(day, zone)):
        return pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=np.float64)
    index = pd.DatetimeIndex(part.index)
    which = starts.searchsorted(index, side="right") - 1
    hit = np.zeros(len(starts))
    for b, v in zip(which, part.to_numpy(dtype=np.float64), strict=True):
        if v > 0:
            hit[int(b)] = 1.0
    return pd.Series(hit, index=starts, dtype=np.float64)


def expected_activation(
    called: KnownSeries,
    day: date,
    zone: Zone,
    block: timedelta,
    as_of: datetime,
    n_days: int = ACTIVATION_REFERENCE_DAYS,
) -> pd.Series:
    """Expected activation of a product on ``day`` from the calls known before ``as_of`` [-].

    Per block of ``day``: the share of the ``n_days`` most recent past days whose calls are fully
    known before ``as_of`` (looking back up to ``4 * n_days`` days) that had a call in the block
    starting at the same local wall-clock time. Empty when no past day is fully known.
    """
    known = called.as_of(as_of)
    starts, _ = _block_starts(day, zone, block)
    target = [int(t.hour) * 60 + int(t.minute) for t in starts.tz_convert(zone.tz)]
    days_seen = 0
    counts = np.zeros(len(starts))
    for k in range(1, 4 * n_days + 1):
        past = day - timedelta(days=k)
        hits = _called_blocks(known, past, zone, block)
        if hits.empty:
            continue
        local = pd.DatetimeIndex(hits.index).tz_convert(zone.tz)
        by_slot = {
            int(t.hour) * 60 + int(t.minute): float(v)
            for t, v in zip(local, hits.to_numpy(), strict=True)
        }
        counts += np.array([by_slot.get(slot, 0.0) for slot in target])
        days_seen += 1
        if days_seen == n_days:
            break
    if not days_seen:
        return pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=np.float64)
    return pd.Series(counts / days_seen, index=starts, dtype=np.float64)


def _product_of(key: str, zone: Zone) -> tuple[str, str]:
    """(product key, kind) of a reserve series key: ``price``, ``mileage``, ``called`` or
    ``moved``."""
    for suffix, kind in (
        (CALLED_SUFFIX, "called"),
        (MOVED_SUFFIX, "moved"),
        (MILEAGE_SUFFIX, "mileage"),
    ):
        if key.endswith(suffix):
            return zone.product(key.removesuffix(suffix)).key, kind
    return zone.product(key).key, "price"


def actual_reserve_prices(
    reserves: Mapping[str, KnownSeries], day: date, zone: Zone
) -> dict[str, pd.Series]:
    """The final reserve clearing prices of ``day`` per product (hindsight)."""
    lo, hi = (pd.Timestamp(t) for t in delivery_day_bounds(day, zone))
    out = {}
    for key, series in sorted(reserves.items()):
        product, kind = _product_of(key, zone)
        if kind == "called":
            block = zone.product(product).block
            out[f"{product}{ACTIVATION_SUFFIX}"] = _called_blocks(series.final(), day, zone, block)
        elif kind != "moved":
            final = series.final()
            out[key] = final[(final.index >= lo) & (final.index < hi)]
    return out


def forecast_reserve_prices(
    reserves: Mapping[str, KnownSeries],
    day: date,
    zone: Zone,
    as_of: datetime,
    n_days: int = DEFAULT_REFERENCE_DAYS,
) -> dict[str, pd.Series]:
    """Reserve price forecast for ``day`` from prices published before ``as_of``.

    Per product (and mileage series) and block of ``day``: the mean price of the blocks that
    started at the same local wall-clock time on the ``n_days`` most recent past days that have
    one (looking back up to ``4 * n_days`` days). A block with no such history gets no price (it
    is then not offered). Local wall-clock matching lines DST days up with normal days. Calls on
    the site (``<KEY>_CALLED_MW``) become ``<KEY>_ACTIVATION`` (:func:`expected_activation`).

    Returns
    -------
    dict[str, pandas.Series]
        Per series key, forecast prices indexed by the UTC block starts of ``day``
        [currency/MW per product interval].
    """
    quarters = delivery_intervals(day, zone, timedelta(minutes=15))
    out: dict[str, pd.Series] = {}
    for key, series in sorted(reserves.items()):
        base, kind = _product_of(key, zone)
        product = zone.product(base)
        if kind == "called":
            out[f"{base}{ACTIVATION_SUFFIX}"] = expected_activation(
                series, day, zone, product.block, as_of
            )
            continue
        if kind == "moved":
            continue
        idx = block_index(quarters, zone, product.block)
        first = np.r_[True, idx[1:] != idx[:-1]]
        starts = quarters[first]
        known = series.as_of(as_of)
        if known.empty:
            out[key] = pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=np.float64)
            continue
        local = pd.DatetimeIndex(known.index).tz_convert(zone.tz)
        by_slot: dict[tuple[date, int], float] = {}
        for d, h, m, v in zip(
            local.date, local.hour, local.minute, known.to_numpy(dtype=np.float64), strict=True
        ):
            by_slot.setdefault((d, int(h) * 60 + int(m)), float(v))
        values, asks = [], []
        target = starts.tz_convert(zone.tz)
        shade = kind == "price" and product.pay_as_bid
        for h, m in zip(target.hour, target.minute, strict=True):
            slot = int(h) * 60 + int(m)
            seen = [
                by_slot[(day - timedelta(days=k), slot)]
                for k in range(1, 4 * n_days + 1)
                if (day - timedelta(days=k), slot) in by_slot
            ][:n_days]
            if shade and seen:
                ask, revenue = pay_as_bid_ask(seen)
                values.append(revenue)
                asks.append(ask)
            else:
                values.append(math.fsum(seen) / len(seen) if seen else math.nan)
                asks.append(math.nan)
        out[key] = pd.Series(values, index=starts, dtype=np.float64).dropna()
        if shade:
            out[f"{key}{ASK_SUFFIX}"] = pd.Series(asks, index=starts, dtype=np.float64).dropna()
    return out


def pay_as_bid_ask(seen: Sequence[float]) -> tuple[float, float]:
    """The ask of a pay-as-bid offer and its expected revenue per MW, from past prices.

    An offer asking ``a`` is accepted where the block's price reaches ``a`` and is then paid
    ``a``; over the past prices ``seen`` of the block the expected revenue is ``a`` times the
    share of them at or above ``a``. The ask is the past price that maximises it (the lower on
    a tie: more often accepted). With an unbiased forecast as the ask about half the offers
    are accepted; the shaded ask trades price for acceptance where that pays.
    """
    prices = sorted(float(x) for x in seen)
    n = len(prices)
    best, best_value = prices[0], prices[0]
    for i, a in enumerate(prices):
        value = a * (n - i) / n  # prices[i:] are at or above a
        if value > best_value + 1e-12:
            best, best_value = a, value
    return best, best_value
