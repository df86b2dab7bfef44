"""Timing of the bid problem: ``powerdesk bench bid``.

The problem is solved once cold (model built and compiled, first solve) and then at least ten
times warm with new parameter values, through one :class:`bidding.ModelCache` as the engine does.
Without a site: the standard synthetic problem (96 quarter-hours, ``jobs`` flexible job classes,
``scenarios`` scenarios, a battery, FCR/aFRR up/down in 4-hour blocks), warm calls on fresh seeded
prices. With a site, prices and a day: that site and day on the day's actual prices, warm calls
perturbing them by a seeded +-10 %.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bidding import BiddingError, DayPlan, ModelCache, PriceScenarios, SolveOptions, solve_day
from bidding.model import problem_size
from bidding.synthetic import DAY, synthetic_prices, synthetic_reserve_prices, synthetic_site
from engine.core.errors import PowerdeskError
from engine.io.canonical import read_price_csv
from engine.io.site_file import load_site
from market import get_zone

MIN_WARM = 10


def parse_highs_options(items: Sequence[str]) -> tuple[tuple[str, Any], ...]:
    """``NAME=VALUE`` texts as HiGHS option pairs (values read as int, float or text)."""
    out: list[tuple[str, Any]] = []
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise PowerdeskError(f"--highs-option must be NAME=VALUE, got {item!r}")
        value: Any = text
        for cast in (int, float):
            try:
                value = cast(text)
                break
            except ValueError:
                continue
        out.append((name, value))
    return tuple(out)


def measure(solve: Callable[[Any], DayPlan], warm_inputs: Sequence[Any]) -> dict[str, Any]:
    """Wall and solver time of one cold ``solve(None)`` and of ``solve(item)`` for each item."""
    t0 = time.perf_counter()
    first = solve(None)
    cold = time.perf_counter() - t0
    walls, solver_times = [], []
    for item in warm_inputs:
        t0 = time.perf_counter()
        plan = solve(item)
        walls.append(time.perf_counter() - t0)
        solver_times.append(plan.provenance.solver_time_s)
    return {
        "cold_s": round(cold, 4),
        "cold_solver_s": round(first.provenance.solver_time_s, 4),
        "warm_median_s": round(statistics.median(walls), 4),
        "warm_solver_median_s": round(statistics.median(solver_times), 4),
        "warm_runs": len(walls),
        "objective": round(first.provenance.objective, 4),
        "solver": first.provenance.solver,
        "solver_version": first.provenance.solver_version,
    }


def bench_bid(
    *,
    jobs: int = 100,
    scenarios: int = 10,
    warm: int = MIN_WARM,
    seed: int = 0,
    site: Path | None = None,
    prices: Path | None = None,
    day: str | None = None,
    no_reserves: bool = False,
    job_recourse: bool = False,
    resolution_minutes: int | None = None,
    solver: str = "HIGHS",
    highs_options: Sequence[str] = (),
    warm_start: bool = True,
) -> dict[str, Any]:
    """Time the bid problem cold once and warm ``warm`` times; a JSON-ready result.

    Keys: ``problem`` (what was solved), ``cold_s``, ``cold_solver_s``, ``warm_median_s``,
    ``warm_solver_median_s``, ``warm_runs``, ``objective``, ``solver``, ``solver_version``, the
    problem size (``variables``, ``constraints``, ``nonzeros``, ...), ``intervals``,
    ``highs_options`` and ``warm_wall_over_solver``.
    """
    if warm < MIN_WARM:
        raise PowerdeskError(f"--warm must be at least {MIN_WARM}, got {warm}")
    cache = ModelCache()
    resolution = timedelta(minutes=resolution_minutes) if resolution_minutes else None
    options = SolveOptions(
        highs_options=parse_highs_options(highs_options) if highs_options else None,
        solver=solver.upper(),
        offer_reserves=not no_reserves,
        job_recourse=job_recourse,
        resolution=resolution,
        warm_start=warm_start,
    )
    rng = np.random.default_rng(seed)
    warm_inputs: list[tuple[PriceScenarios, dict[str, pd.Series]]] = []
    problem: dict[str, Any]
    if site is None:
        if jobs < 0 or scenarios < 1:
            raise PowerdeskError("--jobs must be >= 0 and --scenarios >= 1")
        the_site = synthetic_site(jobs, seed)
        zone = get_zone(the_site.zone)
        the_day = DAY
        base = synthetic_prices(scenarios, seed, resolution)
        reserve: dict[str, pd.Series] = {} if no_reserves else synthetic_reserve_prices(seed)
        for i in range(warm):
            warm_inputs.append(
                (
                    synthetic_prices(scenarios, seed + 1 + i, resolution),
                    {} if no_reserves else synthetic_reserve_prices(seed + 1 + i),
                )
            )
        problem = {
            "kind": "synthetic",
            "jobs": jobs,
            "scenarios": scenarios,
            "job_recourse": job_recourse,
        }
    else:
        if prices is None or day is None:
            raise PowerdeskError("--site needs --prices and --day")
        if resolution is not None:
            raise PowerdeskError("--resolution-minutes is for the synthetic problem only")
        if scenarios < 1:
            raise PowerdeskError(f"--scenarios must be at least 1, got {scenarios}")
        try:
            the_day = date.fromisoformat(day)
        except ValueError:
            raise PowerdeskError(f"--day must be YYYY-MM-DD, got {day!r}") from None
        the_site = load_site(site)
        zone = get_zone(the_site.zone)
        actual = PriceScenarios.perfect_foresight(read_price_csv(prices, zone), the_day, zone)
        p = actual.prices_per_mwh
        weights = np.full(scenarios, 1 / scenarios)

        def perturbed() -> PriceScenarios:
            noise = rng.uniform(0.9, 1.1, size=(scenarios, p.shape[1]))
            return PriceScenarios(actual.intervals, p * noise, weights, "perturbed")

        base = actual if scenarios == 1 else perturbed()
        reserve = {}
        warm_inputs = [(perturbed(), {}) for _ in range(warm)]
        problem = {"kind": "site", "site": the_site.name, "day": the_day.isoformat()}

    def solve(item: tuple[PriceScenarios, dict[str, pd.Series]] | None) -> DayPlan:
        sc, res = (base, reserve) if item is None else item
        return solve_day(the_site, zone, the_day, sc, res, options, cache)

    try:
        measured = measure(solve, warm_inputs)
    except BiddingError as exc:
        raise PowerdeskError(str(exc)) from None
    result: dict[str, Any] = {"problem": problem, **measured}
    model = cache.models()[-1]
    result.update(problem_size(model))
    result["intervals"] = model.shape.n_intervals
    result["highs_options"] = dict(options.resolved_highs_options())
    result["warm_wall_over_solver"] = round(
        result["warm_median_s"] / max(result["warm_solver_median_s"], 1e-9), 3
    )
    return result
