"""The standard synthetic bid problem of the benchmark (docs/benchmarks.md, "Bidding").

96 quarter-hours (DE-LU, a normal day after SDAC's move to 15 minutes), ``J`` flexible job
classes with random windows, energies and power caps, ``S`` price scenarios around a daily shape,
a battery and the three DE-LU reserve products in 4-hour blocks; everything drawn from one seed.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from bidding.scenarios import PriceScenarios
from bidding.site import Battery, DemandResponse, JobClass, Load, Site, StepProfile
from market import block_index, delivery_intervals, get_zone

ZONE = "DE-LU"
DAY = date(2025, 11, 12)


def synthetic_site(n_jobs: int, seed: int = 0) -> Site:
    """A site with ``n_jobs`` flexible job classes, a battery, DR and three reserve products."""
    rng = np.random.default_rng(seed)
    jobs = []
    for j in range(n_jobs):
        start_h = int(rng.integers(0, 16))
        length_h = int(rng.integers(6, 24 - start_h + 1))
        pmax = float(np.round(rng.uniform(0.2, 2.0), 3))
        energy = float(np.round(pmax * length_h * rng.uniform(0.2, 0.8), 3))
        jobs.append(JobClass(f"job{j}", energy, pmax, start_h * 60, (start_h + length_h) * 60))
    total_pmax = sum(j.max_power_mw for j in jobs)
    base = 60.0
    return Site(
        name=f"synthetic-{n_jobs}",
        zone=ZONE,
        load=Load(
            base, StepProfile(1.2, ((11 * 60, 1.3), (19 * 60, 1.2))), 1.3 * (base + total_pmax) + 50
        ),
        jobs=tuple(jobs),
        battery=Battery(50.0, 25.0, 0.95, 0.95, 25.0, 5.0, 50.0, 2.0),
        reserve_products=("FCR", "AFRR_UP", "AFRR_DOWN"),
        demand_response=DemandResponse(0.1, 300.0),
    )


def synthetic_prices(
    n_scenarios: int, seed: int = 0, resolution: timedelta | None = None
) -> PriceScenarios:
    """``n_scenarios`` equally likely price scenarios around a two-peak daily shape [EUR/MWh]."""
    rng = np.random.default_rng(seed)
    intervals = delivery_intervals(DAY, ZONE, resolution)
    t = np.arange(len(intervals)) / len(intervals)
    shape = 90 + 35 * np.sin(2 * np.pi * (t - 0.3)) + 25 * np.sin(4 * np.pi * t)
    level = rng.normal(0, 12, size=(n_scenarios, 1))
    noise = rng.normal(0, 8, size=(n_scenarios, len(intervals)))
    prices = np.round(shape[None, :] + level + noise, 2)
    return PriceScenarios(intervals, prices, np.full(n_scenarios, 1.0 / n_scenarios), "synthetic")


def synthetic_reserve_prices(seed: int = 0) -> dict[str, pd.Series]:
    """Capacity prices per 4-hour block of FCR, aFRR up and aFRR down [EUR/MW per block]."""
    rng = np.random.default_rng(seed + 7)
    intervals = delivery_intervals(DAY, ZONE)
    blocks = block_index(intervals, get_zone(ZONE), pd.Timedelta(hours=4).to_pytimedelta())
    starts = intervals[np.flatnonzero(np.diff(np.concatenate([[-1], blocks])) > 0)]
    return {
        key: pd.Series(np.round(rng.uniform(lo, hi, len(starts)), 2), index=starts)
        for key, lo, hi in (("FCR", 20, 80), ("AFRR_UP", 10, 60), ("AFRR_DOWN", 5, 40))
    }
