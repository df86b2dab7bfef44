"""One site, one delivery day: shape, parameter values, solve, bids.

:func:`solve_day` is the entry point. It builds the :class:`~bidding.model.BidShape` of the day
(a DST day has its own), takes the compiled model from a :class:`ModelCache` (one entry per
shape), sets the parameter values from the site, the scenarios and the reserve prices, solves,
and turns the solution into bids and a :class:`~bidding.plan.DayPlan`.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from bidding.errors import ConstraintBreach, InfeasibleSiteError, SiteError
from bidding.model import BidModel, BidShape, BlockJobShape, ProductShape, build_model, value_of
from bidding.plan import BlockBid, DayPlan, ObjectiveParts, Provenance, ReserveBid
from bidding.scenarios import PriceScenarios
from bidding.site import JobClass, Site
from bidding.solve import (
    DEFAULT_HIGHS_OPTIONS,
    RECOURSE_HIGHS_OPTIONS,
    SolveStats,
    solve_model,
)
from market import Direction, Payment, Zone, block_index, delivery_intervals, get_zone, hours
from market.clearing import DACurve

FloatArray = npt.NDArray[np.float64]
MODEL_VERSION = "bidding-model-1"
ACTIVATION_SUFFIX = "_ACTIVATION"  # expected activation series of a product [-]
ASK_SUFFIX = "_ASK"  # the ask of a pay-as-bid product's offers [currency/MW per block]
_TOL = 1e-6


@dataclass(frozen=True, slots=True)
class SolveOptions:
    """How to solve a day.

    Parameters
    ----------
    solver
        ``HIGHS`` (default, hot-started), ``HIGHS_CVXPY``, ``CLARABEL`` or ``ECOS``.
    highs_options
        HiGHS options (name, value) pairs; default :data:`DEFAULT_HIGHS_OPTIONS` (dual simplex)
        or, with ``job_recourse``, :data:`RECOURSE_HIGHS_OPTIONS` (interior point).
    cvar_weight
        Weight ``lambda`` of CVaR in ``(1 - lambda) E[cost] + lambda CVaR`` [-], 0 = risk neutral.
    cvar_alpha
        CVaR confidence level [-].
    penalty_per_mwh
        Price of every soft constraint (job energy, import limit, end state of charge);
        default ten times the zone's price cap [currency/MWh].
    strict
        Raise :class:`InfeasibleSiteError` when a soft constraint gives way; else report it.
    offer_reserves
        Offer the site's reserve products (False: energy only).
    integer_blocks
        Binary start of non-preemptible jobs (MILP); False relaxes them to an LP.
    warm_start
        Re-use the previous HiGHS basis of the same shape.
    job_recourse
        False (default): one flexible-job schedule shared by every scenario, fixed before prices
        are known, so job energy is met whatever the curves clear at; the curve comes from the
        battery. True: a job schedule per scenario (more expected value, 0-0.3 % on the
        fixtures, but 5-30x slower and not robust to a clearing that mixes scenarios).
    resolution
        Interval length of the day problem; default the zone's DA resolution on the day (a
        finer grid serves benchmarks and intraday studies).
    """

    def resolved_highs_options(self) -> tuple[tuple[str, Any], ...]:
        """HiGHS options in force (the measured default of the mode unless given)."""
        if self.highs_options is not None:
            return self.highs_options
        return RECOURSE_HIGHS_OPTIONS if self.job_recourse else DEFAULT_HIGHS_OPTIONS

    solver: str = "HIGHS"
    highs_options: tuple[tuple[str, Any], ...] | None = None
    cvar_weight: float = 0.0
    cvar_alpha: float = 0.95
    penalty_per_mwh: float | None = None
    strict: bool = True
    offer_reserves: bool = True
    integer_blocks: bool = True
    warm_start: bool = True
    job_recourse: bool = False
    resolution: timedelta | None = None


ShapeT = TypeVar("ShapeT", bound=Hashable)
ModelT = TypeVar("ModelT")


class ShapeCache(Generic[ShapeT, ModelT]):
    """Compiled models by shape (least recently used dropped beyond ``max_entries``).

    One cache mechanism for the single-site day model and the portfolio model: ``build`` makes
    the model of a shape on first use.
    """

    def __init__(self, build: Callable[[ShapeT], ModelT], max_entries: int) -> None:
        self.max_entries = max_entries
        self._build = build
        self._models: OrderedDict[ShapeT, ModelT] = OrderedDict()
        self._lock = threading.Lock()
        self.builds = 0

    def get(self, shape: ShapeT) -> ModelT:
        """The model of ``shape``, built on first use (thread-safe)."""
        with self._lock:
            model = self._models.get(shape)
            if model is None:
                model = self._build(shape)
                self.builds += 1
                self._models[shape] = model
                while len(self._models) > self.max_entries:
                    self._models.popitem(last=False)
            else:
                self._models.move_to_end(shape)
            return model

    def __len__(self) -> int:
        return len(self._models)

    def models(self) -> list[ModelT]:
        """Cached models, least recently used first."""
        return list(self._models.values())


class ModelCache(ShapeCache[BidShape, BidModel]):
    """Compiled single-site day models by shape."""

    def __init__(self, max_entries: int = 16) -> None:
        super().__init__(build_model, max_entries)


DEFAULT_CACHE = ModelCache()


@dataclass(frozen=True, slots=True)
class DayGrid:
    """The day's intervals and the site's per-interval data on them."""

    intervals: pd.DatetimeIndex
    interval_hours: float
    local_minutes: npt.NDArray[np.int64]
    pue: FloatArray
    ppa_mw: FloatArray


def day_grid(site: Site, zone: Zone, day: date, resolution: timedelta | None = None) -> DayGrid:
    """Intervals of ``day`` and the PUE and PPA profiles on them."""
    intervals = delivery_intervals(day, zone, resolution)
    local = intervals.tz_convert(zone.tz)
    minutes = np.asarray(local.hour * 60 + local.minute, dtype=np.int64)
    pue = np.array([site.load.pue.at(int(m)) for m in minutes])
    ppa = np.zeros(len(intervals))
    for contract in site.ppas:
        ppa += np.array([contract.power_mw.at(int(m)) for m in minutes])
    dt = hours(_step(intervals).to_pytimedelta())
    return DayGrid(intervals, dt, minutes, pue, ppa)


def _step(intervals: pd.DatetimeIndex) -> pd.Timedelta:
    """Interval length of a delivery day (every day has at least 23 intervals)."""
    return pd.Timedelta(intervals[1] - intervals[0])


def _window(job: JobClass, minutes: npt.NDArray[np.int64]) -> tuple[int, ...]:
    inside = (minutes >= job.window_start_minute) & (minutes < job.window_end_minute)
    return tuple(int(i) for i in np.flatnonzero(inside))


def _block_job(job: JobClass, grid: DayGrid) -> BlockJobShape:
    assert job.run_hours is not None
    n_run = job.run_hours / grid.interval_hours
    if abs(n_run - round(n_run)) > 1e-9:
        raise SiteError(
            f"jobs {job.name!r}: run_hours {job.run_hours:g} is not a whole number of "
            f"{grid.interval_hours:g} h intervals"
        )
    n = round(n_run)
    mask = set(_window(job, grid.local_minutes))
    starts = tuple(t for t in sorted(mask) if all(u in mask for u in range(t, t + n)))
    return BlockJobShape(job.run_power_mw, n, starts)


def _activation_window(products: list[Any], dt: float) -> int:
    hours_needed = max([p.activation_hours for p in products], default=dt)
    return max(1, math.ceil(hours_needed / dt - 1e-9))


def day_shape(
    site: Site, zone: Zone, day: date, n_scenarios: int, options: SolveOptions
) -> tuple[BidShape, DayGrid]:
    """The problem shape of ``site`` on ``day`` (the model cache key) and its interval grid."""
    if site.zone != zone.key:
        raise SiteError(f"site {site.name!r} is in zone {site.zone}, not {zone.key}")
    grid = day_grid(site, zone, day, options.resolution)
    flexible = [j for j in site.jobs if j.preemptible]
    blocks = [j for j in site.jobs if not j.preemptible]
    products = [zone.product(k) for k in site.reserve_products] if options.offer_reserves else []
    shapes = []
    for p in products:
        if p.block < _step(grid.intervals):
            raise SiteError(f"product {p.key} has blocks shorter than the DA interval")
        idx = block_index(grid.intervals, zone, p.block)
        shapes.append(
            ProductShape(
                p.key,
                p.direction in (Direction.UP, Direction.SYMMETRIC),
                p.direction in (Direction.DOWN, Direction.SYMMETRIC),
                tuple(int(i) for i in idx),
            )
        )
    ups = [p for p in products if p.direction in (Direction.UP, Direction.SYMMETRIC)]
    downs = [p for p in products if p.direction in (Direction.DOWN, Direction.SYMMETRIC)]
    shape = BidShape(
        n_intervals=len(grid.intervals),
        interval_hours=grid.interval_hours,
        n_scenarios=n_scenarios,
        job_windows=tuple(_window(j, grid.local_minutes) for j in flexible),
        job_max_power_mw=tuple(j.max_power_mw for j in flexible),
        block_jobs=tuple(_block_job(j, grid) for j in blocks),
        products=tuple(shapes),
        battery=site.battery is not None,
        export=site.load.grid_export_allowed,
        up_window=_activation_window(ups, grid.interval_hours),
        down_window=_activation_window(downs, grid.interval_hours),
        cvar=options.cvar_weight > 0,
        integer_blocks=options.integer_blocks,
        job_recourse=options.job_recourse,
        it_capacity=site.load.it_capacity_mw is not None,
    )
    return shape, grid


def _block_bounds(grid: DayGrid, prod: ProductShape) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    idx = np.asarray(prod.block_of_interval)
    step = _step(grid.intervals)
    out = []
    for b in range(prod.n_blocks):
        members = np.flatnonzero(idx == b)
        out.append((grid.intervals[members[0]], grid.intervals[members[-1]] + step))
    return out


def _block_mean(
    series: pd.Series | None, bounds: list[tuple[pd.Timestamp, pd.Timestamp]]
) -> FloatArray:
    """Per block, the mean of the series' values that start in it (NaN where none)."""
    out = np.full(len(bounds), np.nan)
    if series is None:
        return out
    for b, (start, end) in enumerate(bounds):
        part = series[(series.index >= start) & (series.index < end)]
        if len(part):
            out[b] = float(part.mean())
    return out


