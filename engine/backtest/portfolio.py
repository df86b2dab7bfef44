"""Backtest a portfolio: decide every day jointly, clear and settle each site as a single site.

Each day :func:`~engine.strategies.portfolio.decide_portfolio` decides (at the earliest gate
closure of the sites' zones), and each site's plan is cleared and settled against its zone's
history by :func:`engine.backtest.runner.settle_plan`, exactly as a single-site backtest settles
its plan. The placement cost is ``cost_per_mwh`` times the migratable energy placed at a site,
energies rounded once to the Wh, money to the currency's minor unit. With grid emission factors,
each site's location-based emissions are its metered grid purchase per interval (the single-site
meter reading, :func:`~engine.backtest.runner.consumed_mwh`) times the realised factor of the
interval's UTC hour, and the carbon cost is the portfolio's carbon price times them (reported
beside ``total_cost``, not in it: nobody is invoiced for it). Outputs (``summary.json``,
``days.csv``, ``sites.csv``, ``allocation.csv``, ``allocation.png``) are byte-identical for the
same inputs.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bidding import BiddingError, DayPlan
from bidding.portfolio import Portfolio
from bidding.portfolio_model import PortfolioPlan
from carbon import location_based_tco2e, quantize
from engine.backtest.executors import ExecutorSpec, parse_executor, progress_bar, run_tasks
from engine.backtest.runner import (
    PERFECT_FORESIGHT,
    PRICE_TAKER,
    DayOutcome,
    benchmark_fields,
    benchmark_strategies,
    check_market_data,
    code_version,
    consumed_mwh,
    delivery_days,
    energy,
    money,
    realtime_settings_fields,
    runs_realtime,
    settle_plan,
    write_outputs,
)
from engine.bids.documents import allocation_documents, document_energy_mwh, site_placement_cost
from engine.core.errors import PowerdeskError
from engine.marketdata.view import MarketData
from engine.strategies.portfolio import (
    FACTOR_METHOD,
    decide_portfolio,
    factor_hours,
    portfolio_thread_cache,
    realised_factors,
)
from engine.strategies.realtime import check_realtime, realtime_replan
from engine.strategies.registry import StrategyConfig, get_strategy
from market import MarketError, Zone, get_zone, register_zones
from market.clearing import price_decimal

SITE_MONEY = ("energy_cost", "reserve_revenue", "imbalance_cost", "degradation_cost")
DAY_COLUMNS = ("day", *SITE_MONEY, "placement_cost", "total_cost", "grid_energy_mwh")
CARBON_COLUMNS = ("emissions_tco2e", "carbon_cost")
TCO2E = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class SiteDay:
    """One site's settled day: the single-site outcome plus the placement cost there."""

    site: str
    zone: str
    outcome: DayOutcome
    placement_cost: Decimal
    emissions_tco2e: Decimal | None = None  # location-based, metered purchase x realised factor
    carbon_cost: Decimal = Decimal(0)  # carbon price x emissions (not part of total_cost)

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

    def realtime_total(self, name: str) -> Decimal:
        """Sum of a money or energy field over the sites with the real-time stage: a site that
        re-planned counts its DA+RT outcome, the others their DA-only outcome."""
        if name == "placement_cost":
            return self.total(name)
        own = (s.outcome.realtime or s.outcome for s in self.sites)
        if name == "total_cost":
            return sum((o.total_cost for o in own), Decimal(0)) + self.total("placement_cost")
        return sum((getattr(o, name) for o in own), Decimal(0)) + Decimal(0)

    def total(self, name: str) -> Decimal:
        """Sum of a field over the sites."""
        if name == "emissions_tco2e":
            return sum((s.emissions_tco2e or Decimal(0) for s in self.sites), Decimal(0))
        if name in ("placement_cost", "total_cost", "carbon_cost"):
            return sum((getattr(s, name) for s in self.sites), Decimal(0)) + Decimal(0)
        return sum((getattr(s.outcome, name) for s in self.sites), Decimal(0)) + Decimal(0)


