"""forecast_day: only what was published before gate closure of D-1 counts; DST days map."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from forecast import (
    DayForecast,
    ErrorRecord,
    ForecastError,
    forecast_day,
    series_to_slots,
    slots_to_intervals,
)
from market import (
    KnownSeries,
    delivery_intervals,
    gate_closure_utc,
    get_zone,
    published_day_ahead,
)

ZONE = get_zone("DE-LU")
DAY = date(2025, 3, 30)  # spring DST day: 23 hours


def _hourly(first: date, last: date, seed: int) -> pd.Series:
    idx = pd.DatetimeIndex(
        np.concatenate(
            [
                delivery_intervals(first + timedelta(days=k), ZONE, timedelta(hours=1))
                for k in range((last - first).days + 1)
            ]
        ),
        tz="UTC",
    )
    rng = np.random.default_rng(seed)
    hour = idx.tz_convert(ZONE.tz).hour.to_numpy()
    return pd.Series(60 + 15 * np.sin(hour / 24 * 2 * np.pi) + rng.normal(0, 5, len(idx)), idx)


def _series(values: pd.Series) -> KnownSeries:
    return KnownSeries.from_values(values, published_day_ahead(ZONE), timedelta(hours=1), "EUR/MWh")


def _features(values: pd.Series, gate_of: datetime | None = None) -> KnownSeries:
    # Day-ahead load forecasts, published at 09:00 local on D-1 (before gate closure).
    pub = pd.Series(
        [
            pd.Timestamp(gate_closure_utc(d, ZONE)) - pd.Timedelta(hours=3)
            for d in values.index.tz_convert(ZONE.tz).date
        ],
        index=values.index,
    )
    return KnownSeries.from_values(values, pub, timedelta(hours=1), "MW")


@pytest.mark.parametrize("model", ["naive", "similar-days", "lear-1456", "gbm"])
def test_changing_what_is_published_after_gate_closure_leaves_the_forecast_unchanged(
    model: str,
) -> None:
    prices = _hourly(date(2025, 1, 1), date(2025, 4, 10), 0)
    load = _hourly(date(2025, 1, 1), date(2025, 4, 10), 1) * 200
    kw = {"residual_days": 2, "n_scenarios": 3, "n_samples": 200}
    base = forecast_day(model, _series(prices), DAY, ZONE, {"load": _features(load)}, **kw)
    gate = pd.Timestamp(gate_closure_utc(DAY, ZONE))
    later = prices.copy()
    # D's prices are published after its gate closure (D-1's at 12:45 on D-2, before it).
    after = later.index >= pd.Timestamp(delivery_intervals(DAY, ZONE)[0])
    later[after] += 500.0
    load_later = load.copy()
    next_day = pd.Timestamp(delivery_intervals(DAY + timedelta(days=1), ZONE)[0])
    load_later[load.index >= next_day] *= 3  # inputs of D+1 and later: published after the gate
    other = forecast_day(model, _series(later), DAY, ZONE, {"load": _features(load_later)}, **kw)
    for a, b in zip(_arrays(base), _arrays(other), strict=True):
        assert np.array_equal(a, b)
    # Prices published before the gate do count: the test can see a change.
    earlier = prices.copy()
    earlier[earlier.index < gate] += 50.0
    changed = forecast_day(model, _series(earlier), DAY, ZONE, {"load": _features(load)}, **kw)
    assert not np.array_equal(changed.point, base.point)


def _arrays(f: DayForecast) -> list[np.ndarray]:
    return [f.point, f.quantiles, f.scenarios, f.probabilities, f.intervals.asi8]


def test_day_forecast_is_on_the_real_intervals_of_a_dst_day() -> None:
    prices = _hourly(date(2025, 2, 1), date(2025, 3, 29), 2)
    f = forecast_day("similar-days", _series(prices), DAY, ZONE, residual_days=5, n_scenarios=4)
    assert len(f.intervals) == 23
    assert f.point.shape == (23,)
    assert f.quantiles.shape == (7, 23)
    assert f.scenarios.shape == (4, 23)
    assert abs(f.probabilities.sum() - 1) < 1e-12
    assert (np.diff(f.quantiles, axis=0) >= 0).all()
    assert f.as_of == gate_closure_utc(DAY, ZONE)


def test_dst_days_fill_the_missing_hour_and_average_the_repeated_one() -> None:
    spring, autumn = date(2025, 3, 30), date(2025, 10, 26)
    for day, n in ((spring, 23), (autumn, 25)):
        idx = delivery_intervals(day, ZONE, timedelta(hours=1))
        assert len(idx) == n
        values = pd.Series(np.arange(n, dtype=float), idx)
        slots = series_to_slots(values, ZONE, day, day, 60)[0]
        assert slots.shape == (24,)
        if n == 23:  # 00, 01, [02 missing], 03 ... : slot 2 = mean of slots 1 and 3
            assert slots[2] == (slots[1] + slots[3]) / 2
            assert slots[3] == 2
        else:  # 00, 01, 02 (CEST), 02 (CET), 03 ...: slot 2 = mean of the two
            assert slots[2] == 2.5
            assert slots[3] == 4
        back_idx, back = slots_to_intervals(slots, day, ZONE)
        assert back_idx.equals(idx)
        assert back.shape == (n,)


def test_too_little_history_is_an_error() -> None:
    prices = _hourly(date(2025, 3, 27), date(2025, 3, 29), 3)
    with pytest.raises(ForecastError):
        forecast_day("naive", _series(prices), DAY, ZONE)


def test_supplied_errors_replace_the_back_casts() -> None:
    prices = _hourly(date(2025, 2, 1), date(2025, 3, 29), 4)
    errors = np.random.default_rng(0).normal(0, 3, (20, 24))
    f = forecast_day("naive", _series(prices), DAY, ZONE, errors=errors, n_scenarios=2)
    g = forecast_day("naive", _series(prices), DAY, ZONE, errors=errors * 2, n_scenarios=2)
    assert np.array_equal(f.point, g.point)
    assert not np.array_equal(f.quantiles, g.quantiles)
    with pytest.raises(ForecastError, match="errors have shape"):
        forecast_day("naive", _series(prices), DAY, ZONE, errors=errors[:, :5])


def test_a_record_kept_over_days_in_order_gives_the_forecasts_made_without_it() -> None:
    prices = _series(_hourly(date(2025, 1, 1), date(2025, 4, 10), 5))
    days = [DAY + timedelta(days=k) for k in range(-3, 4)]  # across the spring DST day
    record = ErrorRecord("similar-days", ZONE)
    kw = {"residual_days": 10, "n_scenarios": 3, "n_samples": 200}
    for day in days:
        kept = forecast_day("similar-days", prices, day, ZONE, record=record, **kw)
        alone = forecast_day("similar-days", prices, day, ZONE, **kw)
        for a, b in zip(_arrays(kept), _arrays(alone), strict=True):
            assert np.array_equal(a, b)
    # The record only holds the days the errors of the next day can use.
    assert len(record) <= kw["residual_days"] + 1
    with pytest.raises(ForecastError, match="error record is of model similar-days"):
        forecast_day("naive", prices, DAY, ZONE, record=record, **kw)


def test_the_errors_use_only_days_whose_prices_were_published_before_the_gate() -> None:
    values = _hourly(date(2025, 1, 1), date(2025, 4, 10), 6)
    kw = {"residual_days": 10, "n_scenarios": 3, "n_samples": 200}
    base = forecast_day("naive", _series(values), DAY, ZONE, **kw)
    # D-1's prices are published on D-2, before D's gate: they feed D's errors (the quantiles).
    changed = values.copy()
    d1 = (changed.index >= pd.Timestamp(delivery_intervals(DAY - timedelta(days=1), ZONE)[0])) & (
        changed.index < pd.Timestamp(delivery_intervals(DAY, ZONE)[0])
    )
    changed[d1] += 40.0
    other = forecast_day("naive", _series(changed), DAY, ZONE, **kw)
    assert not np.array_equal(other.quantiles, base.quantiles)
