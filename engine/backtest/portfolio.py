"""Backtest a portfolio: decide every day jointly, clear and settle each site as a single site.

Each day :func:`~engine.strategies.portfolio.decide_portfolio` decides (at the earliest gate
closure of the sites' zones), and each site's plan is cleared and settled against its zone's
history by :func:`engine.backtest.runner.settle_plan`, exactly as a single-site backtest settles
its plan. The placement cost is ``cost_per_mwh`` times the migratable energy placed at a site,
energies rounded once to the Wh, money to the currency's minor unit. Outputs (``summary.json``,
``days.csv``, ``sites.csv``, ``allocation.csv``, ``allocation.png``) are byte-identical for the
same inputs.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from bidding import BiddingError
from bidding.portfolio import Portfolio
from bidding.portfolio_model import PortfolioPlan
from engine.backtest.executors import ExecutorSpec, parse_executor, progress_bar, run_tasks
from engine.backtest.runner import (
    DayOutcome,
    check_market_data,
    code_version,
    delivery_days,
    energy,
    money,
    settle_plan,
    write_outputs,
)
from engine.core.errors import PowerdeskError
from engine.marketdata.view import MarketData
from engine.strategies.portfolio import decide_portfolio, portfolio_thread_cache
from engine.strategies.registry import StrategyConfig, get_strategy
from market import MarketError, Zone, get_zone, register_zones
from market.clearing import placed_energy_mwh, placement_cost, price_decimal

SITE_MONEY = ("energy_cost", "reserve_revenue", "imbalance_cost", "degradation_cost")
DAY_COLUMNS = ("day", *SITE_MONEY, "placement_cost", "total_cost", "grid_energy_mwh")


@dataclass(frozen=True, slots=True)
class SiteDay:
    """One site's settled day: the single-site outcome plus the placement cost there."""

    site: str
    zone: str
    outcome: DayOutcome
    placement_cost: Decimal

    @property
    def total_cost(self) -> Decimal:
        """Site total: the single-site total plus the placement cost."""
        return self.outcome.total_cost + self.placement_cost


@dataclass(frozen=True, slots=True)
class PortfolioDay:
    """One settled portfolio day."""

    day: date
    sites: tuple[SiteDay, ...]
    allocation: tuple[tuple[str, str, Decimal], ...]  # job, site, IT energy [MWh]

    def total(self, name: str) -> Decimal:
        """Sum of a field over the sites."""
        if name == "placement_cost":
            return sum((s.placement_cost for s in self.sites), Decimal(0)) + Decimal(0)
        if name == "total_cost":
            return sum((s.total_cost for s in self.sites), Decimal(0)) + Decimal(0)
        return sum((getattr(s.outcome, name) for s in self.sites), Decimal(0)) + Decimal(0)


def settle_portfolio_day(
    plan: PortfolioPlan, portfolio: Portfolio, data: Mapping[str, MarketData]
) -> PortfolioDay:
    """Clear and settle every site's plan (:func:`settle_plan`) and price the placement."""
    sites = []
    for site, site_plan in zip(portfolio.sites, plan.plans, strict=True):
        zone = get_zone(site.zone)
        outcome = settle_plan(site_plan, site, zone, data[zone.key].actuals())
        cost = placement_cost(
            (
                (price_decimal(a.cost_per_mwh), placed_energy_mwh(a.it_mw, a.interval_hours))
                for a in plan.allocation
                if a.site == site.name
            ),
            zone.minor_unit,
        )
        sites.append(SiteDay(site.name, zone.key, outcome, cost))
    allocation = tuple(
        (a.job, a.site, placed_energy_mwh(a.it_mw, a.interval_hours)) for a in plan.allocation
    )
    return PortfolioDay(plan.day, tuple(sites), allocation)


@dataclass(frozen=True, slots=True)
class PortfolioTask:
    """A contiguous run of days of one strategy (what one worker does)."""

    strategy: str
    portfolio: Portfolio
    zones: tuple[Zone, ...]  # zones-file entries the worker must register first
    days: tuple[date, ...]
    data: Mapping[str, MarketData]
    config: StrategyConfig


