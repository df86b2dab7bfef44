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


def test_zones_file_zones_reach_the_worker_processes(tmp_path: Path) -> None:
    """A backtest with a zones file on ``local:2`` ships its zones to spawned workers (a zone
    did not pickle before: ``powerdesk portfolio backtest --zones`` failed on the default
    executor) and gives the same outputs as ``inline``."""
    from cli import main

    zones = FIXTURES / "cn-zones.toml"
    files = {}
    for key, level in (("CN-GS", 300.0), ("CN-XX", 400.0)):
        rows = []
        for d in range(3):
            day = date(2024, 3, 4 + d)
            for k, t in enumerate(delivery_intervals(day, "CN-GS")):
                price = 40.0 if key == "CN-GS" and 40 <= k < 64 else level + d
                rows.append((t.isoformat(), price))
        files[key] = tmp_path / f"{key}.csv"
        pd.DataFrame(rows, columns=["interval_start", "price"]).to_csv(files[key], index=False)
    outs = []
    for executor in ("inline", "local:2"):
        out = tmp_path / executor.replace(":", "_")
        argv = ["portfolio", "backtest", "--portfolio", str(FIXTURES / "cn-provinces.toml")]
        argv += ["--zones", str(zones), "--prices", f"CN-GS={files['CN-GS']}"]
        argv += ["--prices", f"CN-XX={files['CN-XX']}", "--start", "2024-03-04"]
        argv += ["--end", "2024-03-07", "--strategy", "perfect-foresight"]
        argv += ["--executor", executor, "--out", str(out)]
        before = register_zones(())
        try:
            with pytest.raises(SystemExit) as exc:
                main(argv)
        finally:
            restore_zones({"CN-XX": None, **before})
        assert exc.value.code == 0
        outs.append(out)
    for name in ("days.csv", "sites.csv", "allocation.csv"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes()
