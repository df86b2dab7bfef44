"""``powerdesk backtest`` (CONTRACTS.md "Backtest") and ``powerdesk bench backtest``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

# Listed here (not imported from engine.backtest) so ``powerdesk --help`` does not import cvxpy;
# a test keeps the two lists equal.
STRATEGY_NAMES = ("perfect-foresight", "forecast", "deterministic", "price-taker")
_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def backtest(
    site: Annotated[Path, typer.Option("--site", help="Site file (TOML).")],
    prices: Annotated[Path, typer.Option("--prices", help="Canonical DA price CSV.")],
    start: Annotated[str, typer.Option("--start", help="First local delivery day YYYY-MM-DD.")],
    end: Annotated[
        str, typer.Option("--end", help="Local delivery day YYYY-MM-DD after the last (exclusive).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Output directory (written atomically).")],
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
    reserve_prices: Annotated[
        Path | None,
        typer.Option("--reserve-prices", help="Canonical reserve capacity price CSV."),
    ] = None,
    scenarios: Annotated[
        int, typer.Option("--scenarios", help="Price scenarios of the forecast strategy.")
    ] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Scenario seed.")] = 0,
    executor: Annotated[
        str,
        typer.Option(
            "--executor", help="local (2 processes), local:N, inline or dask://HOST:PORT."
        ),
    ] = "local",
    no_regret: Annotated[
        bool,
        typer.Option("--no-regret", help="Do not run perfect foresight for the regret."),
    ] = False,
) -> None:
    """Bid every delivery day with a strategy, clear against history, settle, summarise.

    Writes OUT/summary.json, OUT/days.csv, OUT/cumulative_cost.png (and
    OUT/days_perfect_foresight.csv, OUT/run.json) and prints the summary.
    """
    from engine.backtest import format_summary, run_backtest

    result = run_backtest(
        site,
        prices,
        start,
        end,
        strategy,
        imbalance_prices=imbalance_prices,
        reserve_prices=reserve_prices,
        n_scenarios=scenarios,
        seed=seed,
        executor=executor,
        regret=not no_regret,
        out=out,
    )
    typer.echo(format_summary(result.summary))
    typer.echo(f"{'written to':<30} {out}")


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

    from engine.backtest import run_backtest

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