def run_portfolio_task(task: PortfolioTask) -> tuple[PortfolioDay, ...]:
    """Decide, clear and settle every day of ``task`` (runs in a worker)."""
    register_zones(task.zones)
    cache = portfolio_thread_cache()
    out = []
    for day in task.days:
        try:
            plan = decide_portfolio(
                task.strategy, task.portfolio, day, task.data, task.config, cache=cache
            )
        except (BiddingError, MarketError) as exc:
            raise PowerdeskError(f"{task.strategy}, delivery day {day}: {exc}") from None
        out.append(settle_portfolio_day(plan, task.portfolio, task.data))
    return tuple(out)


def backtest_portfolio_days(
    strategy: str,
    portfolio: Portfolio,
    days: Sequence[date],
    data: Mapping[str, MarketData],
    config: StrategyConfig,
    *,
    zones: Sequence[Zone] = (),
    executor: ExecutorSpec | str = "inline",
    progress: bool | None = False,
) -> tuple[PortfolioDay, ...]:
    """Run ``strategy`` over ``days`` (no checks, no files): the computational core."""
    from engine.backtest.runner import chunk_days

    spec = parse_executor(executor) if isinstance(executor, str) else executor
    get_strategy(strategy)

    def make_tasks(parallelism: int) -> list[PortfolioTask]:
        n_chunks = 1 if parallelism <= 1 else 2 * parallelism
        return [
            PortfolioTask(strategy, portfolio, tuple(zones), chunk, dict(data), config)
            for chunk in chunk_days(days, n_chunks)
        ]

    with progress_bar(len(days), f"backtest {portfolio.name}", progress) as advance:
        results = run_tasks(
            spec, run_portfolio_task, make_tasks, lambda task, _r: advance(len(task.days))
        )
    return tuple(d for chunk in results for d in chunk)


def check_portfolio_data(
    portfolio: Portfolio,
    data: Mapping[str, MarketData],
    days: Sequence[date],
    strategy: str,
    labels: Mapping[str, str],
) -> None:
    """Every site's zone has prices covering every day (one-line error naming the zone)."""
    for key in sorted({s.zone for s in portfolio.sites}):
        if key not in data:
            raise PowerdeskError(f"no --prices for zone {key} (sites: {_sites_in(portfolio, key)})")
        check_market_data(data[key], days, get_zone(key), [strategy], labels.get(key, key))


def _sites_in(portfolio: Portfolio, key: str) -> str:
    return ", ".join(s.name for s in portfolio.sites if s.zone == key)


def days_csv(days: Sequence[PortfolioDay], zone: Zone) -> bytes:
    """``days.csv``: one row per day, summed over the sites."""
    lines = [",".join(DAY_COLUMNS)]
    for d in days:
        cells = [d.day.isoformat()]
        cells += [money(d.total(n), zone) for n in (*SITE_MONEY, "placement_cost", "total_cost")]
        cells.append(energy(d.total("grid_energy_mwh")))
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()


def sites_csv(days: Sequence[PortfolioDay], zone: Zone) -> bytes:
    """``sites.csv``: one row per site and day."""
    lines = [",".join(("day", "site", "zone", *DAY_COLUMNS[1:]))]
    for d in days:
        for s in d.sites:
            o = s.outcome
            cells = [d.day.isoformat(), s.site, s.zone]
            cells += [money(getattr(o, n), zone) for n in SITE_MONEY]
            cells += [money(s.placement_cost, zone), money(s.total_cost, zone)]
            cells.append(energy(o.grid_energy_mwh))
            lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()


def allocation_csv(days: Sequence[PortfolioDay]) -> bytes:
    """``allocation.csv``: IT energy of every migratable job per site and day [MWh]."""
    lines = ["day,job,site,energy_mwh"]
    for d in days:
        for job, site, mwh in d.allocation:
            lines.append(f"{d.day.isoformat()},{job},{site},{energy(mwh)}")
    return ("\n".join(lines) + "\n").encode()