def site_emissions(site_plan: DayPlan, scenario: int, factors: pd.Series, zone: Zone) -> Decimal:
    """Location-based emissions of a settled site day [tCO2e]: the metered purchase of every
    interval times the realised factor of its UTC hour, by the carbon report's own rule
    (:func:`carbon.exact.location_based_tco2e`), rounded once to 1e-6 t."""
    ef = realised_factors(factors, site_plan.day, zone)
    metered = consumed_mwh(site_plan, scenario)
    exact = location_based_tco2e(
        (m, Decimal(repr(float(f)))) for m, f in zip(metered, ef, strict=True)
    )
    return quantize(exact) + Decimal(0)


def settle_portfolio_day(
    plan: PortfolioPlan,
    portfolio: Portfolio,
    data: Mapping[str, MarketData],
    factors: Mapping[str, pd.Series] | None = None,
) -> PortfolioDay:
    """Clear and settle every site's plan (:func:`settle_plan`), price the placement and, with
    ``factors`` (per zone key), the site's location-based emissions."""
    sites = []
    carbon_price = price_decimal(portfolio.carbon_price_per_tco2)
    documents = allocation_documents(plan.allocation)
    for site, site_plan in zip(portfolio.sites, plan.plans, strict=True):
        zone = get_zone(site.zone)
        outcome = settle_plan(site_plan, site, zone, data[zone.key].actuals())
        emissions: Decimal | None = None
        carbon_cost = Decimal(0)
        if factors is not None:
            emissions = site_emissions(
                site_plan, outcome.consumed_scenario, factors[zone.key], zone
            )
            carbon_cost = (carbon_price * emissions).quantize(
                zone.minor_unit, rounding=ROUND_HALF_EVEN
            ) + Decimal(0)
        # Priced from the allocation documents the desk stores and settles (µMW-rounded).
        cost = site_placement_cost(documents, site.name, zone.minor_unit)
        sites.append(SiteDay(site.name, zone.key, outcome, cost, emissions, carbon_cost))
    allocation = tuple((d["job"], d["site"], document_energy_mwh(d)) for d in documents)
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
    factors: Mapping[str, pd.Series] | None = None  # hourly grid factors per zone key


def run_portfolio_task(task: PortfolioTask) -> tuple[PortfolioDay, ...]:
    """Decide, clear and settle every day of ``task`` (runs in a worker)."""
    register_zones(task.zones)
    cache = portfolio_thread_cache()
    out = []
    for day in task.days:
        try:
            plan = decide_portfolio(
                task.strategy,
                task.portfolio,
                day,
                task.data,
                task.config,
                cache=cache,
                factors=task.factors,
            )
        except (BiddingError, MarketError) as exc:
            raise PowerdeskError(f"{task.strategy}, delivery day {day}: {exc}") from None
        settled = settle_portfolio_day(plan, task.portfolio, task.data, task.factors)
        if runs_realtime(task.strategy, task.config):
            settled = with_realtime_stage(settled, plan, task.portfolio, task.data, task.config)
        out.append(settled)
    return tuple(out)


def with_realtime_stage(
    settled: PortfolioDay,
    plan: PortfolioPlan,
    portfolio: Portfolio,
    data: Mapping[str, MarketData],
    config: StrategyConfig,
) -> PortfolioDay:
    """``settled`` with the real-time stage of every site whose zone has real-time prices: the
    site re-plans its own flexible load and battery (:func:`realtime_replan`, the single-site
    stage) with the migratable load placed there at DA held as it is, and settles the re-plan
    as a lone site does (:func:`settle_plan`). Placement never moves after DA."""
    sites = []
    for site, site_plan, site_day in zip(portfolio.sites, plan.plans, settled.sites, strict=True):
        zone = get_zone(site.zone)
        market = data[zone.key]
        if market.imbalance is None:
            sites.append(site_day)
            continue
        placed = np.zeros(len(site_plan.intervals))
        for a in plan.allocation:
            if a.site == site.name:
                placed += a.it_mw
        replan = realtime_replan(
            site, zone, plan.day, site_plan, market, config, extra_it_mw=placed
        )
        rt = settle_plan(site_plan, site, zone, market.actuals(), replan)
        sites.append(replace(site_day, outcome=replace(site_day.outcome, realtime=rt)))
    return replace(settled, sites=tuple(sites))


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
    factors: Mapping[str, pd.Series] | None = None,
    label: str | None = None,
) -> tuple[PortfolioDay, ...]:
    """Run ``strategy`` over ``days`` (no checks, no files): the computational core."""
    from engine.backtest.runner import chunk_days

    spec = parse_executor(executor) if isinstance(executor, str) else executor
    get_strategy(strategy)

    def make_tasks(parallelism: int) -> list[PortfolioTask]:
        n_chunks = 1 if parallelism <= 1 else 2 * parallelism
        return [
            PortfolioTask(
                strategy,
                portfolio,
                tuple(zones),
                chunk,
                dict(data),
                config,
                None if factors is None else dict(factors),
            )
            for chunk in chunk_days(days, n_chunks)
        ]

    title = label or f"backtest {portfolio.name}"
    with progress_bar(len(days), title, progress) as advance:
        results = run_tasks(
            spec, run_portfolio_task, make_tasks, lambda task, _r: advance(len(task.days))
        )
    return tuple(d for chunk in results for d in chunk)


