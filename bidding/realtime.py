"""The real-time stage: re-plan a day's flexible load and battery once its DA result is known.

After the DA prices of delivery day ``D`` are published, the DA position is fixed (the curves have
cleared) and so are the reserve commitments. What may still move is the flexible load (preemptible
jobs inside their windows) and the battery. Every MWh the site then consumes away from its DA
position is settled at the real-time / imbalance price, so the re-plan minimises

    sum_t rt_forecast[t] * market[t] * dt + degradation + threshold * |market[t] - base[t]| * dt

over the site's own rules (:func:`bidding.model.site_terms`, the one statement of them), with

* one scenario: the real-time price forecast (the DA position is a constant, so its DA cost and
  the ``- rt * position`` part of the deviation cost drop out of the objective);
* every reserve capacity fixed at what the DA plan offered (the headroom stays reserved, the
  battery's state of charge keeps its activation margin);
* every non-preemptible job fixed at the start the DA plan bid as a block;
* intervals already run (a re-plan made while the day runs: ``fixed``, ``fixed_intervals``) keep
  the job power and battery power of the re-plan that ran them, so only the rest of the day moves
  and the state of charge and the job energy still owed carry over exactly;
* a dead band: each MWh moved away from ``base`` (the schedule the site runs without the stage,
  or ``reference_mw`` where given: the engine passes the cleared DA position) costs
  ``threshold`` [currency/MWh]. A move is made only where the forecast price difference it
  exploits beats the threshold, so a weak forecast trades little and a zero-information forecast
  (flat, or the prices ``base`` was already optimal for) trades nothing.

Job energy and windows, battery power and state-of-charge limits (end state included), the grid
limits with the reserve called and the IT capacity all hold exactly as in the DA model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import cvxpy as cp
import numpy as np
import numpy.typing as npt
import pandas as pd

from bidding.day import (
    ShapeCache,
    SolveOptions,
    _provenance,
    day_shape,
    input_hash,
    parameter_values,
    plan_from_solution,
)
from bidding.errors import SiteError
from bidding.model import BidModel, BidShape, Scope, site_terms
from bidding.plan import DayPlan
from bidding.scenarios import PriceScenarios
from bidding.site import Site
from bidding.solve import DEFAULT_HIGHS_OPTIONS, solve_model
from market import Zone

FloatArray = npt.NDArray[np.float64]
cpx: Any = cp


@dataclass(frozen=True, slots=True)
class ReplanShape:
    """Structure of the re-plan problem: the day's :class:`BidShape` with one scenario."""

    base: BidShape


