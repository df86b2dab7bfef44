"""Day-ahead price forecasting (pure): point, quantile and scenario forecasts from what is known
at gate closure of D-1.

Imports market/, numpy, pandas and scikit-learn only (an import-linter contract keeps it so).
Models: the seasonal naive of the open benchmark, similar days (the weighting of
``bidding/scenarios.py``), and LEAR (Lago et al. 2021). See docs/forecasting.md.

Names are imported on first use (PEP 562), so importing one light submodule (errors, say)
does not load the heavy ones.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forecast.day import DayForecast, ErrorRecord, forecast_day
    from forecast.errors import ForecastError
    from forecast.metrics import diebold_mariano, mae, pinball, rmse, smape
    from forecast.models import PointModel, point_model
    from forecast.names import ModelName, model_names, parse_model
    from forecast.panel import DailyPanel, panel_from_series, series_to_slots, slots_to_intervals
    from forecast.probabilistic import (
        QUANTILES,
        copula_correlation,
        copula_paths,
        reduce_scenarios,
        residual_quantiles,
    )
    from forecast.rolling import RESIDUAL_DAYS, point_forecasts, rolling_quantiles

_WHERE: dict[str, str] = {
    "DailyPanel": "forecast.panel",
    "DayForecast": "forecast.day",
    "ErrorRecord": "forecast.day",
    "ForecastError": "forecast.errors",
    "ModelName": "forecast.names",
    "PointModel": "forecast.models",
    "QUANTILES": "forecast.probabilistic",
    "RESIDUAL_DAYS": "forecast.rolling",
    "copula_correlation": "forecast.probabilistic",
    "copula_paths": "forecast.probabilistic",
    "diebold_mariano": "forecast.metrics",
    "forecast_day": "forecast.day",
    "mae": "forecast.metrics",
    "model_names": "forecast.names",
    "panel_from_series": "forecast.panel",
    "parse_model": "forecast.names",
    "pinball": "forecast.metrics",
    "point_forecasts": "forecast.rolling",
    "point_model": "forecast.models",
    "reduce_scenarios": "forecast.probabilistic",
    "residual_quantiles": "forecast.probabilistic",
    "rmse": "forecast.metrics",
    "rolling_quantiles": "forecast.rolling",
    "series_to_slots": "forecast.panel",
    "slots_to_intervals": "forecast.panel",
    "smape": "forecast.metrics",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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