@dataclass(frozen=True, slots=True)
class PortfolioRuns:
    """A portfolio backtest's strategy run and, with the regret, its two benchmarks."""

    run: tuple[PortfolioDay, ...]
    perfect: tuple[PortfolioDay, ...] | None = None
    price_taker: tuple[PortfolioDay, ...] | None = None


def backtest_portfolio_runs(
    strategy: str,
    portfolio: Portfolio,
    days: Sequence[date],
    data: Mapping[str, MarketData],
    config: StrategyConfig,
    *,
    regret: bool = True,
    zones: Sequence[Zone] = (),
    executor: ExecutorSpec | str = "inline",
    progress: bool | None = False,
    factors: Mapping[str, pd.Series] | None = None,
) -> PortfolioRuns:
    """``strategy`` over ``days`` and, with ``regret``, perfect foresight and the price taker
    over the same days (as a site's backtest runs them): the benchmarks of the summary's regret,
    value of flexibility and capture. The price taker solves nothing and runs in this process."""

    def one(name: str, where: ExecutorSpec | str) -> tuple[PortfolioDay, ...]:
        return backtest_portfolio_days(
            name,
            portfolio,
            days,
            data,
            config,
            zones=zones,
            executor=where,
            progress=progress,
            factors=factors,
            label=f"backtest {portfolio.name} ({name})",
        )

    runs = {strategy: one(strategy, executor)}
    if not regret:
        return PortfolioRuns(runs[strategy])
    for name in benchmark_strategies(strategy):
        runs[name] = one(name, "inline" if name == PRICE_TAKER else executor)
    return PortfolioRuns(runs[strategy], runs[PERFECT_FORESIGHT], runs[PRICE_TAKER])


def check_portfolio_realtime(config: StrategyConfig, data: Mapping[str, MarketData]) -> None:
    """Refuse, in one line, a real-time stage no zone has real-time prices for, or rolling
    re-plans off a zone's DA interval boundaries (the single-site check, per zone)."""
    if not config.rt_stage:
        return
    priced = [key for key, market in data.items() if market.imbalance is not None]
    if not priced:
        raise PowerdeskError(
            "the real-time stage needs real-time / imbalance prices of at least one zone "
            "(--imbalance-prices ZONE=CSV)"
        )
    for key in priced:
        check_realtime(config, data[key])


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


def check_factors(
    portfolio: Portfolio,
    factors: Mapping[str, pd.Series],
    days: Sequence[date],
    strategy: str,
    labels: Mapping[str, str],
    *,
    settled: bool = True,
) -> None:
    """Every site's zone has factors for every hour a run over ``days`` needs (``settled``
    emissions and, for a forecasting strategy, the factor forecast's lag days); factors for a
    zone without a site are refused. One line naming the zone and the first missing hour."""
    keys = {s.zone for s in portfolio.sites}
    for key in sorted(factors):
        if key not in keys:
            raise PowerdeskError(
                f"--ef {key}: no site of portfolio {portfolio.name!r} is in zone {key}"
            )
    hindsight = get_strategy(strategy).hindsight
    for key in sorted(keys):
        if key not in factors:
            raise PowerdeskError(
                f"no --ef for zone {key} (sites: {_sites_in(portfolio, key)}): grid factors are "
                "needed for every zone"
            )
        need = factor_hours(days, get_zone(key), hindsight, settled)
        have = factors[key].reindex(need)
        if have.isna().any():
            gaps = need[have.isna().to_numpy()]
            raise PowerdeskError(
                f"{labels.get(key, key)}: no emission factor for the UTC hour starting "
                f"{gaps[0].isoformat()} ({len(gaps)} of the {len(need)} hours needed missing)"
            )


