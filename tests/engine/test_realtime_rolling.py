"""Rolling real-time re-plans: the intraday spread update, a chain whose live prefix is what the
backtest ran, no look-ahead past each re-plan's own time, the intervals already run kept, and a
persistent spread earned that a single re-plan cannot see."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from engine.core.errors import PowerdeskError
from engine.marketdata.view import MarketData
from engine.strategies.realtime import (
    INTRADAY_LEAD,
    check_realtime,
    intraday_times,
    realtime_replan,
)
from engine.strategies.registry import StrategyConfig, decide
from forecast.realtime import autocorrelation, day_spreads, forecast_realtime
from market import delivery_intervals
from tests.engine.test_realtime import (
    DAY,
    FIRST,
    QUARTER,
    ZONE,
    _da_values,
    _days,
    _market,
    _rt_values,
    _run,
    _site,
)

ROLL = StrategyConfig(
    n_scenarios=3, rt_stage=True, rt_forecast="zero", rt_lookback_days=7, rt_every_minutes=60
)


def _regimes(da: pd.Series, seed: int = 5) -> pd.Series:
    """Real-time prices whose spread over DA holds for six-hour stretches at a random level:
    nothing about a day's spread is known the day before, but its last hour says a lot about
    the next."""
    rt = _rt_values(da, spread=False)
    rng = np.random.default_rng(seed)
    local = rt.index.tz_convert(ZONE.tz)
    block = pd.Series(local.date, index=rt.index).astype(str) + "-" + (local.hour // 6).astype(str)
    levels = {b: float(rng.choice([-90.0, 0.0, 90.0])) for b in sorted(set(block))}
    return (rt + block.map(levels).to_numpy()).round(2)


# --------------------------------------------------------------------------------------------
# The forecast


def test_autocorrelation_matches_the_textbook_estimate_and_skips_unknown_values() -> None:
    rng = np.random.default_rng(1)
    x = np.zeros(400)
    for t in range(1, 400):
        x[t] = 0.8 * x[t - 1] + rng.normal()
    rho = autocorrelation(x, 5)
    assert rho[0] == 1.0
    for k in range(1, 6):
        a, b = x[:-k], x[k:]
        assert rho[k] == pytest.approx(float(a @ b / np.sqrt((a @ a) * (b @ b))), rel=1e-12)
    assert 0.7 < rho[1] < 0.9
    assert rho[5] < rho[1]
    gappy = x.copy()
    gappy[100:150] = np.nan
    keep = np.isfinite(gappy[:-1]) & np.isfinite(gappy[1:])
    a, b = x[:-1][keep], x[1:][keep]
    assert autocorrelation(gappy, 1)[1] == pytest.approx(
        float(a @ b / np.sqrt((a @ a) * (b @ b))), rel=1e-12
    )


def test_the_intraday_update_adds_the_measured_share_of_the_last_known_spread() -> None:
    days = _days(FIRST, DAY)
    da = _da_values(days)
    intervals = delivery_intervals(DAY, ZONE)
    rt = _regimes(da)
    morning = (rt.index >= intervals[6]) & (rt.index < intervals[12])
    rt[morning] += 60.0  # whatever the random level, D's morning spread is not zero
    noon = intervals[12]
    known = rt[rt.index < noon]  # what a re-plan at noon on D knows
    fc = forecast_realtime("zero", da, known, QUARTER, DAY, ZONE, 7, intraday=True)
    plain = forecast_realtime("zero", da, known, QUARTER, DAY, ZONE, 7)
    assert plain.anchor is None
    assert not plain.spread_per_mwh.any()
    assert fc.anchor == intervals[11]
    # The same numbers by hand: deviations of the 7 days before, autocorrelation, last spread.
    spreads = np.concatenate(
        [day_spreads(da, known, QUARTER, DAY - timedelta(days=k), ZONE)[1] for k in range(7, 0, -1)]
    )
    rho = autocorrelation(spreads, len(intervals))
    _, today = day_spreads(da, known, QUARTER, DAY, ZONE)
    last = today[11]
    assert np.isfinite(last)
    assert not np.isfinite(today[12:]).any()
    np.testing.assert_allclose(fc.spread_per_mwh[12:], rho[1:13] * last, rtol=1e-12)
    assert abs(fc.spread_per_mwh[12]) > abs(fc.spread_per_mwh[-1])  # the update fades
    # Intervals already known are not forecast again: they keep the method's spread (zero).
    assert not fc.spread_per_mwh[:12].any()


def test_no_update_when_the_last_known_spread_is_more_than_a_day_old() -> None:
    days = _days(FIRST, DAY)
    da = _da_values(days)
    rt = _regimes(da)
    stale = rt[rt.index < delivery_intervals(DAY - timedelta(days=1), ZONE)[0]]
    fc = forecast_realtime("zero", da, stale, QUARTER, DAY, ZONE, 7, intraday=True)
    assert not fc.spread_per_mwh.any()


# --------------------------------------------------------------------------------------------
# The chain


def test_replan_times_fall_just_before_the_boundaries_of_the_day() -> None:
    times = intraday_times(DAY, ZONE, timedelta(hours=1))
    intervals = delivery_intervals(DAY, ZONE)
    assert len(times) == 24
    assert times[0] == intervals[0] - INTRADAY_LEAD
    assert times[5] == intervals[5] - INTRADAY_LEAD
    assert len(intraday_times(DAY, ZONE, timedelta(hours=3))) == 8
    with pytest.raises(PowerdeskError, match="whole number of 60-minute"):
        intraday_times(DAY, ZONE, timedelta(minutes=45))


def test_a_live_rolling_replan_is_the_prefix_of_what_the_backtest_ran() -> None:
    """The chain up to t (live) and the whole chain (backtest) schedule every interval that has
    started by t alike; the whole chain keeps them and delivers the job's energy in full."""
    days = _days(FIRST, DAY)
    da = _da_values(days)
    data = _market(da, _regimes(da))
    site = _site()
    plan = decide("forecast", site, ZONE, DAY, data, ROLL)
    whole = realtime_replan(site, ZONE, DAY, plan, data, ROLL)
    assert whole.replans == 25  # after the DA result, then before each hour of the day
    intervals = plan.intervals
    t = intervals[14].to_pydatetime() - INTRADAY_LEAD
    live = realtime_replan(site, ZONE, DAY, plan, data, ROLL, as_of=t)
    assert live.replans == 16
    assert live.as_of == t
    run = slice(0, 14)
    for name in ("market_mw", "charge_mw", "discharge_mw"):
        a, b = getattr(whole.plan, name)[0], getattr(live.plan, name)[0]
        np.testing.assert_allclose(a[run], b[run], atol=1e-6)
    np.testing.assert_allclose(whole.forecast_per_mwh[run], live.forecast_per_mwh[run])
    job = whole.plan.job_it_mw[0, 0]
    assert float(job.sum()) * whole.plan.interval_hours == pytest.approx(6.0, abs=1e-6)
    # The rest of the day moved after t: the later re-plans saw the spreads of the afternoon.
    assert not np.allclose(whole.plan.market_mw[0][14:], live.plan.market_mw[0][14:], atol=1e-6)