def activation_shares(
    zone: Zone,
    grid: DayGrid,
    prod: ProductShape,
    reserve_prices: Mapping[str, pd.Series],
) -> FloatArray:
    """Per block: the expected share of the offer that is called [-].

    The series ``<KEY>_ACTIVATION`` where given (estimated from past calls); else, and in blocks
    it does not cover, the product's ``expected_activation_share``.
    """
    product = zone.product(prod.key)
    shares = _block_mean(
        reserve_prices.get(f"{prod.key}{ACTIVATION_SUFFIX}"), _block_bounds(grid, prod)
    )
    return np.where(np.isnan(shares), product.expected_activation_share, shares)


def reserve_block_values(
    zone: Zone,
    grid: DayGrid,
    prod: ProductShape,
    reserve_prices: Mapping[str, pd.Series],
    performance_factor: float = 1.0,
) -> tuple[FloatArray, FloatArray]:
    """Per block: capacity price [currency/MW] and revenue per MW offered [currency/MW].

    Prices are per MW per product interval (block). A block without a price is not offered.
    Mileage-paid products add ``mileage_price * mileage_ratio * block_hours *
    performance_factor`` when a series ``<KEY>_MILEAGE`` is given; products paid per MWh called
    earn ``price * activation share * block_hours`` (:func:`activation_shares`).
    """
    product = zone.product(prod.key)
    bounds = _block_bounds(grid, prod)
    cap_price = _block_mean(reserve_prices.get(prod.key), bounds)
    mileage = np.nan_to_num(_block_mean(reserve_prices.get(f"{prod.key}_MILEAGE"), bounds))
    block_h = np.array([(e - s).total_seconds() / 3600.0 for s, e in bounds])
    value = np.nan_to_num(cap_price, nan=0.0)
    if product.payment is Payment.CAPACITY_AND_MILEAGE:
        value = value + mileage * product.mileage_ratio * block_h * performance_factor
    elif product.payment is Payment.CURTAILMENT:
        value = value * activation_shares(zone, grid, prod, reserve_prices) * block_h
    return cap_price, value