def _sites_in(portfolio: Portfolio, key: str) -> str:
    return ", ".join(s.name for s in portfolio.sites if s.zone == key)


def has_carbon(days: Sequence[PortfolioDay]) -> bool:
    """Whether the days carry emissions (the run had grid emission factors)."""
    return any(s.emissions_tco2e is not None for d in days for s in d.sites)


def tco2e(x: Decimal) -> str:
    """Emissions as text, 6 decimals [tCO2e]."""
    return f"{x.quantize(TCO2E, rounding=ROUND_HALF_EVEN) + Decimal(0):f}"


def days_csv(days: Sequence[PortfolioDay], zone: Zone) -> bytes:
    """``days.csv``: one row per day, summed over the sites (plus ``emissions_tco2e,
    carbon_cost`` when the run had grid factors)."""
    carbon = has_carbon(days)
    lines = [",".join(DAY_COLUMNS + (CARBON_COLUMNS if carbon else ()))]
    for d in days:
        cells = [d.day.isoformat()]
        cells += [money(d.total(n), zone) for n in (*SITE_MONEY, "placement_cost", "total_cost")]
        cells.append(energy(d.total("grid_energy_mwh")))
        if carbon:
            cells += [tco2e(d.total("emissions_tco2e")), money(d.total("carbon_cost"), zone)]
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()


def sites_csv(days: Sequence[PortfolioDay], zone: Zone) -> bytes:
    """``sites.csv``: one row per site and day."""
    carbon = has_carbon(days)
    lines = [",".join(("day", "site", "zone", *DAY_COLUMNS[1:], *(CARBON_COLUMNS * carbon)))]
    for d in days:
        for s in d.sites:
            o = s.outcome
            cells = [d.day.isoformat(), s.site, s.zone]
            cells += [money(getattr(o, n), zone) for n in SITE_MONEY]
            cells += [money(s.placement_cost, zone), money(s.total_cost, zone)]
            cells.append(energy(o.grid_energy_mwh))
            if carbon:
                cells += [tco2e(s.emissions_tco2e or Decimal(0)), money(s.carbon_cost, zone)]
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
    perfect: Sequence[PortfolioDay] | None = None,
    price_taker: Sequence[PortfolioDay] | None = None,
) -> dict[str, Any]:
    """The ``summary.json`` document (no timestamps, no paths).

    With the benchmarks run over the same days (:func:`backtest_portfolio_runs`): regret,
    value of flexibility and capture of the portfolio's total cost, by the site backtest's rule
    (:func:`engine.backtest.runner.benchmark_fields`).
    """
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
        "price_models": dict(config.zone_models),
        "inputs": {k: dict(v) for k, v in sorted(inputs.items())},
        "code_version": code_version(),
    }
    for name in (*SITE_MONEY, "placement_cost", "total_cost"):
        summary[name] = money(sum((d.total(name) for d in days), Decimal(0)), zone)
    summary["grid_energy_mwh"] = energy(sum((d.total("grid_energy_mwh") for d in days), Decimal(0)))

    def total(run: Sequence[PortfolioDay] | None) -> Decimal | None:
        return None if run is None else sum((d.total("total_cost") for d in run), Decimal(0))

    own = sum((d.total("total_cost") for d in days), Decimal(0))
    summary.update(benchmark_fields(own, total(perfect), total(price_taker), zone))
    summary["realtime_stage"] = None
    if runs_realtime(strategy, config):
        rt = {n: sum((d.realtime_total(n) for d in days), Decimal(0)) for n in DAY_COLUMNS[1:]}
        stage: dict[str, Any] = realtime_settings_fields(config)
        stage["benchmarks"] = "perfect foresight and price taker run without the stage"
        stage["sites_replanned"] = sorted(
            {s.site for d in days for s in d.sites if s.outcome.realtime is not None}
        )
        for name in (*SITE_MONEY, "placement_cost", "total_cost"):
            stage[name] = money(rt[name], zone)
        stage["grid_energy_mwh"] = energy(rt["grid_energy_mwh"])
        stage["replanned_mwh"] = energy(
            sum(
                (
                    s.outcome.realtime.replanned_mwh
                    for d in days
                    for s in d.sites
                    if s.outcome.realtime
                ),
                Decimal(0),
            )
        )
        stage["gain_vs_da_only"] = money(own - rt["total_cost"], zone)
        bench = benchmark_fields(rt["total_cost"], total(perfect), total(price_taker), zone)
        stage["regret_vs_perfect_foresight"] = bench["regret_vs_perfect_foresight"]
        stage["capture"] = bench["capture"]
        summary["realtime_stage"] = stage
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
    if has_carbon(days):
        summary["carbon_price_per_tco2"] = repr(portfolio.carbon_price_per_tco2)
        summary["emission_factors"] = FACTOR_METHOD
        summary["emissions_tco2e"] = tco2e(
            sum((d.total("emissions_tco2e") for d in days), Decimal(0))
        )
        summary["carbon_cost"] = money(
            sum((d.total("carbon_cost") for d in days), Decimal(0)), zone
        )
        for i, site in enumerate(portfolio.sites):
            per_site[site.name]["emissions_tco2e"] = tco2e(
                sum((d.sites[i].emissions_tco2e or Decimal(0) for d in days), Decimal(0))
            )
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
    perfect: Sequence[PortfolioDay] | None = None,
    price_taker: Sequence[PortfolioDay] | None = None,
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
        perfect=perfect,
        price_taker=price_taker,
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


