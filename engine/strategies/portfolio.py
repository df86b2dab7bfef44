"""The portfolio decision: the strategies of :mod:`engine.strategies.registry` for many sites.

:func:`decide_portfolio` is :func:`~engine.strategies.registry.decide` for a portfolio: the
decision time is the earliest gate closure of the sites' zones (so no zone's bid uses prices it
could not know), every zone's market data is cut to that time except for a hindsight strategy,
each site gets its zone's scenarios and reserve forecast from the registry's own functions, and
one co-optimised problem decides every site's bids and the migratable jobs' placement.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date, datetime

from bidding import PriceScenarios
from bidding.portfolio import Portfolio
from bidding.portfolio_model import (
    PortfolioModelCache,
    PortfolioPlan,
    flat_portfolio,
    solve_portfolio,
)
from engine.core.errors import PowerdeskError
from engine.marketdata.view import MarketData
from engine.strategies.registry import (
    StrategyConfig,
    decision_time,
    get_strategy,
    reserve_prices_for,
)
from market import get_zone

_local = threading.local()


def portfolio_thread_cache() -> PortfolioModelCache:
    """This thread's portfolio model cache."""
    cache: PortfolioModelCache | None = getattr(_local, "cache", None)
    if cache is None:
        cache = PortfolioModelCache()
        _local.cache = cache
    return cache


def decide_portfolio(
    name: str,
    portfolio: Portfolio,
    day: date,
    data: Mapping[str, MarketData] | None,
    config: StrategyConfig,
    *,
    as_of: datetime | None = None,
    cache: PortfolioModelCache | None = None,
) -> PortfolioPlan:
    """The plan of strategy ``name`` for every site of ``portfolio`` on delivery ``day``.

    Parameters
    ----------
    name
        A strategy name (as for :func:`~engine.strategies.registry.decide`).
    portfolio, day
        The portfolio and the local delivery day.
    data
        Market data per zone key of the sites (``None`` only for the price taker).
    config
        How to decide (scenarios, seed, reserves, solver), as for a single site.
    as_of
        Decision time [UTC]; default the earliest gate closure of the sites' zones.
    cache
        Model cache; default this thread's.

    Raises
    ------
    PowerdeskError
        Unknown strategy, a decision time after a gate closure, no data for a zone.
    bidding.BiddingError, market.MarketError
        No history, an infeasible portfolio, a solver failure.
    """
    strategy = get_strategy(name)
    zones = [get_zone(site.zone) for site in portfolio.sites]
    t = min(decision_time(day, z, as_of, strategy) for z in zones)
    if strategy.scenarios is None:
        return flat_portfolio(portfolio, day)
    if data is None:
        raise PowerdeskError(f"strategy {strategy.name} needs market data")
    scenarios: list[PriceScenarios] = []
    reserves = []
    made: dict[str, PriceScenarios] = {}
    for site, zone in zip(portfolio.sites, zones, strict=True):
        zone_data = data.get(zone.key)
        if zone_data is None:
            raise PowerdeskError(f"site {site.name!r}: no market data for zone {zone.key}")
        view = zone_data if strategy.hindsight else zone_data.as_of(t)
        if zone.key not in made:
            made[zone.key] = strategy.scenarios(view, day, zone, config)
        scenarios.append(made[zone.key])
        reserves.append(reserve_prices_for(strategy, view, day, zone, t, config))
    options = config.solve_options(offer_reserves=config.offer_reserves)
    return solve_portfolio(
        portfolio, day, scenarios, reserves, options, cache or portfolio_thread_cache()
    )