def build_replan_model(shape: ReplanShape) -> BidModel:
    """The re-plan problem of ``shape`` (DPP; parameters unset): the site terms of one scenario,
    reserve and block starts fixed by parameters, and the dead band around the base schedule."""
    bs = shape.base
    if bs.n_scenarios != 1 or bs.cvar or bs.job_recourse or bs.integer_blocks:
        raise ValueError("the re-plan shape has one scenario, no CVaR, no recourse, LP blocks")
    params: dict[str, cp.Parameter] = {}
    variables: dict[str, cp.Variable] = {}
    scope = Scope("", params, variables)
    # IT load placed at the site from outside its file (a portfolio's migratable jobs, decided
    # at DA): a variable held at a parameter, so PUE times it stays DPP. Zero for a lone site.
    extra = scope.var("extra_it_mw", bs.n_intervals)
    objective, cons = site_terms(bs, scope, extra)
    cons.append(extra == scope.par("fixed_extra_it_mw", bs.n_intervals, nonneg=True))
    for k, prod in enumerate(bs.products):
        fixed = scope.par(f"reserve_fixed_{k}", prod.n_blocks, nonneg=True)
        cons.append(variables[f"reserve_{k}"] == fixed)
    for k, job in enumerate(bs.block_jobs):
        start = scope.par(f"block_fixed_{k}", max(len(job.starts), 1), nonneg=True)
        cons.append(variables[f"block_start_{k}"] == start)
    nt = bs.n_intervals
    base = scope.par("base_market_mw", nt)
    band = scope.par("deviation_cost_dt", nonneg=True)  # threshold * dt
    up = scope.var("deviation_up_mw", nt, nonneg=True)
    down = scope.var("deviation_down_mw", nt, nonneg=True)
    cons.append(variables["market_mw"][0] - base == up - down)
    objective += band * cpx.sum(up + down)
    # Intervals already run: mask * x == mask * value (a mask of 0 leaves the interval free).
    if bs.n_jobs:
        n_active = sum(len(w) for w in bs.job_windows)
        job_mask = scope.par("fixed_job_mask", (bs.job_copies, n_active), nonneg=True)
        job_run = scope.par("fixed_job_mw", (bs.job_copies, n_active))
        cons.append(cpx.multiply(job_mask, variables["job_mw"]) == job_run)
    if bs.battery:
        mask = scope.par("fixed_mask", nt, nonneg=True)
        for name in ("charge_mw", "discharge_mw"):
            run = scope.par(f"fixed_{name}", nt)
            cons.append(cpx.multiply(mask, variables[name][0]) == run)
    problem = cp.Problem(cp.Minimize(objective), cons)
    if not problem.is_dpp():
        raise AssertionError("re-plan model must be DPP")
    return BidModel(bs, problem, params, variables, scope.exprs)


class ReplanCache(ShapeCache[ReplanShape, BidModel]):
    """Compiled re-plan models by shape."""

    def __init__(self, max_entries: int = 8) -> None:
        super().__init__(build_replan_model, max_entries)


DEFAULT_REPLAN_CACHE = ReplanCache()


@dataclass(frozen=True, slots=True)
class Replan:
    """The real-time re-plan of one day.

    Parameters
    ----------
    plan
        The re-planned schedule as a one-scenario :class:`DayPlan` (its ``market_mw[0]`` is what
        the site consumes; its curves and reserve bids are not submitted anywhere).
    base_mw
        ``(T,)`` the schedule the site runs without the stage [MW].
    forecast_per_mwh
        ``(T,)`` the real-time price forecast it was made on [currency/MWh].
    threshold_per_mwh
        The dead band [currency/MWh].
    as_of
        Knowledge time of its inputs (the re-plan time).
    replans
        Re-plans it is the last of (rolling re-plans while the day runs; 1: one re-plan).
    """

    plan: DayPlan
    base_mw: FloatArray
    forecast_per_mwh: FloatArray
    threshold_per_mwh: float
    as_of: datetime | None
    replans: int = 1

    @property
    def deviation_mwh(self) -> float:
        """Energy moved away from the base schedule, both directions [MWh]."""
        moved = np.abs(self.plan.market_mw[0] - self.base_mw)
        return float(moved.sum() * self.plan.interval_hours)


def _block_fractions(plan: DayPlan, shape: BidShape, site: Site) -> list[FloatArray]:
    """Per non-preemptible job, the start weights the DA plan bid (1 at its start)."""
    out = []
    for job, bshape in zip(
        [j for j in site.jobs if not j.preemptible], shape.block_jobs, strict=True
    ):
        w = np.zeros(max(len(bshape.starts), 1))
        for b in plan.block_bids:
            if b.job != job.name:
                continue
            t0 = int(plan.intervals.searchsorted(pd.Timestamp(b.start)))
            if t0 not in bshape.starts:
                raise SiteError(f"block bid of job {job.name!r} starts outside its window")
            w[bshape.starts.index(t0)] += b.quantity_mw / max(
                bshape.power_mw * float(np.max(plan.pue[t0 : t0 + bshape.run_intervals])), 1e-12
            )
        w = np.clip(w, 0.0, 1.0)
        if abs(float(w.sum()) - 1.0) < 1e-3:  # the bid's 3-decimal rounding of a whole start
            w = w / w.sum()
        out.append(w)
    return out


