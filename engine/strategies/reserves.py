"""Reserve prices a strategy prices its offers at: a forecast from the past, or hindsight."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from engine.marketdata.view import MILEAGE_SUFFIX
from market import KnownSeries, Zone, block_index, delivery_day_bounds, delivery_intervals

DEFAULT_REFERENCE_DAYS = 7


def actual_reserve_prices(
    reserves: Mapping[str, KnownSeries], day: date, zone: Zone
) -> dict[str, pd.Series]:
    """The final reserve clearing prices of ``day`` per product (hindsight)."""
    lo, hi = (pd.Timestamp(t) for t in delivery_day_bounds(day, zone))
    out = {}
    for key, series in sorted(reserves.items()):
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
    is then not offered). Local wall-clock matching lines DST days up with normal days.

    Returns
    -------
    dict[str, pandas.Series]
        Per series key, forecast prices indexed by the UTC block starts of ``day``
        [currency/MW per product interval].
    """
    quarters = delivery_intervals(day, zone, timedelta(minutes=15))
    out: dict[str, pd.Series] = {}
    for key, series in sorted(reserves.items()):
        product = zone.product(key.removesuffix(MILEAGE_SUFFIX))
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
        values = []
        target = starts.tz_convert(zone.tz)
        for h, m in zip(target.hour, target.minute, strict=True):
            slot = int(h) * 60 + int(m)
            seen = [
                by_slot[(day - timedelta(days=k), slot)]
                for k in range(1, 4 * n_days + 1)
                if (day - timedelta(days=k), slot) in by_slot
            ][:n_days]
            values.append(math.fsum(seen) / len(seen) if seen else math.nan)
        out[key] = pd.Series(values, index=starts, dtype=np.float64).dropna()
    return out
