"""The forecasting models' names (``--model`` values), without importing any model."""

from __future__ import annotations

from enum import StrEnum

from forecast.errors import ForecastError


class ModelName(StrEnum):
    """The forecasting models (``--model`` values)."""

    NAIVE = "naive"
    SIMILAR_DAYS = "similar-days"
    LEAR = "lear"
    LEAR_1456 = "lear-1456"
    GBM = "gbm"


def model_names() -> tuple[str, ...]:
    """Every ``--model`` value."""
    return tuple(m.value for m in ModelName)


def parse_model(name: str) -> ModelName:
    """The model called ``name``; a one-line error listing the known ones otherwise."""
    try:
        return ModelName(name)
    except ValueError:
        raise ForecastError(f"unknown model {name!r} (known: {', '.join(model_names())})") from None
