"""Accuracy measures of point and quantile forecasts, and the Diebold–Mariano test.

Definitions follow the open EPF benchmark (Lago et al. 2021, epftoolbox):

* ``mae`` = mean |y - ŷ|, ``rmse`` = sqrt(mean (y - ŷ)²);
* ``smape`` = mean (|y - ŷ| / ((|y| + |ŷ|) / 2)) in percent (0 when both are 0);
* ``rmae`` = MAE / MAE of the seasonal naive forecast over the same intervals;
* ``pinball`` = mean over intervals and levels of the quantile (pinball) loss;
* Diebold–Mariano, multivariate (one loss differential per day): ``d_k = ||e_b,k||₁ - ||e_a,k||₁``
  for days ``k``; ``DM = mean(d) / sqrt(var(d) / N)``, asymptotically standard normal. A large
  positive value says forecast ``a`` is more accurate than ``b``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from forecast.errors import ForecastError

FloatArray = npt.NDArray[np.float64]


def mae(actual: FloatArray, forecast: FloatArray) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(actual - forecast)))


def rmse(actual: FloatArray, forecast: FloatArray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((actual - forecast) ** 2)))


def smape(actual: FloatArray, forecast: FloatArray) -> float:
    """Symmetric mean absolute percentage error [%]."""
    den = (np.abs(actual) + np.abs(forecast)) / 2.0
    num = np.abs(actual - forecast)
    ratio = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return float(100.0 * np.mean(ratio))


def pinball(actual: FloatArray, quantiles: FloatArray, levels: Sequence[float]) -> float:
    """Mean pinball loss; ``quantiles`` has shape ``(len(levels), n)``."""
    q = np.asarray(quantiles, dtype=np.float64)
    tau = np.asarray(levels, dtype=np.float64)[:, None]
    diff = actual[None, :] - q
    return float(np.mean(np.maximum(tau * diff, (tau - 1.0) * diff)))


def diebold_mariano(
    actual: FloatArray, forecast_a: FloatArray, forecast_b: FloatArray, slots_per_day: int
) -> dict[str, float]:
    """Multivariate DM test of ``a`` against ``b`` on whole days (norm 1).

    Returns the statistic, the one-sided p-values (``p_a_better``: H1 that ``a`` is more
    accurate; ``p_b_better``) and the number of days.
    """
    n = actual.size
    if n % slots_per_day or n == 0:
        raise ForecastError("the DM test needs whole days of forecasts")
    days = n // slots_per_day
    ea = np.abs(actual - forecast_a).reshape(days, slots_per_day).sum(axis=1)
    eb = np.abs(actual - forecast_b).reshape(days, slots_per_day).sum(axis=1)
    d = eb - ea
    var = float(np.var(d))
    if days < 2 or var == 0.0:
        raise ForecastError("the DM test needs at least two days with different losses")
    stat = float(np.mean(d) / math.sqrt(var / days))
    cdf = NormalDist().cdf(stat)
    return {"statistic": stat, "p_a_better": 1.0 - cdf, "p_b_better": cdf, "days": float(days)}
