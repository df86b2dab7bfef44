"""Point models on data of known structure: naive, similar days, LEAR."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from bidding.scenarios import PriceScenarios
from forecast import (
    DailyPanel,
    ForecastError,
    mae,
    panel_from_series,
    point_forecasts,
    point_model,
)
from forecast.lear import design, lear_forecast
from forecast.models import seasonal_naive, similar_days
from market import KnownSeries, get_zone, published_day_ahead
from tests.forecast.synthetic import ar_panel


def test_seasonal_naive_takes_d7_on_monday_saturday_sunday_else_d1() -> None:
    panel = ar_panel(30)
    for i in range(14, 28):
        lag = 7 if panel.days[i].weekday() in (0, 5, 6) else 1
        assert np.array_equal(seasonal_naive(panel, i), panel.prices[i - lag])


def test_seasonal_naive_needs_the_lagged_day() -> None:
    with pytest.raises(ForecastError, match="D-7"):
        seasonal_naive(ar_panel(30), 0)


def test_lear_recovers_a_linear_autoregressive_process() -> None:
    panel = ar_panel(200, noise=1.0)
    x, y = design(panel)
    rows = list(range(194, 200))
    lear = np.vstack([lear_forecast(x, y, i, (180,)) for i in rows])
    naive = np.vstack([seasonal_naive(panel, i) for i in rows])
    actual = panel.prices[rows]
    # The noise alone gives MAE ~0.8 (E|N(0,1)|); 247 features on 173 days cost a little more.
    assert mae(actual, lear) < 1.5
    assert mae(actual, lear) < 0.4 * mae(actual, naive)


def test_lear_uses_no_price_of_the_forecast_day_or_later() -> None:
    panel = ar_panel(120)
    i = 110
    base = point_model("lear-1456", panel).forecast(i)
    changed = panel.prices.copy()
    changed[i:] += 1000.0
    other = DailyPanel(panel.days, changed, panel.features, panel.feature_names)
    assert np.allclose(point_model("lear-1456", other).forecast(i), base)
    assert np.allclose(point_model("lear-1456", panel.known_for(i)).forecast(i), base)


def test_lear_needs_the_lagged_inputs() -> None:
    with pytest.raises(ForecastError, match="D-7"):
        point_model("lear", ar_panel(30)).forecast(3)


def test_similar_days_matches_the_bidding_scenarios_expectation() -> None:
    zone = get_zone("DE-LU")
    panel = ar_panel(70)
    starts = pd.date_range(
        "2024-01-01", periods=70 * 24 + 48, freq="h", tz="Europe/Berlin"
    ).tz_convert("UTC")
    # Winter days only (no DST): 70 days from 2024-01-01 end before 2024-03-31.
    values = pd.Series(panel.prices.reshape(-1), index=starts[: 70 * 24])
    history = KnownSeries.from_values(
        values, published_day_ahead(zone), timedelta(hours=1), "EUR/MWh"
    )
    day = date(2024, 3, 5)
    i = panel.index_of(day)
    ours = similar_days(panel, i)[0]
    theirs = PriceScenarios.deterministic(history, day, zone, 7).expected()
    assert np.allclose(ours, theirs)
    rebuilt = panel_from_series(values, zone, panel.days[0], panel.days[-1])
    assert np.allclose(rebuilt.prices, panel.prices)


def test_point_forecasts_of_rows_equal_single_forecasts() -> None:
    panel = ar_panel(40)
    m = point_model("similar-days", panel)
    got = point_forecasts(m, [30, 31])
    assert np.allclose(got[1], m.forecast(31))


def test_unknown_model_is_a_one_line_error() -> None:
    with pytest.raises(ForecastError, match="unknown model 'magic'"):
        point_model("magic", ar_panel(10))


def test_lear_on_quarter_hours_fits_the_hourly_means_and_adds_the_recent_intra_hour_shape() -> None:
    hourly = ar_panel(80)
    pattern = np.array([-3.0, -1.0, 1.0, 3.0])  # each hour's quarter-hours, summing to zero
    prices = np.repeat(hourly.prices, 4, axis=1) + np.tile(pattern, 24)[None, :]
    feats = np.repeat(hourly.features, 4, axis=1)
    quarter = DailyPanel(hourly.days, prices, feats, hourly.feature_names)
    i = 75
    got = point_model("lear-1456", quarter).forecast(i)
    want = np.repeat(point_model("lear-1456", hourly).forecast(i), 4) + np.tile(pattern, 24)
    assert got.shape == (96,)
    assert np.allclose(got, want)
    # The shape comes from past days only: changing the forecast day's prices changes nothing.
    later = prices.copy()
    later[i:] *= 5.0
    other = DailyPanel(hourly.days, later, feats, hourly.feature_names)
    assert np.allclose(point_model("lear-1456", other).forecast(i), got)


def _supply_stack_panel(n: int, seed: int = 0) -> DailyPanel:
    """Prices set by a non-linear function of the day's published inputs (a supply stack: the
    price jumps where load net of renewables crosses a threshold), no autoregression."""
    rng = np.random.default_rng(seed)
    days = tuple(date(2024, 1, 1) + timedelta(days=k) for k in range(n))
    slots = np.arange(96)
    load = 1000 + 300 * np.sin(2 * np.pi * (slots - 30) / 96)[None, :] + rng.normal(0, 40, (n, 96))
    solar = np.clip(np.sin(np.pi * (slots - 24) / 48), 0, None)[None, :] * rng.uniform(
        100, 700, (n, 1)
    )
    net = load - solar
    prices = np.where(net > 1000, 400.0, 80.0) + 0.05 * net + rng.normal(0, 5, (n, 96))
    feats = np.stack([load, solar], axis=2)
    return DailyPanel(days, prices, feats, ("load_mw", "solar_mw"))


def test_gbm_learns_the_price_from_the_day_s_inputs() -> None:
    panel = _supply_stack_panel(150)
    model = point_model("gbm", panel)
    rows = list(range(140, 150))
    gbm = np.vstack([model.forecast(i) for i in rows])
    sim = np.vstack([similar_days(panel, i)[0] for i in rows])
    actual = panel.prices[rows]
    # Similar days averages the price levels of other days; the trees read the stack off the
    # inputs of the day itself (noise alone: MAE ~4).
    assert mae(actual, gbm) < 0.25 * mae(actual, sim)
    assert mae(actual, gbm) < 20


def test_gbm_uses_no_price_of_the_forecast_day_or_later() -> None:
    panel = _supply_stack_panel(80)
    i = 70
    base = point_model("gbm", panel).forecast(i)
    changed = panel.prices.copy()
    changed[i:] += 1000.0
    other = DailyPanel(panel.days, changed, panel.features, panel.feature_names)
    assert np.array_equal(point_model("gbm", other).forecast(i), base)
    assert np.array_equal(point_model("gbm", panel.known_for(i)).forecast(i), base)
    # The day's own inputs count.
    feats = panel.features.copy()
    feats[i, :, 1] *= 2.0
    moved = DailyPanel(panel.days, panel.prices, feats, panel.feature_names)
    assert not np.array_equal(point_model("gbm", moved).forecast(i), base)


def test_gbm_needs_two_weeks_of_prices() -> None:
    with pytest.raises(ForecastError, match="gbm model needs 14 complete days"):
        point_model("gbm", _supply_stack_panel(20)).forecast(10)
