"""The real-time stage, one function for every caller: the backtest and any live re-plan.

:func:`realtime_replan` re-plans a day's DA plan once the day's DA prices are published: it cuts
the market data at the re-plan time (:func:`replan_time`, the zone's DA publication of ``D`` plus
:data:`REPLAN_DELAY`), forecasts the real-time price of ``D`` with :mod:`forecast.realtime` from
what is known then, and solves :func:`bidding.realtime.replan_day`. Nothing published after the
re-plan time (the real-time prices of ``D``, later DA prices) can reach it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from bidding import BiddingError, DayPlan, Site
from bidding.realtime import Replan, ReplanCache, replan_day
from engine.core.errors import PowerdeskError
from engine.marketdata.view import MarketData
from engine.strategies.registry import StrategyConfig
from engine.strategies.replan_times import INTRADAY_LEAD as INTRADAY_LEAD
from engine.strategies.replan_times import REPLAN_DELAY as REPLAN_DELAY
from engine.strategies.replan_times import intraday_times as intraday_times
from engine.strategies.replan_times import replan_time as replan_time
from forecast.errors import ForecastError
from forecast.realtime import RealtimeForecast, SpreadMemo, day_spreads, forecast_realtime
from market import MarketError, Zone, require_aware
from market.calendar import da_publication_utc
from market.clearing import clear_curve

FloatArray = npt.NDArray[np.float64]


def nearest_scenario(plan: DayPlan, actual_per_mwh: FloatArray) -> int:
    """The scenario whose prices are nearest (least squares) to the realised DA prices: the
    schedule the site runs (without the real-time stage, and as its base with it)."""
    prices = np.asarray(plan.scenario_prices_per_mwh, dtype=np.float64)
    if prices.shape[0] == 1 or not np.isfinite(prices).all():
        return 0
    distance = ((prices - actual_per_mwh[None, :]) ** 2).sum(axis=1)
    return int(np.argmin(distance))


def realtime_forecast(
    data: MarketData,
    day: date,
    zone: Zone,
    config: StrategyConfig,
    t: datetime,
    *,
    intraday: bool = False,
    memo: SpreadMemo | None = None,
) -> RealtimeForecast:
    """The real-time price forecast of ``day`` from what is published before ``t``.

    Raises
    ------
    PowerdeskError
        No real-time prices, or the forecast cannot be made (``D``'s DA prices not yet known).
    """
    view = data.as_of(t)
    if view.imbalance is None:
        raise PowerdeskError(
            "the real-time stage needs real-time / imbalance prices (--imbalance-prices)"
        )
    try:
        return forecast_realtime(
            config.rt_forecast,
            view.da.final(),
            view.imbalance.final(),
            view.imbalance.resolution,
            day,
            zone,
            config.rt_lookback_days,
            intraday=intraday,
            memo=memo,
        )
    except ForecastError as exc:
        raise PowerdeskError(f"real-time stage, delivery day {day}: {exc}") from None


def realtime_replan(
    site: Site,
    zone: Zone,
    day: date,
    plan: DayPlan,
    data: MarketData,
    config: StrategyConfig,
    *,
    as_of: datetime | None = None,
    cache: ReplanCache | None = None,
    extra_it_mw: FloatArray | None = None,
) -> Replan:
    """Re-plan ``plan`` (the submitted DA plan of ``site`` for ``day``) for the real-time stage.

    Parameters
    ----------
    as_of
        Re-plan time [UTC]; default :func:`replan_time`. It must not be before the day's DA
        publication (its DA prices are needed). With rolling re-plans: the chain of re-plans up
        to ``as_of`` (default: all of them, the whole day as the backtest runs it); the result
        is the last, whose past intervals are what the earlier ones ran and whose
        ``forecast_per_mwh`` is the forecast each interval was decided on.
    extra_it_mw
        IT load placed at the site by a portfolio's DA decision [MW], held in every re-plan
        (:func:`bidding.realtime.replan_day`).

    Raises
    ------
    PowerdeskError
        A re-plan time before the DA publication, missing real-time prices or DA prices of
        ``day``, an infeasible re-plan.
    """
    t = replan_time(day, zone) if as_of is None else require_aware(as_of, "as_of")
    published = da_publication_utc(day, zone)
    if t <= published:
        raise PowerdeskError(
            f"a real-time re-plan of {day} needs its DA prices, published {published.isoformat()}"
        )
    times = [replan_time(day, zone)] if as_of is None else [t]
    rolling = config.rt_every_minutes > 0
    if rolling:
        every = timedelta(minutes=config.rt_every_minutes)
        times = [min(times[0], replan_time(day, zone))]
        times += [x for x in intraday_times(day, zone, every) if as_of is None or x <= t]
    chain: list[Replan] = []
    decided = np.zeros(len(plan.intervals))  # the forecast each interval was run under
    memo: SpreadMemo = {}  # the look-back days' spreads, computed once for the chain
    for when in times:
        fc = realtime_forecast(data, day, zone, config, when, intraday=rolling, memo=memo)
        # The first re-plan decides the whole day; a later one the intervals not yet started.
        n_run = int(plan.intervals.searchsorted(pd.Timestamp(when))) if chain else 0
        replan = _replan_once(
            site, zone, day, plan, fc, config, when, cache, chain, n_run, extra_it_mw
        )
        decided[n_run:] = fc.point[n_run:]
        chain.append(replan)
    last = chain[-1]
    return replace(last, forecast_per_mwh=decided, replans=len(chain))


def _replan_once(
    site: Site,
    zone: Zone,
    day: date,
    plan: DayPlan,
    fc: RealtimeForecast,
    config: StrategyConfig,
    when: datetime,
    cache: ReplanCache | None,
    chain: Sequence[Replan],
    n_run: int,
    extra_it_mw: FloatArray | None = None,
) -> Replan:
    """One re-plan of the chain at ``when``: the intervals before ``n_run`` have run as the
    previous re-plan of ``chain`` scheduled them."""
    base = nearest_scenario(plan, fc.da_per_mwh)
    # The dead band is measured from the cleared DA position (what a move deviates from and
    # settles against), not from the nearest scenario's schedule.
    cleared = np.array(
        [clear_curve(c, float(p)) for c, p in zip(plan.da_curves, fc.da_per_mwh, strict=True)]
    )
    method = f"rt-{fc.method}-{fc.lookback_days}d"
    if config.rt_every_minutes > 0:
        method += f"-every-{config.rt_every_minutes}min"
    try:
        return replan_day(
            site,
            zone,
            day,
            plan,
            base,
            fc.point,
            config.rt_threshold_per_mwh,
            solver=config.solver,
            as_of=when,
            method=method,
            cache=cache,
            strict=config.strict,
            reference_mw=cleared,
            fixed=chain[-1].plan if chain else None,
            fixed_intervals=n_run,
            extra_it_mw=extra_it_mw,
        )
    except (BiddingError, MarketError) as exc:
        raise PowerdeskError(f"real-time stage, delivery day {day}: {exc}") from None


def realtime_forecast_errors(
    data: MarketData, zone: Zone, days: Sequence[date], config: StrategyConfig
) -> dict[str, float | int | str]:
    """How well the real-time forecast of ``config`` did over ``days`` (each made at its re-plan
    time), against the final real-time prices on the DA intervals.

    ``mae`` and ``mae_zero_spread`` are the mean absolute errors of the forecast and of the DA
    price itself [currency/MWh]; ``spread_correlation`` is the correlation of forecast and actual
    real-time minus DA spreads (``nan`` for the zero forecast).

    Raises
    ------
    PowerdeskError
        No real-time prices, or a day whose forecast cannot be made.
    """
    if data.imbalance is None:
        raise PowerdeskError("real-time forecast errors need real-time / imbalance prices")
    da, rt = data.da.final(), data.imbalance.final()
    forecast_spread: list[FloatArray] = []
    actual_spread: list[FloatArray] = []
    for day in days:
        fc = realtime_forecast(data, day, zone, config, replan_time(day, zone))
        _, actual = day_spreads(da, rt, data.imbalance.resolution, day, zone)
        keep = np.isfinite(actual)
        forecast_spread.append(fc.spread_per_mwh[keep])
        actual_spread.append(actual[keep])
    f = np.concatenate(forecast_spread) if forecast_spread else np.zeros(0)
    a = np.concatenate(actual_spread) if actual_spread else np.zeros(0)
    corr = float("nan")
    if len(f) > 1 and np.std(f) > 0 and np.std(a) > 0:
        corr = float(np.corrcoef(f, a)[0, 1])
    return {
        "method": config.rt_forecast,
        "lookback_days": config.rt_lookback_days,
        "intervals": len(a),
        "mae": float(np.mean(np.abs(a - f))) if len(a) else float("nan"),
        "mae_zero_spread": float(np.mean(np.abs(a))) if len(a) else float("nan"),
        "mean_actual_spread": float(np.mean(a)) if len(a) else float("nan"),
        "spread_correlation": corr,
        "sign_hit_rate": float(np.mean(np.sign(f) == np.sign(a))) if len(a) else float("nan"),
    }


def with_realtime(config: StrategyConfig, realtime: StrategyConfig | None) -> StrategyConfig:
    """``config`` with the real-time settings (``rt_stage`` and the ``rt_`` fields) of
    ``realtime`` (``None``: unchanged)."""
    if realtime is None:
        return config
    return replace(
        config,
        rt_stage=realtime.rt_stage,
        rt_forecast=realtime.rt_forecast,
        rt_lookback_days=realtime.rt_lookback_days,
        rt_threshold_per_mwh=realtime.rt_threshold_per_mwh,
        rt_every_minutes=realtime.rt_every_minutes,
    )


def check_realtime(config: StrategyConfig, data: MarketData) -> None:
    """Refuse, in one line, a real-time stage without real-time prices, or rolling re-plans
    that do not fall on the DA interval boundaries."""
    if config.rt_stage and data.imbalance is None:
        raise PowerdeskError(
            "the real-time stage needs real-time / imbalance prices (--imbalance-prices)"
        )
    every = timedelta(minutes=config.rt_every_minutes)
    step = data.da.resolution
    if config.rt_stage and config.rt_every_minutes and every % step:
        raise PowerdeskError(
            f"--rt-every {config.rt_every_minutes}: rolling re-plans must come every whole "
            f"number of {step.total_seconds() / 60:g}-minute DA intervals"
        )
