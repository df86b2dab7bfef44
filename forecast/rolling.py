"""Rolling day-ahead forecasts over many days, with quantiles from earlier out-of-sample errors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from forecast.models import PointModel
from forecast.probabilistic import QUANTILES, residual_quantiles

FloatArray = npt.NDArray[np.float64]

RESIDUAL_DAYS = 28


def point_forecasts(model: PointModel, rows: Sequence[int]) -> FloatArray:
    """Point forecasts ``(len(rows), T)`` of the panel rows ``rows``, each made as of its day.

    Row ``i`` is forecast from prices of rows before ``i`` only (LEAR: calibration rows end at
    ``i - 1``; the feature row ``i`` holds prices of ``i - 1`` and earlier and inputs of ``i``).
    """
    return np.vstack([model.forecast(i) for i in rows]) if rows else np.zeros((0, 0))


def rolling_quantiles(
    points: FloatArray,
    actuals: FloatArray,
    residual_days: int = RESIDUAL_DAYS,
    levels: Sequence[float] = QUANTILES,
) -> FloatArray:
    """Quantiles ``(N, len(levels), T)`` of consecutive days from the errors of earlier days.

    Day ``k``'s quantiles use the errors ``actual - point`` of the (at most) ``residual_days``
    days before ``k`` in this run whose actuals are complete: only days delivered before ``k``.
    With fewer than two such days the quantiles are NaN.
    """
    n, t = points.shape
    out = np.full((n, len(levels), t), np.nan)
    errors = actuals - points
    done: list[int] = []
    for k in range(n):
        recent = done[-residual_days:]
        if len(recent) >= 2:
            out[k] = residual_quantiles(points[k], errors[recent], levels)
        if np.isfinite(errors[k]).all():
            done.append(k)
    return out
