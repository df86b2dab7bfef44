"""``powerdesk bench portfolio``: the synthetic portfolio problem, timed cold and warm.

``N`` sites spread over ``Z`` Chinese provincial zones (CN-GS, CN-JS, CN-GD, CN-SX, CN-SD: one
currency, one time zone, 96 quarter-hours), each with the standard synthetic site's shape (a few
local flexible jobs, a battery, curtailable IT load, the frequency-regulation product), ``S`` price
scenarios per zone, and ``J`` migratable job classes each allowed at two to four random sites with
random windows, caps and placement costs; everything from one seed. One cold solve (model build,
canonicalisation, solve) and ``warm`` re-solves with new scenario and reserve prices.
"""

from __future__ import annotations

import statistics
import time
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from bidding import PriceScenarios, SolveOptions
from bidding.model import problem_size
from bidding.portfolio import MigratableJob, Placement, Portfolio
from bidding.portfolio_model import PortfolioModelCache, solve_portfolio
from bidding.site import Battery, DemandResponse, JobClass, Load, Site, StepProfile
from engine.core.settings import solver_threads
from market import block_index, delivery_intervals, get_zone

ZONES = ("CN-GS", "CN-JS", "CN-GD", "CN-SX", "CN-SD")
DAY = date(2025, 11, 12)
PRODUCTS = ("FREQ_REG",)


def synthetic_portfolio(n_sites: int, n_zones: int, n_jobs: int, seed: int = 0) -> Portfolio:
    """Sites round-robin over the first ``n_zones`` zones, ``n_jobs`` migratable jobs."""
    if not 1 <= n_zones <= len(ZONES) or n_sites < n_zones:
        raise ValueError(f"zones must be 1..{len(ZONES)} and at most the number of sites")
    rng = np.random.default_rng(seed)
    sites = []
    for i in range(n_sites):
        local = []
        for j in range(5):
            start_h = int(rng.integers(0, 16))
            length_h = int(rng.integers(6, 24 - start_h + 1))
            pmax = float(np.round(rng.uniform(0.5, 3.0), 3))
            energy = float(np.round(pmax * length_h * rng.uniform(0.2, 0.8), 3))
            local.append(
                JobClass(f"s{i}-job{j}", energy, pmax, start_h * 60, (start_h + length_h) * 60)
            )
        base = float(np.round(rng.uniform(30, 80), 1))
        sites.append(
            Site(
                name=f"site{i}",
                zone=ZONES[i % n_zones],
                load=Load(
                    base,
                    StepProfile(1.2, ((11 * 60, 1.3), (19 * 60, 1.2))),
                    1.3 * (base + 60.0) + 50.0,
                    it_capacity_mw=base + 50.0,
                ),
                jobs=tuple(local),
                battery=Battery(40.0, 20.0, 0.95, 0.95, 20.0, 4.0, 40.0, 2.0),
                reserve_products=PRODUCTS,
                demand_response=DemandResponse(0.1, 300.0),
            )
        )
    jobs = []
    for j in range(n_jobs):
        k = int(rng.integers(2, min(4, n_sites) + 1))
        where = sorted(int(x) for x in rng.choice(n_sites, size=k, replace=False))
        start_h = int(rng.integers(0, 12))
        length_h = int(rng.integers(8, 24 - start_h + 1))
        caps = [float(np.round(rng.uniform(0.2, 1.0), 3)) for _ in where]
        energy = float(np.round(min(caps) * length_h * rng.uniform(0.3, 0.9), 3))
        placements = tuple(
            Placement(f"site{i}", cap, float(np.round(rng.uniform(0, 20), 2)))
            for i, cap in zip(where, caps, strict=True)
        )
        jobs.append(
            MigratableJob(f"pool{j}", energy, start_h * 60, (start_h + length_h) * 60, placements)
        )
    return Portfolio(f"synthetic-{n_sites}x{n_zones}x{n_jobs}", tuple(sites), tuple(jobs))


