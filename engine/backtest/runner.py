"""Backtests: bid every delivery day with a strategy, clear against history, settle exactly.

Per delivery day ``D`` (a local day of the site's zone):

1. **Decide** with :func:`engine.strategies.registry.decide`, the function the API, the scheduler
   and ``powerdesk bid`` call: the market data cut at gate closure of ``D`` (only perfect
   foresight sees ``D``'s own final prices), the same scenarios, reserve price forecast and solve
   options. The plan becomes the stored bid documents
   (:func:`engine.bids.documents.plan_documents`).
2. **Clear and settle** those documents with :func:`market.clearing.settle_submitted_day`, the
   rule live settlement uses: DA curves cleared at the historical price, reserve offers awarded at
   or below the clearing price and paid it, deviations at the imbalance price (finer imbalance
   intervals averaged over each DA interval; without imbalance prices, at the DA price).
3. **Consume**: the site runs the planned schedule of the scenario nearest to the realised prices
   (least squares over the day; ties: the first scenario); that consumption is the day's meter,
   rounded once to the Wh. The plan is feasible in every scenario, so jobs, battery limits and
   reserve headroom hold. With activation data (``--activations``) the site also delivers what
   was called on its awards (:func:`market.clearing.called_energy_mwh`, the rule settlement
   counts), and the calls are settled with the site's performance factor.
4. **Real-time stage** (``StrategyConfig.rt_stage``, not for the two benchmarks): the same day is
   settled a second time with the schedule of
   :func:`engine.strategies.realtime.realtime_replan` consumed instead (same bids, so the same
   energy cost and reserve revenue; the deviation at the imbalance price), kept as
   ``DayOutcome.realtime`` beside the DA-only figures (docs/realtime.md).

Degradation cost = ``degradation_cost_per_mwh`` x battery throughput of the consumed schedule.
``total_cost = energy_cost + imbalance_cost + degradation_cost - reserve_revenue``. PPA energy
is not bought in the market and PPA money is not part of the total.

With deviations settled at the DA price the total cost of a day is the consumed schedule priced at
the actual DA prices, which perfect foresight minimises: on an energy-only site no strategy costs
less (up to rounding). Solves are cold, so a day's result never depends on which days the same
worker solved before: any split of days over workers and any executor give the same bytes.
"""

from __future__ import annotations

import importlib.metadata
import io
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bidding import MODEL_VERSION, BiddingError, DayPlan, ModelCache, Site, make_scenarios
from bidding.realtime import Replan
from bidding.solve import solver_version
from engine.backtest.executors import ExecutorSpec, parse_executor, progress_bar, run_tasks
from engine.bids.documents import decision_sha256, plan_documents, submitted_day
from engine.core.errors import PowerdeskError
from engine.core.files import replace_dir_atomic
from engine.core.jsonio import pretty_json
from engine.marketdata.view import Actuals, MarketData, file_sha256, from_files
from engine.strategies.names import (
    DEFAULT_SCENARIOS,
    DEFAULT_STRATEGY,
    StrategyName,
)
from engine.strategies.realtime import (
    check_realtime,
    nearest_scenario,
    realtime_replan,
    with_realtime,
)
from engine.strategies.registry import (
    StrategyConfig,
    decide,
    error_record,
    get_strategy,
    price_model,
    thread_cache,
)
from forecast.day import ErrorRecord
from market import MarketError, Zone, delivery_intervals, gate_closure_utc, get_zone
from market.clearing import (
    called_energy_mwh,
    energy_to_wh,
    imbalance_prices_on,
    price_decimal,
    settle_submitted_day,
)

FloatArray = npt.NDArray[np.float64]

PERFECT_FORESIGHT = StrategyName.PERFECT_FORESIGHT.value
PRICE_TAKER = StrategyName.PRICE_TAKER.value

MONEY_FIELDS = (
    "energy_cost",
    "reserve_revenue",
    "imbalance_cost",
    "degradation_cost",
    "total_cost",
)
DAY_COLUMNS = ("day", *MONEY_FIELDS, "grid_energy_mwh")
# The real-time stage changes what is consumed, not what cleared: energy cost and reserve revenue
# are the DA-only figures (same bids, same prices), so only these columns follow them.
RT_MONEY_FIELDS = ("imbalance_cost", "degradation_cost", "total_cost")
RT_DAY_COLUMNS = (
    *(f"rt_{name}" for name in RT_MONEY_FIELDS),
    "rt_grid_energy_mwh",
    "rt_replanned_mwh",
)
_WH = Decimal("0.000001")  # energies are kept to the Wh [MWh]


