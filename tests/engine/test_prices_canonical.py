"""Canonical price, reserve price and emission-factor files: round trips and every bad input."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.core.errors import InputFileError, PowerdeskError
from engine.io.canonical import (
    read_price_csv,
    read_reserve_price_csv,
    write_ef_csv,
    write_price_csv,
    write_reserve_price_csv,
)
from engine.io.emission_factors import read_ef_csv
from market import da_publication_utc, delivery_intervals, get_zone


def _days(first: date, n: int, zone: str, resolution: timedelta | None = None) -> pd.DatetimeIndex:
    parts = [delivery_intervals(first + timedelta(days=k), zone, resolution) for k in range(n)]
    return pd.DatetimeIndex(parts[0].append(parts[1:]))


def _prices(index: pd.DatetimeIndex) -> pd.Series:
    rng = np.random.default_rng(7)
    return pd.Series(np.round(rng.normal(80, 40, len(index)), 2), index=index)


@pytest.mark.parametrize(
    ("first", "rows"),
    [
        (date(2025, 3, 4), 3 * 24),  # normal days
        (date(2025, 3, 29), 24 + 23 + 24),  # spring DST day in the middle
        (date(2024, 10, 26), 24 + 25 + 24),  # autumn DST day in the middle
    ],
)
def test_price_round_trip_de_lu(tmp_path: Path, first: date, rows: int) -> None:
    zone = "DE-LU"
    index = _days(first, 3, zone)
    prices = _prices(index)
    path = tmp_path / "da.csv"
    assert write_price_csv(prices, path) == rows
    series = read_price_csv(path, zone)
    assert len(series.frame) == rows
    pd.testing.assert_series_equal(
        series.final(), prices.rename("value").rename_axis("interval_start"), check_freq=False
    )
    # DA values become known at 12:45 local on D-1, not a moment earlier
    day = index[-1].tz_convert("Europe/Berlin").date()
    pub = da_publication_utc(day, zone)
    assert index[-1] not in series.as_of(pub).index
    assert index[-1] in series.as_of(pub + timedelta(seconds=1)).index
    # the same data give the same bytes
    again = tmp_path / "again.csv"
    write_price_csv(series, again)
    assert again.read_bytes() == path.read_bytes()


def test_round_trip_across_sdac_15_minute_switch(tmp_path: Path) -> None:
    index = _days(date(2025, 9, 30), 2, "DE-LU")
    assert len(index) == 24 + 96
    path = tmp_path / "da.csv"
    write_price_csv(_prices(index), path)
    series = read_price_csv(path, "DE-LU")
    assert len(series.frame) == 120
    assert series.resolution == timedelta(minutes=15)


def test_autumn_dst_day_has_25_hours(tmp_path: Path) -> None:
    index = _days(date(2024, 10, 27), 1, "DE-LU")
    path = tmp_path / "da.csv"
    write_price_csv(_prices(index), path)
    assert len(read_price_csv(path, "DE-LU").frame) == 25
    text = path.read_text().splitlines()
    assert text[1] == f"2024-10-26T22:00:00+00:00,{float(_prices(index).iloc[0])!r}"


def test_imbalance_series_known_after_interval_end(tmp_path: Path) -> None:
    index = _days(date(2024, 3, 31), 1, "DE-LU", timedelta(minutes=15))
    assert len(index) == 92
    path = tmp_path / "rebap.csv"
    write_price_csv(_prices(index), path, resolution=timedelta(minutes=15))
    series = read_price_csv(path, "DE-LU", series="IMBALANCE")
    assert series.resolution == timedelta(minutes=15)
    first = index[0]
    assert (
        (series.frame["published_at"] - series.frame["interval_start"])
        .eq(pd.Timedelta(minutes=15))
        .all()
    )
    assert series.as_of(first + timedelta(minutes=15)).empty
    assert len(series.as_of(first + timedelta(minutes=15, seconds=1))) == 1


def test_quarter_hours_without_interval_end_need_resolution(tmp_path: Path) -> None:
    index = _days(date(2024, 3, 5), 1, "DE-LU", timedelta(minutes=15))
    path = tmp_path / "q.csv"
    write_price_csv(_prices(index), path)
    with pytest.raises(InputFileError, match=r"row 3: .*not on the DE-LU 60-minute grid"):
        read_price_csv(path, "DE-LU")
    series = read_price_csv(path, "DE-LU", series="ID", resolution=timedelta(minutes=15))
    assert len(series.frame) == 96


def test_reserve_round_trip_on_dst_days(tmp_path: Path) -> None:
    blocks: list[pd.DatetimeIndex] = []
    for d in (date(2024, 3, 31), date(2024, 4, 1), date(2024, 10, 27)):
        hours = delivery_intervals(d, "DE-LU", timedelta(hours=1))
        local_hour = hours.tz_convert("Europe/Berlin").hour
        starts = hours[(local_hour % 4 == 0) & ~pd.Index(local_hour).duplicated()]
        blocks.append(starts)
    index = pd.DatetimeIndex(blocks[0].append(blocks[1:]))
    assert len(index) == 18
    fcr = pd.Series(np.linspace(10, 27, 18), index=index)
    afrr = pd.Series(np.linspace(1, 18, 18), index=index)
    path = tmp_path / "res.csv"
    assert write_reserve_price_csv({"FCR": fcr, "AFRR_UP": afrr}, path) == 36
    # not contiguous between 2024-04-01 and 2024-10-27: a gap is an error
    with pytest.raises(InputFileError, match="missing interval"):
        read_reserve_price_csv(path, "DE-LU")
    keep = index[:12]
    write_reserve_price_csv({"FCR": fcr[keep], "AFRR_UP": afrr[keep]}, path)
    out = read_reserve_price_csv(path, get_zone("DE-LU"))
    assert set(out) == {"FCR", "AFRR_UP"}
    assert out["FCR"].unit == "EUR/MW"
    assert out["FCR"].resolution == timedelta(hours=4)
    assert list(out["AFRR_UP"].final().to_numpy()) == list(afrr[keep].to_numpy())
    lines = path.read_text().splitlines()
    assert lines[0] == "interval_start,product,price"
    assert lines[1] == "2024-03-30T23:00:00+00:00,AFRR_UP,1.0"
    assert lines[2] == "2024-03-30T23:00:00+00:00,FCR,10.0"
    # the 00-04 block of the spring day lasts 3 hours: the next block starts at 02:00 UTC
    assert lines[3].startswith("2024-03-31T02:00:00+00:00,AFRR_UP,")


def test_ef_round_trip(tmp_path: Path) -> None:
    index = pd.date_range("2023-03-26", periods=48, freq="h", tz="UTC")
    frame = pd.DataFrame(
        {"ef_tco2e_per_mwh": np.linspace(0.1, 0.5, 48), "carbon_free_share": 0.5}, index=index
    )
    path = tmp_path / "ef.csv"
    assert write_ef_csv(frame, path) == 48
    back = read_ef_csv(path, contiguous=True)
    assert back.hours() == [t.to_pydatetime() for t in index]
    got = [float(back.ef_tco2e_per_mwh[h]) for h in back.hours()]
    assert np.allclose(got, frame["ef_tco2e_per_mwh"])
    assert len(back.pin.sha256) == 64


GOOD = "interval_start,price\n2024-03-05T00:00:00+01:00,10.5\n2024-03-05T01:00:00+01:00,11\n"


@pytest.mark.parametrize(
    ("text", "row", "problem"),
    [
        ("interval_start\n2024-03-05T00:00:00+01:00\n", 1, "missing column price"),
        ("interval_start;price\n2024-03-05T00:00:00+01:00;10.5\n", 1, "wrong separator ';'"),
        (GOOD + "2024-03-05T01:00:00+01:00,12\n", 4, "duplicate interval"),
        (GOOD + "2024-03-05T03:00:00+01:00,12\n", 4, "missing interval 2024-03-05T01:00"),
        (GOOD + "2024-03-05 02:00:00,12\n", 4, "naive timestamp"),
        (GOOD + "2024-03-05T02:00:00+01:00,n/a\n", 4, "price 'n/a' is not a number"),
        (GOOD + "2024-03-05T02:00:00+01:00,\n", 4, "empty price"),
        (GOOD + "2024-03-05T02:30:00+01:00,3\n", 4, "not on the DE-LU 60-minute grid"),
        (GOOD + "2024-03-05T02:00:00+01:00,3,4\n", 4, "expected 2 fields, found 3"),
        (GOOD + "yesterday,3\n", 4, "not an ISO 8601 timestamp"),
        (GOOD + "2024-02-30T02:00:00+01:00,3\n", 4, "not a valid date"),
        (GOOD + "2024-03-05T02:00:00+01:00,inf\n", 4, "not a finite number"),
        ("interval_start,price\n", 1, "no data rows"),
    ],
)
def test_bad_price_files(tmp_path: Path, text: str, row: int, problem: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputFileError) as info:
        read_price_csv(path, "DE-LU")
    assert info.value.row == row
    assert problem in info.value.problem
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_bad_interval_end(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "interval_start,price,interval_end\n"
        "2024-03-05T00:00:00+01:00,1,2024-03-05T00:15:00+01:00\n"
        "2024-03-05T00:30:00+01:00,1,2024-03-05T00:45:00+01:00\n"
    )
    with pytest.raises(InputFileError, match="row 3: missing interval 2024-03-04T23:15"):
        read_price_csv(path, "DE-LU")
    path.write_text(
        "interval_start,price,interval_end\n2024-03-05T00:00:00+01:00,1,2024-03-05T00:00:00+01:00\n"
    )
    with pytest.raises(InputFileError, match="row 2: interval_end is not after"):
        read_price_csv(path, "DE-LU")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("interval_start,product,price\n2024-03-05T00:00:00+01:00,REGUP,1\n", "no product 'REGUP'"),
        ("interval_start,product,price\n2024-03-05T00:00:00+01:00,DA,1\n", "not a reserve"),
        ("interval_start,product,price\n2024-03-05T02:00:00+01:00,FCR,1\n", "4-hour block grid"),
        (
            "interval_start,product,price\n2024-03-05T00:00:00+01:00,FCR,1\n"
            "2024-03-05T00:00:00+01:00,FCR,2\n",
            "duplicate interval",
        ),
    ],
)
def test_bad_reserve_files(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputFileError, match=problem) as info:
        read_reserve_price_csv(path, "DE-LU")
    assert info.value.row is not None
    assert info.value.row >= 2


def test_bad_ef_files(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "interval_start,ef_tco2e_per_mwh,carbon_free_share\n"
        "2023-03-01T00:00:00+00:00,0.3,0.5\n2023-03-01T01:00:00+00:00,0.3,1.5\n"
    )
    with pytest.raises(InputFileError, match=r"row 3: carbon_free_share 1.5 is above 1"):
        read_ef_csv(path, contiguous=True)
    path.write_text(
        "interval_start,ef_tco2e_per_mwh,carbon_free_share\n"
        "2023-03-01T00:00:00+00:00,0.3,0.5\n2023-03-01T02:00:00+00:00,0.3,0.5\n"
    )
    with pytest.raises(InputFileError, match=r"row 3: missing interval 2023-03-01T01:00"):
        read_ef_csv(path, contiguous=True)


def test_writer_refuses_naive_and_leaves_no_file(tmp_path: Path) -> None:
    hours = pd.date_range("2024-01-01", periods=2, freq="h")
    naive = pd.Series([1.0, 2.0], index=hours)
    path = tmp_path / "out.csv"
    with pytest.raises(PowerdeskError, match="naive"):
        write_price_csv(naive, path)
    bad = pd.Series([1.0, float("nan")], index=hours.tz_localize("UTC"))
    with pytest.raises(PowerdeskError, match="non-finite"):
        write_price_csv(bad, path)
    assert list(tmp_path.iterdir()) == []
