"""The one clearing, award and imbalance rule (market.clearing)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from market import delivery_intervals, get_zone
from market.clearing import (
    DACurve,
    ReserveOffer,
    SubmittedDay,
    award_reserves,
    clear_curve,
    cleared_energy_mwh,
    imbalance_prices_on,
    settle_submitted_day,
)
from market.errors import SeriesError

T0 = datetime(2025, 3, 20, 11, tzinfo=UTC)
HOUR = timedelta(hours=1)
QUARTER = timedelta(minutes=15)


def _series(start: datetime, step: timedelta, values: list[float]) -> pd.Series:
    index = pd.DatetimeIndex([start + k * step for k in range(len(values))])
    return pd.Series(values, index=index, dtype="float64")


def test_quarter_hour_imbalance_on_an_hourly_interval_is_their_mean() -> None:
    imbalance = _series(T0, QUARTER, [100.0, 200.0, 300.0, 400.0])
    got = imbalance_prices_on(imbalance, QUARTER, pd.DatetimeIndex([T0]), HOUR)
    assert got == [Decimal(250)]


def test_a_coarser_imbalance_interval_gives_its_price_and_a_gap_gives_none() -> None:
    imbalance = _series(T0, HOUR, [42.5])
    quarters = pd.DatetimeIndex([T0 + k * QUARTER for k in range(6)])
    got = imbalance_prices_on(imbalance, HOUR, quarters, QUARTER)
    assert got == [Decimal("42.5")] * 4 + [None, None]


def test_a_missing_quarter_leaves_the_hour_without_an_imbalance_price() -> None:
    imbalance = _series(T0, QUARTER, [100.0, float("nan"), 300.0, 400.0])
    assert imbalance_prices_on(imbalance, QUARTER, pd.DatetimeIndex([T0]), HOUR) == [None]


def test_curve_clears_the_first_step_at_or_above_the_price() -> None:
    curve = DACurve(T0, (Decimal(20), Decimal(50), Decimal(4000)), (30.0, 10.0, 0.0))
    assert clear_curve(curve, Decimal(20)) == 30.0
    assert clear_curve(curve, Decimal("20.01")) == 10.0
    assert clear_curve(curve, Decimal(4001)) == 0.0
    # 10 MW over a quarter hour, to the Wh
    assert cleared_energy_mwh(curve, Decimal(45), QUARTER) == Decimal("2.5")
    odd = DACurve(T0, (Decimal(4000),), (1.0 / 3.0,))
    assert cleared_energy_mwh(odd, Decimal(1), HOUR) == Decimal("0.333333")


def test_reserve_offer_is_awarded_at_or_below_the_clearing_price_and_paid_it() -> None:
    zone = get_zone("CAISO")
    start = datetime(2020, 3, 7, 8, tzinfo=UTC)
    clearing = {"REGUP": _series(start, HOUR, [3.48651, 10.0])}
    offers = [
        ReserveOffer("REGUP", start, Decimal(5), Decimal("3.48")),  # below: paid 3.48651
        ReserveOffer("REGUP", start + HOUR, Decimal(5), Decimal("10.01")),  # above: not awarded
        ReserveOffer("REGUP", start + HOUR, Decimal(0), Decimal(1)),  # nothing offered
        ReserveOffer("REGDN", start, Decimal(5), Decimal(1)),  # no clearing price known
    ]
    awards = award_reserves(offers, clearing, zone)
    assert [(a.product, a.block_start, a.awarded_mw, a.capacity_price) for a in awards] == [
        ("REGUP", start, Decimal(5), Decimal("3.48651"))
    ]


@pytest.mark.parametrize("day", [date(2025, 3, 20), date(2025, 3, 30), date(2025, 10, 26)])
def test_settle_submitted_day_covers_normal_and_dst_days(day: date) -> None:
    zone = get_zone("DE-LU")
    intervals = delivery_intervals(day, zone)
    curves = tuple(DACurve(t.to_pydatetime(), (Decimal(4000),), (10.0,)) for t in intervals)
    da = pd.Series(50.0, index=intervals)
    step = zone.resolution_on(day)
    hours = Decimal(int(step.total_seconds())) / 3600
    metered = [10 * hours + 1] * len(intervals)  # 1 MWh above the position in every interval
    quarters = pd.date_range(intervals[0], intervals[-1] + step, freq="15min", inclusive="left")
    imbalance = pd.Series(80.0, index=quarters)
    s = settle_submitted_day(
        zone,
        day,
        SubmittedDay(curves, ()),
        da_prices=da,
        metered_mwh=metered,
        imbalance_prices=imbalance,
        imbalance_resolution=QUARTER,
    )
    n = len(intervals)
    assert s.totals["energy_cost"] == 500 * hours * n
    assert s.totals["imbalance_cost"] == Decimal(80 * n)
    with pytest.raises(SeriesError, match="no curve"):
        settle_submitted_day(
            zone, day, SubmittedDay(curves[1:], ()), da_prices=da, metered_mwh=metered
        )
    with pytest.raises(SeriesError, match="no DA price"):
        settle_submitted_day(
            zone, day, SubmittedDay(curves, ()), da_prices=da.iloc[1:], metered_mwh=metered
        )
