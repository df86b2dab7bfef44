"""The example two-province portfolio: the unnamed province is a zones-file zone, and the pool
runs where the quarter-hours are cheap (synthetic prices, no data folder needed)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bidding import PriceScenarios
from bidding.portfolio_model import solve_portfolio
from engine.io.portfolio_file import load_portfolio, read_zones_file
from market import delivery_intervals, get_zone, register_zones, restore_zones

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "portfolio"


def test_the_unnamed_province_is_a_zones_file_zone_and_the_pool_follows_cheap_power() -> None:
    zones = read_zones_file(FIXTURES / "cn-zones.toml")
    assert [z.key for z in zones] == ["CN-XX"]
    before = register_zones(zones)
    try:
        zone = get_zone("CN-XX")
        assert (zone.currency, zone.tz, zone.products[0].key) == ("CNY", "Asia/Shanghai", "DA")
        pf = load_portfolio(FIXTURES / "cn-provinces.toml")
        assert [s.zone for s in pf.sites] == ["CN-GS", "CN-XX"]
        day = date(2024, 3, 5)
        iv = delivery_intervals(day, "CN-XX")
        assert len(iv) == 96
        t = np.arange(96)
        # Gansu: solar dip at noon (cheap 40 CNY/MWh from 10:00 to 16:00); the east flat 400.
        gs = np.where((t >= 40) & (t < 64), 40.0, 300.0)
        xx = np.full(96, 400.0)
        scen = [PriceScenarios(iv, p[None, :], np.ones(1), "test") for p in (gs, xx)]
        plan = solve_portfolio(pf, day, scen)
        placed = {a.site: a.energy_mwh for a in plan.allocation}
        assert sum(placed.values()) == pytest.approx(600.0, abs=1e-6)
        gs_mw = next(a.it_mw for a in plan.allocation if a.site == "gs-dc")
        # Gansu's cheap 6 hours at its 30 MW cap (180 MWh), the rest in the east at 35 MW.
        assert gs_mw[40:64] == pytest.approx(np.full(24, 30.0), abs=1e-6)
        assert placed["gs-dc"] == pytest.approx(
            180.0 + float(gs_mw[:40].sum() + gs_mw[64:].sum()) / 4
        )
        assert placed["xx-dc"] == pytest.approx(600.0 - placed["gs-dc"], abs=1e-6)
        assert isinstance(plan.plans[1].intervals, pd.DatetimeIndex)
    finally:
        restore_zones(before)


def _cn_files(tmp_path: Path, days: int, rt_shift: float) -> dict[str, Path]:
    """DA prices of both provinces (Gansu cheap at noon) and Gansu real-time prices = DA +
    ``rt_shift`` in its evening hours, for ``days`` days from 2024-03-01."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    files = {}
    rows: dict[str, list[tuple[str, float]]] = {"CN-GS": [], "CN-XX": [], "RT": []}
    for d in range(days):
        day = date(2024, 3, 1 + d)
        for k, t in enumerate(delivery_intervals(day, "CN-GS")):
            gs = 40.0 if 40 <= k < 64 else 300.0 + 5 * (d % 3)
            rows["CN-GS"].append((t.isoformat(), gs))
            rows["CN-XX"].append((t.isoformat(), 400.0 + d))
            rows["RT"].append((t.isoformat(), gs + (rt_shift if k >= 72 else 0.0)))
    for key, data in rows.items():
        files[key] = tmp_path / f"{key}.csv"
        pd.DataFrame(data, columns=["interval_start", "price"]).to_csv(files[key], index=False)
    return files


