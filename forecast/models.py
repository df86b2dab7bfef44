"""Point forecasts of one day from a :class:`DailyPanel`: the benchmark naive, similar days, LEAR.

Every model forecasts row ``i`` of a panel from prices of rows ``< i`` and inputs of rows
``<= i`` only (see :meth:`DailyPanel.known_for`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from forecast.errors import ForecastError
from forecast.gbm import gbm_design, gbm_forecast
from forecast.lear import WINDOWS, design, lear_forecast
from forecast.names import ModelName, parse_model
from forecast.panel import DailyPanel

FloatArray = npt.NDArray[np.float64]


def seasonal_naive(panel: DailyPanel, i: int) -> FloatArray:
    """The naive benchmark of epftoolbox: day D-7 on Mondays, Saturdays and Sundays, else D-1."""
    lag = 7 if panel.days[i].weekday() in (0, 5, 6) else 1
    if i - lag < 0:
        raise ForecastError(f"the naive forecast of {panel.days[i]} needs the prices of D-{lag}")
    row = panel.prices[i - lag]
    if not np.isfinite(row).all():
        raise ForecastError(f"no complete prices of {panel.days[i - lag]} (D-{lag})")
    return np.asarray(row, dtype=np.float64)


def similar_day_weight(age_days: int, past_weekday: int, weekday: int) -> float:
    """The weight of bidding/scenarios.py's similar-days method (``similar-days-v1``).

    ``3`` for the same weekday, ``1`` for the same day type (working day / weekend), ``0.25``
    otherwise, times the recency decay ``exp(-age / 28)``.
    """
    same_type = (past_weekday >= 5) == (weekday >= 5)
    base = 3.0 if past_weekday == weekday else (1.0 if same_type else 0.25)
    return base * math.exp(-age_days / 28.0)


def similar_days(
    panel: DailyPanel, i: int, n_days: int = 7, lookback_days: int = 56
) -> tuple[FloatArray, FloatArray, tuple[int, ...]]:
    """Similar-days forecast: the ``n_days`` heaviest complete past days and their weights.

    Returns the weighted mean profile, the normalised weights and the rows of the chosen days
    (ties: the more recent first), as :func:`bidding.scenarios.make_scenarios` chooses them.
    """
    cands: list[tuple[float, int]] = []
    wd = panel.days[i].weekday()
    for back in range(1, lookback_days + 1):
        j = i - back
        if j < 0:
            break
        if np.isfinite(panel.prices[j]).all():
            cands.append((similar_day_weight(back, panel.days[j].weekday(), wd), j))
    if not cands:
        raise ForecastError(
            f"no complete day of prices in the {lookback_days} days before {panel.days[i]}"
        )
    cands.sort(key=lambda c: (-c[0], -c[1]))
    chosen = cands[:n_days]
    w = np.array([c[0] for c in chosen])
    w = w / w.sum()
    rows = tuple(c[1] for c in chosen)
    profile = w @ panel.prices[list(rows)]
    return np.asarray(profile, dtype=np.float64), w, rows


HOURLY_SLOTS = 24
SHAPE_DAYS = 7


def hourly_panel(panel: DailyPanel) -> DailyPanel:
    """The panel's hourly means (prices and inputs) for a sub-hourly panel; itself otherwise."""
    t = panel.n_slots
    if t <= HOURLY_SLOTS or t % HOURLY_SLOTS:
        return panel
    k = t // HOURLY_SLOTS
    n = len(panel.days)
    prices = panel.prices.reshape(n, HOURLY_SLOTS, k).mean(axis=2)
    feats = panel.features.reshape(n, HOURLY_SLOTS, k, panel.n_features).mean(axis=2)
    return DailyPanel(panel.days, prices, feats, panel.feature_names)


def intra_hour_shape(panel: DailyPanel, i: int, days: int = SHAPE_DAYS) -> FloatArray:
    """Each sub-hourly slot's mean deviation from its hour's mean over the last complete days.

    Uses prices of rows before ``i`` only; zero where no such day exists.
    """
    t = panel.n_slots
    k = t // HOURLY_SLOTS
    past = [j for j in range(i - 1, -1, -1) if np.isfinite(panel.prices[j]).all()][:days]
    if not past:
        return np.zeros(t)
    p = panel.prices[past].reshape(len(past), HOURLY_SLOTS, k)
    dev = p - p.mean(axis=2, keepdims=True)
    return np.asarray(dev.mean(axis=0).reshape(t), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class PointModel:
    """A point forecaster bound to one panel (LEAR's feature matrix is built once).

    LEAR on a sub-hourly panel (e.g. 96 quarter-hours) is fitted on the hourly means of prices
    and inputs (24 models of a quarter of the inputs: a year's recalibration costs what an
    hourly market's does) and each slot adds its mean deviation from its hour over the last
    :data:`SHAPE_DAYS` days (:func:`intra_hour_shape`).
    """

    name: ModelName
    panel: DailyPanel
    x: FloatArray
    y: FloatArray
    windows: tuple[int, ...]

    def forecast(self, i: int) -> FloatArray:
        """The point forecast of row ``i`` (uses prices of rows before ``i`` only)."""
        if self.name is ModelName.NAIVE:
            return seasonal_naive(self.panel, i)
        if self.name is ModelName.SIMILAR_DAYS:
            return similar_days(self.panel, i)[0]
        if self.name is ModelName.GBM:
            return gbm_forecast(self.x, self.y, i)
        hourly = lear_forecast(self.x, self.y, i, self.windows)
        t = self.panel.n_slots
        if hourly.shape[0] == t:
            return hourly
        return np.repeat(hourly, t // HOURLY_SLOTS) + intra_hour_shape(self.panel, i)


def point_model(
    name: ModelName | str, panel: DailyPanel, windows: Sequence[int] | None = None
) -> PointModel:
    """Bind model ``name`` to ``panel`` (``windows`` overrides LEAR's calibration windows)."""
    m = parse_model(name) if isinstance(name, str) else name
    if m in (ModelName.LEAR, ModelName.LEAR_1456):
        x, y = design(hourly_panel(panel))
        w = tuple(windows) if windows else (WINDOWS if m is ModelName.LEAR else (1456,))
    elif m is ModelName.GBM:
        # Pooled over the panel's own slots (sub-hourly markets keep their resolution).
        x, y = gbm_design(panel), panel.prices
        w = ()
    else:
        x, y = np.zeros((0, 0)), np.zeros((0, 0))
        w = ()
    return PointModel(m, panel, x, y, w)
