"""One co-optimised problem per portfolio and delivery day: every site's rules plus migratable jobs.

Each site contributes exactly the terms of the single-site model (:func:`bidding.model.site_terms`,
under its own name prefix ``s<i>.``): its balance, limits, battery, reserves, local jobs, monotone
curves and scenarios in its zone. Migratable jobs add, per site, one first-stage variable per
(job, interval in the job's window at that site) in ``[0, max_power_mw]``; their sum per interval
is IT power placed at the site, which enters the site's balance (times its PUE) and its IT
capacity like its own jobs. Each job delivers ``energy_mwh`` summed over its sites (a priced
slack reports a shortfall), and ``cost_per_mwh`` times the energy placed is the placement cost.

Placement is decided before any zone's prices are known (first stage), so the scenarios of
different zones need no joint distribution: a site's second stage (purchase per scenario, battery)
sees only its own zone's scenarios, and the expected cost is the sum of the sites' expectations.
Non-anticipativity per zone is the single-site model's own.

Every number that changes from day to day is a parameter (DPP); the structure is the
:class:`PortfolioShape`, the model cache key.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

import cvxpy as cp
import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from bidding.day import (
    MODEL_VERSION,
    DayGrid,
    ShapeCache,
    SolveOptions,
    day_shape,
    flat_schedule,
    input_hash,
    parameter_values,
    plan_from_solution,
)
from bidding.errors import ConstraintBreach, InfeasibleSiteError, SiteError
from bidding.model import BidModel, BidShape, Scope, site_terms, value_of
from bidding.plan import DayPlan, Provenance
from bidding.portfolio import MigratableJob, Portfolio
from bidding.scenarios import PriceScenarios
from bidding.solve import BlockSplit, solve_model
from market import Zone, get_zone
from market.clearing import DACurve

FloatArray = npt.NDArray[np.float64]
cpx: Any = cp
_TOL = 1e-6


@dataclass(frozen=True, slots=True)
class MigratableShape:
    """Structure of one migratable job on one day.

    Parameters
    ----------
    placements
        ``(site index, interval indices of the window at that site, max_power_mw)`` per site
        that may run the job.
    """

    placements: tuple[tuple[int, tuple[int, ...], float], ...]


@dataclass(frozen=True, slots=True)
class PortfolioShape:
    """Everything that fixes the structure of a portfolio day problem (the cache key)."""

    sites: tuple[BidShape, ...]
    jobs: tuple[MigratableShape, ...] = ()

    def entries(self, site: int) -> list[tuple[int, int, float]]:
        """``(job, interval, max_power_mw)`` of the migratable variables at ``site``, in order."""
        out: list[tuple[int, int, float]] = []
        for j, job in enumerate(self.jobs):
            for i, window, cap in job.placements:
                if i == site:
                    out.extend((j, t, cap) for t in window)
        return out


@dataclass
class PortfolioModel:
    """A compiled portfolio problem: one cvxpy problem, and a per-site view of it.

    ``sites[i]`` is a :class:`BidModel` whose parameters and variables are site ``i``'s under
    their bare names (the same problem object), so a site's plan is read exactly as a
    single-site plan is.
    """

    shape: PortfolioShape
    problem: cp.Problem
    params: dict[str, cp.Parameter]
    variables: dict[str, cp.Variable]
    sites: tuple[BidModel, ...]
    warm: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def set(self, values: Mapping[str, Any]) -> None:
        """Set parameter values; every parameter must be given."""
        missing = set(self.params) - set(values)
        if missing:
            raise KeyError(f"missing parameter values: {sorted(missing)[:5]}")
        for name, param in self.params.items():
            param.value = np.asarray(values[name], dtype=np.float64).reshape(param.shape)

    def block_split(self, threads: int = 1) -> BlockSplit | None:
        """The portfolio as blocks for a block start: one per site, linked by the job rows.

        Every site's variables form its block; the jobs' shortfalls are the linking
        variables. The guessed dual of job ``j``'s energy row (:func:`energy_price_guess`)
        shifts the cost of its placement variables by ``-dt * guess``, so each site alone
        places the job where it costs less than the guess. ``None`` for fewer than two sites
        or without migratable jobs (nothing to split). ``threads`` solve the sites.
        """
        if len(self.sites) < 2 or not self.shape.jobs:
            return None
        owners = {v.id: -1 for v in self.problem.variables()}
        for i, view in enumerate(self.sites):
            for v in view.variables.values():
                owners[v.id] = i
        guess = energy_price_guess(self)
        shift: dict[int, FloatArray] = {}
        for i, (sshape, view) in enumerate(zip(self.shape.sites, self.sites, strict=True)):
            entries = self.shape.entries(i)
            if entries:
                jobs = np.array([j for j, _, _ in entries])
                shift[view.variables["mig_mw"].id] = -sshape.interval_hours * guess[jobs]
        return BlockSplit(owners, shift, threads)


def energy_price_guess(model: PortfolioModel) -> FloatArray:
    """A guess of each job energy row's dual [currency/MWh], from the set parameter values.

    Each job's energy filled greedily into its cheapest (site, interval) slots, a slot's cost
    being the expected price there times PUE plus the placement cost, up to the job's cap: the
    guess is the cost of the last slot needed (the penalty when the slots cannot hold the
    energy). It ignores the battery, the IT capacity and the other jobs; the block start only
    needs it close (bidding/solve.py).
    """
    n_jobs = len(model.shape.jobs)
    unit: list[FloatArray] = []
    room: list[FloatArray] = []
    owner: list[npt.NDArray[np.int64]] = []
    for i, (sshape, view) in enumerate(zip(model.shape.sites, model.sites, strict=True)):
        entries = model.shape.entries(i)
        if not entries:
            continue
        dt = sshape.interval_hours
        price = np.asarray(view.params["price_weighted"].value).sum(axis=0)  # per MW, over dt
        pue = np.asarray(view.params["pue"].value)
        cost = np.asarray(view.params["mig_cost"].value)
        t = np.array([t for _, t, _ in entries])
        unit.append((pue[t] * price[t] + cost) / dt)
        room.append(np.array([cap for _, _, cap in entries]) * dt)
        owner.append(np.array([j for j, _, _ in entries]))
    energy = np.asarray(model.params["mig_energy_mwh"].value)
    penalty = np.asarray(model.params["pen_mig"].value)
    guess = penalty.astype(np.float64).copy()
    if not unit:
        return guess
    u, r, o = np.concatenate(unit), np.concatenate(room), np.concatenate(owner)
    order = np.lexsort((u, o))
    u, r, o = u[order], r[order], o[order]
    for j in range(n_jobs):
        lo, hi = np.searchsorted(o, [j, j + 1])
        if lo == hi:
            continue
        if energy[j] <= 0:
            guess[j] = u[lo]
            continue
        filled = np.cumsum(r[lo:hi])
        k = int(np.searchsorted(filled, energy[j] - 1e-9))
        if k < hi - lo:
            guess[j] = u[lo + k]
    return guess


def _prefix(i: int) -> str:
    return f"s{i}."


def build_portfolio_model(shape: PortfolioShape) -> PortfolioModel:
    """Build the cvxpy problem of ``shape`` (DPP; parameters unset)."""
    params: dict[str, cp.Parameter] = {}
    variables: dict[str, cp.Variable] = {}
    objective: cp.Expression = cp.Constant(0.0)
    cons: list[cp.Constraint] = []
    n_jobs = len(shape.jobs)
    delivered: list[cp.Expression] = []
    scopes: list[Scope] = []
    for i, sshape in enumerate(shape.sites):
        scope = Scope(_prefix(i), params, variables)
        nt, dt = sshape.n_intervals, sshape.interval_hours
        entries = shape.entries(i)
        extra: cp.Expression | None = None
        if entries:
            n = len(entries)
            ub = np.array([cap for _, _, cap in entries], dtype=np.float64)
            x = scope.var("mig_mw", n, bounds=[np.zeros(n), ub])
            rows = np.arange(n)
            agg = sp.csr_matrix((np.ones(n), (rows, [t for _, t, _ in entries])), shape=(n, nt))
            emap = sp.csr_matrix(
                (np.full(n, dt), (rows, [j for j, _, _ in entries])), shape=(n, n_jobs)
            )
            load = scope.var("mig_load_mw", nt)
            cons.append(load == x @ agg)
            cost = scope.par("mig_cost", n)  # cost_per_mwh * dt per (job, interval)
            objective += cost @ x
            delivered.append(x @ emap)
            extra = load
        site_obj, site_cons = site_terms(sshape, scope, extra)
        objective += site_obj
        cons += site_cons
        scopes.append(scope)
    if n_jobs:
        short = cp.Variable(n_jobs, name="mig_short_mwh", nonneg=True)
        variables["mig_short_mwh"] = short
        energy = cp.Parameter(n_jobs, name="mig_energy_mwh", nonneg=True)
        pen = cp.Parameter(n_jobs, name="pen_mig", nonneg=True)
        params["mig_energy_mwh"] = energy
        params["pen_mig"] = pen
        total: cp.Expression = short
        for part in delivered:
            total = total + part
        cons.append(total == energy)
        objective += pen @ short
    problem = cp.Problem(cp.Minimize(objective), cons)
    if not problem.is_dpp():
        raise AssertionError("portfolio model must be DPP")
    views = tuple(
        BidModel(sshape, problem, sc.params, sc.variables, sc.exprs)
        for sshape, sc in zip(shape.sites, scopes, strict=True)
    )
    return PortfolioModel(shape, problem, params, variables, views)


class PortfolioModelCache(ShapeCache[PortfolioShape, PortfolioModel]):
    """Compiled portfolio models by shape (the day model's cache mechanism)."""

    def __init__(self, max_entries: int = 8) -> None:
        super().__init__(build_portfolio_model, max_entries)


DEFAULT_PORTFOLIO_CACHE = PortfolioModelCache()


@dataclass(frozen=True, slots=True)
class JobAllocation:
    """Where one migratable job runs on the day: IT power per interval at one site.

    Parameters
    ----------
    job, site
        Job and site names.
    intervals
        The site's delivery intervals (UTC starts).
    it_mw
        IT power of the job at the site per interval [MW].
    interval_hours
        Interval length [h].
    cost_per_mwh
        Placement cost at the site [currency/MWh].
    """

    job: str
    site: str
    intervals: pd.DatetimeIndex
    it_mw: FloatArray
    interval_hours: float
    cost_per_mwh: float

    @property
    def energy_mwh(self) -> float:
        """IT energy placed [MWh]."""
        return float(self.it_mw.sum() * self.interval_hours)


@dataclass(frozen=True, slots=True)
class PortfolioPlan:
    """One delivery day of a portfolio: a plan per site (its bids) and the job allocation.

    ``plans[i]`` is site ``i``'s :class:`DayPlan` (curves, blocks, reserves of its zone), its
    jobs including the migratable jobs placed there; ``plan.extra["placement_cost"]`` is the
    planned placement cost at the site. Every plan's ``provenance.objective`` is the
    portfolio's objective.
    """

    portfolio: str
    day: date
    currency: str
    plans: tuple[DayPlan, ...]
    allocation: tuple[JobAllocation, ...]
    breaches: tuple[ConstraintBreach, ...]
    provenance: Provenance

    @property
    def placement_cost(self) -> float:
        """Planned placement cost over the sites [currency]."""
        return sum(a.energy_mwh * a.cost_per_mwh for a in self.allocation)


def window_intervals(job: MigratableJob, grid: DayGrid) -> tuple[int, ...]:
    """Indices of the intervals of ``grid`` inside the job's local window."""
    m = grid.local_minutes
    inside = (m >= job.window_start_minute) & (m < job.window_end_minute)
    return tuple(int(i) for i in np.flatnonzero(inside))


def _site_options(options: SolveOptions, reserves: Mapping[str, pd.Series]) -> SolveOptions:
    return replace(options, offer_reserves=options.offer_reserves and bool(reserves))


def _check_day_boundaries(portfolio: Portfolio, grids: Sequence[DayGrid], day: date) -> None:
    first = grids[0].intervals
    end0 = first[-1] + (first[1] - first[0])
    for site, grid in zip(portfolio.sites[1:], grids[1:], strict=True):
        iv = grid.intervals
        if iv[0] != first[0] or iv[-1] + (iv[1] - iv[0]) != end0:
            raise SiteError(
                f"site {site.name!r}: delivery day {day} starts or ends at another instant than "
                f"at site {portfolio.sites[0].name!r}"
            )


def portfolio_shape(
    portfolio: Portfolio,
    day: date,
    n_scenarios: Sequence[int],
    options: Sequence[SolveOptions],
) -> tuple[PortfolioShape, tuple[DayGrid, ...]]:
    """The problem shape of ``portfolio`` on ``day`` and each site's interval grid."""
    shapes, grids = [], []
    for site, ns, opts in zip(portfolio.sites, n_scenarios, options, strict=True):
        shape, grid = day_shape(site, get_zone(site.zone), day, ns, opts)
        shapes.append(shape)
        grids.append(grid)
    _check_day_boundaries(portfolio, grids, day)
    jobs = []
    for job in portfolio.jobs:
        placements = []
        for p in job.placements:
            i = portfolio.site_index(p.site)
            placements.append((i, window_intervals(job, grids[i]), p.max_power_mw))
        jobs.append(MigratableShape(tuple(placements)))
    return PortfolioShape(tuple(shapes), tuple(jobs)), tuple(grids)


def solve_portfolio(
    portfolio: Portfolio,
    day: date,
    scenarios: Sequence[PriceScenarios],
    reserve_prices: Sequence[Mapping[str, pd.Series]] | None = None,
    options: SolveOptions | None = None,
    cache: PortfolioModelCache | None = None,
    emission_factors: Sequence[FloatArray] | None = None,
    block_start: bool = True,
    threads: int = 1,
) -> PortfolioPlan:
    """Co-optimise every site's bids and the migratable jobs' placement for one delivery day.

    Parameters
    ----------
    portfolio
        The portfolio.
    day
        Local delivery day (the sites share day boundaries).
    scenarios
        Price scenarios per site, on the site's zone's intervals (sites of one zone get the
        zone's scenarios).
    reserve_prices
        Reserve prices per site (as :func:`bidding.solve_day`); a site without any offers none.
    options
        Solve options (reserves offered per site only where prices are given).
    cache
        Model cache (default: a module-level cache).
    emission_factors
        Grid emission factor per site on the site's intervals [tCO2e/MWh], as known at the
        decision time; needed when ``portfolio.carbon_price_per_tco2`` is above 0, when the
        carbon price times the factor is added to every scenario's price in the objective (a
        parameter: the problem's structure does not change). With a price of 0 they only give
        the planned emissions.
    block_start
        Start HiGHS from the sites solved alone in parallel (:meth:`PortfolioModel.block_split`,
        bidding/solve.py); the optimum is the same either way, only the time differs. False
        solves the joint problem cold (for comparison in ``powerdesk bench portfolio``).
    threads
        Threads that solve the sites of a block start (the engine gives its share of the
        cores, ``engine.core.settings.solver_threads``); the result does not depend on it.

    Raises
    ------
    SiteError
        Sites whose delivery days differ, scenarios on the wrong intervals, missing or bad
        emission factors under a carbon price.
    InfeasibleSiteError
        With ``options.strict`` when a soft constraint gave way (a job's energy, a grid limit).
    SolverFailedError
        When the solver finds no optimal point.
    """
    opts = options or SolveOptions()
    n_sites = len(portfolio.sites)
    if len(scenarios) != n_sites:
        raise SiteError(f"expected scenarios for {n_sites} sites, got {len(scenarios)}")
    reserves = [dict(r) for r in (reserve_prices or [{}] * n_sites)]
    site_opts = [_site_options(opts, r) for r in reserves]
    shape, grids = portfolio_shape(portfolio, day, [s.n for s in scenarios], site_opts)
    factors = _factors(portfolio, grids, emission_factors)
    carbon = portfolio.carbon_price_per_tco2
    values: dict[str, Any] = {}
    site_values: list[dict[str, Any]] = []
    block_prices: list[dict[str, FloatArray]] = []
    penalty = 0.0
    for i, (site, sshape, grid, scen) in enumerate(
        zip(portfolio.sites, shape.sites, grids, scenarios, strict=True)
    ):
        zone = get_zone(site.zone)
        if not scen.intervals.equals(grid.intervals):
            raise SiteError(
                f"site {site.name!r}: scenarios are not on the intervals of delivery day {day} "
                f"in {zone.key}"
            )
        adder = carbon * factors[i] if carbon > 0 and factors is not None else None
        v, bp = parameter_values(
            site, zone, sshape, grid, scen, reserves[i], site_opts[i], cost_adder_per_mwh=adder
        )
        penalty = max(penalty, float(v["_penalty"]))
        site_values.append(v)
        block_prices.append(bp)
        entries = shape.entries(i)
        if entries:
            cost = _cost_per_mwh(portfolio, i)
            v["mig_cost"] = np.array([cost[j] * grid.interval_hours for j, _, _ in entries])
        for name, value in v.items():
            if not name.startswith("_"):
                values[_prefix(i) + name] = value
    if portfolio.jobs:
        values["mig_energy_mwh"] = np.array([j.energy_mwh for j in portfolio.jobs])
        values["pen_mig"] = np.full(len(portfolio.jobs), penalty)
    phash = input_hash(
        asdict(portfolio),
        day,
        [(s.prices_per_mwh, s.probabilities) for s in scenarios],
        [sorted(r.items()) for r in reserves],
        asdict(opts),
        None if factors is None else list(factors),
    )
    model = (cache if cache is not None else DEFAULT_PORTFOLIO_CACHE).get(shape)
    with model.lock:
        model.set(values)
        stats = solve_model(
            model,
            opts.solver,
            opts.resolved_highs_options(),
            opts.warm_start,
            blocks=model.block_split(threads) if block_start and opts.solver == "HIGHS" else None,
        )
        provenance = Provenance(
            solver=stats.solver,
            solver_version=stats.solver_version,
            status=stats.status,
            objective=stats.objective,
            solve_time_s=stats.wall_s,
            solver_time_s=stats.solver_s,
            parameter_hash=phash,
            code_version=MODEL_VERSION,
            scenario_method=scenarios[0].method,
            hot_start=stats.hot_start,
            inputs_as_of=scenarios[0].as_of,
        )
        breaches: list[ConstraintBreach] = []
        if portfolio.jobs:
            short = value_of(model.variables["mig_short_mwh"])
            for job, amount in zip(portfolio.jobs, short, strict=True):
                if amount > 1e-4:
                    breaches.append(
                        ConstraintBreach("job_energy", job.name, float(amount), amount * penalty)
                    )
        if breaches and opts.strict:
            raise InfeasibleSiteError(day.isoformat(), tuple(breaches))
        plans, allocation = [], []
        for i, site in enumerate(portfolio.sites):
            zone = get_zone(site.zone)
            plan = plan_from_solution(
                site,
                zone,
                day,
                shape.sites[i],
                grids[i],
                scenarios[i],
                model.sites[i],
                site_values[i],
                block_prices[i],
                provenance,
                site_opts[i],
            )
            placed = _placed(portfolio, shape, model, i, grids[i])
            plan, allocs = _with_migratable(plan, portfolio, i, placed, grids[i])
            if factors is not None:
                plan = _with_emissions(plan, factors[i], carbon)
            plans.append(plan)
            allocation.extend(allocs)
    return PortfolioPlan(
        portfolio=portfolio.name,
        day=day,
        currency=portfolio.currency,
        plans=tuple(plans),
        allocation=tuple(allocation),
        breaches=tuple(breaches),
        provenance=provenance,
    )


def _factors(
    portfolio: Portfolio, grids: Sequence[DayGrid], given: Sequence[FloatArray] | None
) -> tuple[FloatArray, ...] | None:
    """Checked emission factors per site (``None`` when none are given and none are needed)."""
    if given is None:
        if portfolio.carbon_price_per_tco2 > 0:
            raise SiteError(
                f"portfolio {portfolio.name!r}: a carbon price needs grid emission factors "
                "for every site"
            )
        return None
    if len(given) != len(portfolio.sites):
        raise SiteError(f"expected emission factors for {len(portfolio.sites)} sites")
    out = []
    for site, grid, ef in zip(portfolio.sites, grids, given, strict=True):
        arr = np.asarray(ef, dtype=np.float64)
        if arr.shape != (len(grid.intervals),):
            raise SiteError(
                f"site {site.name!r}: {arr.size} emission factors for "
                f"{len(grid.intervals)} intervals"
            )
        if not np.isfinite(arr).all() or (arr < 0).any():
            raise SiteError(f"site {site.name!r}: emission factors must be finite and >= 0")
        out.append(arr)
    return tuple(out)


def _with_emissions(plan: DayPlan, ef: FloatArray, price: float) -> DayPlan:
    """``plan`` with its expected location-based emissions and their price in ``extra``."""
    tco2e = float(np.asarray(plan.probabilities) @ (plan.market_mw @ ef)) * plan.interval_hours
    return replace(
        plan,
        extra={
            **plan.extra,
            "planned_emissions_tco2e": tco2e,
            "planned_carbon_cost": tco2e * price,
        },
    )


def _cost_per_mwh(portfolio: Portfolio, site: int) -> dict[int, float]:
    name = portfolio.sites[site].name
    return {
        j: p.cost_per_mwh
        for j, job in enumerate(portfolio.jobs)
        for p in job.placements
        if p.site == name
    }


def _placed(
    portfolio: Portfolio, shape: PortfolioShape, model: PortfolioModel, site: int, grid: DayGrid
) -> dict[int, FloatArray]:
    """IT power per interval of every migratable job allowed at ``site`` [MW]."""
    entries = shape.entries(site)
    out: dict[int, FloatArray] = {}
    for j, job in enumerate(portfolio.jobs):
        if any(p.site == portfolio.sites[site].name for p in job.placements):
            out[j] = np.zeros(len(grid.intervals))
    if entries:
        x = np.clip(value_of(model.variables[_prefix(site) + "mig_mw"]), 0.0, None)
        for (j, t, _), value in zip(entries, x, strict=True):
            out[j][t] += float(value)
    return out


def _with_migratable(
    plan: DayPlan,
    portfolio: Portfolio,
    site: int,
    placed: Mapping[int, FloatArray],
    grid: DayGrid,
) -> tuple[DayPlan, list[JobAllocation]]:
    """``plan`` with the migratable jobs placed at the site among its jobs, and the allocation."""
    name = portfolio.sites[site].name
    cost = _cost_per_mwh(portfolio, site)
    ns = plan.market_mw.shape[0]
    allocs = [
        JobAllocation(
            portfolio.jobs[j].name, name, grid.intervals, mw, grid.interval_hours, cost[j]
        )
        for j, mw in placed.items()
    ]
    if not allocs:
        return replace(plan, extra={**plan.extra, "placement_cost": 0.0}), allocs
    extra_jobs = np.stack([np.broadcast_to(a.it_mw, (ns, len(a.it_mw))) for a in allocs], axis=1)
    placement = sum(a.energy_mwh * a.cost_per_mwh for a in allocs)
    return (
        replace(
            plan,
            job_names=plan.job_names + tuple(a.job for a in allocs),
            job_it_mw=np.concatenate([plan.job_it_mw, extra_jobs], axis=1),
            extra={**plan.extra, "placement_cost": float(placement)},
        ),
        allocs,
    )


def flat_portfolio(portfolio: Portfolio, day: date) -> PortfolioPlan:
    """The price-taker plan of a portfolio: every site's :func:`~bidding.flat_schedule`, each
    migratable job split over its sites in proportion to their ``max_power_mw`` and flat over
    its window there, the whole need bought at any price.

    Raises
    ------
    InfeasibleSiteError
        A site's own flat schedule does not fit, or the placed load exceeds a cap.
    """
    plans: list[DayPlan] = []
    allocation: list[JobAllocation] = []
    for i, site in enumerate(portfolio.sites):
        zone = get_zone(site.zone)
        plan = flat_schedule(site, zone, day)
        grid = DayGrid(
            plan.intervals,
            plan.interval_hours,
            _local_minutes(plan.intervals, zone),
            plan.pue,
            plan.ppa_mw,
        )
        placed: dict[int, FloatArray] = {}
        for j, job in enumerate(portfolio.jobs):
            total_cap = sum(p.max_power_mw for p in job.placements)
            for p in job.placements:
                if p.site != site.name:
                    continue
                window = list(window_intervals(job, grid))
                mw = np.zeros(len(grid.intervals))
                if window and total_cap > 0:
                    share = job.energy_mwh * p.max_power_mw / total_cap
                    mw[window] = share / (len(window) * grid.interval_hours)
                if mw.max(initial=0.0) > p.max_power_mw + _TOL or (not window and total_cap):
                    breach = ConstraintBreach("job_energy", job.name, job.energy_mwh, 0.0)
                    raise InfeasibleSiteError(day.isoformat(), (breach,))
                placed[j] = mw
        extra_it = sum((mw for mw in placed.values()), np.zeros(len(grid.intervals)))
        cap = site.load.it_capacity_mw
        own_it = plan.job_it_mw[0].sum(axis=0) + site.load.base_it_mw
        if cap is not None and (own_it + extra_it > cap + _TOL).any():
            breach = ConstraintBreach(
                "it_capacity", site.name, float((own_it + extra_it).max()), 0.0
            )
            raise InfeasibleSiteError(day.isoformat(), (breach,))
        market = plan.market_mw + (grid.pue * extra_it)[None, :]
        over = market[0] + grid.ppa_mw - site.load.grid_import_max_mw
        if (over > _TOL).any():
            breach = ConstraintBreach(
                "grid_import", site.name, float(over.clip(0).sum() * grid.interval_hours), 0.0
            )
            raise InfeasibleSiteError(day.isoformat(), (breach,))
        curves = tuple(
            DACurve(c.interval_start, c.prices_per_mwh, (round(float(q), 3),))
            for c, q in zip(plan.da_curves, market[0], strict=True)
        )
        plan = replace(plan, market_mw=market, da_curves=curves)
        plan, allocs = _with_migratable(plan, portfolio, i, placed, grid)
        plans.append(plan)
        allocation.extend(allocs)
    provenance = replace(
        plans[0].provenance, parameter_hash=input_hash(asdict(portfolio), day, "flat")
    )
    return PortfolioPlan(
        portfolio=portfolio.name,
        day=day,
        currency=portfolio.currency,
        plans=tuple(replace(p, provenance=provenance) for p in plans),
        allocation=tuple(allocation),
        breaches=(),
        provenance=provenance,
    )


def _local_minutes(intervals: pd.DatetimeIndex, zone: Zone) -> npt.NDArray[np.int64]:
    local = intervals.tz_convert(zone.tz)
    return np.asarray(local.hour * 60 + local.minute, dtype=np.int64)