def test_a_rolling_replan_ignores_what_is_published_after_its_time() -> None:
    days = _days(FIRST, DAY + timedelta(days=2))
    da = _da_values(days)
    rt = _regimes(da)
    site = _site()
    data = _market(da, rt)
    plan = decide("forecast", site, ZONE, DAY, data, ROLL)
    intervals = plan.intervals
    t = intervals[9].to_pydatetime() - INTRADAY_LEAD
    live = realtime_replan(site, ZONE, DAY, plan, data, ROLL, as_of=t)
    late = (rt.index + QUARTER) >= t  # ends at or after t: published then or later
    changed = rt.copy()
    changed[late] = changed[late] * -2.0 + 300.0
    again = realtime_replan(site, ZONE, DAY, plan, _market(da, changed), ROLL, as_of=t)
    np.testing.assert_array_equal(again.plan.market_mw, live.plan.market_mw)
    np.testing.assert_array_equal(again.forecast_per_mwh, live.forecast_per_mwh)
    # The control: the last quarter of the last whole hour published before t moves the
    # forecast (the hour running at t is known in part only, which is not its price).
    last = rt.index[rt.index < intervals[8]][-1]
    moved = rt.copy()
    moved[last] = moved[last] + 400.0
    other = realtime_replan(site, ZONE, DAY, plan, _market(da, moved), ROLL, as_of=t)
    assert not np.array_equal(other.forecast_per_mwh, live.forecast_per_mwh)


def test_rolling_replans_earn_a_spread_that_persists_within_the_day() -> None:
    days = _days(FIRST, DAY + timedelta(days=2))
    da = _da_values(days)
    data = _market(da, _regimes(da))
    test_days = [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)]
    once = replace(ROLL, rt_every_minutes=0)
    rolling = _run(data, ROLL, test_days)["forecast"].realtime()
    single = _run(data, once, test_days)["forecast"].realtime()
    assert rolling is not None
    assert single is not None
    assert rolling.total("total_cost") < single.total("total_cost")
    assert rolling.total("energy_cost") == single.total("energy_cost")  # same DA position


def test_rolling_replans_off_the_da_grid_are_a_one_line_error() -> None:
    days = _days(FIRST, DAY)
    da = _da_values(days)
    data: MarketData = _market(da, _regimes(da))
    with pytest.raises(PowerdeskError, match=r"--rt-every 45: .*60-minute DA intervals"):
        check_realtime(replace(ROLL, rt_every_minutes=45), data)
    check_realtime(replace(ROLL, rt_every_minutes=120), data)
    with pytest.raises(PowerdeskError, match="positive interval"):
        replace(ROLL, rt_every_minutes=-15)


def test_a_single_replan_made_while_the_day_runs_reports_its_whole_forecast() -> None:
    from engine.strategies.realtime import realtime_forecast

    days = _days(FIRST, DAY)
    da = _da_values(days)
    data = _market(da, _regimes(da))
    site = _site()
    once = replace(ROLL, rt_every_minutes=0)
    plan = decide("forecast", site, ZONE, DAY, data, once)
    t = plan.intervals[9].to_pydatetime() - INTRADAY_LEAD
    replan = realtime_replan(site, ZONE, DAY, plan, data, once, as_of=t)
    assert replan.replans == 1
    np.testing.assert_array_equal(
        replan.forecast_per_mwh, realtime_forecast(data, DAY, ZONE, once, t).point
    )


def test_the_spread_memo_serves_only_the_prices_it_was_computed_from() -> None:
    days = _days(FIRST, DAY)
    da = _da_values(days)
    rt = _regimes(da)
    memo: dict[bytes, np.ndarray] = {}
    _, first = day_spreads(da, rt, QUARTER, DAY, ZONE, memo)
    _, again = day_spreads(da, rt, QUARTER, DAY, ZONE, memo)
    np.testing.assert_array_equal(first, again)
    assert len(memo) == 1
    revised = rt.copy()
    revised[delivery_intervals(DAY, ZONE, QUARTER)[8]] += 100.0  # a revised quarter-hour
    _, fresh = day_spreads(da, revised, QUARTER, DAY, ZONE, memo)
    np.testing.assert_array_equal(fresh, day_spreads(da, revised, QUARTER, DAY, ZONE)[1])
    assert not np.array_equal(fresh, first)
