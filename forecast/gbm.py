"""Gradient-boosted trees pooled over the slots of the day, for markets with exogenous inputs.

LEAR fits one linear model per slot on the few hundred days of a calibration window; with many
inputs per slot and only a few months of history (Gansu: 8 published day-ahead series, data from
January 2024) it has more coefficients than days. This model instead pools every slot of the
training window into one sample set (``TRAIN_DAYS`` x ``T`` rows) and lets scikit-learn's
:class:`~sklearn.ensemble.HistGradientBoostingRegressor` learn the price as a non-linear
function of the inputs of the same slot (the supply stack: load, wind, solar, tie lines), their
daily means, the slot and the weekday, and the prices of the same slot on D-1, D-2 and D-7 and
the mean of D-1. It is recalibrated for every day on the ``TRAIN_DAYS`` days before it.

Row ``i``'s features use inputs of row ``i`` and prices of rows before ``i`` only; unknown values
are NaN, which the trees route natively. Fits are deterministic (fixed seed, no early stopping)
and single-threaded.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from forecast.errors import ForecastError
from forecast.panel import DailyPanel

FloatArray = npt.NDArray[np.float64]

TRAIN_DAYS = 120
PRICE_LAGS = (1, 2, 7)
MIN_TRAIN_DAYS = 14
PARAMS: dict[str, float | int] = {
    "max_iter": 200,
    "learning_rate": 0.05,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 40,
}


def gbm_design(panel: DailyPanel) -> FloatArray:
    """Features ``(N, T, F)`` of every day and slot of ``panel`` (see the module docstring)."""
    n, t = panel.prices.shape
    cols: list[FloatArray] = [
        np.broadcast_to(np.arange(t, dtype=np.float64)[None, :], (n, t)),
        np.broadcast_to(
            np.array([d.weekday() for d in panel.days], dtype=np.float64)[:, None], (n, t)
        ),
    ]
    for k in range(panel.n_features):
        x = panel.features[:, :, k]
        cols.append(x)
        cols.append(np.broadcast_to(x.mean(axis=1, keepdims=True), (n, t)))
    for lag in PRICE_LAGS:
        lagged = np.full((n, t), np.nan)
        lagged[lag:] = panel.prices[:-lag]
        cols.append(lagged)
    prev_mean = np.full((n, t), np.nan)
    prev_mean[1:] = np.broadcast_to(panel.prices[:-1].mean(axis=1, keepdims=True), (n - 1, t))
    cols.append(prev_mean)
    return np.stack(cols, axis=2)


def gbm_forecast(
    x: FloatArray, prices: FloatArray, i: int, train_days: int = TRAIN_DAYS
) -> FloatArray:
    """Forecast row ``i``: fit on the complete days among the ``train_days`` rows before it.

    Raises
    ------
    ForecastError
        Fewer than :data:`MIN_TRAIN_DAYS` complete days to fit on.
    """
    rows = [j for j in range(max(0, i - train_days), i) if np.isfinite(prices[j]).all()]
    if len(rows) < MIN_TRAIN_DAYS:
        raise ForecastError(
            f"the gbm model needs {MIN_TRAIN_DAYS} complete days of prices before row {i}, "
            f"has {len(rows)}"
        )
    f = x.shape[2]
    model = HistGradientBoostingRegressor(**PARAMS, early_stopping=False, random_state=0)
    # One OpenMP thread: callers run one forecast per core (evaluate's --jobs, backtest
    # workers), and OpenMP threads competing for the same cores spin instead of working.
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(x[rows].reshape(-1, f), prices[rows].reshape(-1))
        return np.asarray(model.predict(x[i]), dtype=np.float64)
