"""``powerdesk bid``: one day's bid set (``powerdesk bench bid`` lives in benchmarks/bid.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.backtest import (
    RtEveryOpt,
    RtForecastOpt,
    RtLookbackOpt,
    RtStageOpt,
    RtThresholdOpt,
    realtime_settings,
)
from engine.strategies.names import DEFAULT_RT_THRESHOLD, DEFAULT_SCENARIOS, DESCRIPTIONS
from forecast.realtime import DEFAULT_RT_LOOKBACK_DAYS, DEFAULT_RT_METHOD

if TYPE_CHECKING:
    from engine.strategies.registry import StrategyConfig


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
    scenarios: Annotated[
        int, typer.Option("--scenarios", help="Price scenarios.")
    ] = DEFAULT_SCENARIOS,
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
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Price model of forecast/deterministic (a forecast model: similar-days, lear, "
            "...); default: the zone's default model (docs/decision-quality.md).",
        ),
    ] = None,
    imbalance_prices: Annotated[
        Path | None,
        typer.Option("--imbalance-prices", help="Real-time / imbalance price CSV (--rt-stage)."),
    ] = None,
    rt_stage: RtStageOpt = False,
    rt_forecast: RtForecastOpt = DEFAULT_RT_METHOD,
    rt_lookback: RtLookbackOpt = DEFAULT_RT_LOOKBACK_DAYS,
    rt_threshold: RtThresholdOpt = DEFAULT_RT_THRESHOLD,
    rt_every: RtEveryOpt = 0,
) -> None:
    """Build the DA curve, block and reserve bids of a site for one delivery day.

    With ``--rt-stage``, once the day's DA prices are in ``--prices`` (published), also re-plan
    the day for the real-time stage: the DA bids are rebuilt exactly as at gate closure (the
    same files), and ``replan.csv`` / ``replan.json`` say what the site should run instead.
    """
    from bidding import BiddingError
    from engine.core.errors import PowerdeskError
    from forecast.errors import ForecastError

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
            model,
            imbalance_prices,
            realtime_settings(rt_stage, rt_forecast, rt_lookback, rt_threshold, rt_every),
        )
    except (BiddingError, ForecastError) as exc:
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
    model: str | None,
    imbalance_prices: Path | None,
    realtime: StrategyConfig,
) -> None:
    from engine.bids.files import money, write_plan
    from engine.io.site_file import load_site
    from engine.marketdata.view import file_sha256, from_files
    from engine.strategies.realtime import check_realtime, realtime_replan, with_realtime
    from engine.strategies.registry import StrategyConfig, decide, get_strategy, price_model
    from market import get_zone

    get_strategy(strategy)
    the_day = _day(day)
    the_site = load_site(site)
    zone = get_zone(the_site.zone)
    data, file_inputs = from_files(
        zone,
        prices,
        imbalance_prices=imbalance_prices,
        reserve_prices=reserve_prices,
        features=features,
        activations=activations,
    )
    config = StrategyConfig(
        n_scenarios=scenarios,
        seed=seed,
        solver=solver,
        cvar_weight=cvar_weight,
        job_recourse=job_recourse,
        strict=not allow_violations,
        model=price_model(zone, data, model),
    )
    config = with_realtime(config, realtime)
    check_realtime(config, data)
    inputs: dict[str, Any] = {"site": {"file": str(site), "sha256": file_sha256(site)}}
    inputs.update(file_inputs)
    inputs["strategy"] = {"name": strategy, "scenarios": str(scenarios), "seed": str(seed)}
    plan = decide(strategy, the_site, zone, the_day, data, config)
    # The stage re-plans the very plan decided above (as of gate closure: the submitted bid).
    # Rolling re-plans: the chain up to now, whose last re-plan is the one in force.
    replan = None
    if config.rt_stage:
        now = datetime.now(UTC) if config.rt_every_minutes else None
        replan = realtime_replan(the_site, zone, the_day, plan, data, config, as_of=now)
    write_plan(plan, out, inputs, replan)
    o = plan.objective
    typer.echo(
        f"{plan.site} {plan.day.isoformat()} {strategy}: expected energy cost "
        f"{money(o.energy_cost)} {plan.currency}, reserve revenue {money(o.reserve_revenue)}, "
        f"{len(plan.da_curves)} curves, {len(plan.reserve_bids)} reserve bids, "
        f"{len(plan.block_bids)} block bids -> {out}"
    )
    if replan is not None:
        typer.echo(
            f"real-time stage as of {replan.as_of.isoformat() if replan.as_of else '-'}"
            f"{f' ({replan.replans} re-plans)' if replan.replans > 1 else ''}: "
            f"{replan.deviation_mwh:.3f} MWh moved against {replan.plan.provenance.scenario_method}"
            f" -> {out / 'replan.csv'}"
        )
    for b in plan.breaches:
        typer.echo(f"warning: {b.describe()}", err=True)
