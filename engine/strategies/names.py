"""Strategy names: the one list every shell, table and option refers to (no heavy imports)."""

from __future__ import annotations

from enum import StrEnum


class StrategyName(StrEnum):
    """The bidding strategies of powerdesk."""

    FORECAST = "forecast"
    DETERMINISTIC = "deterministic"
    PERFECT_FORESIGHT = "perfect-foresight"
    PRICE_TAKER = "price-taker"


DEFAULT_STRATEGY = StrategyName.FORECAST
# The default price model of forecast and deterministic (bidding.make_scenarios); other models
# are those of forecast.models.ModelName (lear, lear-1456, gbm, naive).
SIMILAR_DAYS = "similar-days"
# Price scenarios of the forecast strategy. Measured (docs/decision-quality.md): with 10 the
# stochastic bid beats the deterministic one DA-only on DE-LU 2024 (capture 90.33 % against
# 90.11 %) and Gansu 2024 with gbm (68.76 % against 66.85 %); with 5 it did not (similar days,
# before the reserve-ask change: DE-LU 72.66 % against 73.11 %, Gansu 51.75 % against 53.40 %);
# 20 gave Gansu nothing more (68.75 %).
DEFAULT_SCENARIOS = 10
# Dead band of the real-time re-plan [currency/MWh] (docs/realtime.md).
DEFAULT_RT_THRESHOLD = 10.0
# The default price model per zone (``--model`` and the API's ``model`` override it). Rule
# (docs/decision-quality.md): a zone gets the model with the highest measured capture of the
# forecast strategy on its real year, provided it beats similar days by at least one point of
# capture on the same days and a year's backtest of it finishes within the nightly budget;
# otherwise similar days. A model measured with the zone's published day-ahead inputs
# (``--features``) is the default only when a run has them.
DEFAULT_MODELS: dict[str, str] = {}
DEFAULT_MODELS_WITH_FEATURES: dict[str, str] = {
    # Gansu 2024-03-01..2024-10-22 with its 8 published inputs: capture 0.6876 against 0.5520
    # for similar days (DA only), 0.7917 against 0.7713 with the real-time stage.
    "CN-GS": "gbm",
}


def default_model(zone: str, has_features: bool = False) -> str:
    """The price model ``forecast`` and ``deterministic`` use in ``zone`` by default."""
    if has_features and zone in DEFAULT_MODELS_WITH_FEATURES:
        return DEFAULT_MODELS_WITH_FEATURES[zone]
    return DEFAULT_MODELS.get(zone, SIMILAR_DAYS)


DESCRIPTIONS: dict[StrategyName, str] = {
    StrategyName.FORECAST: (
        "stochastic bid on price scenarios from what is published before gate closure "
        "(the run's price_model: similar days or a forecast model)"
    ),
    StrategyName.DETERMINISTIC: (
        "one point forecast of the run's price_model (similar days: the probability-weighted "
        "mean of the 7 most similar past days)"
    ),
    StrategyName.PERFECT_FORESIGHT: (
        "each day optimised on its own actual DA and reserve prices (hindsight benchmark)"
    ),
    StrategyName.PRICE_TAKER: (
        "flat schedule, no shifting, no battery, buys its whole need at any price"
    ),
}

# Strategies that see the day's own final prices: never submittable.
HINDSIGHT = frozenset({StrategyName.PERFECT_FORESIGHT})
# Strategies that need at least one complete past day published before gate closure.
NEEDS_HISTORY = frozenset({StrategyName.FORECAST, StrategyName.DETERMINISTIC})


def strategy_name(text: str) -> StrategyName:
    """The strategy called ``text``.

    Raises
    ------
    ValueError
        Unknown name; the message lists the known ones.
    """
    try:
        return StrategyName(text)
    except ValueError:
        known = ", ".join(s.value for s in StrategyName)
        raise ValueError(f"unknown strategy {text!r} (known: {known})") from None