def parameter_values(
    site: Site,
    zone: Zone,
    shape: BidShape,
    grid: DayGrid,
    scenarios: PriceScenarios,
    reserve_prices: Mapping[str, pd.Series],
    options: SolveOptions,
    cost_adder_per_mwh: FloatArray | None = None,
) -> tuple[dict[str, Any], dict[str, FloatArray]]:
    """Parameter values of the model for this site, day and scenarios (plus reserve prices).

    ``cost_adder_per_mwh`` is a cost per MWh bought in each interval on top of every scenario's
    price [currency/MWh] (a portfolio's carbon price times the grid factor): it enters the
    objective's prices only, never the curve's price order or bid prices.
    """
    dt, nt, ns = grid.interval_hours, shape.n_intervals, shape.n_scenarios
    prices = np.asarray(scenarios.prices_per_mwh, dtype=np.float64)
    costs = prices if cost_adder_per_mwh is None else prices + cost_adder_per_mwh[None, :]
    pi = np.asarray(scenarios.probabilities, dtype=np.float64)
    lam = options.cvar_weight if shape.cvar else 0.0
    pen = (
        options.penalty_per_mwh
        if options.penalty_per_mwh is not None
        else 10.0 * float(max(abs(zone.price_cap), abs(zone.price_floor), Decimal(100)))
    )
    wexp = (1.0 - lam) * pi
    v: dict[str, Any] = {
        "price_weighted": wexp[:, None] * costs * dt,
        "base_facility_mw": grid.pue * site.load.base_it_mw,
        "pue": grid.pue,
        "ppa_mw": grid.ppa_mw,
        "import_max_mw": site.load.grid_import_max_mw,
        "export_max_mw": site.load.grid_export_max_mw,
        "pen_grid_weighted": wexp * pen * dt,
        "job_energy_mwh": np.array([j.energy_mwh for j in site.jobs if j.preemptible]),
        "pen_job_weighted": wexp * pen if shape.job_recourse else np.array([(1.0 - lam) * pen]),
        "pen_block": np.array([pen * j.energy_mwh for j in site.jobs if not j.preemptible]),
    }
    if site.load.it_capacity_mw is not None:
        v["it_headroom_mw"] = np.full(nt, site.load.it_capacity_mw - site.load.base_it_mw)
    block_prices: dict[str, FloatArray] = {}
    up_share = np.zeros(nt)
    for k, prod in enumerate(shape.products):
        cap_price, value = reserve_block_values(
            zone, grid, prod, reserve_prices, site.reserve_performance_factor
        )
        block_prices[prod.key] = cap_price
        ask = reserve_prices.get(f"{prod.key}{ASK_SUFFIX}")
        if ask is not None:
            block_prices[f"{prod.key}{ASK_SUFFIX}"] = _block_mean(ask, _block_bounds(grid, prod))
        offered = ~np.isnan(cap_price)
        v[f"reserve_value_{k}"] = value
        v[f"reserve_max_{k}"] = np.where(offered, site.load.grid_import_max_mw, 0.0)
        if prod.up:
            shares = activation_shares(zone, grid, prod, reserve_prices)
            up_share = np.maximum(up_share, shares[np.asarray(prod.block_of_interval)])
    dr = site.demand_response
    v["dr_cap_mw"] = dr.curtailable_share * site.load.base_it_mw * grid.pue
    v["dr_cost"] = dr.cost_per_mwh * up_share * dt
    bat = site.battery
    if bat is not None:
        v.update(
            {
                "battery_power_mw": bat.power_mw,
                "charge_factor": bat.charge_efficiency * dt,
                "discharge_factor": dt / bat.discharge_efficiency,
                "soc_initial_mwh": bat.soc_initial_mwh,
                "soc_min_mwh": bat.soc_min_mwh,
                "soc_max_mwh": bat.soc_max_mwh,
                "degradation_weighted": wexp * bat.degradation_cost_per_mwh * dt,
                "pen_soc_weighted": wexp * pen,
                "inv_discharge_efficiency": 1.0 / bat.discharge_efficiency,
                "charge_efficiency": bat.charge_efficiency,
                "degradation_dt": bat.degradation_cost_per_mwh * dt,
                "pen_soc": pen,
            }
        )
    if ns > 1:
        v.update(monotone_coefficients(prices))
    if shape.cvar:
        v.update(
            {
                "price_dt": costs * dt,
                "cvar_tail_weight": lam * pi / (1.0 - options.cvar_alpha),
                "cvar_lambda": lam,
                "pen_grid_dt": pen * dt,
                "pen_job": pen,
            }
        )
    v["_penalty"] = pen
    return v, block_prices


