"""One decision function per strategy, called by the API, the scheduler, ``powerdesk bid`` and
the backtest alike.

:func:`decide` is the whole of it: it cuts the market data to what is known at the decision time
(by default the zone's gate closure of the day; only a hindsight strategy sees the day's own
final prices), builds the price scenarios and the reserve price forecast of the strategy, and
solves the day with the configuration's solve options. A bid the desk submits and the bid a
backtest measures for the same day, data and configuration are therefore the same plan.

``forecast``
    Stochastic bid on similar past days' prices (:func:`bidding.make_scenarios`); reserve offers
    priced at :func:`~engine.strategies.reserves.forecast_reserve_prices`.
``deterministic``
    One point forecast, the probability-weighted mean of the most similar past days; reserves
    as above.
``perfect-foresight``
    The day's own final DA and reserve prices (hindsight): the benchmark, never submitted.
``price-taker``
    Every job flat over its window, battery idle, the whole need bought at any price.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Protocol

import numpy as np
import pandas as pd

from bidding import (
    DEFAULT_HIGHS_OPTIONS,
    RECOURSE_HIGHS_OPTIONS,
    DayPlan,
    ModelCache,
    PriceScenarios,
    Site,
    SolveOptions,
    flat_schedule,
    make_scenarios,
    solve_day,
)
from engine.core.errors import PowerdeskError
from engine.marketdata.view import MarketData
from engine.strategies.names import (
    DEFAULT_RT_THRESHOLD,
    DEFAULT_SCENARIOS,
    DESCRIPTIONS,
    HINDSIGHT,
    NEEDS_HISTORY,
    SIMILAR_DAYS,
    StrategyName,
    default_model,
    strategy_name,
)
from engine.strategies.reserves import actual_reserve_prices, forecast_reserve_prices
from forecast.day import DayForecast, ErrorRecord, forecast_day
from forecast.errors import ForecastError
from forecast.names import parse_model
from forecast.realtime import DEFAULT_RT_LOOKBACK_DAYS, DEFAULT_RT_METHOD, check_rt_method
from market import Zone, gate_closure_utc, require_aware


@dataclass(frozen=True, slots=True)
class StrategyConfig:
    """How a strategy decides (the same for a live bid and a backtest).

    Parameters
    ----------
    n_scenarios
        Price scenarios of the ``forecast`` strategy.
    seed
        Seed of the scenario perturbation, mixed with each day (:func:`day_seed`).
    solver
        ``HIGHS`` (default), ``CLARABEL`` or ``ECOS`` (the last two relax non-preemptible starts).
    point_forecast_days
        Similar past days averaged by the ``deterministic`` strategy.
    reserve_forecast_days
        Past days averaged for the reserve price forecast.
    mip_rel_gap
        Relative MIP gap for sites with non-preemptible jobs [-].
    cvar_weight
        CVaR weight in ``[0, 1)`` (0: risk neutral).
    job_recourse
        A job schedule per scenario (slower; see :class:`bidding.SolveOptions`).
    offer_reserves
        Offer the site's reserve products where reserve prices are known.
    model
        Price model of ``forecast`` and ``deterministic``: ``similar-days`` (default: the
        scenarios of :func:`bidding.make_scenarios`) or a model of :mod:`forecast`
        (``lear``, ``lear-1456``, ``naive``: its point forecast, and for ``forecast`` its
        Gaussian-copula scenarios of the model's recent errors, :func:`forecast.forecast_day`).
    strict
        Refuse a plan in which a soft constraint gave way (else keep it, reported).
    rt_stage
        Run the real-time stage after the DA result (:mod:`engine.strategies.realtime`): the DA
        bid is unchanged; the site then re-plans its flexible load and battery.
    rt_forecast, rt_lookback_days
        Real-time price forecast of the stage (:data:`forecast.realtime.RT_METHODS`) and the
        days of spread history it looks at.
    rt_threshold_per_mwh
        Dead band of the re-plan: a MWh moves away from the DA-stage schedule only where the
        forecast gains more than this [currency/MWh].
    rt_every_minutes
        Re-plan again every this many minutes while the day runs, with the real-time prices
        known by then (0: the one re-plan after the DA result; :mod:`engine.strategies.realtime`).
    zone_models
        Price model per zone key, overriding ``model`` in that zone (a portfolio over zones:
        each zone's :func:`price_model` for its own data).

    Notes
    -----
    Every solve is cold (no basis carried over from an earlier solve), so a day's plan does not
    depend on which days the same process solved before.
    """

    n_scenarios: int = DEFAULT_SCENARIOS
    seed: int = 0
    solver: str = "HIGHS"
    point_forecast_days: int = 7
    reserve_forecast_days: int = 7
    mip_rel_gap: float = 1e-7
    cvar_weight: float = 0.0
    job_recourse: bool = False
    offer_reserves: bool = True
    strict: bool = True
    model: str = SIMILAR_DAYS
    rt_stage: bool = False
    rt_forecast: str = DEFAULT_RT_METHOD
    rt_lookback_days: int = DEFAULT_RT_LOOKBACK_DAYS
    rt_threshold_per_mwh: float = DEFAULT_RT_THRESHOLD
    rt_every_minutes: int = 0
    zone_models: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        try:
            check_rt_method(self.rt_forecast)
        except ForecastError as exc:
            raise PowerdeskError(str(exc)) from None
        if self.rt_lookback_days < 1:
            raise PowerdeskError(
                f"the real-time look-back must be at least 1 day, got {self.rt_lookback_days}"
            )
        if not self.rt_threshold_per_mwh >= 0.0:
            raise PowerdeskError(
                f"the re-plan threshold must be >= 0, got {self.rt_threshold_per_mwh}"
            )
        if self.rt_every_minutes < 0:
            raise PowerdeskError(
                f"rolling re-plans need a positive interval in minutes, got {self.rt_every_minutes}"
            )
        for model in {self.model, *(m for _, m in self.zone_models)} - {SIMILAR_DAYS}:
            try:
                parse_model(model)
            except ForecastError as exc:
                raise PowerdeskError(str(exc)) from None
        if self.n_scenarios < 1:
            raise PowerdeskError(f"scenarios must be at least 1, got {self.n_scenarios}")
        if not 0.0 <= self.cvar_weight < 1.0:
            raise PowerdeskError(f"cvar weight must lie in [0, 1), got {self.cvar_weight}")

    def solve_options(self, offer_reserves: bool = True) -> SolveOptions:
        """The solve options of this configuration."""
        solver = self.solver.upper()
        base = RECOURSE_HIGHS_OPTIONS if self.job_recourse else DEFAULT_HIGHS_OPTIONS
        return SolveOptions(
            solver=solver,
            highs_options=(*base, ("mip_rel_gap", self.mip_rel_gap)),
            cvar_weight=self.cvar_weight,
            strict=self.strict,
            offer_reserves=offer_reserves,
            integer_blocks=solver.startswith("HIGHS"),
            warm_start=False,
            job_recourse=self.job_recourse,
        )


def day_seed(seed: int, day: date) -> int:
    """The scenario seed of one day: independent of the days around it and of chunking."""
    state = np.random.SeedSequence([seed, day.toordinal()]).generate_state(1)
    return int(state[0])


class Scenarios(Protocol):
    """How a strategy makes a day's price scenarios from the market data it may see."""

    def __call__(
        self,
        data: MarketData,
        day: date,
        zone: Zone,
        cfg: StrategyConfig,
        record: ErrorRecord | None = None,
    ) -> PriceScenarios: ...


def price_model(zone: Zone, data: MarketData | None, requested: str | None = None) -> str:
    """The price model of a run: ``requested``, else the zone's default for the data it has
    (:func:`~engine.strategies.names.default_model`: with the market's published inputs among
    ``data.features`` a zone may default to a model that reads them). Every shell (``bid``,
    ``backtest``, ``sweep``, the API's bids and backtests, the scheduler) asks this one rule."""
    if requested:
        return requested
    return default_model(zone.key, data is not None and bool(data.features))


def zone_models(
    zones: Iterable[Zone], data: Mapping[str, MarketData] | None, requested: str | None = None
) -> tuple[tuple[str, str], ...]:
    """Per zone key, the :func:`price_model` of the zone's data (for
    :attr:`StrategyConfig.zone_models` of a portfolio)."""
    return tuple(
        (z.key, price_model(z, None if data is None else data.get(z.key), requested))
        for z in sorted(zones, key=lambda z: z.key)
    )


def for_zone(config: StrategyConfig, zone: Zone) -> StrategyConfig:
    """``config`` with the price model of ``zone`` (:attr:`StrategyConfig.zone_models`)."""
    model = dict(config.zone_models).get(zone.key)
    return config if model is None or model == config.model else replace(config, model=model)


def error_record(config: StrategyConfig, zone: Zone) -> ErrorRecord | None:
    """A record of the price model's past forecasts, for a caller that decides days in order.

    Passed to :func:`decide` for day after day (a backtest worker), it keeps each day's point
    forecast, so the error record behind the scenarios costs one model fit per day instead of
    one per past day; the plans are the same as without it. ``None`` for similar days (no fit).
    """
    return None if config.model == SIMILAR_DAYS else ErrorRecord(config.model, zone)


def _perfect_foresight(
    data: MarketData,
    day: date,
    zone: Zone,
    cfg: StrategyConfig,
    record: ErrorRecord | None = None,
) -> PriceScenarios:
    return PriceScenarios.perfect_foresight(data.da, day, zone)


def _model_forecast(
    data: MarketData, day: date, zone: Zone, cfg: StrategyConfig, record: ErrorRecord | None
) -> DayForecast:
    return forecast_day(
        cfg.model,
        data.da,
        day,
        zone,
        dict(data.features) or None,
        n_scenarios=cfg.n_scenarios,
        seed=day_seed(cfg.seed, day),
        record=record,
    )


def _forecast(
    data: MarketData,
    day: date,
    zone: Zone,
    cfg: StrategyConfig,
    record: ErrorRecord | None = None,
) -> PriceScenarios:
    if cfg.model == SIMILAR_DAYS:
        return make_scenarios(data.da, day, zone, cfg.n_scenarios, seed=day_seed(cfg.seed, day))
    fc = _model_forecast(data, day, zone, cfg, record)
    return PriceScenarios(
        fc.intervals, fc.scenarios, fc.probabilities, f"{fc.model}+copula", (), fc.as_of
    )


def _deterministic(
    data: MarketData,
    day: date,
    zone: Zone,
    cfg: StrategyConfig,
    record: ErrorRecord | None = None,
) -> PriceScenarios:
    if cfg.model == SIMILAR_DAYS:
        return PriceScenarios.deterministic(data.da, day, zone, cfg.point_forecast_days)
    fc = _model_forecast(data, day, zone, cfg, record)
    return PriceScenarios(fc.intervals, fc.point.reshape(1, -1), np.ones(1), fc.model, (), fc.as_of)


@dataclass(frozen=True, slots=True)
class Strategy:
    """A strategy: its name, what it does, and how it makes its price scenarios.

    ``scenarios`` is ``None`` for the price taker (no optimisation).
    """

    name: StrategyName
    scenarios: Scenarios | None

    @property
    def description(self) -> str:
        """One line on what the strategy does."""
        return DESCRIPTIONS[self.name]

    @property
    def hindsight(self) -> bool:
        """Whether the strategy sees the day's own final prices (never submittable)."""
        return self.name in HINDSIGHT

    @property
    def needs_history(self) -> bool:
        """Whether the strategy needs past prices published before the decision time."""
        return self.name in NEEDS_HISTORY


STRATEGIES: dict[StrategyName, Strategy] = {
    StrategyName.PERFECT_FORESIGHT: Strategy(StrategyName.PERFECT_FORESIGHT, _perfect_foresight),
    StrategyName.FORECAST: Strategy(StrategyName.FORECAST, _forecast),
    StrategyName.DETERMINISTIC: Strategy(StrategyName.DETERMINISTIC, _deterministic),
    StrategyName.PRICE_TAKER: Strategy(StrategyName.PRICE_TAKER, None),
}


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name``.

    Raises
    ------
    PowerdeskError
        Unknown name (the message lists the known ones).
    """
    try:
        return STRATEGIES[strategy_name(name)]
    except ValueError as exc:
        raise PowerdeskError(str(exc)) from None


_local = threading.local()


def thread_cache() -> ModelCache:
    """This thread's model cache (cvxpy problems are re-parameterised in place: one per thread)."""
    cache: ModelCache | None = getattr(_local, "cache", None)
    if cache is None:
        cache = ModelCache()
        _local.cache = cache
    return cache


def decision_time(day: date, zone: Zone, as_of: datetime | None, strategy: Strategy) -> datetime:
    """When a decision for ``day`` is made: ``as_of`` or the gate closure of ``day``.

    Raises
    ------
    PowerdeskError
        A time after gate closure for a strategy without hindsight.
    """
    gate = gate_closure_utc(day, zone)
    if as_of is None:
        return gate
    t = require_aware(as_of, "as_of")
    if t > gate and not strategy.hindsight:
        raise PowerdeskError(
            f"as_of {t.isoformat()} is after gate closure {gate.isoformat()} of {day}: "
            "use strategy perfect-foresight for hindsight"
        )
    return t


def reserve_prices_for(
    strategy: Strategy,
    data: MarketData,
    day: date,
    zone: Zone,
    as_of: datetime,
    config: StrategyConfig,
) -> dict[str, pd.Series]:
    """The reserve prices ``strategy`` prices its offers at for ``day``."""
    if not config.offer_reserves or strategy.scenarios is None:
        return {}
    if strategy.hindsight:
        prices = actual_reserve_prices(data.reserves, day, zone)
    else:
        prices = forecast_reserve_prices(
            data.reserves, day, zone, as_of, config.reserve_forecast_days
        )
    return {k: v for k, v in prices.items() if not v.empty}


def decide(
    name: str,
    site: Site,
    zone: Zone,
    day: date,
    data: MarketData | None,
    config: StrategyConfig,
    *,
    as_of: datetime | None = None,
    cache: ModelCache | None = None,
    record: ErrorRecord | None = None,
) -> DayPlan:
    """The plan of strategy ``name`` for ``site`` on delivery ``day``.

    Parameters
    ----------
    name
        A :class:`~engine.strategies.names.StrategyName`.
    site, zone, day
        The site, its zone and the local delivery day.
    data
        Market data; only what was published before the decision time is used, except by a
        hindsight strategy (``None`` only for the price taker, which reads no prices).
    config
        How to decide.
    as_of
        Decision time [UTC]; default the gate closure of ``day``.
    cache
        Model cache; default this thread's.
    record
        The price model's record of earlier days' forecasts (:func:`error_record`), kept by a
        caller deciding days in order; the plan is the same with or without it.

    Raises
    ------
    PowerdeskError
        Unknown strategy, or a decision time after gate closure.
    bidding.BiddingError, market.MarketError
        No history before the decision time, an infeasible site, a solver failure.
    """
    strategy = get_strategy(name)
    t = decision_time(day, zone, as_of, strategy)
    if strategy.scenarios is None:
        return flat_schedule(site, zone, day)
    if data is None:
        raise PowerdeskError(f"strategy {strategy.name} needs market data")
    view = data if strategy.hindsight else data.as_of(t)
    scenarios = strategy.scenarios(view, day, zone, config, record)
    reserves = reserve_prices_for(strategy, view, day, zone, t, config)
    options = config.solve_options(offer_reserves=bool(reserves))
    return solve_day(site, zone, day, scenarios, reserves, options, cache or thread_cache())
