"""Importers against byte-exact slices of the real files: rows per local day (DST days
included) and values checked against the source lines."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from engine.core.errors import InputFileError, PowerdeskError
from engine.io.canonical import read_price_csv, read_reserve_price_csv
from engine.io.formats import FORMATS, Imported, import_file, write_import

DATA = Path(__file__).resolve().parent / "data" / "prices"


def _per_day(index: pd.Index, tz: str) -> dict[date, int]:
    return dict(Counter(pd.DatetimeIndex(index).tz_convert(tz).date))


def _at(series: pd.Series, utc: str) -> float:
    return float(series.loc[pd.Timestamp(utc)])


def _prices(imported: Imported) -> pd.Series:
    assert imported.prices is not None
    return imported.prices


def test_entsoe_spring_day_hourly_sdac() -> None:
    imp = import_file(DATA / "entsoe_2024_03_30_31.csv", "entsoe")
    prices = _prices(imp)
    assert imp.zone == "DE-LU"
    assert imp.resolution == timedelta(hours=1)  # Sequence 1 is constant per hour: collapsed
    assert _per_day(prices.index, "Europe/Berlin") == {date(2024, 3, 30): 24, date(2024, 3, 31): 23}
    # "30/03/2024 12:00:00 - 30/03/2024 12:15:00,14.76,1.91" (CET, UTC+1)
    assert _at(prices, "2024-03-30T11:00Z") == 14.76
    # "31/03/2024 03:00:00 (CEST) - 31/03/2024 03:15:00,64.98,31.11": 03:00 CEST = 01:00 UTC
    assert _at(prices, "2024-03-31T01:00Z") == 64.98


def test_entsoe_autumn_day_sequence_2_keeps_quarter_hours() -> None:
    imp = import_file(DATA / "entsoe_2024_10_27.csv", "entsoe", column="Sequence Sequence 2")
    prices = _prices(imp)
    assert imp.resolution == timedelta(minutes=15)
    assert _per_day(prices.index, "Europe/Berlin") == {date(2024, 10, 27): 100}
    # "27/10/2024 02:45:00 (CEST) - 27/10/2024 02:00:00 (CET),82.23,52.60" then
    # "27/10/2024 02:00:00 (CET) - 27/10/2024 02:15:00 (CET),80.43,56.95"
    assert _at(prices, "2024-10-27T00:45Z") == 52.60
    assert _at(prices, "2024-10-27T01:00Z") == 56.95
    hourly = _prices(import_file(DATA / "entsoe_2024_10_27.csv", "entsoe"))
    assert len(hourly) == 25
    assert _at(hourly, "2024-10-27T00:00Z") == 82.23
    assert _at(hourly, "2024-10-27T01:00Z") == 80.43


def test_entsoe_unknown_sequence_column() -> None:
    with pytest.raises(InputFileError, match="no column 'Sequence 9'"):
        import_file(DATA / "entsoe_2024_10_27.csv", "entsoe", column="Sequence 9")


def test_energinet_dk1_autumn_day() -> None:
    prices = _prices(import_file(DATA / "energinet_2023_10_28_30.csv", "energinet", zone="DK1"))
    days = _per_day(prices.index, "Europe/Copenhagen")
    assert days[date(2023, 10, 28)] == 24
    assert days[date(2023, 10, 29)] == 25
    assert days[date(2023, 10, 30)] == 24
    # "2023-10-29 00:00;2023-10-29 02:00;DK1;0,070000;0,010000"
    assert _at(prices, "2023-10-29T00:00Z") == 0.01
    # "2023-10-29 01:00;2023-10-29 02:00;DK1;0,150000;0,020000" (repeated local 02:00)
    assert _at(prices, "2023-10-29T01:00Z") == 0.02
    assert prices.index.is_monotonic_increasing  # the source is newest first


def test_energinet_needs_zone_and_currency() -> None:
    with pytest.raises(PowerdeskError, match="needs --zone"):
        import_file(DATA / "energinet_2023_10_28_30.csv", "energinet")
    with pytest.raises(InputFileError, match="is in DKK but zone DK1 trades in EUR"):
        import_file(
            DATA / "energinet_2023_10_28_30.csv", "energinet", zone="DK1", column="SpotPriceDKK"
        )
    with pytest.raises(InputFileError, match="no rows for PriceArea DE-LU"):
        import_file(DATA / "energinet_2023_10_28_30.csv", "energinet", zone="DE-LU")


def test_rebap_dst_days() -> None:
    spring = import_file(DATA / "rebap_2024_03_31.csv", "rebap")
    assert spring.series == "IMBALANCE"
    assert spring.resolution == timedelta(minutes=15)
    assert _per_day(_prices(spring).index, "Europe/Berlin") == {date(2024, 3, 31): 92}
    # "31.03.2024;CET;01:45;03:00;EUR/MWh;-114,15;-114,15" then "31.03.2024;CEST;03:00;..;216,75"
    assert _at(_prices(spring), "2024-03-31T00:45Z") == -114.15
    assert _at(_prices(spring), "2024-03-31T01:00Z") == 216.75
    autumn = _prices(import_file(DATA / "rebap_2024_10_27.csv", "rebap"))
    assert len(autumn) == 100
    # "27.10.2024;CEST;02:45;02:00;EUR/MWh;122,85;122,85", "27.10.2024;CET;02:00;02:15;..;9,47"
    assert _at(autumn, "2024-10-27T00:45Z") == 122.85
    assert _at(autumn, "2024-10-27T01:00Z") == 9.47


def test_id_aep_autumn_day() -> None:
    prices = _prices(import_file(DATA / "id_aep_2024_10_27.csv", "id-aep"))
    assert len(prices) == 100
    # "27.10.2024;02:45;CEST;02:00;CET;98,280" and "27.10.2024;02:00;CET;02:15;CET;77,570"
    assert _at(prices, "2024-10-27T00:45Z") == 98.28
    assert _at(prices, "2024-10-27T01:00Z") == 77.57


def test_smard_spring_day() -> None:
    prices = _prices(import_file(DATA / "smard_2025_03_29_30.csv", "smard"))
    assert _per_day(prices.index, "Europe/Berlin")[date(2025, 3, 30)] == 23
    # "2025-03-30 01:00:00+00:00,...,5.1,..." (price column)
    assert _at(prices, "2025-03-30T01:00Z") == 5.1


def test_electricitymaps_emission_factors() -> None:
    imp = import_file(DATA / "electricitymaps_de_2023_03_26_27.csv", "electricitymaps")
    assert imp.emission_factors is not None
    ef = imp.emission_factors
    assert len(ef) == 48
    # "2023-03-26 01:00:00,Germany,Germany,DE,165.68,217.37,81.39,..."
    row = ef.loc[pd.Timestamp("2023-03-26T01:00Z")]
    assert row["ef_tco2e_per_mwh"] == 0.16568
    assert row["carbon_free_share"] == 0.8139
    lca = import_file(
        DATA / "electricitymaps_de_2023_03_26_27.csv", "electricitymaps", column="lca"
    ).emission_factors
    assert lca is not None
    assert lca.loc[pd.Timestamp("2023-03-26T01:00Z"), "ef_tco2e_per_mwh"] == 0.21737


def test_techarena_da_is_fixed_utc_plus_1() -> None:
    prices = _prices(import_file(DATA / "techarena_da_2024_03_31.csv", "techarena-da"))
    assert len(prices) == 96  # a uniform fixed-offset day: 24 h, not the local 23 h
    # "...,31.11,...,2024-03-31 02:00" = 01:00 UTC = the 03:00 CEST quarter-hour of ENTSO-E
    assert _at(prices, "2024-03-31T01:00Z") == 31.11
    assert _at(prices, "2024-03-31T02:00Z") == 67.42


def test_techarena_fcr_blocks_on_local_wall_clock() -> None:
    imp = import_file(DATA / "techarena_fcr_2024_03_30_04_01.csv", "techarena-fcr")
    fcr = imp.reserves["FCR"]
    assert _per_day(fcr.index, "Europe/Berlin") == {
        date(2024, 3, 30): 6,
        date(2024, 3, 31): 6,
        date(2024, 4, 1): 6,
    }
    # "45382.000001799999,39.48,...,2024-03-31 00:00": block 00-04 local = 23:00 UTC
    assert _at(fcr, "2024-03-30T23:00Z") == 39.48
    # the next block starts at 04:00 CEST = 02:00 UTC (the first block has 3 hours)
    assert fcr.index[fcr.index > pd.Timestamp("2024-03-30T23:00Z")][0] == pd.Timestamp(
        "2024-03-31T02:00Z"
    )


def test_techarena_afrr_autumn_day(tmp_path: Path) -> None:
    imp = import_file(DATA / "techarena_afrr_2024_10_26_28.csv", "techarena-afrr")
    assert set(imp.reserves) == {"AFRR_UP", "AFRR_DOWN"}
    # "45592.166672669999,7.7,4.12,...,2024-10-27 04:00": 04:00 CET = 03:00 UTC
    assert _at(imp.reserves["AFRR_UP"], "2024-10-27T03:00Z") == 7.7
    assert _at(imp.reserves["AFRR_DOWN"], "2024-10-27T03:00Z") == 4.12
    (written,) = write_import(imp, tmp_path / "afrr.csv")
    assert written.rows == 36
    back = read_reserve_price_csv(tmp_path / "afrr.csv", "DE-LU")
    assert len(back["AFRR_UP"].frame) == 18


def test_caiso_dervet_spring_and_autumn(tmp_path: Path) -> None:
    imp = import_file(DATA / "caiso_2020_03_08.csv", "caiso-dervet")
    prices = _prices(imp)
    # 24 hour-ending labels in fixed PST: 23 h of the local DST day + 1 h of the next
    assert _per_day(prices.index, "America/Los_Angeles") == {
        date(2020, 3, 8): 23,
        date(2020, 3, 9): 1,
    }
    autumn = import_file(DATA / "caiso_2020_11_01.csv", "caiso-dervet")
    # "11/1/2020 1:00,0.04010052,0.00499,0.003": HE 1 PST = 00:00-01:00 PST = 08:00 UTC
    assert _at(_prices(autumn), "2020-11-01T08:00Z") == 40.10052
    assert _at(autumn.reserves["REGUP"], "2020-11-01T08:00Z") == 4.99
    assert _at(autumn.reserves["REGDN"], "2020-11-01T08:00Z") == 3.0
    written = write_import(autumn, tmp_path / "da.csv")
    assert [w.kind for w in written] == ["price", "reserve_price"]
    assert (tmp_path / "da_reserves.csv").exists()
    assert len(read_price_csv(tmp_path / "da.csv", "CAISO").frame) == 24


def test_ercot_dam_dst_days() -> None:
    autumn = _prices(import_file(DATA / "ercot_dam_2022_11_06.csv", "ercot-dam"))
    assert _per_day(autumn.index, "America/Chicago") == {date(2022, 11, 6): 25}
    # "11/06/2022,02:00,N,HB_HUBAVG,5.56" = 01:00-02:00 CDT; "11/06/2022,02:00,Y,HB_HUBAVG,6.10"
    assert _at(autumn, "2022-11-06T06:00Z") == 5.56
    assert _at(autumn, "2022-11-06T07:00Z") == 6.10
    north = _prices(import_file(DATA / "ercot_dam_2022_11_06.csv", "ercot-dam", column="HB_NORTH"))
    assert _at(north, "2022-11-06T07:00Z") == 7.10
    spring = _prices(import_file(DATA / "ercot_dam_2022_03_13.csv", "ercot-dam"))
    assert len(spring) == 23


def test_ercot_dam_matches_greendcc() -> None:
    dam = _prices(import_file(DATA / "ercot_dam_2022_11_06.csv", "ercot-dam"))
    green = _prices(import_file(DATA / "greendcc_2022_11_06.csv", "greendcc"))
    assert len(green) == 25
    # green-dcc labels the interval start with its offset: "2022-11-06 01:00:00-06:00,6.1"
    assert _at(green, "2022-11-06T07:00Z") == 6.1
    pd.testing.assert_series_equal(dam, green.loc[dam.index], check_names=False)


def test_ercot_as_products_and_ecrs_start() -> None:
    imp = import_file(DATA / "ercot_as_2023_06_09_10.csv", "ercot-as")
    assert set(imp.reserves) == {"REGDN", "REGUP", "RRS", "NSPIN", "ECRS"}
    assert len(imp.reserves["REGUP"]) == 48
    assert len(imp.reserves["ECRS"]) == 24  # empty until 06/09/2023
    # "06/10/2023,01:00,N,4,2.05,2.05,0.25,10": HE 01 CDT = 05:00 UTC
    assert _at(imp.reserves["ECRS"], "2023-06-10T05:00Z") == 10.0
    assert _at(imp.reserves["REGDN"], "2023-06-10T05:00Z") == 4.0
    autumn = import_file(DATA / "ercot_as_2022_11_06.csv", "ercot-as")
    assert len(autumn.reserves["REGUP"]) == 25


def test_ercot_rtm_quarter_hours() -> None:
    imp = import_file(DATA / "ercot_rtm_2022_01_01.csv", "ercot-rtm")
    prices = _prices(imp)
    assert imp.series == "RT"
    assert len(prices) == 96
    # "2022-01-01 00:15:00,120.8,118.99,119.59,...": HB_HUBAVG is the third price column
    assert _at(prices, "2022-01-01T06:15Z") == 119.59


def test_gansu_time_order() -> None:
    da = _prices(import_file(DATA / "gansu_2024_01_01_02.csv", "gansu"))
    assert _per_day(da.index, "Asia/Shanghai") == {date(2024, 1, 1): 96, date(2024, 1, 2): 96}
    # "0,2024-01-01,1,...,176.18,528.57": point 1 = 00:00-00:15 CST = 16:00 UTC the day before
    assert _at(da, "2023-12-31T16:00Z") == 176.18
    rt = import_file(DATA / "gansu_2024_01_01_02.csv", "gansu", column="realtime_clearing_price")
    assert rt.series == "RT"
    # "95,2024-01-01,96,...,304.85,469.03": point 96 = 23:45-24:00 CST
    assert _at(_prices(rt), "2024-01-01T15:45Z") == 469.03


def test_jiangsu_dedupes_identical_day(tmp_path: Path) -> None:
    prices = _prices(import_file(DATA / "jiangsu_2026_03_14_16.csv", "jiangsu"))
    assert _per_day(prices.index, "Asia/Shanghai") == {
        date(2026, 3, 14): 96,
        date(2026, 3, 15): 96,
        date(2026, 3, 16): 96,
    }
    # 2026-03-15 row: "00:15" = 313.6 covers 00:00-00:15 CST = 16:00 UTC on 03-14
    assert _at(prices, "2026-03-14T16:00Z") == 313.6
    # the 24:00 column of 2026-03-15 ends the day: 23:45-24:00 CST
    assert _at(prices, "2026-03-15T15:45Z") == 306.9
    assert _at(prices, "2026-03-14T15:45Z") == 307.2
    lines = (DATA / "jiangsu_2026_03_14_16.csv").read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace(",313.6,", ",999.9,", 1)
    bad = tmp_path / "js.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"row 4: day 2026-03-15 appears again"):
        import_file(bad, "jiangsu")


def test_datawhale_skips_unpriced_rows() -> None:
    prices = _prices(import_file(DATA / "datawhale_2023_06_30_07_01.csv", "datawhale"))
    assert _per_day(prices.index, "Asia/Shanghai") == {date(2023, 6, 30): 96}
    # "2023/6/30,24:00:00,44088.9,493.87": the interval 23:45-24:00 CST
    assert _at(prices, "2023-06-30T15:45Z") == 493.87


def test_every_format_has_a_test() -> None:
    tested = {
        "entsoe",
        "energinet",
        "rebap",
        "id-aep",
        "smard",
        "electricitymaps",
        "techarena-da",
        "techarena-fcr",
        "techarena-afrr",
        "caiso-dervet",
        "ercot-dam",
        "ercot-as",
        "greendcc",
        "ercot-rtm",
        "gansu",
        "jiangsu",
        "datawhale",
    }
    assert set(FORMATS) == tested


def test_cli_format_list_matches_importers() -> None:
    from cli.prices import FORMAT_KEYS

    assert list(FORMAT_KEYS) == list(FORMATS)


# ---- bad raw files: one-line error with the row, nothing written -----------------------------


def _broken(tmp_path: Path, name: str, line: int, old: str, new: str) -> Path:
    text = (DATA / name).read_bytes().decode("utf-8")
    lines = text.split("\n")
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path = tmp_path / name
    path.write_bytes("\n".join(lines).encode("utf-8"))
    return path


@pytest.mark.parametrize(
    ("name", "fmt", "line", "old", "new", "problem"),
    [
        ("rebap_2024_10_27.csv", "rebap", 30, "MWh;37,59", "MWh;37,5x", "is not a number"),
        ("rebap_2024_10_27.csv", "rebap", 30, ";CET;", ";MEZ;", "neither CET nor CEST"),
        ("rebap_2024_10_27.csv", "rebap", 5, ";CEST;", ";CET;", "not the stated +1 h"),
        ("entsoe_2024_03_30_31.csv", "entsoe", 50, "12:00:00 -", "12:07:00 -", "not on the"),
        ("ercot_dam_2022_11_06.csv", "ercot-dam", 4, "01:00", "1 pm", "not 01:00..24:00"),
        ("caiso_2020_03_08.csv", "caiso-dervet", 5, "3/8/2020", "3/8/20x", "not a date"),
        ("gansu_2024_01_01_02.csv", "gansu", 2, ",1,16829", ",0,16829", "is not 1..96"),
        ("datawhale_2023_06_30_07_01.csv", "datawhale", 3, "0:30", "0:31", "quarter-hour"),
        ("greendcc_2022_11_06.csv", "greendcc", 4, "-06:00", "", "naive timestamp"),
        ("energinet_2023_10_28_30.csv", "energinet", 4, "DK1;", "DK1;;", "expected 5 fields"),
    ],
)
def test_bad_raw_files(
    tmp_path: Path, name: str, fmt: str, line: int, old: str, new: str, problem: str
) -> None:
    path = _broken(tmp_path, name, line, old, new)
    out = tmp_path / "out.csv"
    with pytest.raises(PowerdeskError) as info:
        write_import(import_file(path, fmt, zone="DK1" if fmt == "energinet" else None), out)
    message = str(info.value)
    assert problem in message
    assert "\n" not in message
    assert str(path) in message or str(out) in message
    if isinstance(info.value, InputFileError):
        assert info.value.row == line
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_duplicate_and_missing_rows_in_raw_file(tmp_path: Path) -> None:
    lines = (DATA / "rebap_2024_03_31.csv").read_bytes().split(b"\n")
    dup = tmp_path / "dup.csv"
    dup.write_bytes(b"\n".join([*lines[:11], lines[10], *lines[11:]]))
    with pytest.raises(InputFileError, match="row 12: duplicate interval"):
        import_file(dup, "rebap")
    gap = tmp_path / "gap.csv"
    gap.write_bytes(b"\n".join([*lines[:11], *lines[12:]]))
    out = tmp_path / "out.csv"
    with pytest.raises(PowerdeskError, match="missing interval 2024-03-31T01:30"):
        write_import(import_file(gap, "rebap"), out)
    assert not out.exists()


def test_wrong_separator_and_missing_column(tmp_path: Path) -> None:
    semi = tmp_path / "semi.csv"
    semi.write_text("Datetime;Price (USD/MWh)\n2022-11-06 00:00:00-05:00;1\n")
    with pytest.raises(InputFileError, match="row 1: wrong separator ';'"):
        import_file(semi, "greendcc")
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("Delivery Date,Hour Ending,REGUP\n11/06/2022,01:00,1\n")
    with pytest.raises(InputFileError, match="row 1: missing column Repeated Hour Flag"):
        import_file(nocol, "ercot-as")


def test_start_end_slice_and_write(tmp_path: Path) -> None:
    imp = import_file(
        DATA / "energinet_2023_10_28_30.csv",
        "energinet",
        zone="DK1",
        start=date(2023, 10, 29),
        end=date(2023, 10, 30),
    )
    (w,) = write_import(imp, tmp_path / "dk1.csv")
    assert w.rows == 25
    assert w.first_start == pd.Timestamp("2023-10-28T22:00Z")
    assert w.last_end == pd.Timestamp("2023-10-29T23:00Z")
    assert len(read_price_csv(tmp_path / "dk1.csv", "DK1").frame) == 25