# --------------------------------------------------------------------------------------------
# Carbon-price sweep

SWEEP_COLUMNS = (
    "carbon_price_per_tco2",
    "total_cost",
    "carbon_cost",
    "emissions_tco2e",
    "cost_change",
    "tco2e_moved",
    "cost_per_tco2e_moved",
)


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """One carbon price of a sweep: the settled days of the backtest at that price."""

    price: Decimal
    days: tuple[PortfolioDay, ...]

    def total(self, name: str) -> Decimal:
        """Sum of a day field over the run."""
        return sum((d.total(name) for d in self.days), Decimal(0)) + Decimal(0)

    def site_total(self, site: str, name: str) -> Decimal:
        """Sum of a site field (``emissions_tco2e`` or ``migratable_energy_mwh``)."""
        if name == "migratable_energy_mwh":
            return sum((m for d in self.days for _, s, m in d.allocation if s == site), Decimal(0))
        return sum(
            (s.emissions_tco2e or Decimal(0) for d in self.days for s in d.sites if s.site == site),
            Decimal(0),
        )


def parse_carbon_prices(text: str) -> tuple[Decimal, ...]:
    """``0,50,100,200`` as distinct prices, ascending, 0 always included (the reference).

    Raises
    ------
    PowerdeskError
        An empty list, a non-number, a negative or non-finite price, a price given twice.
    """
    out: list[Decimal] = []
    for item in text.split(","):
        item = item.strip()
        try:
            value = Decimal(item)
        except ArithmeticError:
            raise PowerdeskError(f"--carbon-prices: {item!r} is not a number") from None
        if not value.is_finite() or value < 0:
            raise PowerdeskError(f"--carbon-prices: {item} must be a finite price of at least 0")
        if value in out:
            raise PowerdeskError(f"--carbon-prices: {item} given twice")
        out.append(value)
    if Decimal(0) not in out:
        out.append(Decimal(0))
    return tuple(sorted(out))


def sweep_rows(points: Sequence[SweepPoint], zone: Zone) -> list[dict[str, str]]:
    """One row per price: cash cost, carbon cost, emissions, and the change against price 0
    (``tco2e_moved`` = emissions at 0 minus emissions at the price: what the price avoided)."""
    ref = next(p for p in points if p.price == 0)
    rows = []
    for p in points:
        change = p.total("total_cost") - ref.total("total_cost")
        moved = ref.total("emissions_tco2e") - p.total("emissions_tco2e")
        per = money(change / moved, zone) if moved > 0 else ""
        rows.append(
            {
                "carbon_price_per_tco2": f"{p.price:f}",
                "total_cost": money(p.total("total_cost"), zone),
                "carbon_cost": money(p.total("carbon_cost"), zone),
                "emissions_tco2e": tco2e(p.total("emissions_tco2e")),
                "cost_change": money(change, zone),
                "tco2e_moved": tco2e(moved),
                "cost_per_tco2e_moved": per,
            }
        )
    return rows