def delivery_days(start: date, end: date) -> tuple[date, ...]:
    """Local delivery days ``start <= d < end``."""
    return tuple(start + timedelta(days=k) for k in range((end - start).days))


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
    replanned_mwh
        Energy the real-time stage moved away from the DA-stage schedule, both directions, as
        metered [MWh] (0 without the stage).
    realtime
        The same day with the real-time stage (``None`` without it): same bids, the re-planned
        schedule consumed.
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
    replanned_mwh: Decimal = Decimal(0)
    realtime: DayOutcome | None = None


def _mwh(x: float) -> Decimal:
    """A float energy rounded once to the Wh [MWh]."""
    return energy_to_wh(Decimal(repr(float(x))))


def consumed_mwh(plan: DayPlan, scenario: int) -> list[Decimal]:
    """Grid purchase of the plan's ``scenario`` per interval, as a meter would read it [MWh]."""
    dt = plan.interval_hours
    return [_mwh(float(m) * dt) for m in plan.market_mw[scenario]]


def settle_plan(
    plan: DayPlan,
    site: Site,
    zone: Zone,
    actuals: Actuals,
    replan: Replan | None = None,
) -> DayOutcome:
    """Clear ``plan``'s stored bid documents against history, let the site consume, settle.

    Without ``replan`` the site consumes the plan's scenario nearest to the realised DA prices;
    with it, the re-planned schedule of the real-time stage (the bids are ``plan``'s either way).

    Raises
    ------
    PowerdeskError
        When a DA price of the day is missing.
    """
    day = plan.day
    dt = plan.interval_hours
    got = actuals.da.reindex(plan.intervals)
    if got.isna().any():
        missing = plan.intervals[np.flatnonzero(got.isna().to_numpy())[0]]
        raise PowerdeskError(f"no DA price for delivery day {day} at {missing.isoformat()}")
    s = nearest_scenario(plan, got.to_numpy(dtype=np.float64))
    docs = plan_documents(plan)
    bids = submitted_day(docs["curves"], docs["reserve_bids"])
    metered = consumed_mwh(plan, s)
    replanned = Decimal(0)
    run, k = plan, s
    if replan is not None:
        run, k = replan.plan, 0
        moved = consumed_mwh(run, k)
        replanned = sum((abs(a - b) for a, b in zip(moved, metered, strict=True)), Decimal(0))
        metered = moved
    try:
        if actuals.activations is not None:
            called = called_energy_mwh(zone, day, bids, actuals.reserves, actuals.activations)
            metered = [m + c for m, c in zip(metered, called, strict=True)]
        settlement = settle_submitted_day(
            zone,
            day,
            bids,
            da_prices=actuals.da,
            metered_mwh=metered,
            imbalance_prices=actuals.imbalance,
            imbalance_resolution=actuals.imbalance_resolution,
            reserve_clearing=actuals.reserves,
            activations=actuals.activations,
            performance_factor=price_decimal(site.reserve_performance_factor),
        )
    except MarketError as exc:
        raise PowerdeskError(f"delivery day {day}: {exc}") from None
    degradation = Decimal(0)
    if site.battery is not None:
        throughput = sum(
            (
                _mwh(float(c + d) * dt)
                for c, d in zip(run.charge_mw[k], run.discharge_mw[k], strict=True)
            ),
            Decimal(0),
        )
        degradation = (price_decimal(site.battery.degradation_cost_per_mwh) * throughput).quantize(
            zone.minor_unit, rounding=ROUND_HALF_EVEN
        ) + Decimal(0)
    energy_cost = settlement.totals["energy_cost"]
    imbalance_cost = settlement.totals["imbalance_cost"]
    reserve = settlement.totals["reserve_revenue"] + Decimal(0)
    cleared = sum(
        (ln.quantity for ln in settlement.lines if ln.category.value == "da_energy"), Decimal(0)
    )
    grid = sum((_mwh(float(g) * dt) for g in run.grid_mw[k]), Decimal(0))
    return DayOutcome(
        day=day,
        energy_cost=energy_cost + Decimal(0),
        reserve_revenue=reserve,
        imbalance_cost=imbalance_cost + Decimal(0),
        degradation_cost=degradation,
        total_cost=energy_cost + imbalance_cost + degradation - reserve + Decimal(0),
        grid_energy_mwh=grid,
        cleared_energy_mwh=cleared + Decimal(0),
        consumed_scenario=s,
        decision_sha256=decision_sha256(docs),
        replanned_mwh=replanned + Decimal(0),
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
    config: StrategyConfig


def decide_day(
    strategy: str,
    site: Site,
    zone: Zone,
    day: date,
    data: MarketData,
    config: StrategyConfig,
    cache: ModelCache | None = None,
    record: ErrorRecord | None = None,
) -> DayPlan:
    """The plan of ``strategy`` for ``day``, decided at gate closure like a live bid.

    ``record`` keeps the price model's forecasts of earlier days (:func:`error_record`): the
    same plan, one model fit per day.

    Raises
    ------
    PowerdeskError
        Naming the strategy and day when the bidding library refuses (no history, infeasible).
    """
    try:
        return decide(
            strategy, site, zone, day, data, config, cache=cache or thread_cache(), record=record
        )
    except (BiddingError, MarketError) as exc:
        raise PowerdeskError(f"{strategy}, delivery day {day}: {exc}") from None


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """The outcomes of one :class:`ChunkTask`."""

    strategy: str
    outcomes: tuple[DayOutcome, ...]


def run_chunk(task: ChunkTask) -> ChunkResult:
    """Decide, clear and settle every day of ``task`` (runs in a worker).

    Days go in order with one record of the price model's forecasts (:func:`error_record`): a
    day's scenarios use the errors of earlier days' forecasts, each made as of its own gate
    closure, so a chunk's first day forecasts its past days once and every later day adds one.
    """
    zone = get_zone(task.zone)
    actuals = task.data.actuals()
    cache = thread_cache()
    record = error_record(task.config, zone)
    out = []
    realtime = runs_realtime(task.strategy, task.config)
    for day in task.days:
        plan = decide_day(
            task.strategy, task.site, zone, day, task.data, task.config, cache, record
        )
        outcome = settle_plan(plan, task.site, zone, actuals)
        if realtime:
            replan = realtime_replan(task.site, zone, day, plan, task.data, task.config)
            rt = settle_plan(plan, task.site, zone, actuals, replan)
            outcome = replace(outcome, realtime=rt)
        out.append(outcome)
    return ChunkResult(task.strategy, tuple(out))


def runs_realtime(strategy: str, config: StrategyConfig) -> bool:
    """Whether ``strategy`` runs the real-time stage of ``config`` (the benchmarks never do:
    regret and capture are measured against perfect foresight of the DA prices and the price
    taker, as they are)."""
    return config.rt_stage and strategy not in (PERFECT_FORESIGHT, PRICE_TAKER)


def benchmark_strategies(strategy: str) -> list[str]:
    """The benchmarks that run beside ``strategy`` for its regret and capture (a benchmark
    strategy is its own)."""
    return [s for s in (PERFECT_FORESIGHT, PRICE_TAKER) if s != strategy]


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

    def realtime(self) -> StrategyRun | None:
        """The same days with the real-time stage (``None`` when it did not run)."""
        rt = [o.realtime for o in self.outcomes]
        if not rt or any(o is None for o in rt):
            return None
        return StrategyRun(self.strategy, tuple(o for o in rt if o is not None))


def backtest_days(
    strategies: Sequence[str],
    site: Site,
    zone: Zone,
    days: Sequence[date],
    data: MarketData,
    config: StrategyConfig,
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
    settings: Sequence[tuple[str, StrategyConfig]],
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


def check_market_data(
    data: MarketData,
    days: Sequence[date],
    zone: Zone,
    strategies: Sequence[str],
    da_label: str,
    imbalance_label: str = "imbalance prices",
) -> None:
    """Refuse, in one line, market data that cannot settle every day or feed the strategies.

    Every interval of every day needs a final DA price and, when imbalance prices are given, an
    imbalance price; a forecasting strategy needs at least one complete day published before
    gate closure of the first day.
    """
    da = data.da.final()
    imbalance = data.imbalance.final() if data.imbalance is not None else None
    for day in days:
        intervals = delivery_intervals(day, zone)
        got = da.reindex(intervals)
        if got.isna().any():
            missing = intervals[int(np.flatnonzero(got.isna().to_numpy())[0])]
            raise PowerdeskError(
                f"{da_label} do not cover delivery day {day} (no price at {missing.isoformat()})"
            )
        if imbalance is not None and data.imbalance is not None:
            step = zone.resolution_on(day)
            prices = imbalance_prices_on(imbalance, data.imbalance.resolution, intervals, step)
            if None in prices:
                missing = intervals[prices.index(None)]
                raise PowerdeskError(
                    f"{imbalance_label} do not cover delivery day {day} "
                    f"(no imbalance price at {missing.isoformat()})"
                )
    for name, series in sorted(data.features.items()):
        for day in days:
            known = series.as_of(gate_closure_utc(day, zone))
            intervals = delivery_intervals(day, zone)
            have = set(known.index)
            absent = [t for t in intervals if t not in have]
            if absent:
                raise PowerdeskError(
                    f"feature {name} is not known before gate closure of delivery day {day} "
                    f"(no value for {absent[0].isoformat()})"
                )
    if not days:
        return
    for name in strategies:
        if get_strategy(name).needs_history:
            first = days[0]
            try:
                make_scenarios(data.da.known_before(gate_closure_utc(first, zone)), first, zone, 1)
            except BiddingError as exc:
                raise PowerdeskError(
                    f"{da_label} do not cover the history needed for delivery day {first}: {exc}"
                ) from None


def money(value: Decimal, zone: Zone) -> str:
    """A money amount as a decimal string with the currency's minor unit."""
    return str(value.quantize(zone.minor_unit, rounding=ROUND_HALF_EVEN) + Decimal(0))


def energy(value: Decimal) -> str:
    """An energy as a decimal string to the Wh [MWh]."""
    return str(value.quantize(_WH, rounding=ROUND_HALF_EVEN) + Decimal(0))


def days_csv(run: StrategyRun, zone: Zone) -> bytes:
    """``days.csv``: one row per day, money with the minor unit, energy to the Wh.

    With the real-time stage, the DA-only columns are followed by ``rt_`` columns: the same day
    with the re-planned schedule consumed (:data:`RT_DAY_COLUMNS`).
    """
    with_rt = run.realtime() is not None
    lines = [",".join(DAY_COLUMNS + (RT_DAY_COLUMNS if with_rt else ()))]
    for o in run.outcomes:
        cells = [o.day.isoformat()]
        cells += [money(getattr(o, name), zone) for name in MONEY_FIELDS]
        cells.append(energy(o.grid_energy_mwh))
        if with_rt and o.realtime is not None:
            cells += [money(getattr(o.realtime, name), zone) for name in RT_MONEY_FIELDS]
            cells += [energy(o.realtime.grid_energy_mwh), energy(o.realtime.replanned_mwh)]
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
    config: StrategyConfig,
    inputs: Mapping[str, Mapping[str, str]],
    deviations_at: str,
    price_taker: StrategyRun | None = None,
) -> dict[str, Any]:
    """The ``summary.json`` document (no timestamps, no paths: same inputs give same bytes).

    With perfect foresight and the price taker run over the same days, ``capture`` is the share
    of the value of flexibility the strategy earns (:func:`capture`).
    """
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
        "price_model": config.model,
        "deviations_settled_at": deviations_at,
        "inputs": {k: dict(v) for k, v in sorted(inputs.items())},
        "code_version": code_version(),
        "solver": f"{config.solver} ({solver_version(config.solver)})",
    }
    for name in MONEY_FIELDS:
        summary[name] = money(run.total(name), zone)
    summary["grid_energy_mwh"] = energy(run.total("grid_energy_mwh"))
    summary.update(
        benchmark_fields(
            run.total("total_cost"),
            None if perfect is None else perfect.total("total_cost"),
            None if price_taker is None else price_taker.total("total_cost"),
            zone,
        )
    )
    summary["realtime_stage"] = realtime_summary(run, perfect, price_taker, zone, config)
    return summary


