"""The portfolio decision: the strategies of :mod:`engine.strategies.registry` for many sites.

:func:`decide_portfolio` is :func:`~engine.strategies.registry.decide` for a portfolio: the
decision time is the earliest gate closure of the sites' zones (so no zone's bid uses prices it
could not know), every zone's market data is cut to that time except for a hindsight strategy,
each site gets its zone's scenarios and reserve forecast from the registry's own functions, and
one co-optimised problem decides every site's bids and the migratable jobs' placement.

Grid emission factors (a portfolio's carbon price) obey the same knowledge time as prices: a
hindsight strategy sees the realised factors of the delivery day, every other strategy a forecast
made from factors known at the decision time (:func:`factors_for_day`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from bidding import PriceScenarios
from bidding.portfolio import Portfolio
from bidding.portfolio_model import (
    PortfolioModelCache,
    PortfolioPlan,
    flat_portfolio,
    solve_portfolio,
)
from engine.core.errors import PowerdeskError
from engine.core.settings import solver_threads
from engine.marketdata.view import MarketData
from engine.strategies.registry import (
    StrategyConfig,
    decision_time,
    for_zone,
    get_strategy,
    reserve_prices_for,
)
from market import Zone, delivery_intervals, get_zone

_local = threading.local()
HOUR = timedelta(hours=1)
# A factor forecast for day D: the mean, per local clock time, of days D-8 .. D-2 (complete
# before D-1, so known at any D-1 gate closure; realised hourly factors are published after
# their hour).
FACTOR_LAGS = tuple(range(2, 9))
FACTOR_METHOD = (
    "forecast: mean of the same local clock time over delivery days D-8..D-2 (realised hourly "
    "factors, each known once its hour has ended); hindsight strategies: realised factors of D"
)


def factor_series(hourly: Mapping[datetime, object]) -> pd.Series:
    """Hourly grid factors (UTC hour start -> tCO2e/MWh, e.g. an ``EfDataset``'s) as floats."""
    hours = sorted(hourly)
    index = pd.DatetimeIndex(hours).tz_convert("UTC")
    return pd.Series([float(str(hourly[h])) for h in hours], index=index, dtype=np.float64)


def _hours_of(day: date, zone: Zone) -> pd.DatetimeIndex:
    return delivery_intervals(day, zone).floor("h")


def factor_hours(
    days: Iterable[date], zone: Zone, hindsight: bool, settled: bool = True
) -> pd.DatetimeIndex:
    """UTC hour starts whose factors a run over ``days`` needs: the days themselves (a
    hindsight decision, or ``settled`` emissions) and, unless ``hindsight``, the forecast's lag
    days."""
    need: set[pd.Timestamp] = set()
    for day in days:
        if hindsight or settled:
            need.update(_hours_of(day, zone))
        if not hindsight:
            for k in FACTOR_LAGS:
                need.update(_hours_of(day - timedelta(days=k), zone))
    return pd.DatetimeIndex(sorted(need))


def realised_factors(series: pd.Series, day: date, zone: Zone) -> npt.NDArray[np.float64]:
    """Realised factor of every interval of ``day`` (its UTC hour's) [tCO2e/MWh]."""
    hours = _hours_of(day, zone)
    values = series.reindex(hours)
    if values.isna().any():
        missing = hours[np.flatnonzero(values.isna().to_numpy())[0]]
        raise PowerdeskError(
            f"zone {zone.key}: no emission factor for the UTC hour starting "
            f"{missing.isoformat()} (delivery day {day})"
        )
    return np.asarray(values.to_numpy(), dtype=np.float64)


def factors_for_day(
    series: pd.Series, day: date, zone: Zone, as_of: datetime, hindsight: bool
) -> npt.NDArray[np.float64]:
    """The factors a decision at ``as_of`` uses for every interval of ``day`` [tCO2e/MWh].

    Hindsight: the realised factors. Otherwise the mean over days D-8..D-2 of the factor at the
    same local clock time, using only hours that ended by ``as_of`` (a clock time missing on a
    day, e.g. at a DST change, is left out of that interval's mean).

    Raises
    ------
    PowerdeskError
        A factor needed is missing (names the zone and the hour or interval).
    """
    if hindsight:
        return realised_factors(series, day, zone)
    target = delivery_intervals(day, zone)
    local = target.tz_convert(zone.tz)
    minutes = pd.Index(local.hour * 60 + local.minute)
    known = series[series.index <= pd.Timestamp(as_of) - pd.Timedelta(HOUR)]
    rows = []
    for k in FACTOR_LAGS:
        past = delivery_intervals(day - timedelta(days=k), zone)
        values = known.reindex(past.floor("h")).to_numpy()
        pl = past.tz_convert(zone.tz)
        by_minute = pd.Series(values, index=pd.Index(pl.hour * 60 + pl.minute))
        by_minute = by_minute.groupby(level=0).mean()
        rows.append(by_minute.reindex(minutes).to_numpy(dtype=np.float64))
    stack = np.vstack(rows)
    have = np.isfinite(stack)
    if not have.any(axis=0).all():
        t = target[np.flatnonzero(~have.any(axis=0))[0]]
        raise PowerdeskError(
            f"zone {zone.key}: no emission factor known at {as_of.isoformat()} for the "
            f"forecast of the interval starting {t.isoformat()} (delivery day {day})"
        )
    total = np.where(have, stack, 0.0).sum(axis=0)
    return np.asarray(total / have.sum(axis=0), dtype=np.float64)


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
    factors: Mapping[str, pd.Series] | None = None,
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
    factors
        Hourly grid factors per zone key (:func:`factor_series`): needed for a carbon price,
        used as :func:`factors_for_day` says.

    Raises
    ------
    PowerdeskError
        Unknown strategy, a decision time after a gate closure, no data for a zone, no
        factors for a zone under a carbon price.
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
        zone_config = for_zone(config, zone)
        if zone.key not in made:
            made[zone.key] = strategy.scenarios(view, day, zone, zone_config)
        scenarios.append(made[zone.key])
        reserves.append(reserve_prices_for(strategy, view, day, zone, t, zone_config))
    efs = None
    if factors is not None or portfolio.carbon_price_per_tco2 > 0:
        efs = []
        for site, zone in zip(portfolio.sites, zones, strict=True):
            series = (factors or {}).get(zone.key)
            if series is None:
                raise PowerdeskError(
                    f"site {site.name!r}: the carbon price needs emission factors for zone "
                    f"{zone.key} (--ef {zone.key}=CSV)"
                )
            efs.append(factors_for_day(series, day, zone, t, strategy.hindsight))
    options = config.solve_options(offer_reserves=config.offer_reserves)
    return solve_portfolio(
        portfolio,
        day,
        scenarios,
        reserves,
        options,
        cache or portfolio_thread_cache(),
        emission_factors=efs,
        threads=solver_threads(),
    )
