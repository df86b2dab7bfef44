"""Backtests: bid every delivery day with a strategy, clear against history, settle exactly.

Per delivery day ``D`` (a local day of the site's zone):

1. **Decide** with what the strategy may know (:data:`STRATEGIES`):

   ``perfect-foresight``
       One scenario: ``D``'s own final DA prices; reserve offers priced at ``D``'s actual
       clearing prices (hindsight: the benchmark every other strategy is measured against).
   ``forecast`` (default)
       The stochastic bid of :func:`bidding.make_scenarios` (similar past days) from DA prices
       published before gate closure of ``D`` (``KnownSeries.as_of(gate_closure_utc(D))``).
   ``deterministic``
       One point forecast: the probability-weighted mean of the 7 most similar past days
       (:meth:`bidding.PriceScenarios.deterministic`, same as-of cut).
   ``price-taker``
       :func:`bidding.flat_schedule`: every job flat over its window, battery idle, the whole
       need bought at any price, no reserve.

   Forecast and deterministic bids price reserve offers at a forecast: per product and block,
   the mean clearing price of the same local block start on up to 7 past days published before
   gate closure (:func:`forecast_reserve_prices`).

2. **Clear** the DA curves at the historical price: per interval the quantity the curve holds at
   that price (:func:`bidding.clear_curve`). Block bids are not cleared separately: a
   non-preemptible job is a first-stage decision, so its power is in every scenario's purchase
   and hence in the curves. A reserve offer is awarded when its price is at or below the
   historical clearing price of its block and is paid that clearing price (no activation: the
   history holds no activation data).

3. **Consume**: the site runs the planned schedule of the scenario nearest to the realised prices
   (least squares over the day; ties: the first scenario). With one scenario that is the plan.
   The plan is feasible in every scenario, so jobs, battery limits and reserve headroom hold.

4. **Settle** with :func:`market.settlement.settle_day`: DA energy = cleared position x DA price;
   deviation (consumption - cleared position) at the imbalance price when a file is given, else
   at the DA price (an imbalance file at a finer resolution is averaged over each DA interval).
   Degradation cost = ``degradation_cost_per_mwh`` x battery throughput of the consumed schedule.
   Energies are rounded once to the Wh (6 decimals of MWh), money once per line to the minor
   unit; ``total_cost = energy_cost + imbalance_cost + degradation_cost - reserve_revenue``.
   PPA energy is not bought in the market and PPA money is not part of the total.

With deviations settled at the DA price the total cost of a day is the consumed schedule priced at
the actual DA prices, which perfect foresight minimises: on an energy-only site no strategy costs
less (up to rounding). Solves are cold (no basis carried from the previous day) so a day's result
never depends on which days the same worker solved before: any split of days over workers and any
executor give the same bytes.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from bidding import (
    DEFAULT_HIGHS_OPTIONS,
    MODEL_VERSION,
    BiddingError,
    DayPlan,
    ModelCache,
    PriceScenarios,
    Site,
    SolveOptions,
    clear_curve,
    flat_schedule,
    make_scenarios,
    solve_day,
)
from bidding.solve import solver_version
from engine.backtest.executors import ExecutorSpec, parse_executor, progress_bar, run_tasks
from engine.core.errors import PowerdeskError
from market import (
    KnownSeries,
    MarketError,
    Zone,
    block_index,
    delivery_day_bounds,
    delivery_intervals,
    gate_closure_utc,
    get_zone,
)
from market.settlement import IntervalInputs, ReserveAward, settle_day

FloatArray = npt.NDArray[np.float64]

DEFAULT_STRATEGY = "forecast"
PERFECT_FORESIGHT = "perfect-foresight"
MONEY_FIELDS = (
    "energy_cost",
    "reserve_revenue",
    "imbalance_cost",
    "degradation_cost",
    "total_cost",
)
DAY_COLUMNS = ("day", *MONEY_FIELDS, "grid_energy_mwh")
_WH = Decimal("0.000001")  # energies are kept to the Wh [MWh]


# --------------------------------------------------------------------------------------------
# Inputs and configuration


@dataclass(frozen=True, slots=True)
class MarketData:
    """Historical market data of a backtest (values with their publication times).

    Parameters
    ----------
    da
        Day-ahead prices [currency/MWh].
    imbalance
        Imbalance prices [currency/MWh]; ``None`` settles deviations at the DA price.
    reserves
        Capacity clearing prices per reserve product key [currency/MW per product interval].
    """

    da: KnownSeries
    imbalance: KnownSeries | None = None
    reserves: Mapping[str, KnownSeries] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """How each day is decided.

    Parameters
    ----------
    n_scenarios
        Price scenarios of the ``forecast`` strategy.
    seed
        Seed of the scenario perturbation (mixed with each day, so days are independent).
    solver
        Solver of :func:`bidding.solve_day`.
    point_forecast_days
        Similar past days averaged by the ``deterministic`` strategy.
    reserve_forecast_days
        Past days averaged for the reserve price forecast.
    mip_rel_gap
        Relative MIP gap for sites with non-preemptible jobs [-] (tight: perfect foresight is
        the benchmark).
    """

    n_scenarios: int = 5
    seed: int = 0
    solver: str = "HIGHS"
    point_forecast_days: int = 7
    reserve_forecast_days: int = 7
    mip_rel_gap: float = 1e-7

    def solve_options(self) -> SolveOptions:
        """Solve options: cold solves (no basis carried over: results independent of order)."""
        return SolveOptions(
            solver=self.solver,
            highs_options=(*DEFAULT_HIGHS_OPTIONS, ("mip_rel_gap", self.mip_rel_gap)),
            warm_start=False,
        )


def day_seed(seed: int, day: date) -> int:
    """The scenario seed of one day: independent of the days around it and of chunking."""
    state = np.random.SeedSequence([seed, day.toordinal()]).generate_state(1)
    return int(state[0])


def delivery_days(start: date, end: date) -> tuple[date, ...]:
    """Local delivery days ``start <= d < end``."""
    return tuple(start + timedelta(days=k) for k in range((end - start).days))


# --------------------------------------------------------------------------------------------
# Strategies: what a strategy may know on day D, and the plan it makes


DecideFn = Callable[[Site, Zone, date, MarketData, BacktestConfig, ModelCache], DayPlan]


@dataclass(frozen=True, slots=True)
class Strategy:
    """A backtest strategy: a name, what it does, and its decision function."""

    name: str
    description: str
    decide: DecideFn


def _series_on(values: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    return values[(values.index >= start) & (values.index < end)]


def actual_reserve_prices(
    reserves: Mapping[str, KnownSeries], day: date, zone: Zone
) -> dict[str, pd.Series]:
    """The final reserve clearing prices of ``day`` per product (hindsight)."""
    lo, hi = (pd.Timestamp(t) for t in delivery_day_bounds(day, zone))
    return {key: _series_on(s.final(), lo, hi) for key, s in sorted(reserves.items())}


def forecast_reserve_prices(
    reserves: Mapping[str, KnownSeries], day: date, zone: Zone, n_days: int = 7
) -> dict[str, pd.Series]:
    """Reserve price forecast for ``day`` from prices published before its gate closure.

    Per product and block of ``day``: the mean price of the blocks that started at the same local
    wall-clock time on the ``n_days`` most recent past days that have one (looking back up to
    ``4 * n_days`` days). A block with no such history gets no price (it is then not offered).

    Returns
    -------
    dict[str, pandas.Series]
        Per product, forecast prices indexed by the UTC block starts of ``day``
        [currency/MW per product interval].
    """
    gate = gate_closure_utc(day, zone)
    quarters = delivery_intervals(day, zone, timedelta(minutes=15))
    out: dict[str, pd.Series] = {}
    for key, series in sorted(reserves.items()):
        product = zone.product(key)
        idx = block_index(quarters, zone, product.block)
        first = np.r_[True, idx[1:] != idx[:-1]]
        starts = quarters[first]
        known = series.as_of(gate)
        if known.empty:
            out[key] = pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=np.float64)
            continue
        local = pd.DatetimeIndex(known.index).tz_convert(zone.tz)
        by_slot: dict[tuple[date, int], float] = {}
        for d, h, m, v in zip(
            local.date, local.hour, local.minute, known.to_numpy(dtype=np.float64), strict=True
        ):
            by_slot.setdefault((d, int(h) * 60 + int(m)), float(v))
        values = []
        target = starts.tz_convert(zone.tz)
        for h, m in zip(target.hour, target.minute, strict=True):
            slot = int(h) * 60 + int(m)
            seen = [
                by_slot[(day - timedelta(days=k), slot)]
                for k in range(1, 4 * n_days + 1)
                if (day - timedelta(days=k), slot) in by_slot
            ][:n_days]
            values.append(math.fsum(seen) / len(seen) if seen else math.nan)
        forecast = pd.Series(values, index=starts, dtype=np.float64)
        out[key] = forecast.dropna()
    return out


def _decide_perfect_foresight(
    site: Site, zone: Zone, day: date, data: MarketData, cfg: BacktestConfig, cache: ModelCache
) -> DayPlan:
    scenarios = PriceScenarios.perfect_foresight(data.da, day, zone)
    reserves = actual_reserve_prices(data.reserves, day, zone)
    return solve_day(site, zone, day, scenarios, reserves, cfg.solve_options(), cache)


def _decide_forecast(
    site: Site, zone: Zone, day: date, data: MarketData, cfg: BacktestConfig, cache: ModelCache
) -> DayPlan:
    scenarios = make_scenarios(data.da, day, zone, cfg.n_scenarios, seed=day_seed(cfg.seed, day))
    reserves = forecast_reserve_prices(data.reserves, day, zone, cfg.reserve_forecast_days)
    return solve_day(site, zone, day, scenarios, reserves, cfg.solve_options(), cache)


def _decide_deterministic(
    site: Site, zone: Zone, day: date, data: MarketData, cfg: BacktestConfig, cache: ModelCache
) -> DayPlan:
    scenarios = PriceScenarios.deterministic(data.da, day, zone, cfg.point_forecast_days)
    reserves = forecast_reserve_prices(data.reserves, day, zone, cfg.reserve_forecast_days)
    return solve_day(site, zone, day, scenarios, reserves, cfg.solve_options(), cache)


def _decide_price_taker(
    site: Site, zone: Zone, day: date, data: MarketData, cfg: BacktestConfig, cache: ModelCache
) -> DayPlan:
    return flat_schedule(site, zone, day)


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy(
            PERFECT_FORESIGHT,
            "each day optimised on its own actual DA and reserve prices (hindsight benchmark)",
            _decide_perfect_foresight,
        ),
        Strategy(
            "forecast",
            "stochastic bid on similar-day price scenarios published before gate closure",
            _decide_forecast,
        ),
        Strategy(
            "deterministic",
            "one point forecast: probability-weighted mean of the 7 most similar past days",
            _decide_deterministic,
        ),
        Strategy(
            "price-taker",
            "flat schedule, no shifting, no battery, buys its whole need at any price",
            _decide_price_taker,
        ),
    )
}
NEEDS_HISTORY = frozenset({"forecast", "deterministic"})


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name``.

    Raises
    ------
    PowerdeskError
        Unknown name (the message lists the known ones).
    """
    try:
        return STRATEGIES[name]
    except KeyError:
        known = ", ".join(STRATEGIES)
        raise PowerdeskError(f"unknown strategy {name!r} (known: {known})") from None


