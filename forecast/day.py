"""One day's forecast from what a desk holds at gate closure: the function strategies call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from forecast.errors import ForecastError
from forecast.lear import WINDOWS
from forecast.models import ModelName, PointModel, parse_model, point_model
from forecast.panel import panel_from_series, slots_to_intervals
from forecast.probabilistic import QUANTILES, copula_paths, reduce_scenarios, residual_quantiles
from forecast.rolling import RESIDUAL_DAYS
from market import KnownSeries, Zone, gate_closure_utc, get_zone

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DayForecast:
    """Point, quantile and scenario forecasts of one delivery day's prices.

    Parameters
    ----------
    intervals
        UTC interval starts of the day (:func:`market.delivery_intervals` at the forecast's
        resolution: 23/24/25 hourly intervals on DST days).
    point
        Shape ``(T,)`` [currency/MWh].
    quantile_levels
        The levels of ``quantiles`` (e.g. 0.05 .. 0.95).
    quantiles
        Shape ``(Q, T)``.
    scenarios
        Shape ``(S, T)``: joint price paths (Gaussian copula of recent errors, reduced).
    probabilities
        Shape ``(S,)``, summing to one.
    model
        The model name.
    as_of
        Gate closure of the day: nothing published at or after it was used.
    """

    intervals: pd.DatetimeIndex
    point: FloatArray
    quantile_levels: tuple[float, ...]
    quantiles: FloatArray
    scenarios: FloatArray
    probabilities: FloatArray
    model: str
    as_of: datetime


def _zone(zone: Zone | str) -> Zone:
    return zone if isinstance(zone, Zone) else get_zone(zone)


def _history_days(model: ModelName, residual_days: int) -> int:
    if model in (ModelName.LEAR, ModelName.LEAR_1456):
        return max(WINDOWS) + residual_days + 7
    return 56 + residual_days + 7


def _past_errors(
    pm: PointModel, prices: FloatArray, i: int, residual_days: int, day: date
) -> FloatArray:
    past = [j for j in range(max(0, i - residual_days), i) if np.isfinite(prices[j]).all()]
    usable = []
    for j in past:
        try:
            usable.append((j, pm.forecast(j)))
        except ForecastError:
            continue
    if len(usable) < 2:
        raise ForecastError(
            f"fewer than two past days could be forecast to measure the errors before {day}"
        )
    return np.vstack([prices[j] - p for j, p in usable])


def forecast_day(
    model: ModelName | str,
    history: KnownSeries,
    day: date,
    zone: Zone | str,
    features: Mapping[str, KnownSeries] | None = None,
    *,
    n_scenarios: int = 10,
    residual_days: int = RESIDUAL_DAYS,
    levels: tuple[float, ...] = QUANTILES,
    seed: int = 0,
    n_samples: int = 1000,
    errors: FloatArray | None = None,
) -> DayForecast:
    """Forecast delivery ``day`` as a desk at gate closure of ``day`` can.

    Only values of ``history`` (DA prices) and of each ``features`` series (exogenous day-ahead
    forecasts, e.g. load, wind, solar) published strictly before gate closure are used, so
    anything published later cannot change the result. The point forecast comes from ``model``;
    quantiles and scenarios from the model's errors on the ``residual_days`` days before ``day``
    (each of those days forecast as of its own gate closure: for LEAR this costs
    ``residual_days + 1`` recalibrations). A caller that keeps its own record of past errors
    (``actual - point`` per wall-clock slot, shape ``(R, T)``, days before ``day`` only) passes
    them as ``errors`` and saves the back-casts.

    Raises
    ------
    ForecastError
        Too little history, a missing input for ``day``, or fewer than two days of errors.
    """
    m = parse_model(model) if isinstance(model, str) else model
    z = _zone(zone)
    gate = gate_closure_utc(day, z)
    known = history.as_of(gate)
    if known.empty:
        raise ForecastError(f"no prices were published before gate closure of {day}")
    res_min = int(pd.Timedelta(history.resolution).total_seconds() // 60)
    slot_minutes = res_min if 0 < res_min <= 60 and 60 % res_min == 0 else 60
    first_known = known.index.min().tz_convert(z.tz).date()
    first = max(first_known, day - timedelta(days=_history_days(m, residual_days)))
    feats = None
    if features:
        feats = pd.DataFrame({name: s.as_of(gate) for name, s in sorted(features.items())})
    panel = panel_from_series(known, z, first, day, slot_minutes, feats)
    if panel.n_features and not np.isfinite(panel.features[-1]).all():
        raise ForecastError(f"an exogenous input of {day} was not published before gate closure")
    i = len(panel.days) - 1
    pm = point_model(m, panel)
    point = pm.forecast(i)
    if errors is None:
        errors = _past_errors(pm, panel.prices, i, residual_days, day)
    elif errors.ndim != 2 or errors.shape[1] != point.shape[0]:
        raise ForecastError(f"errors have shape {errors.shape}, expected (R, {point.shape[0]})")
    quant = residual_quantiles(point, errors, levels)
    paths = copula_paths(point, errors, n_samples=n_samples, seed=seed)
    scen, probs = reduce_scenarios(paths, n_scenarios, seed)
    floor, cap = float(z.price_floor), float(z.price_cap)
    intervals, p_int = slots_to_intervals(np.clip(point, floor, cap), day, z)
    _, q_int = slots_to_intervals(np.clip(quant, floor, cap), day, z)
    _, s_int = slots_to_intervals(np.clip(scen, floor, cap), day, z)
    return DayForecast(intervals, p_int, tuple(levels), q_int, s_int, probs, m.value, gate)
