"""Scenarios see only what was published before gate closure; DST days line up."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from bidding import PriceScenarios, ScenarioError, make_scenarios
from market import (
    KnownSeries,
    delivery_intervals,
    gate_closure_utc,
    get_zone,
    published_day_ahead,
)

ZONE = get_zone("DE-LU")


def history(first: date, last: date, seed: int = 0) -> KnownSeries:
    """Quarter-hourly DA prices of every delivery day in [first, last], published day-ahead."""
    starts = []
    d = first
    while d <= last:
        starts.append(delivery_intervals(d, ZONE))
        d += timedelta(days=1)
    index = starts[0].append(starts[1:])
    rng = np.random.default_rng(seed)
    values = pd.Series(50 + rng.normal(0, 20, len(index)), index=index)
    return KnownSeries.from_values(
        values, published_day_ahead(ZONE), timedelta(minutes=15), "EUR/MWh"
    )


@pytest.mark.parametrize(
    ("day", "n_intervals"),
    [(date(2025, 11, 12), 96), (date(2026, 3, 29), 92), (date(2025, 10, 26), 100)],
)
def test_scenarios_fit_the_day(day: date, n_intervals: int) -> None:
    series = history(day - timedelta(days=40), day + timedelta(days=2))
    sc = make_scenarios(series, day, ZONE, 5, seed=1)
    assert sc.prices_per_mwh.shape == (5, n_intervals)
    assert sc.probabilities.sum() == pytest.approx(1.0)
    assert sc.intervals.equals(delivery_intervals(day, ZONE))
    assert all(d < day for d in sc.source_days)
    assert sc.as_of == gate_closure_utc(day, ZONE)
    # The same weekday one week back is the heaviest scenario.
    assert sc.source_days[0] == day - timedelta(days=7)


def test_only_data_published_before_gate_closure_is_used() -> None:
    day = date(2025, 11, 12)
    series = history(day - timedelta(days=30), day + timedelta(days=3))
    base = make_scenarios(series, day, ZONE, 4)
    # Rewrite the prices of day D and later: the scenarios must not move.
    frame = series.frame.copy()
    later = frame["interval_start"] >= pd.Timestamp(delivery_intervals(day, ZONE)[0])
    frame.loc[later, "value"] = 9999.0
    changed = KnownSeries(frame, series.resolution, series.unit)
    again = make_scenarios(changed, day, ZONE, 4)
    np.testing.assert_array_equal(base.prices_per_mwh, again.prices_per_mwh)
    # D-1 was published (D-2 12:45) before gate closure of D (D-1 12:00): it may be used.
    d1 = delivery_intervals(day - timedelta(days=1), ZONE)
    frame = series.frame.copy()
    frame.loc[frame["interval_start"].isin(d1), "value"] = 1.0
    moved = make_scenarios(KnownSeries(frame, series.resolution, series.unit), day, ZONE, 10)
    assert (moved.prices_per_mwh == 1.0).all(axis=1).any()


def test_too_little_history_is_seeded_and_none_is_an_error() -> None:
    day = date(2025, 11, 12)
    series = history(day - timedelta(days=2), day)
    a = make_scenarios(series, day, ZONE, 5, seed=3)
    b = make_scenarios(series, day, ZONE, 5, seed=3)
    np.testing.assert_array_equal(a.prices_per_mwh, b.prices_per_mwh)
    assert a.n == 5
    with pytest.raises(ScenarioError, match="no complete day of prices"):
        make_scenarios(history(day, day + timedelta(days=1)), day, ZONE, 3)


def test_perfect_foresight_and_deterministic() -> None:
    day = date(2025, 11, 12)
    series = history(day - timedelta(days=20), day)
    pf = PriceScenarios.perfect_foresight(series, day, ZONE)
    np.testing.assert_allclose(
        pf.prices_per_mwh[0], series.final().reindex(delivery_intervals(day, ZONE)).to_numpy()
    )
    det = PriceScenarios.deterministic(series, day, ZONE)
    assert det.n == 1
    full = make_scenarios(series, day, ZONE, 7)
    np.testing.assert_allclose(det.prices_per_mwh[0], full.expected())


def test_hourly_history_maps_onto_quarter_hours() -> None:
    # SDAC moved to 15 minutes on 2025-10-01: hourly history must still give 96 values.
    day = date(2025, 10, 2)
    hours_ix = pd.date_range("2025-09-01", "2025-10-01", freq="h", tz="UTC", inclusive="left")
    values = pd.Series(np.arange(len(hours_ix), dtype=float), index=hours_ix)
    series = KnownSeries.from_values(
        values, published_day_ahead(ZONE), timedelta(hours=1), "EUR/MWh"
    )
    sc = make_scenarios(series, day, ZONE, 2)
    assert sc.prices_per_mwh.shape == (2, 96)
    # Four quarter-hours of an hour share that hour's price.
    np.testing.assert_array_equal(sc.prices_per_mwh[:, 0], sc.prices_per_mwh[:, 3])
