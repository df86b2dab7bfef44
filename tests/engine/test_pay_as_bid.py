"""Pay-as-bid capacity offers: the ask that maximises the expected revenue over the block's
past prices, forecast only for pay-as-bid products, and the ask the bid carries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from bidding import ModelCache, PriceScenarios, Site, solve_day
from bidding.day import ASK_SUFFIX
from engine.strategies.reserves import forecast_reserve_prices, pay_as_bid_ask
from market import KnownSeries, delivery_intervals, get_zone
from tests.bidding.helpers import BATTERY, site_dict

ZONE = get_zone("DE-LU")
DAY = date(2024, 5, 14)


def test_the_ask_maximises_price_times_acceptance_over_past_prices() -> None:
    seen = [10.0, 12.0, 15.0, 20.0, 8.0, 9.0, 11.0]
    ask, revenue = pay_as_bid_ask(seen)
    by_hand = {a: a * sum(x >= a for x in seen) / len(seen) for a in seen}
    assert revenue == pytest.approx(max(by_hand.values()))
    assert by_hand[ask] == pytest.approx(revenue)
    assert (ask, revenue) == (8.0, 8.0)  # every past block reaches 8: always accepted
    # One price far above the rest: asking it pays more than being accepted every time.
    ask, revenue = pay_as_bid_ask([1.0, 1.0, 1.0, 100.0])
    assert (ask, revenue) == (100.0, 25.0)
    assert pay_as_bid_ask([5.0]) == (5.0, 5.0)


def _blocks(days: list[date]) -> pd.Series:
    rng = np.random.default_rng(4)
    parts = []
    for d in days:
        ix = delivery_intervals(d, ZONE, timedelta(minutes=15))
        starts = ix[pd.Index(ix.tz_convert(ZONE.tz).hour) % 4 == 0]
        starts = starts[pd.Index(starts.tz_convert(ZONE.tz).minute) == 0]
        parts.append(pd.Series(np.round(rng.uniform(5, 30, len(starts)), 2), index=starts))
    return pd.concat(parts)


def test_only_pay_as_bid_products_get_an_ask_and_a_revenue_value() -> None:
    days = [DAY - timedelta(days=k) for k in range(14, 0, -1)]
    history = _blocks(days)
    known = KnownSeries.from_values(
        history, lambda idx: idx - timedelta(days=1), timedelta(hours=4), "EUR/MW"
    )
    as_of = datetime.combine(DAY - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    got = forecast_reserve_prices({"AFRR_UP": known, "FCR": known}, DAY, ZONE, as_of, 7)
    assert set(got) == {"AFRR_UP", f"AFRR_UP{ASK_SUFFIX}", "FCR"}
    local = history.index.tz_convert(ZONE.tz)
    for start in got["FCR"].index:
        hour = start.tz_convert(ZONE.tz).hour
        past = history[(local.hour == hour) & (local.date < DAY)].iloc[-7:].tolist()
        assert got["FCR"][start] == pytest.approx(sum(past) / 7)  # pay-as-clear: the mean
        ask, revenue = pay_as_bid_ask(past)
        assert got[f"AFRR_UP{ASK_SUFFIX}"][start] == ask
        assert got["AFRR_UP"][start] == pytest.approx(revenue)


def test_the_bid_carries_the_forecasts_ask() -> None:
    ix = delivery_intervals(DAY, "DE-LU")
    blocks = ix[pd.Index(ix.tz_convert(ZONE.tz).hour) % 4 == 0]
    reserve = {
        "AFRR_UP": pd.Series(9.0, index=blocks),  # the expected revenue per MW offered
        f"AFRR_UP{ASK_SUFFIX}": pd.Series(12.34, index=blocks),
    }
    d = site_dict("DE-LU", reserves={"products": ["AFRR_UP"]}, battery=BATTERY)
    prices = PriceScenarios.point(ix, np.full(len(ix), 60.0))
    plan = solve_day(Site.from_dict(d), "DE-LU", DAY, prices, reserve, cache=ModelCache())
    assert plan.reserve_bids
    assert {b.price_per_mw for b in plan.reserve_bids} == {Decimal("12.34")}