def _cn_backtest(tmp_path: Path, files: dict[str, Path], name: str, *extra: str) -> int:
    """``powerdesk portfolio backtest`` of the example over 2024-03-09 .. 03-10 (forecast,
    inline unless ``extra`` says otherwise); its exit code."""
    from cli import main

    argv = ["portfolio", "backtest", "--portfolio", str(FIXTURES / "cn-provinces.toml")]
    argv += ["--zones", str(FIXTURES / "cn-zones.toml"), "--prices", f"CN-GS={files['CN-GS']}"]
    argv += ["--prices", f"CN-XX={files['CN-XX']}", "--start", "2024-03-09"]
    argv += ["--end", "2024-03-11", "--strategy", "forecast", "--scenarios", "3"]
    argv += ["--executor", "inline", "--no-progress", "--out", str(tmp_path / name), *extra]
    before = register_zones(())
    try:
        with pytest.raises(SystemExit) as exc:
            main(argv)
    finally:
        restore_zones({"CN-XX": None, **before})
    return int(exc.value.code or 0)


def test_zones_file_zones_reach_the_worker_processes(tmp_path: Path) -> None:
    """A backtest with a zones file on ``local:2`` ships its zones to spawned workers (a zone
    did not pickle before: ``powerdesk portfolio backtest --zones`` failed on the default
    executor) and gives the same outputs as ``inline``."""
    files = _cn_files(tmp_path, 10, 0.0)
    assert _cn_backtest(tmp_path, files, "inline", "--no-regret") == 0
    assert _cn_backtest(tmp_path, files, "local", "--no-regret", "--executor", "local:2") == 0
    for name in ("days.csv", "sites.csv", "allocation.csv", "summary.json"):
        assert (tmp_path / "inline" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()


def test_portfolio_realtime_stage_replans_the_sites_with_real_time_prices(tmp_path: Path) -> None:
    import json
    from decimal import Decimal

    from engine.backtest.runner import capture

    rt = ["--imbalance-prices", "CN-GS=RT_FILE", "--rt-stage", "--rt-forecast", "mean"]
    out = {}
    for shift in (0.0, 200.0):
        files = _cn_files(tmp_path / f"s{shift:g}", 10, shift)
        argv = [x.replace("RT_FILE", str(files["RT"])) for x in rt]
        assert _cn_backtest(tmp_path, files, f"rt{shift:g}", *argv) == 0
        out[shift] = json.loads((tmp_path / f"rt{shift:g}" / "summary.json").read_text())
    flat, dear = out[0.0], out[200.0]
    # Only Gansu has real-time prices: only its site re-plans.
    assert flat["realtime_stage"]["sites_replanned"] == ["gs-dc"]
    # Real time = day-ahead: nothing to gain, nothing moves. (Were the migratable load placed
    # at Gansu left out of the re-plan, it would "move" that whole load.)
    # (Up to the curves' µMW rounding: 52 Wh over two days.)
    assert Decimal(flat["realtime_stage"]["replanned_mwh"]) < Decimal("0.001")
    assert abs(Decimal(flat["realtime_stage"]["total_cost"]) - Decimal(flat["total_cost"])) < 1
    # Evenings dear in real time every day: the look-back mean sees it, the re-plan moves load
    # out of the evenings and earns.
    stage = dear["realtime_stage"]
    assert Decimal(stage["replanned_mwh"]) > 0
    assert Decimal(stage["gain_vs_da_only"]) > 0
    assert Decimal(stage["gain_vs_da_only"]) == Decimal(dear["total_cost"]) - Decimal(
        stage["total_cost"]
    )
    # Placement is decided at DA and never moves.
    assert stage["placement_cost"] == dear["placement_cost"]
    pt, pf = Decimal(dear["price_taker_total_cost"]), Decimal(dear["perfect_foresight_total_cost"])
    assert stage["capture"] == str(capture(Decimal(stage["total_cost"]), pt, pf))


def test_portfolio_realtime_stage_needs_real_time_prices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _cn_files(tmp_path, 10, 0.0)
    assert _cn_backtest(tmp_path, files, "none", "--rt-stage") != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "powerdesk: error: the real-time stage needs real-time / imbalance prices of at least "
        "one zone "
        "(--imbalance-prices ZONE=CSV)"
    ]
    assert not (tmp_path / "none").exists()
