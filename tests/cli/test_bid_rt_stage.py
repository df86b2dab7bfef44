"""``powerdesk bid --rt-stage``: the live re-plan after the DA publication, of the bid's plan."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from cli import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SITE = FIXTURES / "sites" / "example-dc.toml"
DA = FIXTURES / "prices" / "de_lu_2025_03_da.csv"
DAY = "2025-03-20"


def _hourly_alternating(start: pd.Timestamp, quarter: int) -> float:
    return 5.0 if start.hour % 2 else -5.0


def _rt(tmp_path: Path, spread: Callable[[pd.Timestamp, int], float] = _hourly_alternating) -> Path:
    """Quarter-hourly real-time prices: the DA price plus ``spread(start, quarter of the hour)``
    (default: a spread that alternates by hour)."""
    da = pd.read_csv(DA)
    starts = pd.to_datetime(da["interval_start"], utc=True)
    rows = []
    for t, p in zip(starts, da["price"], strict=True):
        for q in range(4):
            s = t + pd.Timedelta(minutes=15 * q)
            end = s + pd.Timedelta(minutes=15)
            rows.append((s.isoformat(), round(p + spread(s, q), 2), end.isoformat()))
    path = tmp_path / "rt.csv"
    frame = pd.DataFrame(rows, columns=["interval_start", "price", "interval_end"])
    frame.to_csv(path, index=False)
    return path


def _bid(out: Path, *extra: str) -> int:
    argv = ["bid", "--site", str(SITE), "--day", DAY, "--out", str(out), *extra]
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_the_stage_re_plans_the_bid_it_rebuilds(tmp_path: Path) -> None:
    rt = _rt(tmp_path)
    assert _bid(tmp_path / "a", "--prices", str(DA)) == 0
    common = ("--prices", str(DA), "--imbalance-prices", str(rt), "--rt-threshold", "0")
    assert _bid(tmp_path / "b", *common, "--rt-stage") == 0
    a = json.loads((tmp_path / "a" / "bids.json").read_text())
    b = json.loads((tmp_path / "b" / "bids.json").read_text())
    # The DA bids are the ones decided at gate closure, whatever the stage does after.
    for key in ("da_curves", "block_bids", "reserve_bids", "decision_sha256"):
        assert a.get(key) == b.get(key)
    assert not (tmp_path / "a" / "replan.csv").exists()
    replan = pd.read_csv(tmp_path / "b" / "replan.csv")
    doc = json.loads((tmp_path / "b" / "replan.json").read_text())
    assert len(replan) == 24
    # The zero-spread forecast is the day's DA price, now published.
    da = pd.read_csv(DA).set_index("interval_start")["price"]
    assert replan["rt_forecast_per_mwh"].tolist() == da.loc[replan["interval_start"]].tolist()
    moved = (replan["replanned_market_mw"] - replan["base_market_mw"]).abs().sum()
    assert doc["moved_mwh"] == pytest.approx(moved, abs=1e-3)
    assert moved > 1.0  # the plan was made on forecasts: the known prices move it
    assert doc["as_of"] > f"{DAY[:8]}19"  # D-1, after the DA publication
    # Re-planned against the known prices, the schedule costs no more at those prices.
    cost = (replan["replanned_market_mw"] * replan["rt_forecast_per_mwh"]).sum()
    base = (replan["base_market_mw"] * replan["rt_forecast_per_mwh"]).sum()
    assert cost <= base + 1e-6


def test_without_the_day_s_da_prices_it_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rt = _rt(tmp_path)
    cut = tmp_path / "da-before.csv"
    da = pd.read_csv(DA)
    da[pd.to_datetime(da["interval_start"], utc=True) < pd.Timestamp("2025-03-19T23:00Z")].to_csv(
        cut, index=False
    )
    out = tmp_path / "out"
    code = _bid(out, "--prices", str(cut), "--imbalance-prices", str(rt), "--rt-stage")
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert "\n" not in err
    assert "real-time stage" in err
    assert not out.exists()


def test_rolling_re_plans_run_the_chain_up_to_now(tmp_path: Path) -> None:
    """``--rt-every 60`` during the day: the re-plan after the DA result and one before each
    hour that has begun (11:30 CET: 22:59 .. 09:59 UTC), the one in force last; the run's
    intervals already started are those the full day's chain (a run after the day) ran too."""
    from freezegun import freeze_time

    rt = _rt(tmp_path)
    common = ("--prices", str(DA), "--imbalance-prices", str(rt), "--rt-stage", "--rt-every", "60")
    with freeze_time("2025-03-20T10:30:00Z"):
        assert _bid(tmp_path / "now", *common) == 0
    with freeze_time("2025-03-22T00:00:00Z"):
        assert _bid(tmp_path / "after", *common) == 0
    now = json.loads((tmp_path / "now" / "replan.json").read_text())
    after = json.loads((tmp_path / "after" / "replan.json").read_text())
    assert now["replans"] == 13
    assert after["replans"] == 25
    assert now["as_of"] == "2025-03-20T09:59:00+00:00"  # the last re-plan made by 10:30
    a = pd.read_csv(tmp_path / "now" / "replan.csv")
    b = pd.read_csv(tmp_path / "after" / "replan.csv")
    started = pd.to_datetime(a["interval_start"], utc=True) < pd.Timestamp("2025-03-20T10:30Z")
    assert started.sum() == 12
    pd.testing.assert_series_equal(
        a["replanned_market_mw"][started], b["replanned_market_mw"][started], atol=1e-6
    )
    bad = _bid(tmp_path / "bad", *common[:-1], "45")
    assert bad != 0
    assert not (tmp_path / "bad").exists()
