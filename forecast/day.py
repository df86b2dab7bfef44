"""One day's forecast from what a desk holds at gate closure: the function strategies call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from forecast.errors import ForecastError
from forecast.gbm import TRAIN_DAYS as GBM_TRAIN_DAYS
from forecast.lear import WINDOWS
from forecast.models import PointModel, point_model
from forecast.names import ModelName, parse_model
from forecast.panel import DailyPanel, panel_from_series, slots_to_intervals
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
    if model is ModelName.GBM:
        return GBM_TRAIN_DAYS + residual_days + 7
    return 56 + residual_days + 7


@dataclass(frozen=True, slots=True)
class _Prepared:
    """Day ``day``'s panel as of its gate closure and the model bound to it (row ``i``)."""

    panel: DailyPanel
    i: int
    model: PointModel


def _prepare(
    m: ModelName,
    history: KnownSeries,
    day: date,
    z: Zone,
    features: Mapping[str, KnownSeries] | None,
    residual_days: int,
) -> _Prepared:
    gate = gate_closure_utc(day, z)
    known = history.as_of(gate)
    if known.empty:
        raise ForecastError(f"no prices were published before gate closure of {day}")
    res_min = int(pd.Timedelta(history.resolution).total_seconds() // 60)
    slot_minutes = res_min if 0 < res_min <= 60 and 60 % res_min == 0 else 60
    first_known = known.index.min().tz_convert(z.tz).date()
    first = max(first_known, day - timedelta(days=_history_days(m, residual_days)))
    if first > day:
        raise ForecastError(f"no prices were published before {day}")
    feats = None
    if features:
        feats = pd.DataFrame({name: s.as_of(gate) for name, s in sorted(features.items())})
    panel = panel_from_series(known, z, first, day, slot_minutes, feats)
    if panel.n_features and not np.isfinite(panel.features[-1]).all():
        raise ForecastError(f"an exogenous input of {day} was not published before gate closure")
    i = len(panel.days) - 1
    return _Prepared(panel, i, point_model(m, panel))


class ErrorRecord:
    """Point forecasts of past days, each made as of its own gate closure, and their errors.

    A day's forecast depends only on what was published before that day's gate closure, so it
    is the same whichever later day asks for it: the record keeps each one, and a caller that
    forecasts days in order (a backtest worker) pays one model fit per day instead of
    ``residual_days + 1``. The errors of day ``D`` are ``actual - point`` of the (at most)
    ``residual_days`` days before ``D`` whose prices were all published before gate closure of
    ``D``; a day missing from the record is forecast when first needed. One record serves one
    model, zone, price history and feature set.
    """

    def __init__(self, model: ModelName | str, zone: Zone | str) -> None:
        self.model = parse_model(model) if isinstance(model, str) else model
        self.zone = _zone(zone)
        self._points: dict[date, FloatArray | None] = {}

    def __len__(self) -> int:
        return len(self._points)

    def remember(self, day: date, point: FloatArray) -> None:
        """Keep ``point`` (slots) as the forecast of ``day`` made at its gate closure."""
        self._points[day] = point

    def point(
        self,
        history: KnownSeries,
        day: date,
        features: Mapping[str, KnownSeries] | None,
        residual_days: int,
    ) -> FloatArray | None:
        """The forecast of ``day`` as of its gate closure (``None``: it could not be made)."""
        if day not in self._points:
            try:
                prep = _prepare(self.model, history, day, self.zone, features, residual_days)
                self._points[day] = prep.model.forecast(prep.i)
            except ForecastError:
                self._points[day] = None
        return self._points[day]

    def errors(
        self,
        panel: DailyPanel,
        i: int,
        history: KnownSeries,
        features: Mapping[str, KnownSeries] | None,
        residual_days: int,
    ) -> FloatArray:
        """Errors ``(R, T)`` of the days before row ``i`` of ``panel`` (panel as of D's gate).

        Raises
        ------
        ForecastError
            Fewer than two past days with known actuals could be forecast.
        """
        day = panel.days[i]
        rows = []
        for j in range(max(0, i - residual_days), i):
            actual = panel.prices[j]
            if not np.isfinite(actual).all():
                continue  # not (completely) published before gate closure of ``day``
            p = self.point(history, panel.days[j], features, residual_days)
            if p is not None and p.shape == actual.shape:
                rows.append(actual - p)
        for old in [d for d in self._points if d < day - timedelta(days=residual_days)]:
            del self._points[old]
        if len(rows) < 2:
            raise ForecastError(
                f"fewer than two past days could be forecast to measure the errors before {day}"
            )
        return np.vstack(rows)


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
    record: ErrorRecord | None = None,
) -> DayForecast:
    """Forecast delivery ``day`` as a desk at gate closure of ``day`` can.

    Only values of ``history`` (DA prices) and of each ``features`` series (exogenous day-ahead
    forecasts, e.g. load, wind, solar) published strictly before gate closure are used, so
    anything published later cannot change the result. The point forecast comes from ``model``;
    quantiles and scenarios from the model's errors on the ``residual_days`` days before ``day``
    (each of those days forecast as of its own gate closure, :class:`ErrorRecord`: for LEAR a
    fresh record costs ``residual_days + 1`` recalibrations). A caller forecasting days in
    order passes the same ``record`` each time (it keeps the earlier days' forecasts, so each
    new day costs one recalibration, with the same result), or its own errors (``actual -
    point`` per wall-clock slot, shape ``(R, T)``, days before ``day`` only) as ``errors``.

    Raises
    ------
    ForecastError
        Too little history, a missing input for ``day``, or fewer than two days of errors.
    """
    m = parse_model(model) if isinstance(model, str) else model
    z = _zone(zone)
    gate = gate_closure_utc(day, z)
    prep = _prepare(m, history, day, z, features, residual_days)
    point = prep.model.forecast(prep.i)
    if errors is None:
        if record is None:
            record = ErrorRecord(m, z)
        elif record.model is not m or record.zone.key != z.key:
            raise ForecastError(
                f"the error record is of model {record.model.value} in {record.zone.key}, "
                f"not {m.value} in {z.key}"
            )
        errors = record.errors(prep.panel, prep.i, history, features, residual_days)
        record.remember(day, point)
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