def allocation_png(
    days: Sequence[PortfolioDay], portfolio: Portfolio, data: Mapping[str, MarketData]
) -> bytes:
    """Where the migratable energy went per day (stacked by site) and why: each zone's mean DA
    price of the day beside it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from market import delivery_intervals

    fig = Figure(figsize=(9, 6.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(2, 1, 1)
    x = np.array([np.datetime64(d.day.isoformat()) for d in days])
    bottom = np.zeros(len(days))
    for site in portfolio.sites:
        y = np.array(
            [
                float(sum((m for _, s, m in d.allocation if s == site.name), Decimal(0)))
                for d in days
            ]
        )
        ax.bar(x, y, bottom=bottom, label=site.name)
        bottom += y
    ax.set_title(f"{portfolio.name}: migratable IT energy by site")
    ax.set_ylabel("IT energy [MWh/day]")
    ax.grid(True, alpha=0.3)
    ax.legend()
    px = fig.add_subplot(2, 1, 2, sharex=ax)
    for key in sorted({s.zone for s in portfolio.sites}):
        zone = get_zone(key)
        final = data[key].da.final()
        means = [float(final.reindex(delivery_intervals(d.day, zone)).mean()) for d in days]
        px.plot(x, means, marker="o", markersize=3, label=key)
    px.set_ylabel(f"mean DA price [{portfolio.currency}/MWh]")
    px.grid(True, alpha=0.3)
    px.legend()
    px.set_xlabel("delivery day")
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def portfolio_summary(
    *,
    strategy: str,
    portfolio: Portfolio,
    days: Sequence[PortfolioDay],
    start: date,
    end: date,
    config: StrategyConfig,
    inputs: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    """The ``summary.json`` document (no timestamps, no paths)."""
    zone = get_zone(portfolio.sites[0].zone)
    summary: dict[str, Any] = {
        "portfolio": portfolio.name,
        "strategy": strategy,
        "strategy_description": get_strategy(strategy).description,
        "days": len(days),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "end_exclusive": True,
        "currency": portfolio.currency,
        "sites": [{"site": s.name, "zone": s.zone} for s in portfolio.sites],
        "migratable_jobs": [j.name for j in portfolio.jobs],
        "seed": config.seed,
        "scenarios": config.n_scenarios if strategy == "forecast" else 1,
        "inputs": {k: dict(v) for k, v in sorted(inputs.items())},
        "code_version": code_version(),
    }
    for name in (*SITE_MONEY, "placement_cost", "total_cost"):
        summary[name] = money(sum((d.total(name) for d in days), Decimal(0)), zone)
    summary["grid_energy_mwh"] = energy(sum((d.total("grid_energy_mwh") for d in days), Decimal(0)))
    per_site: dict[str, dict[str, str]] = {}
    for i, site in enumerate(portfolio.sites):
        placed = sum((m for d in days for _, s, m in d.allocation if s == site.name), Decimal(0))
        per_site[site.name] = {
            "total_cost": money(sum((d.sites[i].total_cost for d in days), Decimal(0)), zone),
            "placement_cost": money(
                sum((d.sites[i].placement_cost for d in days), Decimal(0)), zone
            ),
            "migratable_energy_mwh": energy(placed),
        }
    summary["per_site"] = per_site
    return summary


def write_portfolio_backtest(
    out: Path,
    *,
    strategy: str,
    portfolio: Portfolio,
    days: Sequence[PortfolioDay],
    data: Mapping[str, MarketData],
    start: date,
    end: date,
    config: StrategyConfig,
    inputs: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    """Write the output files atomically; returns the summary."""
    zone = get_zone(portfolio.sites[0].zone)
    summary = portfolio_summary(
        strategy=strategy,
        portfolio=portfolio,
        days=days,
        start=start,
        end=end,
        config=config,
        inputs=inputs,
    )
    files = {
        "summary.json": (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode(),
        "days.csv": days_csv(days, zone),
        "sites.csv": sites_csv(days, zone),
        "allocation.csv": allocation_csv(days),
        "allocation.png": allocation_png(days, portfolio, data),
    }
    write_outputs(files, out)
    return summary


def backtest_days_of(start: date, end: date) -> tuple[date, ...]:
    """Local delivery days ``[start, end)`` (one-line error when empty)."""
    if end <= start:
        raise PowerdeskError(f"end {end} must be after start {start} (end is exclusive)")
    return delivery_days(start, end)
