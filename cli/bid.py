"""``powerdesk bid`` (one day's bid set) and ``powerdesk bench bid`` (solver timing)."""

from __future__ import annotations

import json
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from engine.strategies.names import DESCRIPTIONS


def _day(text: str) -> date:
    from engine.core.errors import PowerdeskError

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PowerdeskError(f"--day must be YYYY-MM-DD, got {text!r}") from None


def bid(
    site: Annotated[Path, typer.Option("--site", help="Site file (TOML).")],
    day: Annotated[str, typer.Option("--day", help="Delivery day YYYY-MM-DD (local).")],
    prices: Annotated[Path, typer.Option("--prices", help="DA price CSV (canonical form).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    reserve_prices: Annotated[
        Path | None, typer.Option("--reserve-prices", help="Reserve price CSV.")
    ] = None,
    features: Annotated[
        list[Path] | None,
        typer.Option("--features", help="Canonical feature CSV (repeatable)."),
    ] = None,
    activations: Annotated[
        Path | None,
        typer.Option(
            "--activations",
            help="Canonical activation CSV: past calls estimate the expected activation.",
        ),
    ] = None,
    scenarios: Annotated[int, typer.Option("--scenarios", help="Price scenarios.")] = 10,
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            help="; ".join(f"{name.value}: {text}" for name, text in DESCRIPTIONS.items()),
        ),
    ] = "forecast",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    cvar_weight: Annotated[
        float, typer.Option("--cvar-weight", help="CVaR weight in [0, 1).")
    ] = 0.0,
    solver: Annotated[str, typer.Option("--solver", help="HIGHS, CLARABEL or ECOS.")] = "HIGHS",
    allow_violations: Annotated[
        bool,
        typer.Option("--allow-violations", help="Report soft-constraint breaches, do not fail."),
    ] = False,
    job_recourse: Annotated[
        bool,
        typer.Option("--job-recourse", help="A job schedule per scenario (slower; see docs)."),
    ] = False,
) -> None:
    """Build the DA curve, block and reserve bids of a site for one delivery day."""
    from bidding import BiddingError
    from engine.core.errors import PowerdeskError

    try:
        _bid(
            site,
            day,
            prices,
            out,
            reserve_prices,
            features or [],
            activations,
            scenarios,
            strategy,
            seed,
            cvar_weight,
            solver,
            allow_violations,
            job_recourse,
        )
    except BiddingError as exc:
        raise PowerdeskError(str(exc)) from None


def _bid(
    site: Path,
    day: str,
    prices: Path,
    out: Path,
    reserve_prices: Path | None,
    features: list[Path],
    activations: Path | None,
    scenarios: int,
    strategy: str,
    seed: int,
    cvar_weight: float,
    solver: str,
    allow_violations: bool,
    job_recourse: bool,
) -> None:
    from engine.bids.files import money, write_plan
    from engine.io.site_file import load_site
    from engine.marketdata.view import file_sha256, from_files
    from engine.strategies.registry import StrategyConfig, decide, get_strategy
    from market import get_zone

    get_strategy(strategy)
    config = StrategyConfig(
        n_scenarios=scenarios,
        seed=seed,
        solver=solver,
        cvar_weight=cvar_weight,
        job_recourse=job_recourse,
        strict=not allow_violations,
    )
    the_day = _day(day)
    the_site = load_site(site)
    zone = get_zone(the_site.zone)
    data, file_inputs = from_files(
        zone, prices, reserve_prices=reserve_prices, features=features, activations=activations
    )
    inputs: dict[str, Any] = {"site": {"file": str(site), "sha256": file_sha256(site)}}
    inputs.update(file_inputs)
    inputs["strategy"] = {"name": strategy, "scenarios": str(scenarios), "seed": str(seed)}
    plan = decide(strategy, the_site, zone, the_day, data, config)
    write_plan(plan, out, inputs)
    o = plan.objective
    typer.echo(
        f"{plan.site} {plan.day.isoformat()} {strategy}: expected energy cost "
        f"{money(o.energy_cost)} {plan.currency}, reserve revenue {money(o.reserve_revenue)}, "
        f"{len(plan.da_curves)} curves, {len(plan.reserve_bids)} reserve bids, "
        f"{len(plan.block_bids)} block bids -> {out}"
    )
    for b in plan.breaches:
        typer.echo(f"warning: {b.describe()}", err=True)


def _highs_options(items: list[str]) -> tuple[tuple[str, Any], ...]:
    from engine.core.errors import PowerdeskError

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