# --------------------------------------------------------------------------------------------
# One day: clear, consume, settle


@dataclass(frozen=True, slots=True)
class DayOutcome:
    """The settled result of one delivery day.

    Parameters
    ----------
    day
        Local delivery day.
    energy_cost, reserve_revenue, imbalance_cost, degradation_cost, total_cost
        Money [currency], rounded to the minor unit.
    grid_energy_mwh
        Physical grid import of the consumed schedule (market purchase plus PPA delivery) [MWh].
    cleared_energy_mwh
        DA energy cleared [MWh].
    consumed_scenario
        Scenario whose schedule the site ran.
    decision_sha256
        SHA-256 of the bids (DA curves, block and reserve bids): what the strategy decided
        before gate closure.
    """

    day: date
    energy_cost: Decimal
    reserve_revenue: Decimal
    imbalance_cost: Decimal
    degradation_cost: Decimal
    total_cost: Decimal
    grid_energy_mwh: Decimal
    cleared_energy_mwh: Decimal
    consumed_scenario: int
    decision_sha256: str


@dataclass(frozen=True, slots=True)
class Actuals:
    """Final (hindsight) values used to clear and settle, computed once per chunk of days."""

    da: pd.Series
    imbalance: pd.Series | None
    imbalance_resolution: timedelta
    reserves: dict[str, pd.Series]

    @classmethod
    def of(cls, data: MarketData) -> Actuals:
        """Final values of every series in ``data``."""
        return cls(
            data.da.final(),
            data.imbalance.final() if data.imbalance is not None else None,
            data.imbalance.resolution if data.imbalance is not None else timedelta(0),
            {k: s.final() for k, s in sorted(data.reserves.items())},
        )


