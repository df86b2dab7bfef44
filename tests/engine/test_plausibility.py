"""Implausible energy prices are refused with a clear error (issue 11, "also close": a price of
1e308 was stored); real-world extremes (scarcity, imbalance) still load."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import main
from engine.core.errors import InputFileError
from engine.io.canonical import read_price_csv

ROW = "2025-03-01T00:00:00+00:00,{}\n"


def _file(tmp_path: Path, price: str) -> Path:
    path = tmp_path / "prices.csv"
    path.write_text(
        "interval_start,price\n"
        + ROW.format("50")
        + ROW.replace("00:00:00+", "01:00:00+").format(price)
    )
    return path


@pytest.mark.parametrize("price", ["1e308", "-1e308", "40001", "-40001", "1e300"])
def test_implausible_prices_are_refused(tmp_path: Path, price: str) -> None:
    with pytest.raises(InputFileError, match="implausible for DE-LU") as info:
        read_price_csv(_file(tmp_path, price), "DE-LU", series="IMBALANCE")
    assert "row 3:" in str(info.value)


@pytest.mark.parametrize("price", ["4000", "-500", "15000.5", "-12000", "39999"])
def test_real_world_extremes_load(tmp_path: Path, price: str) -> None:
    series = read_price_csv(_file(tmp_path, price), "DE-LU", series="IMBALANCE")
    assert len(series.frame) == 2


def test_prices_load_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERDESK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("POWERDESK_DATABASE_URL", raising=False)
    with pytest.raises(SystemExit) as info:
        main(["prices", "load", str(_file(tmp_path, "1e308")), "--zone", "DE-LU"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "implausible" in err


def test_an_implausibly_large_site_is_refused() -> None:
    from engine.sites.registry import parse_site
    from tests.api.conftest import SITE_TOML

    assert "grid_import_max_mw" in SITE_TOML
    huge = SITE_TOML.replace("[load]\n", "[load]\ngrid_export_max_mw = 1e9\n", 1)
    with pytest.raises(InputFileError, match=r"grid_export_max_mw: 1e\+09 MW is implausible"):
        parse_site(huge, "toml")
    parse_site(SITE_TOML, "toml")  # the example site is fine


def test_an_implausible_meter_reading_is_refused(tmp_path: Path) -> None:
    from engine.io.meter import read_meter_csv

    path = tmp_path / "meter.csv"
    rows = ["interval_start,energy_mwh", "2025-03-01T00:00:00Z,50", "2025-03-01T01:00:00Z,1e300"]
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(InputFileError, match=r"row 3: energy_mwh .* is implausible"):
        read_meter_csv(path)
    path.write_text("\n".join(rows[:2]) + "\n2025-03-01T01:00:00Z,9999.5\n")
    assert len(read_meter_csv(path).readings) == 2
