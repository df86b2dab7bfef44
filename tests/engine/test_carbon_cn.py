"""Carbon to Chinese definitions end to end: official annual grid factors, the meter's IT
energy, and the report's PUE, CUE and green-electricity share (figures by hand)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cli import main
from engine.core.errors import InputFileError, PowerdeskError
from engine.io.cn_grid_factors import official_factors, read_official_table
from engine.io.meter import hourly_it_energy_mwh, read_meter_csv

HOUR = timedelta(hours=1)
# 2024-06-01 local (Asia/Shanghai, UTC+8) starts 2024-05-31T16:00Z
DAY0 = datetime(2024, 5, 31, 16, tzinfo=UTC)
HOURS = [DAY0 + k * HOUR for k in range(24)]


def run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_official_factors_are_the_latest_published_year_on_every_hour() -> None:
    gs = official_factors("CN-GS", HOURS)
    assert set(gs.ef_tco2e_per_mwh.values()) == {Decimal("0.4772")}  # Gansu 2022 for 2024
    assert set(gs.carbon_free_share.values()) == {Decimal("0.362")}  # national 2022
    assert sorted(gs.ef_tco2e_per_mwh) == HOURS
    assert "CN-GS 2022" in gs.pin.source
    assert "MEE & NBS" in gs.pin.source
    national = official_factors("CN-GS", HOURS, "national")
    assert set(national.ef_tco2e_per_mwh.values()) == {Decimal("0.5366")}
    # an hour of 2021 takes the 2021 factor; the year is the local one (UTC+8)
    new_year = datetime(2021, 12, 31, 16, tzinfo=UTC)  # 2022-01-01 00:00 local
    both = official_factors("CN-JS", [new_year - HOUR, new_year])
    assert both.ef_tco2e_per_mwh[new_year - HOUR] == Decimal("0.6451")
    assert both.ef_tco2e_per_mwh[new_year] == Decimal("0.5978")
    with pytest.raises(PowerdeskError, match="for CN zones"):
        official_factors("DE-LU", HOURS)
    with pytest.raises(PowerdeskError, match="no official national grid factor"):
        official_factors("CN-GS", [datetime(2019, 6, 1, tzinfo=UTC)])


def test_every_official_row_names_its_source() -> None:
    table = read_official_table()
    assert {r.region for r in table.rows} >= {"CN", "CN-GS", "CN-JS", "CN-GD", "CN-SX", "CN-SD"}
    assert all(r.source for r in table.rows)


def test_bad_official_table_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(
        "region,year,ef_tco2e_per_mwh,carbon_free_share,source\n"
        "CN,2022,0.5366,0.362,x\nCN,2022,0.5,0.3,y\n"
    )
    with pytest.raises(InputFileError, match="CN 2022 given twice") as err:
        read_official_table(path)
    assert "\n" not in str(err.value)


def _meter(tmp: Path, it: str = "10") -> Path:
    path = tmp / "meter.csv"
    rows = [f"{h.isoformat()},12.5,{it}" for h in HOURS]
    path.write_text("interval_start,energy_mwh,it_energy_mwh\n" + "\n".join(rows) + "\n")
    return path


def test_meter_it_energy_column(tmp_path: Path) -> None:
    meter = read_meter_csv(_meter(tmp_path))
    it = hourly_it_energy_mwh(meter, HOURS)
    assert it is not None
    assert sum(it.values(), Decimal(0)) == Decimal(240)
    with pytest.raises(InputFileError, match="above energy_mwh") as err:
        read_meter_csv(_meter(tmp_path, "13"))
    assert "row 2" in str(err.value)
    with pytest.raises(InputFileError, match="is not a number"):
        read_meter_csv(_meter(tmp_path, "ten"))


def test_carbon_report_of_a_gansu_site_with_official_factors(tmp_path: Path) -> None:
    out = tmp_path / "report"
    argv = ["report", "carbon", "--site", "gansu-dc", "--zone", "CN-GS"]
    argv += ["--period", "2024-06-01", "--meter", str(_meter(tmp_path))]
    argv += ["--official-factors", "provincial", "--out", str(out)]
    assert run(argv) == 0
    doc = json.loads((out / "report.json").read_text())
    # 24 h x 12.5 MWh = 300 MWh facility over 24 h x 10 MWh = 240 MWh IT
    assert doc["consumption_mwh"] == "300.000000"
    assert doc["it_energy_mwh"] == "240.000000"
    assert doc["pue"] == "1.250000"
    # 300 MWh x 0.4772 (Gansu 2022) = 143.16 tCO2e; / 240 MWh = 0.5965 kgCO2e/kWh
    assert doc["location_based_tco2e"] == "143.160000"
    assert doc["cue_location_kg_per_kwh"] == "0.596500"
    assert doc["cue_market_kg_per_kwh"] == "0.596500"  # no certificates: the grid average
    assert doc["green_electricity_share"] == "0.000000"
    assert doc["green_power_trading_mwh"] == "0.000000"
    assert doc["gec_unbundled_mwh"] == "0.000000"
    inputs = json.loads((out / "report_inputs.json").read_text())
    assert inputs["sites"][0]["it_load_mwh"]
    assert "official annual grid factors" in inputs["datasets"][1]["source"]
    assert "PUE" in (out / "report.html").read_text()
