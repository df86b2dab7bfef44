"""``powerdesk bid``: one day's bid set (``powerdesk bench bid`` lives in benchmarks/bid.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

STRATEGIES = ("forecast", "deterministic", "perfect-foresight", "price-taker")


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
    scenarios: Annotated[int, typer.Option("--scenarios", help="Price scenarios.")] = 10,
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            help="forecast (scenarios from data before gate closure), deterministic (one point "
            "forecast), perfect-foresight (the day's own prices: explicit hindsight), "
            "price-taker (flat schedule).",
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
    scenarios: int,
    strategy: str,
    seed: int,
    cvar_weight: float,
    solver: str,
    allow_violations: bool,
    job_recourse: bool,
) -> None:
    import hashlib

    from bidding import PriceScenarios, SolveOptions, flat_schedule, make_scenarios, solve_day
    from engine.backtest.runner import actual_reserve_prices, forecast_reserve_prices
    from engine.bids.files import money, write_plan
    from engine.core.errors import PowerdeskError
    from engine.io.canonical import read_price_csv, read_reserve_price_csv
    from engine.io.site_file import load_site
    from market import get_zone

    if strategy not in STRATEGIES:
        raise PowerdeskError(f"--strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    if scenarios < 1:
        raise PowerdeskError(f"--scenarios must be at least 1, got {scenarios}")
    if not 0.0 <= cvar_weight < 1.0:
        raise PowerdeskError(f"--cvar-weight must lie in [0, 1), got {cvar_weight}")
    the_day = _day(day)
    the_site = load_site(site)
    zone = get_zone(the_site.zone)
    da = read_price_csv(prices, zone)
    reserves = read_reserve_price_csv(reserve_prices, zone) if reserve_prices else {}
    inputs = {
        name: {"file": str(p), "sha256": hashlib.sha256(Path(p).read_bytes()).hexdigest()}
        for name, p in (("site", site), ("prices", prices), ("reserve_prices", reserve_prices))
        if p is not None
    }
    inputs["strategy"] = {"name": strategy, "scenarios": str(scenarios), "seed": str(seed)}
    if strategy == "price-taker":
        plan = flat_schedule(the_site, zone, the_day)
    else:
        if strategy == "perfect-foresight":
            sc = PriceScenarios.perfect_foresight(da, the_day, zone)
            res = actual_reserve_prices(reserves, the_day, zone)
        elif strategy == "deterministic":
            sc = PriceScenarios.deterministic(da, the_day, zone)
            res = forecast_reserve_prices(reserves, the_day, zone)
        else:
            sc = make_scenarios(da, the_day, zone, scenarios, seed=seed)
            res = forecast_reserve_prices(reserves, the_day, zone)
        options = SolveOptions(
            solver=solver.upper(),
            cvar_weight=cvar_weight,
            strict=not allow_violations,
            job_recourse=job_recourse,
            # CLARABEL and ECOS solve no MIP: non-preemptible starts are relaxed for them.
            integer_blocks=solver.upper() == "HIGHS",
        )
        plan = solve_day(the_site, zone, the_day, sc, res, options)
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