def _mwh(x: float) -> Decimal:
    """An energy rounded once to the Wh [MWh] (``-0`` normalised to ``0``)."""
    return Decimal(f"{x:.6f}") + Decimal(0)


def _price(x: float) -> Decimal:
    """A float price as the decimal it was read from (shortest round-trip form)."""
    return Decimal(repr(float(x)))


def decision_hash(plan: DayPlan) -> str:
    """SHA-256 of the bids of ``plan`` (curves, block bids, reserve bids)."""
    payload = {
        "curves": [
            [c.interval_start.isoformat(), [str(p) for p in c.prices_per_mwh], c.quantities_mw]
            for c in plan.da_curves
        ],
        "blocks": [
            [
                b.job,
                b.start.isoformat(),
                b.end.isoformat(),
                b.quantity_mw,
                str(b.limit_price_per_mwh),
            ]
            for b in plan.block_bids
        ],
        "reserves": [
            [r.product, r.start.isoformat(), r.end.isoformat(), r.capacity_mw, str(r.price_per_mw)]
            for r in plan.reserve_bids
        ],
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def nearest_scenario(plan: DayPlan, actual_per_mwh: FloatArray) -> int:
    """The scenario whose prices are nearest (least squares) to the realised ones."""
    prices = np.asarray(plan.scenario_prices_per_mwh, dtype=np.float64)
    if prices.shape[0] == 1 or not np.isfinite(prices).all():
        return 0
    distance = ((prices - actual_per_mwh[None, :]) ** 2).sum(axis=1)
    return int(np.argmin(distance))


def imbalance_prices_on(
    imbalance: pd.Series, resolution: timedelta, intervals: pd.DatetimeIndex, dt_hours: float
) -> list[Decimal]:
    """Imbalance price per DA interval [currency/MWh].

    Finer imbalance intervals inside a DA interval are averaged (the schedule is flat within a
    DA interval, so this is the exact cost of a flat deviation); a coarser imbalance interval that
    contains the DA interval gives its price.

    Raises
    ------
    PowerdeskError
        When a DA interval has no imbalance price.
    """
    step = pd.Timedelta(hours=dt_hours)
    res = pd.Timedelta(resolution)
    index = imbalance.index
    values = imbalance.to_numpy(dtype=np.float64)
    out: list[Decimal] = []
    for start in intervals:
        lo = int(index.searchsorted(start, side="left"))
        hi = int(index.searchsorted(start + step, side="left"))
        if hi > lo:
            parts = [_price(v) for v in values[lo:hi]]
            out.append(sum(parts, Decimal(0)) / len(parts))
        elif lo > 0 and index[lo - 1] + res > start:
            out.append(_price(values[lo - 1]))
        else:
            raise PowerdeskError(f"no imbalance price at {start.isoformat()}")
    return out


def settle_plan(plan: DayPlan, site: Site, zone: Zone, actuals: Actuals) -> DayOutcome:
    """Clear ``plan``'s bids against history, let the site consume, and settle the day.

    Raises
    ------
    PowerdeskError
        When a DA (or given imbalance) price of the day is missing.
    """
    day = plan.day
    dt = plan.interval_hours
    got = actuals.da.reindex(plan.intervals)
    if got.isna().any():
        missing = plan.intervals[np.flatnonzero(got.isna().to_numpy())[0]]
        raise PowerdeskError(f"no DA price for delivery day {day} at {missing.isoformat()}")
    actual = got.to_numpy(dtype=np.float64)
    s = nearest_scenario(plan, actual)
    market = plan.market_mw[s]
    imbalance: list[Decimal | None] = [None] * len(plan.intervals)
    if actuals.imbalance is not None:
        try:
            imbalance = list(
                imbalance_prices_on(
                    actuals.imbalance, actuals.imbalance_resolution, plan.intervals, dt
                )
            )
        except PowerdeskError as exc:
            raise PowerdeskError(f"delivery day {day}: {exc}") from None
    rows = []
    cleared_total = Decimal(0)
    for t, curve in enumerate(plan.da_curves):
        da_price = _price(actual[t])
        cleared = _mwh(clear_curve(curve, da_price) * dt)
        cleared_total += cleared
        rows.append(
            IntervalInputs(
                interval_start=plan.intervals[t].to_pydatetime(),
                position_mwh=cleared,
                da_price=da_price,
                metered_mwh=_mwh(float(market[t]) * dt),
                imbalance_price=imbalance[t],
            )
        )
    awards = []
    for bid in plan.reserve_bids:
        prices = actuals.reserves.get(bid.product)
        if prices is None or bid.capacity_mw <= 0:
            continue
        clearing = prices.get(pd.Timestamp(bid.start))
        if clearing is None or not math.isfinite(float(clearing)):
            continue
        clearing_price = _price(float(clearing))
        if bid.price_per_mw <= clearing_price:
            awards.append(
                ReserveAward(
                    product=bid.product,
                    direction=zone.product(bid.product).direction,
                    block_start=bid.start,
                    awarded_mw=Decimal(f"{bid.capacity_mw:.3f}"),
                    capacity_price=clearing_price,
                )
            )
    settlement = settle_day(zone, day, rows, awards)
    degradation = Decimal(0)
    if site.battery is not None:
        throughput = sum(
            (
                _mwh(float(c + d) * dt)
                for c, d in zip(plan.charge_mw[s], plan.discharge_mw[s], strict=True)
            ),
            Decimal(0),
        )
        degradation = (_price(site.battery.degradation_cost_per_mwh) * throughput).quantize(
            zone.minor_unit, rounding=ROUND_HALF_EVEN
        ) + Decimal(0)
    energy = settlement.totals["energy_cost"]
    imbalance_cost = settlement.totals["imbalance_cost"]
    reserve = settlement.totals["reserve_revenue"] + Decimal(0)
    grid = sum((_mwh(float(g) * dt) for g in plan.grid_mw[s]), Decimal(0))
    return DayOutcome(
        day=day,
        energy_cost=energy + Decimal(0),
        reserve_revenue=reserve,
        imbalance_cost=imbalance_cost + Decimal(0),
        degradation_cost=degradation,
        total_cost=energy + imbalance_cost + degradation - reserve + Decimal(0),
        grid_energy_mwh=grid,
        cleared_energy_mwh=cleared_total,
        consumed_scenario=s,
        decision_sha256=decision_hash(plan),
    )


# --------------------------------------------------------------------------------------------
# A chunk of days: the unit of work of an executor


@dataclass(frozen=True, slots=True)
class ChunkTask:
    """One strategy over a contiguous run of days (what one worker does at a time)."""

    strategy: str
    site: Site
    zone: str
    days: tuple[date, ...]
    data: MarketData
    config: BacktestConfig


_local = threading.local()


def _worker_cache() -> ModelCache:
    """This thread's model cache (Dask runs tasks in threads; models are not thread-safe)."""
    cache: ModelCache | None = getattr(_local, "cache", None)
    if cache is None:
        cache = ModelCache()
        _local.cache = cache
    return cache


def decide_day(
    strategy: str,
    site: Site,
    zone: Zone,
    day: date,
    data: MarketData,
    config: BacktestConfig,
    cache: ModelCache | None = None,
) -> DayPlan:
    """The plan of ``strategy`` for ``day`` (only as-of data, except perfect foresight).

    Raises
    ------
    PowerdeskError
        Naming the strategy and day when the bidding library refuses (no history, infeasible).
    """
    try:
        return get_strategy(strategy).decide(
            site, zone, day, data, config, cache if cache is not None else _worker_cache()
        )
    except (BiddingError, MarketError) as exc:
        raise PowerdeskError(f"{strategy}, delivery day {day}: {exc}") from None


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """The outcomes of one :class:`ChunkTask`."""

    strategy: str
    outcomes: tuple[DayOutcome, ...]


def run_chunk(task: ChunkTask) -> ChunkResult:
    """Decide, clear and settle every day of ``task`` (runs in a worker)."""
    zone = get_zone(task.zone)
    actuals = Actuals.of(task.data)
    cache = _worker_cache()
    out = []
    for day in task.days:
        plan = decide_day(task.strategy, task.site, zone, day, task.data, task.config, cache)
        out.append(settle_plan(plan, task.site, zone, actuals))
    return ChunkResult(task.strategy, tuple(out))


def chunk_days(days: Sequence[date], n_chunks: int) -> list[tuple[date, ...]]:
    """``days`` split into at most ``n_chunks`` contiguous runs of near-equal length."""
    n = max(1, min(n_chunks, len(days)))
    size, extra = divmod(len(days), n)
    out, pos = [], 0
    for k in range(n):
        length = size + (1 if k < extra else 0)
        out.append(tuple(days[pos : pos + length]))
        pos += length
    return [c for c in out if c]


# --------------------------------------------------------------------------------------------
# A whole backtest


@dataclass(frozen=True, slots=True)
class StrategyRun:
    """Every day of one strategy, in day order."""

    strategy: str
    outcomes: tuple[DayOutcome, ...]

    def total(self, name: str) -> Decimal:
        """Sum of a money or energy field over the days."""
        return sum((getattr(o, name) for o in self.outcomes), Decimal(0)) + Decimal(0)


def backtest_days(
    strategies: Sequence[str],
    site: Site,
    zone: Zone,
    days: Sequence[date],
    data: MarketData,
    config: BacktestConfig,
    executor: ExecutorSpec | str = "inline",
    progress: bool | None = False,
) -> dict[str, StrategyRun]:
    """Run ``strategies`` over ``days`` (no checks, no files): the computational core.

    Each executor worker gets contiguous chunks of days of one strategy; chunks per strategy =
    2 x the executor's parallelism (so progress moves and workers stay busy).
    """
    runs = backtest_runs(
        [(name, config) for name in strategies], site, zone, days, data, executor, progress
    )
    return {run.strategy: run for run in runs}


def backtest_runs(
    settings: Sequence[tuple[str, BacktestConfig]],
    site: Site,
    zone: Zone,
    days: Sequence[date],
    data: MarketData,
    executor: ExecutorSpec | str = "inline",
    progress: bool | None = False,
) -> list[StrategyRun]:
    """Run every (strategy, config) of ``settings`` over ``days`` in one executor session (a
    sweep starts its workers once); one :class:`StrategyRun` per setting, in order."""
    spec = parse_executor(executor) if isinstance(executor, str) else executor
    for name, _ in settings:
        get_strategy(name)
    made: list[tuple[int, ChunkTask]] = []

    def make_tasks(parallelism: int) -> list[ChunkTask]:
        n_chunks = 1 if parallelism <= 1 else 2 * parallelism
        made[:] = [
            (k, ChunkTask(name, site, zone.key, chunk, data, config))
            for k, (name, config) in enumerate(settings)
            for chunk in chunk_days(days, n_chunks)
        ]
        return [task for _, task in made]

    total_days = len(days) * len(settings)
    with progress_bar(total_days, f"backtest {site.name}", progress) as advance:
        results = run_tasks(spec, run_chunk, make_tasks, lambda task, _r: advance(len(task.days)))
    outcomes: list[list[DayOutcome]] = [[] for _ in settings]
    # Results come in task order: setting-major, days in order within a setting.
    for (k, _), result in zip(made, results, strict=True):
        outcomes[k].extend(result.outcomes)
    return [StrategyRun(name, tuple(o)) for (name, _), o in zip(settings, outcomes, strict=True)]


# --------------------------------------------------------------------------------------------
# Driver: inputs, checks, outputs


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """What :func:`run_backtest` produced.

    Parameters
    ----------
    summary
        Exactly the content of ``summary.json``.
    run
        The strategy's days.
    perfect_foresight
        The perfect-foresight days (``None`` with ``regret=False``; the run itself when the
        strategy is perfect foresight).
    files
        Every output file by name, as written (``run.json`` excluded: it holds the run time).
    out_dir
        Where the files were written (``None``: not written).
    elapsed_s
        Wall time of the run [s].
    executor
        The executor used.
    """

    summary: dict[str, Any]
    run: StrategyRun
    perfect_foresight: StrategyRun | None
    files: dict[str, bytes]
    out_dir: Path | None
    elapsed_s: float
    executor: str


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise PowerdeskError(f"{path}: cannot read file ({exc.strerror})") from None


def _check_coverage(series: pd.Series, days: Sequence[date], zone: Zone, what: str) -> None:
    """Every interval of every day has a value (else name the first day and instant missing)."""
    for day in days:
        intervals = delivery_intervals(day, zone)
        got = series.reindex(intervals)
        if got.isna().any():
            missing = intervals[np.flatnonzero(got.isna().to_numpy())[0]]
            raise PowerdeskError(
                f"{what} do not cover delivery day {day} (no price at {missing.isoformat()})"
            )


def _check_imbalance_coverage(
    series: KnownSeries, days: Sequence[date], zone: Zone, what: str
) -> None:
    final = series.final()
    for day in days:
        intervals = delivery_intervals(day, zone)
        dt = (intervals[1] - intervals[0]).total_seconds() / 3600.0
        try:
            imbalance_prices_on(final, series.resolution, intervals, dt)
        except PowerdeskError as exc:
            raise PowerdeskError(f"{what} do not cover delivery day {day} ({exc})") from None


def check_history(strategy: str, data: MarketData, day: date, zone: Zone, what: str) -> None:
    """A forecasting strategy needs at least one complete day published before gate closure."""
    if strategy not in NEEDS_HISTORY:
        return
    try:
        make_scenarios(data.da, day, zone, 1)
    except BiddingError as exc:
        raise PowerdeskError(
            f"{what} do not cover the history needed for delivery day {day}: {exc}"
        ) from None


def money(value: Decimal, zone: Zone) -> str:
    """A money amount as a decimal string with the currency's minor unit."""
    return str(value.quantize(zone.minor_unit, rounding=ROUND_HALF_EVEN) + Decimal(0))


def energy(value: Decimal) -> str:
    """An energy as a decimal string to the Wh [MWh]."""
    return str(value.quantize(_WH, rounding=ROUND_HALF_EVEN) + Decimal(0))


def days_csv(run: StrategyRun, zone: Zone) -> bytes:
    """``days.csv``: one row per day, money with the minor unit, energy to the Wh."""
    lines = [",".join(DAY_COLUMNS)]
    for o in run.outcomes:
        cells = [o.day.isoformat()]
        cells += [money(getattr(o, name), zone) for name in MONEY_FIELDS]
        cells.append(energy(o.grid_energy_mwh))
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()


def code_version() -> str:
    """powerdesk package version and bidding model version."""
    try:
        version = importlib.metadata.version("powerdesk")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"powerdesk {version}; {MODEL_VERSION}"


def build_summary(
    *,
    strategy: str,
    run: StrategyRun,
    perfect: StrategyRun | None,
    zone: Zone,
    site: Site,
    start: date,
    end: date,
    config: BacktestConfig,
    inputs: Mapping[str, Mapping[str, str]],
    deviations_at: str,
) -> dict[str, Any]:
    """The ``summary.json`` document (no timestamps, no paths: same inputs give same bytes)."""
    summary: dict[str, Any] = {
        "strategy": strategy,
        "strategy_description": get_strategy(strategy).description,
        "days": len(run.outcomes),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "end_exclusive": True,
        "zone": zone.key,
        "currency": zone.currency,
        "site": site.name,
        "seed": config.seed,
        "scenarios": config.n_scenarios if strategy == "forecast" else 1,
        "deviations_settled_at": deviations_at,
        "inputs": {k: dict(v) for k, v in sorted(inputs.items())},
        "code_version": code_version(),
        "solver": f"{config.solver} ({solver_version(config.solver)})",
    }
    for name in MONEY_FIELDS:
        summary[name] = money(run.total(name), zone)
    summary["grid_energy_mwh"] = energy(run.total("grid_energy_mwh"))
    if perfect is not None:
        pf_total = perfect.total("total_cost")
        summary["perfect_foresight_total_cost"] = money(pf_total, zone)
        summary["regret_vs_perfect_foresight"] = money(run.total("total_cost") - pf_total, zone)
    else:
        summary["perfect_foresight_total_cost"] = None
        summary["regret_vs_perfect_foresight"] = None
    return summary


def plot_png(run: StrategyRun, perfect: StrategyRun | None, zone: Zone, site: str) -> bytes:
    """Cumulative total cost per day of the strategy (and perfect foresight) as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    compare = perfect is not None and perfect is not run
    fig = Figure(figsize=(8, 6.5 if compare else 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(2 if compare else 1, 1, 1)
    x = np.array([np.datetime64(o.day.isoformat()) for o in run.outcomes])
    series = [(run.strategy, run)]
    if perfect is not None and compare:
        series.append((PERFECT_FORESIGHT, perfect))
    for label, r in series:
        y = np.cumsum([float(o.total_cost) for o in r.outcomes])
        ax.plot(x, y, marker="o", markersize=3, label=label)
    ax.set_title(f"{site}: cumulative total cost")
    ax.set_ylabel(f"cost [{zone.currency}]")
    ax.grid(True, alpha=0.3)
    ax.legend()
    if perfect is not None and compare:
        gap = fig.add_subplot(2, 1, 2, sharex=ax)
        pairs = zip(run.outcomes, perfect.outcomes, strict=True)
        regret = np.cumsum([float(a.total_cost - b.total_cost) for a, b in pairs])
        gap.plot(x, regret, marker="o", markersize=3, color="tab:red")
        gap.set_ylabel(f"cumulative regret [{zone.currency}]")
        gap.grid(True, alpha=0.3)
    (fig.axes[-1]).set_xlabel(f"delivery day ({zone.tz})")
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def write_outputs(files: Mapping[str, bytes], out_dir: Path) -> None:
    """Write ``files`` into ``out_dir`` atomically: a temp directory renamed into place.

    An existing ``out_dir`` is replaced only when it is empty or holds a previous backtest
    (``summary.json``); a failed run leaves nothing behind.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise PowerdeskError(f"{out_dir}: exists and is not a directory")
        if any(out_dir.iterdir()) and not (out_dir / "summary.json").is_file():
            raise PowerdeskError(f"{out_dir}: not empty and not a backtest output directory")
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{out_dir.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    old = parent / f".{out_dir.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        for name, content in sorted(files.items()):
            with open(tmp / name, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
        if out_dir.exists():
            out_dir.rename(old)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out_dir.exists():
            old.rename(out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _as_date(value: date | str, what: str) -> date:
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    text = str(value)
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise PowerdeskError(
            f"{what} {text!r} is not a delivery day YYYY-MM-DD (a local day of the zone)"
        ) from None


@dataclass(frozen=True)
class LoadedInputs:
    """What a backtest reads before deciding anything: site, zone, prices, days, provenance."""

    site: Site
    zone: Zone
    data: MarketData
    days: tuple[date, ...]
    start: date
    end: date
    inputs: dict[str, dict[str, str]]


def load_inputs(
    site: str | Path,
    prices: str | Path,
    start: date | str,
    end: date | str,
    strategies: Sequence[str],
    imbalance_prices: str | Path | None = None,
    reserve_prices: str | Path | None = None,
) -> LoadedInputs:
    """Read and check the inputs of a backtest of ``strategies`` over ``[start, end)``.

    Raises
    ------
    PowerdeskError
        One line: ``end <= start``, a bad input file, prices not covering a day or the history
        a forecasting strategy needs.
    """
    from engine.io.canonical import read_price_csv, read_reserve_price_csv
    from engine.io.site_file import load_site

    first = _as_date(start, "start")
    stop = _as_date(end, "end")
    if stop <= first:
        raise PowerdeskError(f"end {stop} must be after start {first} (end is exclusive)")
    site_path, prices_path = Path(site), Path(prices)
    the_site = load_site(site_path)
    zone = get_zone(the_site.zone)
    inputs: dict[str, dict[str, str]] = {
        "site": {"file": site_path.name, "sha256": _sha256(site_path)},
    }
    da = read_price_csv(prices_path, zone)
    inputs["prices"] = {"file": prices_path.name, "sha256": _sha256(prices_path)}
    imbalance = None
    if imbalance_prices is not None:
        imb_path = Path(imbalance_prices)
        imbalance = read_price_csv(imb_path, zone, series="IMBALANCE")
        inputs["imbalance_prices"] = {"file": imb_path.name, "sha256": _sha256(imb_path)}
    reserves: dict[str, KnownSeries] = {}
    if reserve_prices is not None:
        res_path = Path(reserve_prices)
        reserves = read_reserve_price_csv(res_path, zone)
        inputs["reserve_prices"] = {"file": res_path.name, "sha256": _sha256(res_path)}
    data = MarketData(da, imbalance, reserves)
    days = delivery_days(first, stop)
    _check_coverage(da.final(), days, zone, f"DA prices {prices_path}")
    if imbalance is not None:
        _check_imbalance_coverage(imbalance, days, zone, f"imbalance prices {imbalance_prices}")
    for name in strategies:
        check_history(name, data, first, zone, f"DA prices {prices_path}")
    return LoadedInputs(the_site, zone, data, days, first, stop, inputs)


def run_backtest(
    site: str | Path,
    prices: str | Path,
    start: date | str,
    end: date | str,
    strategy: str = DEFAULT_STRATEGY,
    *,
    imbalance_prices: str | Path | None = None,
    reserve_prices: str | Path | None = None,
    n_scenarios: int = 5,
    seed: int = 0,
    executor: str = "local",
    regret: bool = True,
    out: str | Path | None = None,
    progress: bool | None = None,
    solver: str = "HIGHS",
) -> BacktestResult:
    """Backtest ``strategy`` for ``site`` over local delivery days ``[start, end)``.

    Parameters
    ----------
    site
        Site file (TOML).
    prices
        Canonical DA price file of the site's zone [currency/MWh].
    start, end
        First and (exclusive) last local delivery day.
    strategy
        A key of :data:`STRATEGIES`.
    imbalance_prices
        Canonical imbalance price file; without it deviations settle at the DA price.
    reserve_prices
        Canonical reserve price file (capacity clearing prices per product and block).
    n_scenarios
        Scenarios of the ``forecast`` strategy.
    seed
        Scenario seed.
    executor
        ``local`` (2 processes), ``local:N``, ``inline`` or ``dask://HOST:PORT``.
    regret
        Also run perfect foresight and report ``regret_vs_perfect_foresight``.
    out
        Output directory (``summary.json``, ``days.csv``, ``cumulative_cost.png``,
        ``days_perfect_foresight.csv``, ``run.json``), written atomically; ``None`` writes
        nothing.
    progress
        Progress bar on stderr (``None``: only when stdout is a terminal).
    solver
        Solver of the day problems.

    Raises
    ------
    PowerdeskError
        One line: unknown strategy or executor, ``end <= start``, a bad input file, prices not
        covering a day or the history a forecast needs, a day the site cannot be run.
    """
    t0 = time.perf_counter()
    get_strategy(strategy)
    spec = parse_executor(executor)
    if n_scenarios < 1:
        raise PowerdeskError(f"scenarios must be at least 1, got {n_scenarios}")
    loaded = load_inputs(site, prices, start, end, [strategy], imbalance_prices, reserve_prices)
    the_site, zone, data, days = loaded.site, loaded.zone, loaded.data, loaded.days
    first, stop, inputs, imbalance = loaded.start, loaded.end, loaded.inputs, data.imbalance

    config = BacktestConfig(n_scenarios=n_scenarios, seed=seed, solver=solver)
    strategies = [strategy]
    if regret and strategy != PERFECT_FORESIGHT:
        strategies.append(PERFECT_FORESIGHT)
    runs = backtest_days(strategies, the_site, zone, days, data, config, spec, progress)
    run = runs[strategy]
    perfect = runs.get(PERFECT_FORESIGHT) if regret else None
    summary = build_summary(
        strategy=strategy,
        run=run,
        perfect=perfect,
        zone=zone,
        site=the_site,
        start=first,
        end=stop,
        config=config,
        inputs=inputs,
        deviations_at="imbalance price" if imbalance is not None else "day-ahead price",
    )
    files = {
        "summary.json": (json.dumps(summary, sort_keys=True, indent=2) + "\n").encode(),
        "days.csv": days_csv(run, zone),
        "cumulative_cost.png": plot_png(run, perfect, zone, the_site.name),
    }
    if perfect is not None and perfect is not run:
        files["days_perfect_foresight.csv"] = days_csv(perfect, zone)
    elapsed = time.perf_counter() - t0
    out_dir = None
    if out is not None:
        out_dir = Path(out)
        run_info = {
            "elapsed_s": round(elapsed, 3),
            "executor": str(spec),
            "days_per_s": round(len(days) * len(strategies) / elapsed, 3) if elapsed else None,
            "strategies_run": strategies,
        }
        write_outputs(
            {**files, "run.json": (json.dumps(run_info, sort_keys=True, indent=2) + "\n").encode()},
            out_dir,
        )
    return BacktestResult(summary, run, perfect, files, out_dir, elapsed, str(spec))


def format_summary(summary: Mapping[str, Any]) -> str:
    """The summary as aligned ``key  value`` lines for the terminal."""
    keys = [
        "strategy",
        "site",
        "zone",
        "start",
        "end",
        "days",
        "energy_cost",
        "imbalance_cost",
        "degradation_cost",
        "reserve_revenue",
        "total_cost",
        "grid_energy_mwh",
        "perfect_foresight_total_cost",
        "regret_vs_perfect_foresight",
    ]
    cur = summary.get("currency", "")
    lines = []
    for k in keys:
        v = summary.get(k)
        if v is None:
            continue
        suffix = f" {cur}" if k in MONEY_FIELDS or k.startswith(("regret", "perfect")) else ""
        lines.append(f"{k:<30} {v}{suffix}")
    return "\n".join(lines)