def realtime_summary(
    run: StrategyRun,
    perfect: StrategyRun | None,
    price_taker: StrategyRun | None,
    zone: Zone,
    config: StrategyConfig,
) -> dict[str, Any] | None:
    """The DA+RT figures beside the DA-only ones (``None`` without the real-time stage).

    Regret and capture are measured against the same benchmarks as the DA-only figures:
    perfect foresight of the day's DA and reserve prices, and the price taker (neither runs
    the stage).
    """
    rt = run.realtime()
    if rt is None:
        return None
    total = rt.total("total_cost")
    out: dict[str, Any] = realtime_settings_fields(config)
    out["benchmarks"] = "perfect foresight and price taker run without the stage"
    for name in MONEY_FIELDS:
        out[name] = money(rt.total(name), zone)
    out["grid_energy_mwh"] = energy(rt.total("grid_energy_mwh"))
    out["replanned_mwh"] = energy(rt.total("replanned_mwh"))
    out["days_replanned"] = sum(1 for o in rt.outcomes if o.replanned_mwh > 0)
    out["gain_vs_da_only"] = money(run.total("total_cost") - total, zone)
    out["regret_vs_perfect_foresight"] = None
    out["capture"] = None
    if perfect is not None:
        out["regret_vs_perfect_foresight"] = money(total - perfect.total("total_cost"), zone)
        if price_taker is not None:
            share = capture(total, price_taker.total("total_cost"), perfect.total("total_cost"))
            out["capture"] = None if share is None else str(share)
    return out