def _fixed_values(
    site: Site, shape: BidShape, fixed: DayPlan | None, n_run: int
) -> dict[str, FloatArray]:
    """Parameter values that hold the first ``n_run`` intervals at ``fixed``'s job and battery
    power (clipped to their bounds, so a solver's last-digit excursions cannot make the re-plan
    infeasible); none held when ``fixed`` is ``None``."""
    nt = shape.n_intervals
    if not 0 <= n_run <= nt:
        raise SiteError(f"intervals already run must lie in [0, {nt}], got {n_run}")
    if n_run and fixed is None:
        raise SiteError("a re-plan with intervals already run needs the plan that ran them")
    mask = (np.arange(nt) < n_run).astype(np.float64)
    out: dict[str, FloatArray] = {"fixed_mask": mask}
    if shape.n_jobs:
        cols = [t for w in shape.job_windows for t in w]
        job_mask = np.tile(mask[cols], (shape.job_copies, 1))
        run = np.zeros(len(cols))
        if fixed is not None:
            pos = 0
            for j, window in enumerate(shape.job_windows):
                run[pos : pos + len(window)] = fixed.job_it_mw[0, j, list(window)]
                run[pos : pos + len(window)] = np.clip(
                    run[pos : pos + len(window)], 0.0, shape.job_max_power_mw[j]
                )
                pos += len(window)
        out["fixed_job_mask"] = job_mask
        out["fixed_job_mw"] = job_mask * run[None, :]
    if shape.battery:
        power = site.battery.power_mw if site.battery is not None else 0.0
        for name in ("charge_mw", "discharge_mw"):
            value = np.zeros(nt) if fixed is None else getattr(fixed, name)[0]
            out[f"fixed_{name}"] = mask * np.clip(value, 0.0, power)
    return out


