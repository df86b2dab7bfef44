"""Day-ahead price forecasting (pure): point, quantile and scenario forecasts from what is known
at gate closure of D-1.

Imports market/, numpy, pandas and scikit-learn only (an import-linter contract keeps it so).
Models: the seasonal naive of the open benchmark, similar days (the weighting of
``bidding/scenarios.py``), and LEAR (Lago et al. 2021). See docs/forecasting.md.
"""

from forecast.day import DayForecast, ErrorRecord, forecast_day
from forecast.errors import ForecastError
from forecast.metrics import diebold_mariano, mae, pinball, rmse, smape
from forecast.models import ModelName, PointModel, model_names, parse_model, point_model
from forecast.panel import DailyPanel, panel_from_series, series_to_slots, slots_to_intervals
from forecast.probabilistic import (
    QUANTILES,
    copula_correlation,
    copula_paths,
    reduce_scenarios,
    residual_quantiles,
)
from forecast.rolling import RESIDUAL_DAYS, point_forecasts, rolling_quantiles

__all__ = [
    "QUANTILES",
    "RESIDUAL_DAYS",
    "DailyPanel",
    "DayForecast",
    "ErrorRecord",
    "ForecastError",
    "ModelName",
    "PointModel",
    "copula_correlation",
    "copula_paths",
    "diebold_mariano",
    "forecast_day",
    "mae",
    "model_names",
    "panel_from_series",
    "parse_model",
    "pinball",
    "point_forecasts",
    "point_model",
    "reduce_scenarios",
    "residual_quantiles",
    "rmse",
    "rolling_quantiles",
    "series_to_slots",
    "slots_to_intervals",
    "smape",
]