def realtime_settings_fields(config: StrategyConfig) -> dict[str, Any]:
    """The real-time stage's settings as ``summary.json`` states them (a site's backtest and a
    portfolio's)."""
    every = config.rt_every_minutes
    return {
        "rt_forecast": config.rt_forecast,
        "rt_lookback_days": config.rt_lookback_days,
        "rt_every_minutes": every,
        "threshold_per_mwh": repr(float(config.rt_threshold_per_mwh)),
        "replan_time": "DA publication of the day + 15 min"
        + (f", then every {every} min while the day runs" if every else ""),
    }


def benchmark_fields(
    total: Decimal, perfect: Decimal | None, price_taker: Decimal | None, zone: Zone
) -> dict[str, Any]:
    """A run's total cost against the two benchmarks run over the same days, as ``summary.json``
    states it (a site's backtest and a portfolio's): regret against perfect foresight, the value
    of flexibility (price taker minus perfect foresight) and :func:`capture`; ``None`` where a
    benchmark did not run."""
    out: dict[str, Any] = {
        "perfect_foresight_total_cost": None,
        "regret_vs_perfect_foresight": None,
        "price_taker_total_cost": None,
        "value_of_flexibility": None,
        "capture": None,
    }
    if perfect is None:
        return out
    out["perfect_foresight_total_cost"] = money(perfect, zone)
    out["regret_vs_perfect_foresight"] = money(total - perfect, zone)
    if price_taker is not None:
        out["price_taker_total_cost"] = money(price_taker, zone)
        out["value_of_flexibility"] = money(price_taker - perfect, zone)
        share = capture(total, price_taker, perfect)
        out["capture"] = None if share is None else str(share)
    return out