def replan_day(
    site: Site,
    zone: Zone,
    day: date,
    plan: DayPlan,
    base_scenario: int,
    forecast_per_mwh: FloatArray,
    threshold_per_mwh: float,
    *,
    solver: str = "HIGHS",
    as_of: datetime | None = None,
    method: str = "rt-forecast",
    cache: ReplanCache | None = None,
    strict: bool = True,
    reference_mw: FloatArray | None = None,
    fixed: DayPlan | None = None,
    fixed_intervals: int = 0,
    extra_it_mw: FloatArray | None = None,
) -> Replan:
    """Re-plan ``plan``'s flexible load and battery against a real-time price forecast.

    Parameters
    ----------
    site, zone, day
        The site, its zone and the delivery day of ``plan``.
    plan
        The DA plan whose bids were submitted (its reserve offers and block starts are kept).
    base_scenario
        Scenario of ``plan`` the site runs without the stage (its schedule is the base).
    forecast_per_mwh
        ``(T,)`` real-time price forecast on the plan's intervals [currency/MWh].
    threshold_per_mwh
        Cost of every MWh moved away from the base [currency/MWh], ``>= 0``.
    solver
        ``HIGHS`` (default), ``CLARABEL`` or ``ECOS``.
    as_of
        Knowledge time of the forecast (recorded in the provenance).
    reference_mw
        ``(T,)`` what the dead band measures moves from (default: ``base_scenario``'s schedule).
    fixed, fixed_intervals
        A re-plan made while the day runs: its first ``fixed_intervals`` intervals have run as
        ``fixed`` (the re-plan in force then) scheduled them; their job and battery power stay.
    extra_it_mw
        ``(T,)`` IT load placed at the site from outside its file [MW], held as it is (a
        portfolio's migratable jobs placed there at DA); it enters the balance times PUE and
        the IT capacity, as in the portfolio's DA problem. Default none.

    Raises
    ------
    SiteError
        A forecast of the wrong length or not finite, a negative threshold, a plan of another
        site or day.
    bidding.InfeasibleSiteError, bidding.SolverFailedError
        As :func:`bidding.solve_day`.
    """
    if plan.site != site.name or plan.day != day or plan.zone != zone.key:
        raise SiteError(f"plan of {plan.site} on {plan.day} is not {site.name} on {day}")
    fc = np.asarray(forecast_per_mwh, dtype=np.float64)
    if fc.shape != (len(plan.intervals),) or not np.isfinite(fc).all():
        raise SiteError(f"the real-time forecast of {day} must be {len(plan.intervals)} numbers")
    if not threshold_per_mwh >= 0.0:
        raise SiteError(f"the re-plan threshold must be >= 0, got {threshold_per_mwh}")
    opts = SolveOptions(
        solver=solver,
        highs_options=DEFAULT_HIGHS_OPTIONS if solver.upper().startswith("HIGHS") else None,
        offer_reserves=bool(plan.reserve_mw),
        integer_blocks=False,
        warm_start=False,
        strict=strict,
    )
    shape, grid = day_shape(site, zone, day, 1, opts)
    if not grid.intervals.equals(plan.intervals):
        raise SiteError(f"the plan is not on the intervals of {day}")
    scenarios = PriceScenarios(grid.intervals, fc[None, :], np.ones(1), method, (), as_of)
    values, block_prices = parameter_values(site, zone, shape, grid, scenarios, {}, opts)
    base = np.asarray(plan.market_mw[base_scenario], dtype=np.float64)
    for k, prod in enumerate(shape.products):
        per_interval = plan.reserve_mw.get(prod.key, np.zeros(shape.n_intervals))
        idx = np.asarray(prod.block_of_interval)
        held = np.array(
            [float(per_interval[np.flatnonzero(idx == b)[0]]) for b in range(prod.n_blocks)]
        )
        values[f"reserve_fixed_{k}"] = held
        values[f"reserve_max_{k}"] = np.maximum(held, values[f"reserve_max_{k}"])
        values[f"reserve_value_{k}"] = np.zeros(prod.n_blocks)
    for k, w in enumerate(_block_fractions(plan, shape, site)):
        values[f"block_fixed_{k}"] = w
    reference = base if reference_mw is None else np.asarray(reference_mw, dtype=np.float64)
    if reference.shape != base.shape:
        raise SiteError(f"the re-plan reference of {day} must be {base.shape[0]} numbers")
    values["base_market_mw"] = reference
    values["deviation_cost_dt"] = float(threshold_per_mwh) * grid.interval_hours
    extra = np.zeros(shape.n_intervals) if extra_it_mw is None else np.asarray(extra_it_mw, float)
    if extra.shape != (shape.n_intervals,) or not np.isfinite(extra).all() or (extra < 0).any():
        raise SiteError(f"the placed IT load of {day} must be {shape.n_intervals} numbers >= 0")
    values["fixed_extra_it_mw"] = extra
    values.update(_fixed_values(site, shape, fixed, fixed_intervals))
    store = cache if cache is not None else DEFAULT_REPLAN_CACHE
    model = store.get(ReplanShape(shape))
    phash = input_hash(
        site.name,
        zone.key,
        day,
        plan.provenance.parameter_hash,
        base,
        fc,
        threshold_per_mwh,
        solver,
        reference,
        None if fixed is None else fixed.provenance.parameter_hash,
        fixed_intervals,
        *(() if extra_it_mw is None else (extra,)),
    )
    with model.lock:
        model.set({k: v for k, v in values.items() if k in model.params})
        stats = solve_model(model, opts.solver, opts.resolved_highs_options(), False)
        provenance = _provenance(stats, phash, scenarios)
        new = plan_from_solution(
            site, zone, day, shape, grid, scenarios, model, values, block_prices, provenance, opts
        )
    return Replan(new, base, fc, float(threshold_per_mwh), as_of)
