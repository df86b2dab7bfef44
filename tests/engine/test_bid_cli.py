"""``powerdesk bid`` and ``powerdesk bench bid`` end to end on the bundled fixtures."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from cli import main

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "fixtures"
DE_SITE = FIX / "sites" / "example-dc.toml"
CAISO_SITE = FIX / "sites" / "caiso-dc.toml"
DE_PRICES = FIX / "prices" / "de_lu_2025_03_da.csv"
CAISO_PRICES = FIX / "prices" / "caiso_2020_03_da.csv"
CAISO_RESERVES = FIX / "prices" / "caiso_2020_03_reserves.csv"


def run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_bid_writes_the_bid_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bids"
    argv = ["bid", "--site", str(CAISO_SITE), "--day", "2020-03-08", "--prices"]
    argv += [str(CAISO_PRICES), "--reserve-prices", str(CAISO_RESERVES)]
    argv += ["--scenarios", "3", "--out", str(out), "--job-recourse", "--cvar-weight", "0.3"]
    assert run(argv) == 0
    names = {p.name for p in out.iterdir()}
    assert names == {
        "bids.json",
        "da_curve.csv",
        "reserve_bids.csv",
        "block_bids.csv",
        "schedule.csv",
        "plan.png",
    }
    doc = json.loads((out / "bids.json").read_text())
    assert doc["zone"] == "CAISO"
    assert len(doc["da_curves"]) == 23  # spring-forward day, hourly
    assert doc["n_scenarios"] == 3
    assert doc["provenance"]["solver"] == "HIGHS"
    assert len(doc["provenance"]["parameter_hash"]) == 64
    assert doc["provenance"]["inputs"]["prices"]["sha256"]
    assert doc["provenance"]["inputs_as_of"] == "2020-03-07T18:00:00+00:00"  # 10:00 PST on D-1
    for c in doc["da_curves"]:
        qty = c["quantities_mw"]
        assert qty == sorted(qty, reverse=True)
    with (out / "reserve_bids.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    assert {r["product"] for r in rows} <= {"REGUP", "REGDN"}
    with (out / "schedule.csv").open() as fh:
        header = next(csv.reader(fh))
    assert "market_mw" in header
    assert "battery_soc_end_mwh" in header
    assert (out / "plan.png").read_bytes()[:4] == b"\x89PNG"
    assert "caiso-dc 2020-03-08 forecast" in capsys.readouterr().out


@pytest.mark.parametrize("strategy", ["perfect-foresight", "deterministic", "price-taker"])
def test_bid_strategies(tmp_path: Path, strategy: str) -> None:
    out = tmp_path / strategy
    argv = ["bid", "--site", str(DE_SITE), "--day", "2025-03-30", "--prices", str(DE_PRICES)]
    argv += ["--strategy", strategy, "--out", str(out)]
    assert run(argv) == 0
    doc = json.loads((out / "bids.json").read_text())
    assert len(doc["da_curves"]) == 23  # DE-LU spring-forward day, hourly in 2025-03
    if strategy != "price-taker":
        assert doc["block_bids"]


@pytest.mark.parametrize(
    ("argv_extra", "message"),
    [
        (["--day", "2025-13-01"], "--day must be YYYY-MM-DD"),
        (["--strategy", "magic"], "unknown strategy 'magic'"),
        (["--day", "2025-03-01"], "no complete day of prices"),
    ],
)
def test_bid_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv_extra: list[str], message: str
) -> None:
    out = tmp_path / "never"
    argv = ["bid", "--site", str(DE_SITE), "--day", "2025-03-20", "--prices", str(DE_PRICES)]
    argv += ["--out", str(out), *argv_extra]
    assert run(argv) == 1
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert not out.exists()


def test_infeasible_site_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = re.sub(
        r'window_start = "18:00".*\nwindow_end = "24:00"',
        'window_start = "02:00"\nwindow_end = "06:00"',
        DE_SITE.read_text(),
    )
    assert 'window_end = "06:00"' in text
    site = tmp_path / "site.toml"
    site.write_text(text)
    out = tmp_path / "never"
    argv = ["bid", "--site", str(site), "--day", "2025-03-30", "--prices", str(DE_PRICES)]
    argv += ["--strategy", "perfect-foresight", "--out", str(out)]
    # 02:00-06:00 holds only 3 hours on the spring-forward day: a 4-hour run cannot start.
    assert run(argv) == 1
    err = capsys.readouterr().err
    assert "site infeasible on 2025-03-30: job_energy 'nightly-eval' short by 40.000 MWh" in err
    assert err.count("\n") == 1
    assert not out.exists()


def test_bad_site_file_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "bad.toml"
    site.write_text(
        DE_SITE.read_text().replace("charge_efficiency = 0.95", "charge_efficiency = 1.5")
    )
    argv = ["bid", "--site", str(site), "--day", "2025-03-20", "--prices", str(DE_PRICES)]
    assert run([*argv, "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert str(site) in err
    assert "efficiency must lie in (0, 1]" in err


def test_bench_bid_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["bench", "bid", "--jobs", "3", "--scenarios", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("cold_s", "warm_median_s", "warm_solver_median_s", "variables", "constraints"):
        assert result[key] > 0
    assert result["intervals"] == 96
    assert result["warm_runs"] == 10


def test_bench_bid_site_form(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "bid", "--site", str(DE_SITE), "--prices", str(DE_PRICES)]
    argv += ["--day", "2025-03-20", "--scenarios", "1", "--no-reserves", "--json"]
    assert run(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["problem"]["kind"] == "site"
    assert result["intervals"] == 24
    assert result["nonzeros"] > 0