def capture(total: Decimal, price_taker: Decimal, perfect: Decimal) -> Decimal | None:
    """The share of the value of flexibility a strategy captures [-], to 4 decimals.

    ``(price_taker - total) / (price_taker - perfect)``: 1 is perfect foresight, 0 the price
    taker's flat schedule; ``None`` when flexibility is worth nothing over the period.
    """
    value = price_taker - perfect
    if value <= 0:
        return None
    return ((price_taker - total) / value).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)


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
    rt = run.realtime()
    if rt is not None:
        series.insert(1, (f"{run.strategy} + real-time stage", rt))
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
    """Write ``files`` into ``out_dir`` atomically (:func:`engine.core.files.replace_dir_atomic`).

    An existing ``out_dir`` is replaced only when it is empty or holds a previous backtest
    (``summary.json``); a failed run leaves nothing behind.
    """
    replace_dir_atomic(
        files,
        Path(out_dir),
        may_replace=lambda d: not any(d.iterdir()) or (d / "summary.json").is_file(),
        what="a backtest output directory",
    )


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
    features: Sequence[str | Path] = (),
    activations: str | Path | None = None,
) -> LoadedInputs:
    """Read and check the inputs of a backtest of ``strategies`` over ``[start, end)``.

    Raises
    ------
    PowerdeskError
        One line: ``end <= start``, a bad input file, prices not covering a day or the history
        a forecasting strategy needs.
    """
    from engine.io.site_file import load_site

    first = _as_date(start, "start")
    stop = _as_date(end, "end")
    if stop <= first:
        raise PowerdeskError(f"end {stop} must be after start {first} (end is exclusive)")
    site_path, prices_path = Path(site), Path(prices)
    the_site = load_site(site_path)
    zone = get_zone(the_site.zone)
    inputs: dict[str, dict[str, str]] = {
        "site": {"file": site_path.name, "sha256": file_sha256(site_path)},
    }
    data, file_inputs = from_files(
        zone,
        prices_path,
        None if imbalance_prices is None else Path(imbalance_prices),
        None if reserve_prices is None else Path(reserve_prices),
        [Path(f) for f in features],
        None if activations is None else Path(activations),
    )
    inputs.update(file_inputs)
    days = delivery_days(first, stop)
    check_market_data(
        data,
        days,
        zone,
        strategies,
        f"DA prices {prices_path}",
        f"imbalance prices {imbalance_prices}",
    )
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
    features: Sequence[str | Path] = (),
    activations: str | Path | None = None,
    n_scenarios: int = DEFAULT_SCENARIOS,
    seed: int = 0,
    executor: str = "local",
    regret: bool = True,
    out: str | Path | None = None,
    progress: bool | None = None,
    solver: str = "HIGHS",
    model: str | None = None,
    realtime: StrategyConfig | None = None,
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
    features
        Canonical feature files (exogenous day-ahead inputs with knowledge times).
    activations
        Canonical activation file (calls on the site, :mod:`engine.io.activations`): estimates
        the expected activation of the bids and is settled (mileage x K, MWh called).
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
    model
        Price model of ``forecast`` and ``deterministic`` (``None``: the zone's default,
        :func:`~engine.strategies.registry.price_model`).
    realtime
        A configuration whose real-time settings (``rt_stage`` and the ``rt_`` fields) are
        used; ``None``: no real-time stage.

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
    loaded = load_inputs(
        site,
        prices,
        start,
        end,
        [strategy],
        imbalance_prices,
        reserve_prices,
        features,
        activations,
    )
    the_site, zone, data, days = loaded.site, loaded.zone, loaded.data, loaded.days
    stop, inputs = loaded.end, loaded.inputs

    config = with_realtime(
        StrategyConfig(
            n_scenarios=n_scenarios,
            seed=seed,
            solver=solver,
            model=price_model(zone, data, model),
        ),
        realtime,
    )
    outcome = run_strategies(
        strategy,
        the_site,
        zone,
        days,
        data,
        config,
        inputs=inputs,
        end=stop,
        regret=regret,
        executor=spec,
        progress=progress,
    )
    summary, run, perfect = outcome.summary, outcome.run, outcome.perfect
    strategies = outcome.strategies_run
    files = {
        "summary.json": pretty_json(summary),
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
            {**files, "run.json": pretty_json(run_info)},
            out_dir,
        )
    return BacktestResult(summary, run, perfect, files, out_dir, elapsed, str(spec))


