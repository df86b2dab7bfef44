"""Draw docs/img/rolling_day.png: one Gansu day under the real-time stage, one re-plan against
hourly re-plans.

Top: the day's DA price, its real-time price, and the real-time forecast each interval was
decided on (one re-plan at the DA publication: the DA price itself; hourly re-plans: the DA price
plus the measured share of the last known spread). Bottom: the cleared DA position and what the
site ran under each. Run from the repository with the canonical files of docs/realtime.md's
reproduce block::

    .venv/bin/python docs/img/rolling_day.py gs24_da.csv gs24_rt.csv gs24_feat.csv 2024-07-16
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from engine.io.site_file import load_site
from engine.marketdata.view import from_files
from engine.strategies.realtime import realtime_replan
from engine.strategies.registry import StrategyConfig, decide, price_model
from market import get_zone
from market.clearing import clear_curve

ROOT = Path(__file__).resolve().parents[2]


def main(da: Path, rt: Path, features: Path, day: date) -> None:
    site = load_site(ROOT / "fixtures" / "sites" / "gansu-dc.toml")
    zone = get_zone(site.zone)
    data, _ = from_files(zone, da, imbalance_prices=rt, features=[features])
    config = StrategyConfig(rt_stage=True, model=price_model(zone, data))
    plan = decide("forecast", site, zone, day, data, config)
    once = realtime_replan(site, zone, day, plan, data, config)
    hourly = realtime_replan(site, zone, day, plan, data, replace(config, rt_every_minutes=60))
    actuals = data.actuals()
    hours = plan.intervals.tz_convert(zone.tz)
    x = hours.hour + hours.minute / 60
    da_day = actuals.da.reindex(plan.intervals).to_numpy()
    assert actuals.imbalance is not None
    quarter = actuals.imbalance.reindex(plan.intervals).to_numpy()
    cleared = np.array([clear_curve(c, float(p)) for c, p in zip(plan.da_curves, da_day, strict=True)])

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    top.step(x, da_day, where="post", color="#4c72b0", label="DA price")
    top.step(x, quarter, where="post", color="k", lw=0.8, label="real-time price")
    top.step(x, hourly.forecast_per_mwh, where="post", color="#dd8452",
             label="forecast in force, hourly re-plans")  # fmt: skip
    top.set_ylabel("CNY/MWh")
    top.legend(fontsize=8, loc="upper left")
    top.set_title(f"Gansu {day}: the real-time stage, one re-plan against hourly re-plans", fontsize=10)
    bottom.step(x, cleared, where="post", color="#4c72b0", label="cleared DA position")
    bottom.step(x, once.plan.market_mw[0], where="post", color="#55a868",
                label=f"run, one re-plan ({once.deviation_mwh:.0f} MWh moved)")  # fmt: skip
    bottom.step(x, hourly.plan.market_mw[0], where="post", color="#dd8452",
                label=f"run, hourly re-plans ({hourly.deviation_mwh:.0f} MWh moved)")  # fmt: skip
    bottom.set_ylabel("MW")
    bottom.set_xlabel(f"local time ({zone.tz})")
    bottom.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(Path(__file__).with_name("rolling_day.png"), dpi=100)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), date.fromisoformat(sys.argv[4]))