def _measure(solve: Any, warm_inputs: list[Any]) -> dict[str, Any]:
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
    jobs: Annotated[int, typer.Option("--jobs", help="Flexible job classes.")] = 100,
    activations: Annotated[
        Path | None,
        typer.Option(
            "--activations",
            help="Canonical activation CSV: past calls estimate the expected activation.",
        ),
    ] = None,
    scenarios: Annotated[int, typer.Option("--scenarios", help="Price scenarios.")] = 10,
    warm: Annotated[int, typer.Option("--warm", help="Warm re-solves (at least 10).")] = 10,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    site: Annotated[
        Path | None, typer.Option("--site", help="Site file instead of synthetic.")
    ] = None,
    prices: Annotated[Path | None, typer.Option("--prices", help="DA prices for --site.")] = None,
    day: Annotated[str | None, typer.Option("--day", help="Delivery day for --site.")] = None,
    no_reserves: Annotated[bool, typer.Option("--no-reserves", help="Energy only.")] = False,
    job_recourse: Annotated[
        bool,
        typer.Option("--job-recourse", help="One job schedule per scenario (slower mode)."),
    ] = False,
    resolution_minutes: Annotated[
        int | None,
        typer.Option("--resolution-minutes", help="Synthetic problem on a finer grid (5 = T=288)."),
    ] = None,
    solver: Annotated[str, typer.Option("--solver")] = "HIGHS",
    highs_option: Annotated[
        list[str] | None,
        typer.Option("--highs-option", help="HiGHS option NAME=VALUE (repeatable)."),
    ] = None,
    no_warm_start: Annotated[
        bool, typer.Option("--no-warm-start", help="Solve every call from scratch.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Time the bid problem cold once and warm (new parameter values) at least 10 times.

    Without --site: the standard synthetic problem (96 quarter-hours, --jobs flexible job
    classes, --scenarios scenarios, a battery, FCR/aFRR up/down in 4-hour blocks). With --site,
    --prices and --day: that site and day on the day's actual prices; warm calls perturb the
    prices by a seeded +-10 %.
    """
    import numpy as np

    from bidding import BiddingError, ModelCache, PriceScenarios, SolveOptions, solve_day
    from bidding.model import problem_size
    from bidding.synthetic import (
        DAY,
        synthetic_prices,
        synthetic_reserve_prices,
        synthetic_site,
    )
    from engine.core.errors import PowerdeskError
    from engine.io.canonical import read_price_csv
    from engine.io.site_file import load_site
    from market import get_zone

    if warm < 10:
        raise PowerdeskError(f"--warm must be at least 10, got {warm}")
    cache = ModelCache()
    from datetime import timedelta

    resolution = timedelta(minutes=resolution_minutes) if resolution_minutes else None
    highs = _highs_options(highs_option) if highs_option else None
    options = SolveOptions(
        highs_options=highs,
        solver=solver.upper(),
        offer_reserves=not no_reserves,
        job_recourse=job_recourse,
        resolution=resolution,
        warm_start=not no_warm_start,
    )
    rng = np.random.default_rng(seed)
    if site is None:
        if jobs < 0 or scenarios < 1:
            raise PowerdeskError("--jobs must be >= 0 and --scenarios >= 1")
        the_site = synthetic_site(jobs, seed)
        zone = get_zone(the_site.zone)
        the_day = DAY
        base = synthetic_prices(scenarios, seed, resolution)
        reserve = {} if no_reserves else synthetic_reserve_prices(seed)
        warm_inputs: list[Any] = [
            (
                synthetic_prices(scenarios, seed + 1 + i, resolution),
                {} if no_reserves else synthetic_reserve_prices(seed + 1 + i),
            )
            for i in range(warm)
        ]
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
        the_site = load_site(site)
        zone = get_zone(the_site.zone)
        the_day = _day(day)
        series = read_price_csv(prices, zone)
        actual = PriceScenarios.perfect_foresight(series, the_day, zone)
        p = actual.prices_per_mwh
        if scenarios == 1:
            base = actual
        else:
            noise = rng.uniform(0.9, 1.1, size=(scenarios, p.shape[1]))
            base = PriceScenarios(
                actual.intervals, p * noise, np.full(scenarios, 1 / scenarios), "perturbed"
            )
        reserve = {}
        warm_inputs = []
        for _ in range(warm):
            noise = rng.uniform(0.9, 1.1, size=(scenarios, p.shape[1]))
            sc = PriceScenarios(
                actual.intervals, p * noise, np.full(scenarios, 1 / scenarios), "perturbed"
            )
            warm_inputs.append((sc, {}))
        problem = {"kind": "site", "site": the_site.name, "day": the_day.isoformat()}

    def solve(item: Any) -> Any:
        sc, res = (base, reserve) if item is None else item
        return solve_day(the_site, zone, the_day, sc, res, options, cache)

    try:
        measured = _measure(solve, warm_inputs)
    except BiddingError as exc:
        raise PowerdeskError(str(exc)) from None
    result: dict[str, Any] = {"problem": problem, **measured}
    model = cache.models()[-1]
    result.update(problem_size(model))
    result["intervals"] = model.shape.n_intervals
    result["highs_options"] = {k: v for k, v in options.resolved_highs_options()}
    result["warm_wall_over_solver"] = round(
        result["warm_median_s"] / max(result["warm_solver_median_s"], 1e-9), 3
    )
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for k, v in result.items():
            typer.echo(f"{k}: {v}")