def synthetic_zone_prices(zone: str, n_scenarios: int, seed: int) -> PriceScenarios:
    """Scenario prices of one zone around a two-peak shape [CNY/MWh]."""
    rng = np.random.default_rng(seed)
    intervals = delivery_intervals(DAY, zone)
    t = np.arange(len(intervals)) / len(intervals)
    shift = rng.uniform(-0.05, 0.05)
    shape = 350 + 120 * np.sin(2 * np.pi * (t - 0.3 + shift)) + 80 * np.sin(4 * np.pi * t)
    level = rng.normal(0, 40, size=(n_scenarios, 1))
    noise = rng.normal(0, 25, size=(n_scenarios, len(intervals)))
    prices = np.round(shape[None, :] + level + noise, 2)
    return PriceScenarios(intervals, prices, np.full(n_scenarios, 1.0 / n_scenarios), "synthetic")


def synthetic_zone_reserves(zone: str, seed: int) -> dict[str, pd.Series]:
    """Capacity prices per block of the bench's products [CNY/MW per block]."""
    rng = np.random.default_rng(seed + 7)
    z = get_zone(zone)
    intervals = delivery_intervals(DAY, zone)
    out = {}
    for key in PRODUCTS:
        blocks = block_index(intervals, z, z.product(key).block)
        starts = intervals[np.flatnonzero(np.diff(np.concatenate([[-1], blocks])) > 0)]
        out[key] = pd.Series(np.round(rng.uniform(5, 40, len(starts)), 2), index=starts)
    return out


def bench_portfolio(
    n_sites: int,
    n_zones: int,
    n_jobs: int,
    n_scenarios: int,
    warm: int = 10,
    seed: int = 0,
    block_start: bool = True,
) -> dict[str, Any]:
    """Cold solve and ``warm`` re-solves of the synthetic portfolio; times and problem size.

    ``block_start=False`` solves every day's joint problem cold (the comparison figure).
    """
    pf = synthetic_portfolio(n_sites, n_zones, n_jobs, seed)
    threads = solver_threads() if block_start else 1
    cache = PortfolioModelCache()
    options = SolveOptions()

    def inputs(k: int) -> tuple[list[PriceScenarios], list[dict[str, pd.Series]]]:
        by_zone = {
            z: (
                synthetic_zone_prices(z, n_scenarios, seed + 1000 * k + n),
                synthetic_zone_reserves(z, seed + 1000 * k + n),
            )
            for n, z in enumerate(ZONES[:n_zones])
        }
        return [by_zone[s.zone][0] for s in pf.sites], [by_zone[s.zone][1] for s in pf.sites]

    t0 = time.perf_counter()
    sc, res = inputs(0)
    first = solve_portfolio(
        pf, DAY, sc, res, options, cache, block_start=block_start, threads=threads
    )
    cold = time.perf_counter() - t0
    walls, solver = [], []
    for k in range(1, warm + 1):
        sc, res = inputs(k)
        t0 = time.perf_counter()
        plan = solve_portfolio(
            pf, DAY, sc, res, options, cache, block_start=block_start, threads=threads
        )
        walls.append(time.perf_counter() - t0)
        solver.append(plan.provenance.solver_time_s)
    size = problem_size(cache.models()[-1])
    placed = sum(a.energy_mwh for a in first.allocation)
    return {
        "problem": {
            "kind": "synthetic-portfolio",
            "sites": n_sites,
            "zones": n_zones,
            "migratable_jobs": n_jobs,
            "scenarios": n_scenarios,
            "intervals": len(first.plans[0].intervals),
        },
        "cold_s": round(cold, 4),
        "cold_solver_s": round(first.provenance.solver_time_s, 4),
        "warm_median_s": round(statistics.median(walls), 4),
        "warm_solver_median_s": round(statistics.median(solver), 4),
        "warm_runs": len(walls),
        "warm_wall_over_solver": round(
            statistics.median(walls) / max(statistics.median(solver), 1e-9), 3
        ),
        "objective": round(first.provenance.objective, 4),
        "migratable_energy_mwh": round(placed, 3),
        **size,
        "block_start": block_start,
        "threads": threads,
        "solver": first.provenance.solver,
        "solver_version": first.provenance.solver_version,
    }