@dataclass(frozen=True, slots=True)
class StrategiesOutcome:
    """What :func:`run_strategies` produced: the summary document and the runs behind it."""

    summary: dict[str, Any]
    run: StrategyRun
    perfect: StrategyRun | None
    strategies_run: list[str]


def run_strategies(
    strategy: str,
    site: Site,
    zone: Zone,
    days: Sequence[date],
    data: MarketData,
    config: StrategyConfig,
    *,
    inputs: Mapping[str, Mapping[str, str]],
    end: date,
    regret: bool = True,
    executor: ExecutorSpec | str = "inline",
    progress: bool | None = False,
) -> StrategiesOutcome:
    """The backtest's orchestration, shared by ``powerdesk backtest`` and the API's backtests:
    ``strategy`` over ``days`` and, with ``regret``, perfect foresight and the price taker as
    benchmarks, summarised (regret, capture)."""
    check_realtime(config, data)
    strategies = [strategy]
    if regret:
        strategies += benchmark_strategies(strategy)
    runs = backtest_days(strategies, site, zone, days, data, config, executor, progress)
    run = runs[strategy]
    perfect = runs.get(PERFECT_FORESIGHT) if regret else None
    summary = build_summary(
        strategy=strategy,
        run=run,
        perfect=perfect,
        zone=zone,
        site=site,
        start=days[0],
        end=end,
        config=config,
        inputs=inputs,
        deviations_at="imbalance price" if data.imbalance is not None else "day-ahead price",
        price_taker=runs.get(PRICE_TAKER) if regret else None,
    )
    return StrategiesOutcome(summary, run, perfect, strategies)


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
        "price_taker_total_cost",
        "capture",
    ]
    cur = summary.get("currency", "")
    lines = []
    rt = summary.get("realtime_stage") or {}
    rows = [(k, summary.get(k)) for k in keys]
    rows += [
        (f"rt_{k}", rt.get(k))
        for k in ("total_cost", "gain_vs_da_only", "replanned_mwh", "capture")
    ]
    for k, v in rows:
        if v is None:
            continue
        bare = k.removeprefix("rt_")
        money_key = bare in MONEY_FIELDS or bare.startswith(
            ("regret", "perfect", "price_taker", "gain")
        )
        suffix = f" {cur}" if money_key else ""
        lines.append(f"{k:<30} {v}{suffix}")
    return "\n".join(lines)
