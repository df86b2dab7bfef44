"""Real-time / imbalance price forecasts for the real-time stage (pure).

The real-time stage re-plans delivery day ``D`` once ``D``'s DA prices are published. What is
known then: the DA prices of ``D`` and before, and the real-time (or imbalance, or intraday index)
prices of intervals that have ended, i.e. the days before ``D`` (``D-1`` only up to the re-plan
time). The forecast of the real-time price of an interval of ``D`` is its DA price plus an
expected spread:

``zero``
    No spread: the real-time price is expected to equal the DA price (the zero-information
    forecast; the stage then only re-optimises against the now known DA prices).
``mean`` / ``median``
    The mean (median) of the real-time minus DA spread at the same local wall-clock time on the
    last ``lookback_days`` days, over the intervals whose real-time price is known. The median
    resists the price spikes of balancing markets.

Spreads are taken on the DA intervals: real-time prices on a finer grid are averaged over each DA
interval with :func:`market.clearing.imbalance_prices_on` (the rule settlement applies to the
same prices), and intervals are matched by their local wall-clock minute, so DST days line up.

**Intraday update** (``intraday=True``, for re-plans made while ``D`` runs): the spread is
persistent from one interval to the next (Gansu 2024: the autocorrelation of the real-time minus
DA spread is 0.76 a quarter-hour apart, 0.51 an hour apart, 0.13 a day apart), so the last known
spread says something about the next hours. With ``d`` the last known interval's deviation from
its method spread, an interval ``k`` DA intervals later is forecast at method spread
``+ rho_k * d``, where ``rho_k`` is the autocorrelation at lag ``k`` of the deviations over the
look-back days (the best linear prediction from one value; the decay is measured, not assumed
geometric: Gansu's is slower than an AR(1)'s). Lags beyond one day, or without data, get no update.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from forecast.errors import ForecastError
from market import Zone, delivery_intervals
from market.clearing import imbalance_prices_on

FloatArray = npt.NDArray[np.float64]

RT_METHODS = ("zero", "mean", "median")
DEFAULT_RT_METHOD = "zero"
DEFAULT_RT_LOOKBACK_DAYS = 28


@dataclass(frozen=True, slots=True)
class RealtimeForecast:
    """A real-time price forecast for the DA intervals of one day.

    Parameters
    ----------
    intervals
        UTC starts of the DA intervals of the day.
    da_per_mwh
        ``(T,)`` the day's DA prices [currency/MWh].
    spread_per_mwh
        ``(T,)`` expected real-time minus DA price [currency/MWh].
    method, lookback_days
        How it was made.
    observations
        Past (day, interval) spreads it rests on (0 for ``zero``).
    anchor
        UTC start of the last interval whose known spread updated the forecast (intraday
        update; ``None``: none).
    """

    intervals: pd.DatetimeIndex
    da_per_mwh: FloatArray
    spread_per_mwh: FloatArray
    method: str
    lookback_days: int
    observations: int
    anchor: pd.Timestamp | None = None

    @property
    def point(self) -> FloatArray:
        """``(T,)`` expected real-time price [currency/MWh]."""
        return self.da_per_mwh + self.spread_per_mwh


def check_rt_method(method: str) -> str:
    """``method`` if it is a known real-time forecast method.

    Raises
    ------
    ForecastError
        Unknown method (the message lists the known ones).
    """
    if method not in RT_METHODS:
        raise ForecastError(
            f"unknown real-time forecast {method!r} (known: {', '.join(RT_METHODS)})"
        )
    return method


def _local_minutes(intervals: pd.DatetimeIndex, zone: Zone) -> npt.NDArray[np.int64]:
    local = intervals.tz_convert(zone.tz)
    return np.asarray(local.hour * 60 + local.minute, dtype=np.int64)


SpreadMemo = dict[bytes, FloatArray]


def day_spreads(
    da: pd.Series,
    rt: pd.Series,
    rt_resolution: timedelta,
    day: date,
    zone: Zone,
    memo: SpreadMemo | None = None,
) -> tuple[pd.DatetimeIndex, FloatArray]:
    """The DA intervals of ``day`` and their real-time minus DA spread (NaN where either price
    is not in the series).

    ``memo`` keeps results by the exact prices they were computed from (the day's DA values and
    the real-time values and times it reads), so the re-plans of one chain compute each past
    day once and a revised price is never served stale."""
    intervals = delivery_intervals(day, zone)
    step = pd.Timedelta(intervals[1] - intervals[0]).to_pytimedelta()
    got = da.reindex(intervals).to_numpy(dtype=np.float64)
    lo = intervals[0] - pd.Timedelta(rt_resolution)
    hi = intervals[-1] + pd.Timedelta(step)
    part = rt[(rt.index >= lo) & (rt.index < hi)]
    if part.empty:
        return intervals, np.full(len(intervals), np.nan)
    key = b""
    if memo is not None:
        key = b"".join(
            (
                intervals.asi8.tobytes(),
                got.tobytes(),
                pd.DatetimeIndex(part.index).asi8.tobytes(),
                part.to_numpy(dtype=np.float64).tobytes(),
            )
        )
        hit = memo.get(key)
        if hit is not None:
            return intervals, hit.copy()
    spread = _spreads(part, got, rt_resolution, intervals, step, hi)
    if memo is not None:
        memo[key] = spread.copy()
    return intervals, spread


def _spreads(
    part: pd.Series,
    got: FloatArray,
    rt_resolution: timedelta,
    intervals: pd.DatetimeIndex,
    step: timedelta,
    hi: pd.Timestamp,
) -> FloatArray:
    on = imbalance_prices_on(part, rt_resolution, intervals, step)
    real = np.array([np.nan if v is None else float(v) for v in on])
    # A DA interval is known only when all of its real-time intervals are (at the re-plan time
    # the interval running then is known in part: its mean so far is not its price).
    per = max(1, int(pd.Timedelta(step) // pd.Timedelta(rt_resolution)))
    if per > 1:
        counts = np.diff(part.index.searchsorted(intervals.append(pd.DatetimeIndex([hi]))))
        real[counts < per] = np.nan
    return np.asarray(real - got, dtype=np.float64)


def _spread_history(
    da: pd.Series,
    rt: pd.Series,
    rt_resolution: timedelta,
    day: date,
    zone: Zone,
    days: int,
    memo: SpreadMemo | None = None,
) -> tuple[pd.DatetimeIndex, FloatArray]:
    """DA intervals of the ``days`` days before ``day`` and of ``day`` itself, in time order, and
    their known spreads (NaN where unknown)."""
    parts = [
        day_spreads(da, rt, rt_resolution, day - timedelta(days=k), zone, memo)
        for k in range(days, -1, -1)
    ]
    index = pd.DatetimeIndex(parts[0][0].append([p[0] for p in parts[1:]]))
    return index, np.concatenate([p[1] for p in parts])


def autocorrelation(deviation: FloatArray, max_lag: int) -> FloatArray:
    """``(max_lag + 1,)`` autocorrelation of a zero-mean series at lags ``0 .. max_lag`` over the
    pairs where both values are known (0 at a lag without pairs); ``rho[0] = 1``."""
    d = np.asarray(deviation, dtype=np.float64)
    known = np.isfinite(d)
    x = np.where(known, d, 0.0)
    var = float(np.sum(x * x))
    rho = np.zeros(max_lag + 1)
    rho[0] = 1.0
    if var <= 0.0:
        return rho
    n = len(x)
    for k in range(1, min(max_lag, n - 1) + 1):
        both = known[:-k] & known[k:]
        if both.any():
            num = float(np.sum(x[:-k][both] * x[k:][both]))
            den = float(np.sqrt(np.sum(x[:-k][both] ** 2) * np.sum(x[k:][both] ** 2)))
            rho[k] = num / den if den > 0.0 else 0.0
    return rho


def forecast_realtime(
    method: str,
    da: pd.Series,
    rt: pd.Series,
    rt_resolution: timedelta,
    day: date,
    zone: Zone,
    lookback_days: int = DEFAULT_RT_LOOKBACK_DAYS,
    *,
    intraday: bool = False,
    memo: SpreadMemo | None = None,
) -> RealtimeForecast:
    """Forecast the real-time prices of ``day`` from what the caller may know.

    Parameters
    ----------
    method
        One of :data:`RT_METHODS`.
    da, rt
        DA and real-time prices known at the re-plan time, indexed by UTC interval start
        [currency/MWh]; the caller cuts them (``as_of``): this function uses every value given.
    rt_resolution
        Interval length of ``rt``.
    day, zone
        Delivery day and its zone.
    lookback_days
        Days before ``day`` the spread statistics look at.
    intraday
        Update the spread with the last known one (module docstring).
    memo
        Spreads already computed, by the prices they came from (:func:`day_spreads`): one per
        chain of re-plans, so its re-plans do not recompute the look-back days.

    Raises
    ------
    ForecastError
        Unknown method, a look-back below 1, or a DA price of ``day`` missing.
    """
    check_rt_method(method)
    if lookback_days < 1:
        raise ForecastError(f"the real-time look-back must be at least 1 day, got {lookback_days}")
    intervals = delivery_intervals(day, zone)
    da_day = da.reindex(intervals).to_numpy(dtype=np.float64)
    if not np.isfinite(da_day).all():
        missing = intervals[int(np.flatnonzero(~np.isfinite(da_day))[0])]
        raise ForecastError(
            f"no DA price of {day} at {missing.isoformat()} is known for the real-time forecast"
        )
    spread = np.zeros(len(intervals))
    used = 0
    need_history = method != "zero" or intraday
    if not need_history:
        return RealtimeForecast(intervals, da_day, spread, method, lookback_days, used)
    history, spreads = _spread_history(da, rt, rt_resolution, day, zone, lookback_days, memo)
    minutes = _local_minutes(history, zone)
    past = np.arange(len(history)) < len(history) - len(intervals)
    expected = np.zeros(len(history))  # the method spread of every interval of the history
    if method != "zero":
        reduce = np.mean if method == "mean" else np.median
        for minute in np.unique(minutes):
            at = minutes == minute
            values = spreads[at & past]
            values = values[np.isfinite(values)]
            if len(values):
                expected[at] = float(reduce(values))
                if not past[at].all():
                    used += len(values)
        spread = expected[~past].copy()
    anchor = None
    if intraday:
        known = np.flatnonzero(np.isfinite(spreads))
        if len(known):
            last = int(known[-1])
            deviation = spreads - expected
            per_day = len(intervals)
            rho = autocorrelation(np.where(past, deviation, np.nan), per_day)
            lag = np.arange(len(history) - len(intervals), len(history)) - last
            ok = (lag >= 1) & (lag <= per_day)
            spread[ok] += rho[lag[ok]] * deviation[last]
            anchor = history[last]
    return RealtimeForecast(intervals, da_day, spread, method, lookback_days, used, anchor)
