from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from market import (
    ZONES,
    NaiveDatetimeError,
    UnknownZoneError,
    block_index,
    delivery_day_bounds,
    delivery_day_of,
    delivery_intervals,
    gate_closure_utc,
    get_zone,
    require_aware,
)

# (zone, spring-forward day, fall-back day) for every zone with DST.
DST_DAYS = [
    ("DE-LU", date(2025, 3, 30), date(2025, 10, 26)),
    ("DK1", date(2025, 3, 30), date(2025, 10, 26)),
    ("DK2", date(2025, 3, 30), date(2025, 10, 26)),
    ("CAISO", date(2025, 3, 9), date(2025, 11, 2)),
    ("ERCOT", date(2025, 3, 9), date(2025, 11, 2)),
]
Q15 = timedelta(minutes=15)
H1 = timedelta(hours=1)


@pytest.mark.parametrize(("zone", "spring", "autumn"), DST_DAYS)
@pytest.mark.parametrize(("res", "n_normal"), [(Q15, 96), (H1, 24)])
def test_dst_days_have_23_and_25_hours(
    zone: str, spring: date, autumn: date, res: timedelta, n_normal: int
) -> None:
    per_hour = n_normal // 24
    assert len(delivery_intervals(spring, zone, res)) == 23 * per_hour
    assert len(delivery_intervals(autumn, zone, res)) == 25 * per_hour
    assert len(delivery_intervals(spring + timedelta(days=7), zone, res)) == n_normal


@pytest.mark.parametrize("zone", sorted(ZONES))
def test_intervals_tile_the_day_in_utc(zone: str) -> None:
    for day in (date(2025, 1, 15), date(2025, 3, 30), date(2025, 11, 2), date(2025, 10, 26)):
        ix = delivery_intervals(day, zone)
        start, end = delivery_day_bounds(day, zone)
        assert str(ix.tz) == "UTC"
        assert ix[0] == start
        assert ix[-1] + ix.freq == end
        assert ((ix[1:] - ix[:-1]) == pd.Timedelta(ix.freq)).all()
        assert delivery_day_of(ix[0].to_pydatetime(), zone) == day
        assert delivery_day_of(ix[-1].to_pydatetime(), zone) == day


def test_sdac_resolution_is_dated() -> None:
    assert len(delivery_intervals(date(2025, 9, 30), "DE-LU")) == 24
    assert len(delivery_intervals(date(2025, 10, 1), "DE-LU")) == 96
    assert len(delivery_intervals(date(2025, 10, 26), "DK1")) == 100
    assert len(delivery_intervals(date(2024, 3, 31), "DE-LU")) == 23


@pytest.mark.parametrize("zone", ["CN-GS", "CN-GD", "CN-SX", "CN-JS"])
def test_chinese_zones_have_96_points_every_day(zone: str) -> None:
    for day in (date(2025, 3, 30), date(2025, 10, 26), date(2025, 11, 2)):
        ix = delivery_intervals(day, zone)
        assert len(ix) == 96
        # Local midnight in China (UTC+8, no DST) is 16:00 UTC the day before.
        assert ix[0] == datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=8)
    assert get_zone(zone).currency == "CNY"


def test_four_hour_blocks_follow_local_wall_clock() -> None:
    four = timedelta(hours=4)
    normal = block_index(delivery_intervals(date(2025, 6, 1), "DE-LU", H1), "DE-LU", four)
    assert np.bincount(normal).tolist() == [4] * 6
    spring = block_index(delivery_intervals(date(2025, 3, 30), "DE-LU", H1), "DE-LU", four)
    assert np.bincount(spring).tolist() == [3, 4, 4, 4, 4, 4]
    autumn = block_index(delivery_intervals(date(2025, 10, 26), "DE-LU", Q15), "DE-LU", four)
    assert np.bincount(autumn).tolist() == [20, 16, 16, 16, 16, 16]


def test_hourly_blocks_keep_the_repeated_hour_apart() -> None:
    ix = delivery_intervals(date(2025, 11, 2), "ERCOT", Q15)
    blocks = block_index(ix, "ERCOT", H1)
    assert blocks.max() == 24
    assert np.bincount(blocks).tolist() == [4] * 25


def test_gate_closure_is_local_time_on_the_day_before() -> None:
    # 12:00 CEST on 2025-05-31 is 10:00 UTC; 12:00 CET on 2025-01-14 is 11:00 UTC.
    assert gate_closure_utc(date(2025, 6, 1), "DE-LU") == datetime(2025, 5, 31, 10, tzinfo=UTC)
    assert gate_closure_utc(date(2025, 1, 15), "DE-LU") == datetime(2025, 1, 14, 11, tzinfo=UTC)
    # The day after spring-forward: D-1 is the 23-hour day, still 12:00 local.
    assert gate_closure_utc(date(2025, 3, 31), "DE-LU") == datetime(2025, 3, 30, 10, tzinfo=UTC)


def test_naive_input_and_unknown_zone_are_errors() -> None:
    with pytest.raises(NaiveDatetimeError, match="no UTC offset"):
        require_aware(datetime(2025, 1, 1))  # noqa: DTZ001
    with pytest.raises(UnknownZoneError, match="unknown zone 'XX'"):
        delivery_intervals(date(2025, 1, 1), "XX")