def sweep_files(
    points: Sequence[SweepPoint],
    portfolio: Portfolio,
    *,
    strategy: str,
    start: date,
    end: date,
    config: StrategyConfig,
    inputs: Mapping[str, Mapping[str, str]],
) -> dict[str, bytes]:
    """``sweep.csv``, ``sweep.json`` and ``sweep.png`` (byte-identical for the same inputs)."""
    zone = get_zone(portfolio.sites[0].zone)
    rows = sweep_rows(points, zone)
    site_cols = [f"{s.name}_emissions_tco2e" for s in portfolio.sites] + [
        f"{s.name}_migratable_mwh" for s in portfolio.sites
    ]
    lines = [",".join((*SWEEP_COLUMNS, *site_cols))]
    per_site: list[dict[str, dict[str, str]]] = []
    for p, row in zip(points, rows, strict=True):
        sites = {
            s.name: {
                "emissions_tco2e": tco2e(p.site_total(s.name, "emissions_tco2e")),
                "migratable_energy_mwh": energy(p.site_total(s.name, "migratable_energy_mwh")),
            }
            for s in portfolio.sites
        }
        per_site.append(sites)
        cells = [row[c] for c in SWEEP_COLUMNS]
        cells += [sites[s.name]["emissions_tco2e"] for s in portfolio.sites]
        cells += [sites[s.name]["migratable_energy_mwh"] for s in portfolio.sites]
        lines.append(",".join(cells))
    doc = {
        "portfolio": portfolio.name,
        "strategy": strategy,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "end_exclusive": True,
        "days": len(points[0].days),
        "currency": portfolio.currency,
        "seed": config.seed,
        "scenarios": config.n_scenarios if strategy == "forecast" else 1,
        "price_models": dict(config.zone_models),
        "emission_factors": FACTOR_METHOD,
        "emissions": "location-based: metered grid purchase x realised hourly grid factor",
        "reference": "carbon price 0; tco2e_moved = emissions at 0 - emissions at the price",
        "points": [{**row, "sites": sites} for row, sites in zip(rows, per_site, strict=True)],
        "inputs": {k: dict(v) for k, v in sorted(inputs.items())},
        "code_version": code_version(),
    }
    return {
        "sweep.csv": ("\n".join(lines) + "\n").encode(),
        "sweep.json": (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode(),
        "sweep.png": sweep_png(points, rows, portfolio),
    }


def sweep_png(
    points: Sequence[SweepPoint], rows: Sequence[Mapping[str, str]], portfolio: Portfolio
) -> bytes:
    """Emissions avoided and cost added per carbon price (left), migratable energy by site
    (right)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    labels = [f"{p.price:f}" for p in points]
    x = np.arange(len(points))
    ax = fig.add_subplot(1, 2, 1)
    ax.bar(x, [float(r["tco2e_moved"]) for r in rows], color="tab:green", label="tCO2e avoided")
    ax.set_ylabel("emissions avoided vs price 0 [tCO2e]")
    ax.set_xticks(x, labels)
    ax.set_xlabel(f"carbon price [{portfolio.currency}/tCO2e]")
    ax2 = ax.twinx()
    ax2.plot(x, [float(r["cost_change"]) for r in rows], color="tab:red", marker="o")
    ax2.set_ylabel(f"cost added vs price 0 [{portfolio.currency}]", color="tab:red")
    ax.set_title(f"{portfolio.name}: what a carbon price buys")
    ax.grid(True, alpha=0.3)
    bx = fig.add_subplot(1, 2, 2)
    bottom = np.zeros(len(points))
    for site in portfolio.sites:
        y = np.array([float(p.site_total(site.name, "migratable_energy_mwh")) for p in points])
        bx.bar(x, y, bottom=bottom, label=site.name)
        bottom += y
    bx.set_xticks(x, labels)
    bx.set_xlabel(f"carbon price [{portfolio.currency}/tCO2e]")
    bx.set_ylabel("migratable IT energy [MWh]")
    bx.set_title("where the migratable energy ran")
    bx.legend()
    bx.grid(True, alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
