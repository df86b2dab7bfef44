"""``powerdesk backtest``, ``sweep`` and ``bench backtest`` (see docs/settlement.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from engine.strategies.names import (
    DEFAULT_RT_THRESHOLD,
    DEFAULT_SCENARIOS,
    StrategyName,
)
from forecast.realtime import DEFAULT_RT_LOOKBACK_DAYS, DEFAULT_RT_METHOD

STRATEGY_NAMES = tuple(s.value for s in StrategyName)
if TYPE_CHECKING:
    from engine.strategies.registry import StrategyConfig

_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

SiteOpt = Annotated[Path, typer.Option("--site", help="Site file (TOML).")]
PricesOpt = Annotated[Path, typer.Option("--prices", help="Canonical DA price CSV.")]
StartOpt = Annotated[str, typer.Option("--start", help="First local delivery day YYYY-MM-DD.")]
EndOpt = Annotated[
    str, typer.Option("--end", help="Local delivery day YYYY-MM-DD after the last (exclusive).")
]
OutOpt = Annotated[Path, typer.Option("--out", help="Output directory (written atomically).")]
ReservePricesOpt = Annotated[
    Path | None,
    typer.Option("--reserve-prices", help="Canonical reserve capacity price CSV."),
]
FeaturesOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--features",
        help="Canonical feature CSV (exogenous day-ahead inputs; repeatable).",
    ),
]
ActivationsOpt = Annotated[
    Path | None,
    typer.Option(
        "--activations",
        help="Canonical activation CSV (calls on the site: settled, and the bid's expected "
        "activation).",
    ),
]
RtStageOpt = Annotated[
    bool,
    typer.Option(
        "--rt-stage",
        help="Add the real-time stage: after the DA result, re-plan jobs and battery against a "
        "real-time price forecast; deviations settle at the imbalance price (docs/realtime.md).",
    ),
]
RtForecastOpt = Annotated[
    str,
    typer.Option("--rt-forecast", help="Real-time price forecast: zero, mean or median."),
]
RtLookbackOpt = Annotated[
    int, typer.Option("--rt-lookback", help="Days of real-time spread history it looks at.")
]
RtThresholdOpt = Annotated[
    float,
    typer.Option(
        "--rt-threshold",
        help="Dead band of the re-plan [currency/MWh]: move a MWh only where the forecast gains "
        "more.",
    ),
]
RtEveryOpt = Annotated[
    int,
    typer.Option(
        "--rt-every",
        help="Re-plan again every this many minutes while the day runs, with the real-time prices "
        "known by then (0: once, after the DA result).",
    ),
]
ExecutorOpt = Annotated[
    str,
    typer.Option("--executor", help="local (2 processes), local:N, inline or dask://HOST:PORT."),
]


def realtime_settings(
    stage: bool, forecast: str, lookback: int, threshold: float, every: int = 0
) -> StrategyConfig:
    """The real-time stage settings of the --rt-* options (shared by backtest, sweep, bid)."""
    from engine.strategies.registry import StrategyConfig

    return StrategyConfig(
        rt_stage=stage,
        rt_forecast=forecast,
        rt_lookback_days=lookback,
        rt_threshold_per_mwh=threshold,
        rt_every_minutes=every,
    )


def backtest(
    site: SiteOpt,
    prices: PricesOpt,
    start: StartOpt,
    end: EndOpt,
    out: OutOpt,
    strategy: Annotated[
        str,
        typer.Option("--strategy", help=f"One of: {', '.join(STRATEGY_NAMES)}."),
    ] = "forecast",
    imbalance_prices: Annotated[
        Path | None,
        typer.Option(
            "--imbalance-prices",
            help="Canonical imbalance price CSV (default: deviations settle at the DA price).",
        ),
    ] = None,
    reserve_prices: ReservePricesOpt = None,
    features: FeaturesOpt = None,
    activations: ActivationsOpt = None,
    scenarios: Annotated[
        int, typer.Option("--scenarios", help="Price scenarios of the forecast strategy.")
    ] = DEFAULT_SCENARIOS,
    seed: Annotated[int, typer.Option("--seed", help="Scenario seed.")] = 0,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Price model of forecast/deterministic (a forecast model: similar-days, lear, "
            "...); default: the zone's default model (docs/decision-quality.md).",
        ),
    ] = None,
    executor: ExecutorOpt = "local",
    no_regret: Annotated[
        bool,
        typer.Option("--no-regret", help="Do not run perfect foresight for the regret."),
    ] = False,
    rt_stage: RtStageOpt = False,
    rt_forecast: RtForecastOpt = DEFAULT_RT_METHOD,
    rt_lookback: RtLookbackOpt = DEFAULT_RT_LOOKBACK_DAYS,
    rt_threshold: RtThresholdOpt = DEFAULT_RT_THRESHOLD,
    rt_every: RtEveryOpt = 0,
) -> None:
    """Bid every delivery day with a strategy, clear against history, settle, summarise.

    Writes OUT/summary.json, OUT/days.csv, OUT/cumulative_cost.png (and
    OUT/days_perfect_foresight.csv, OUT/run.json) and prints the summary.
    """
    from engine.backtest.runner import format_summary, run_backtest

    realtime = realtime_settings(rt_stage, rt_forecast, rt_lookback, rt_threshold, rt_every)
    result = run_backtest(
        site,
        prices,
        start,
        end,
        strategy,
        imbalance_prices=imbalance_prices,
        reserve_prices=reserve_prices,
        features=features or [],
        activations=activations,
        n_scenarios=scenarios,
        seed=seed,
        model=model,
        executor=executor,
        regret=not no_regret,
        out=out,
        realtime=realtime,
    )
    typer.echo(format_summary(result.summary))
    typer.echo(f"{'written to':<30} {out}")


def _ints(text: str, what: str) -> list[int]:
    from engine.core.errors import PowerdeskError

    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise PowerdeskError(f"{what} must be comma-separated integers, not {text!r}") from None
    if not values:
        raise PowerdeskError(f"{what} must list at least one integer")
    return values


def sweep(
    site: SiteOpt,
    prices: PricesOpt,
    start: StartOpt,
    end: EndOpt,
    out: OutOpt,
    strategies: Annotated[
        str,
        typer.Option("--strategies", help="Comma-separated strategies to compare."),
    ] = "forecast,deterministic,price-taker",
    scenarios: Annotated[
        str,
        typer.Option("--scenarios", help="Scenario counts of the forecast strategy, e.g. 3,5,10."),
    ] = "3,5,10",
    seeds: Annotated[
        str,
        typer.Option(
            "--seeds",
            help="Scenario seeds, e.g. 0,1,2 (similar-days scenarios use them only where "
            "history is short).",
        ),
    ] = "0",
    imbalance_prices: Annotated[
        Path | None,
        typer.Option("--imbalance-prices", help="Canonical imbalance price CSV."),
    ] = None,
    reserve_prices: ReservePricesOpt = None,
    features: FeaturesOpt = None,
    executor: ExecutorOpt = "local",
    rt_stage: RtStageOpt = False,
    rt_forecast: RtForecastOpt = DEFAULT_RT_METHOD,
    rt_lookback: RtLookbackOpt = DEFAULT_RT_LOOKBACK_DAYS,
    rt_threshold: RtThresholdOpt = DEFAULT_RT_THRESHOLD,
    rt_every: RtEveryOpt = 0,
) -> None:
    """Backtest several strategies, and the forecast strategy over a grid of scenario counts and
    seeds, against perfect foresight (run once). Writes OUT/sweep.csv, OUT/summary.json and
    OUT/sweep.png and prints the table."""
    from engine.backtest.sweep import run_sweep

    result = run_sweep(
        site,
        prices,
        start,
        end,
        strategies=[s.strip() for s in strategies.split(",") if s.strip()],
        n_scenarios=_ints(scenarios, "--scenarios"),
        seeds=_ints(seeds, "--seeds"),
        imbalance_prices=imbalance_prices,
        reserve_prices=reserve_prices,
        features=features or [],
        executor=executor,
        out=out,
        realtime=realtime_settings(rt_stage, rt_forecast, rt_lookback, rt_threshold, rt_every),
    )
    cur = result.summary["currency"]
    typer.echo(
        f"{'strategy':<20} {'scenarios':>9} {'seed':>5} {'total_cost':>16} {'regret':>14} "
        f"{'capture':>8}"
    )
    for r in result.rows:
        n = "" if r.n_scenarios is None else str(r.n_scenarios)
        seed = "" if r.seed is None else str(r.seed)
        typer.echo(
            f"{r.strategy:<20} {n:>9} {seed:>5} {r.totals['total_cost']:>16} {r.regret:>14} "
            f"{'' if r.capture is None else r.capture:>8} {cur}"
        )
    typer.echo(f"perfect foresight total_cost {result.perfect_total} {cur}; written to {out}")


def bench_backtest(
    days: Annotated[int, typer.Option("--days", help="Delivery days (from 2025-03-02).")] = 30,
    scenarios: Annotated[int, typer.Option("--scenarios", help="Forecast scenarios.")] = 5,
    executor: Annotated[
        str, typer.Option("--executor", help="local, local:N, inline or dask://HOST:PORT.")
    ] = "inline",
    site: Annotated[Path | None, typer.Option("--site", help="Site file.")] = None,
    prices: Annotated[Path | None, typer.Option("--prices", help="DA price CSV.")] = None,
    start: Annotated[str, typer.Option("--start", help="First delivery day.")] = "2025-03-02",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Days per second of the forecast strategy (default: a month of the DE-LU fixture)."""
    from datetime import date, timedelta

    from engine.backtest.runner import run_backtest

    first = date.fromisoformat(start)
    result = run_backtest(
        site or _FIXTURES / "sites" / "example-dc.toml",
        prices or _FIXTURES / "prices" / "de_lu_2025_03_da.csv",
        first,
        first + timedelta(days=days),
        "forecast",
        n_scenarios=scenarios,
        executor=executor,
        regret=False,
        progress=False,
    )
    report = {
        "days": days,
        "scenarios": scenarios,
        "executor": result.executor,
        "elapsed_s": round(result.elapsed_s, 3),
        "days_per_s": round(days / result.elapsed_s, 3),
        "total_cost": result.summary["total_cost"],
        "currency": result.summary["currency"],
    }
    typer.echo(json.dumps(report, indent=None if as_json else 2))