def monotone_coefficients(prices: FloatArray) -> dict[str, FloatArray]:
    """Coefficients of the monotonicity rows from the price order of every interval.

    ``mono_r[s, t]`` is +1 for the scenario of price rank ``r`` at ``t`` and -1 for rank
    ``r + 1`` (so ``sum_s mono_r[s, t] * m[s, t] >= 0``: the cheaper one buys at least as much);
    ``mono_tie_r`` equals ``mono_r`` where the two prices are equal and is 0 elsewhere.
    """
    ns, nt = prices.shape
    order = np.argsort(prices, axis=0, kind="stable")
    cols = np.arange(nt)
    out: dict[str, FloatArray] = {}
    for r in range(ns - 1):
        d = np.zeros((ns, nt))
        lo, hi = order[r], order[r + 1]
        d[lo, cols] = 1.0
        d[hi, cols] = -1.0
        tie = prices[lo, cols] == prices[hi, cols]
        out[f"mono_{r}"] = d
        out[f"mono_tie_{r}"] = d * tie[None, :]
    return out


def input_hash(*parts: Any) -> str:
    """SHA-256 of the inputs (JSON of dataclasses, arrays as lists), hex."""

    def default(o: Any) -> Any:
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, pd.Series):
            return {"index": [str(i) for i in o.index], "values": o.to_numpy().tolist()}
        if isinstance(o, pd.DatetimeIndex):
            return [str(i) for i in o]
        if hasattr(o, "isoformat"):
            return o.isoformat()
        if isinstance(o, Decimal):
            return str(o)
        return repr(o)

    payload = json.dumps(parts, default=default, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def solve_day(
    site: Site,
    zone: Zone | str,
    day: date,
    scenarios: PriceScenarios,
    reserve_prices: Mapping[str, pd.Series] | None = None,
    options: SolveOptions | None = None,
    cache: ModelCache | None = None,
) -> DayPlan:
    """Co-optimise DA purchase, reserve offers, jobs and battery for one delivery day.

    Parameters
    ----------
    site
        The site.
    zone
        Its zone (object or key).
    day
        Local delivery day.
    scenarios
        Price scenarios on the day's intervals (one scenario: deterministic/perfect foresight).
    reserve_prices
        Forecast capacity price per product key, indexed by UTC block start [currency/MW per
        product interval]; ``<KEY>_MILEAGE`` series add mileage revenue, ``<KEY>_ACTIVATION``
        series give the expected activation of products paid per MWh called. Blocks without a
        price are not offered.
    options
        Solver and risk options.
    cache
        Model cache (default: a module-level cache).

    Raises
    ------
    InfeasibleSiteError
        With ``options.strict`` when a soft constraint had to give way (names the group).
    SolverFailedError
        When the solver finds no optimal point.
    """
    z = zone if isinstance(zone, Zone) else get_zone(zone)
    opts = options or SolveOptions()
    store = cache if cache is not None else DEFAULT_CACHE
    shape, grid = day_shape(site, z, day, scenarios.n, opts)
    if len(scenarios.intervals) != shape.n_intervals or not scenarios.intervals.equals(
        grid.intervals
    ):
        raise SiteError(f"scenarios are not on the intervals of delivery day {day} in {z.key}")
    prices_in = dict(reserve_prices or {})
    values, block_prices = parameter_values(site, z, shape, grid, scenarios, prices_in, opts)
    phash = input_hash(
        asdict(site),
        z.key,
        day,
        scenarios.prices_per_mwh,
        scenarios.probabilities,
        sorted(prices_in.items()),
        asdict(opts),
    )
    model = store.get(shape)
    # One model holds one set of parameter values and one solution: callers on several threads
    # (the API's worker pool) take turns per shape.
    with model.lock:
        model.set(values)
        stats = solve_model(model, opts.solver, opts.resolved_highs_options(), opts.warm_start)
        provenance = _provenance(stats, phash, scenarios)
        return plan_from_solution(
            site, z, day, shape, grid, scenarios, model, values, block_prices, provenance, opts
        )


def _provenance(stats: SolveStats, phash: str, scenarios: PriceScenarios) -> Provenance:
    return Provenance(
        solver=stats.solver,
        solver_version=stats.solver_version,
        status=stats.status,
        objective=stats.objective,
        solve_time_s=stats.wall_s,
        solver_time_s=stats.solver_s,
        parameter_hash=phash,
        code_version=MODEL_VERSION,
        scenario_method=scenarios.method,
        hot_start=stats.hot_start,
        inputs_as_of=scenarios.as_of,
    )


def _arr(model: BidModel, name: str, shape: tuple[int, ...]) -> FloatArray:
    v = model.variables.get(name)
    return np.zeros(shape) if v is None else value_of(v).reshape(shape)


def reserve_asks(
    site: Site,
    shape: BidShape,
    prod: ProductShape,
    payment: Payment,
    model: BidModel,
    values: Mapping[str, Any],
    k: int,
    cap_price: FloatArray,
    pay_as_bid: bool = False,
    bid_price: FloatArray | None = None,
) -> FloatArray:
    """Per block: the ask of the product's capacity offer, the cost of delivering an award.

    Under pay-as-clear the award is paid the clearing price whatever the ask, and the capacity
    the plan offers is held back from the energy schedule whether or not it is awarded: the
    cost of holding it was weighed against the forecast price when the plan chose how much to
    offer. An ask at the forecast price would only turn away every award whose clearing price
    falls below the forecast (about half of them) and keep the held capacity idle. The ask is
    therefore the cost an award adds: where the plan backs upward capacity by curtailing IT
    load (``dr_up_mw`` > 0), the expected curtailment cost per MW of the block's intervals
    (``dr_cost``; for products paid per MWh called, the curtailment cost per MWh); battery-backed
    and downward capacity cost nothing more to deliver (ask 0). A product paid capacity plus
    mileage asks that cost less the mileage revenue the plan expects per MW (the value it was
    offered at minus the capacity price ``cap_price``), never below 0: the award pays both.
    ``k`` is the product's index in ``shape.products``.

    A pay-as-bid product (``pay_as_bid``) is paid the ask itself, so an ask at the delivery
    cost would give the capacity away: it asks ``bid_price`` (the forecast's ask, a series
    ``<KEY>_ASK``; default the capacity price ``cap_price``) where known, never less than the
    delivery cost.
    """
    nt = shape.n_intervals
    asks = np.zeros(prod.n_blocks)
    dr_used = np.zeros(nt, dtype=bool)
    if prod.up and "dr_up_mw" in model.variables:
        dr_used = _arr(model, "dr_up_mw", (nt,)) > _TOL
    blocks = np.asarray(prod.block_of_interval)
    if dr_used.any() and payment is Payment.CURTAILMENT:
        asks[np.unique(blocks[dr_used])] = site.demand_response.cost_per_mwh
    elif dr_used.any():
        unit = np.asarray(values.get("dr_cost", np.zeros(nt)), dtype=np.float64)
        np.add.at(asks, blocks[dr_used], unit[dr_used])
        if payment is Payment.CAPACITY_AND_MILEAGE:
            value = np.asarray(values[f"reserve_value_{k}"], dtype=np.float64)
            mileage = np.nan_to_num(value - cap_price, nan=0.0)
            asks = np.maximum(asks - np.maximum(mileage, 0.0), 0.0)
    if pay_as_bid:
        target = cap_price if bid_price is None else bid_price
        asks = np.maximum(asks, np.nan_to_num(np.asarray(target, dtype=np.float64), nan=0.0))
    return asks


def plan_from_solution(
    site: Site,
    zone: Zone,
    day: date,
    shape: BidShape,
    grid: DayGrid,
    scenarios: PriceScenarios,
    model: BidModel,
    values: dict[str, Any],
    block_prices: dict[str, FloatArray],
    provenance: Provenance,
    opts: SolveOptions,
) -> DayPlan:
    """The :class:`DayPlan` of ``site`` read from a solved model (its own, or its view inside a
    portfolio model): bids, schedule, objective parts, breaches."""
    nt, ns, dt = shape.n_intervals, shape.n_scenarios, shape.interval_hours
    pi = scenarios.probabilities
    prices = scenarios.prices_per_mwh
    pen = float(values["_penalty"])
    market = _arr(model, "market_mw", (ns, nt))
    flexible = [j for j in site.jobs if j.preemptible]
    blocks = [j for j in site.jobs if not j.preemptible]
    names = tuple(j.name for j in flexible) + tuple(j.name for j in blocks)
    jobs = np.zeros((ns, len(names), nt))
    if flexible:
        p = _arr(model, "job_mw", (shape.job_copies, sum(len(w) for w in shape.job_windows)))
        p = np.broadcast_to(p, (ns, p.shape[1]))
        pos = 0
        for j, window in enumerate(shape.job_windows):
            jobs[:, j, list(window)] = p[:, pos : pos + len(window)]
            pos += len(window)
    block_bids: list[BlockBid] = []
    step = _step(grid.intervals)
    limit = min(Decimal(str(pen)), zone.price_cap)
    for k, (job, bshape) in enumerate(zip(blocks, shape.block_jobs, strict=True)):
        w = _arr(model, f"block_start_{k}", (max(len(bshape.starts), 1),))
        for o, t0 in enumerate(bshape.starts):
            if w[o] <= _TOL:
                continue
            run = slice(t0, t0 + bshape.run_intervals)
            jobs[:, len(flexible) + k, run] += w[o] * bshape.power_mw
            block_bids.append(
                BlockBid(
                    job=job.name,
                    start=grid.intervals[t0].to_pydatetime(),
                    end=(grid.intervals[t0 + bshape.run_intervals - 1] + step).to_pydatetime(),
                    quantity_mw=round(
                        float(w[o]) * bshape.power_mw * float(grid.pue[run].max()), 3
                    ),
                    limit_price_per_mwh=limit,
                    profile_mw=tuple(
                        round(float(w[o]) * bshape.power_mw * float(x), 3) for x in grid.pue[run]
                    ),
                )
            )
    charge = _arr(model, "charge_mw", (ns, nt))
    discharge = _arr(model, "discharge_mw", (ns, nt))
    soc = _arr(model, "soc_mwh", (ns, nt + 1))
    if site.battery is None:
        soc = np.zeros((ns, nt + 1))

    reserve_mw: dict[str, FloatArray] = {}
    reserve_bids: list[ReserveBid] = []
    revenue = 0.0
    for k, prod in enumerate(shape.products):
        r = _arr(model, f"reserve_{k}", (prod.n_blocks,))
        product = zone.product(prod.key)
        offered = np.zeros(prod.n_blocks)
        asks = reserve_asks(
            site,
            shape,
            prod,
            product.payment,
            model,
            values,
            k,
            block_prices[prod.key],
            pay_as_bid=product.pay_as_bid,
            bid_price=block_prices.get(f"{prod.key}{ASK_SUFFIX}"),
        )
        for b, (start, end) in enumerate(_block_bounds(grid, prod)):
            # Round down to the product's granularity: less reserve stays deliverable.
            cap = Decimal(repr(round(max(float(r[b]), 0.0), 6))).quantize(
                Decimal("0.001"), ROUND_FLOOR
            )
            if cap < product.min_size_mw or cap <= 0:
                continue
            offered[b] = float(cap)
            reserve_bids.append(
                ReserveBid(
                    product=prod.key,
                    start=start.to_pydatetime(),
                    end=end.to_pydatetime(),
                    capacity_mw=float(cap),
                    # The ask is what an award costs the site to deliver (reserve_asks), rounded
                    # up to the tick: never accept below that cost.
                    price_per_mw=Decimal(repr(float(asks[b]))).quantize(
                        zone.minor_unit, ROUND_CEILING
                    )
                    + Decimal(0),
                )
            )
        revenue += float(values[f"reserve_value_{k}"] @ offered)
        reserve_mw[prod.key] = offered[np.asarray(prod.block_of_interval)]

    breaches = _breaches(site, shape, model, pi, pen, dt)
    if breaches and opts.strict:
        raise InfeasibleSiteError(day.isoformat(), breaches)

    energy_cost = float(pi @ (prices * market).sum(axis=1) * dt)
    deg = 0.0
    if site.battery is not None:
        deg = (
            float(pi @ (charge + discharge).sum(axis=1))
            * site.battery.degradation_cost_per_mwh
            * dt
        )
    dr_up = _arr(model, "dr_up_mw", (nt,))
    dr_cost = float(np.asarray(values.get("dr_cost", np.zeros(nt))) @ dr_up)
    ppa_cost = float(
        sum(
            c.price_per_mwh * np.array([c.power_mw.at(int(m)) for m in grid.local_minutes]).sum()
            for c in site.ppas
        )
        * dt
    )
    penalty = sum(b.penalty_cost for b in breaches)
    objective = ObjectiveParts(
        energy_cost=energy_cost,
        reserve_revenue=revenue,
        degradation_cost=deg,
        demand_response_cost=dr_cost,
        penalty_cost=penalty,
        ppa_cost=ppa_cost,
        total=provenance.objective,
    )
    return DayPlan(
        site=site.name,
        zone=zone.key,
        day=day,
        currency=zone.currency,
        intervals=grid.intervals,
        interval_hours=dt,
        scenario_prices_per_mwh=prices,
        probabilities=pi,
        market_mw=market,
        job_names=names,
        job_it_mw=jobs,
        charge_mw=charge,
        discharge_mw=discharge,
        soc_mwh=soc,
        reserve_mw=reserve_mw,
        battery_up_mw=_arr(model, "battery_up_mw", (nt,)),
        battery_down_mw=_arr(model, "battery_down_mw", (nt,)),
        dr_up_mw=dr_up,
        pue=grid.pue,
        base_it_mw=site.load.base_it_mw,
        ppa_mw=grid.ppa_mw,
        da_curves=build_curves(zone, grid.intervals, prices, market),
        block_bids=tuple(block_bids),
        reserve_bids=tuple(reserve_bids),
        objective=objective,
        breaches=breaches,
        provenance=provenance,
    )


def _breaches(
    site: Site, shape: BidShape, model: BidModel, pi: FloatArray, pen: float, dt: float
) -> tuple[ConstraintBreach, ...]:
    ns, nt = shape.n_scenarios, shape.n_intervals
    out: list[ConstraintBreach] = []
    flexible = [j for j in site.jobs if j.preemptible]
    blocks = [j for j in site.jobs if not j.preemptible]
    if flexible:
        short = _arr(model, "job_short_mwh", (shape.job_copies, len(flexible)))
        short = np.broadcast_to(short, (ns, len(flexible)))
        for j, job in enumerate(flexible):
            amount = float(pi @ short[:, j])
            if amount > 1e-4:
                out.append(ConstraintBreach("job_energy", job.name, amount, amount * pen))
    if blocks:
        bshort = _arr(model, "block_short", (len(blocks),))
        for k, job in enumerate(blocks):
            amount = float(bshort[k]) * job.energy_mwh
            if amount > 1e-4:
                out.append(ConstraintBreach("job_energy", job.name, amount, amount * pen))
    slack = _arr(model, "slack_grid_mw", (ns, nt))
    amount = float(pi @ slack.sum(axis=1)) * dt
    if amount > 1e-4:
        out.append(ConstraintBreach("grid_import", "site", amount, amount * pen))
    if site.battery is not None:
        soc_short = _arr(model, "soc_short_mwh", (ns,))
        amount = float(pi @ soc_short)
        if amount > 1e-4:
            out.append(ConstraintBreach("battery_end_soc", "battery", amount, amount * pen))
    return tuple(out)


def build_curves(
    zone: Zone, intervals: pd.DatetimeIndex, prices: FloatArray, market: FloatArray
) -> tuple[DACurve, ...]:
    """Monotone step curves from scenario-wise purchases (one curve per interval).

    Scenario prices, sorted, become the step prices (rounded to the zone's tick inside floor and
    cap); the quantity of scenario ``i`` is held up to its price, the last (lowest) quantity up
    to the cap. Monotonicity is a model constraint; a cumulative minimum only removes solver
    noise of order 1e-6 MW.
    """
    floor, cap, tick = zone.price_floor, zone.price_cap, zone.tick
    out = []
    for t, start in enumerate(intervals):
        order = np.argsort(prices[:, t], kind="stable")
        q = np.minimum.accumulate(np.round(market[order, t], 3))
        steps: list[tuple[Decimal, float]] = []
        for rank, s in enumerate(order):
            if rank == len(order) - 1:
                price = cap
            else:
                raw = Decimal(repr(float(prices[s, t])))
                price = (raw / tick).to_integral_value(ROUND_CEILING) * tick
                price = min(max(price, floor), cap)
            if steps and price <= steps[-1][0]:
                continue  # same tick: the first (larger) quantity holds there
            steps.append((price, float(q[rank])))
        if steps[-1][0] < cap:
            steps.append((cap, steps[-1][1]))
        out.append(
            DACurve(
                interval_start=start.to_pydatetime(),
                prices_per_mwh=tuple(p for p, _ in steps),
                quantities_mw=tuple(x for _, x in steps),
            )
        )
    return tuple(out)


def flat_schedule(site: Site, zone: Zone | str, day: date) -> DayPlan:
    """The price-taker plan: every job at constant power over its window, battery idle.

    Preemptible jobs spread their energy evenly over their window; non-preemptible jobs start at
    their earliest start. The DA bid is one step per interval at the price cap (buy whatever the
    price). No reserve is offered.
    """
    z = zone if isinstance(zone, Zone) else get_zone(zone)
    opts = SolveOptions(offer_reserves=False)
    shape, grid = day_shape(site, z, day, 1, opts)
    nt, dt = shape.n_intervals, shape.interval_hours
    flexible = [j for j in site.jobs if j.preemptible]
    blocks = [j for j in site.jobs if not j.preemptible]
    names = tuple(j.name for j in flexible) + tuple(j.name for j in blocks)
    jobs = np.zeros((1, len(names), nt))
    breaches: list[ConstraintBreach] = []
    for j, (job, window) in enumerate(zip(flexible, shape.job_windows, strict=True)):
        if window:
            jobs[0, j, list(window)] = job.energy_mwh / (len(window) * dt)
        if not window or job.energy_mwh / (len(window) * dt) > job.max_power_mw + _TOL:
            breaches.append(ConstraintBreach("job_energy", job.name, job.energy_mwh, 0.0))
    for k, (job, bshape) in enumerate(zip(blocks, shape.block_jobs, strict=True)):
        if not bshape.starts:
            breaches.append(ConstraintBreach("job_energy", job.name, job.energy_mwh, 0.0))
            continue
        t0 = bshape.starts[0]
        jobs[0, len(flexible) + k, t0 : t0 + bshape.run_intervals] = bshape.power_mw
    market = (grid.pue * (site.load.base_it_mw + jobs[0].sum(axis=0)) - grid.ppa_mw)[None, :]
    over = np.maximum(market[0] + grid.ppa_mw - site.load.grid_import_max_mw, 0.0)
    if over.sum() > _TOL:
        breaches.append(ConstraintBreach("grid_import", "site", float(over.sum() * dt), 0.0))
    if breaches:
        raise InfeasibleSiteError(day.isoformat(), tuple(breaches))
    soc0 = site.battery.soc_initial_mwh if site.battery is not None else 0.0
    zeros = np.zeros((1, nt))
    nan_prices = np.full((1, nt), np.nan)
    provenance = Provenance(
        solver="none",
        solver_version="",
        status="optimal",
        objective=0.0,
        solve_time_s=0.0,
        solver_time_s=0.0,
        parameter_hash=input_hash(asdict(site), z.key, day, "flat"),
        code_version=MODEL_VERSION,
        scenario_method="price-taker",
    )
    curves = tuple(
        DACurve(s.to_pydatetime(), (z.price_cap,), (round(float(q), 3),))
        for s, q in zip(grid.intervals, market[0], strict=True)
    )
    return DayPlan(
        site=site.name,
        zone=z.key,
        day=day,
        currency=z.currency,
        intervals=grid.intervals,
        interval_hours=dt,
        scenario_prices_per_mwh=nan_prices,
        probabilities=np.ones(1),
        market_mw=market,
        job_names=names,
        job_it_mw=jobs,
        charge_mw=zeros,
        discharge_mw=zeros.copy(),
        soc_mwh=np.full((1, nt + 1), soc0),
        reserve_mw={},
        battery_up_mw=np.zeros(nt),
        battery_down_mw=np.zeros(nt),
        dr_up_mw=np.zeros(nt),
        pue=grid.pue,
        base_it_mw=site.load.base_it_mw,
        ppa_mw=grid.ppa_mw,
        da_curves=curves,
        block_bids=(),
        reserve_bids=(),
        objective=ObjectiveParts(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        breaches=(),
        provenance=provenance,
    )
