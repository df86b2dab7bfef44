"""The co-optimised day problem as a cvxpy model, built once per shape and re-solved by values.

Notation (one delivery day, ``T`` intervals of ``dt`` hours, ``S`` price scenarios):

* second stage, per scenario ``s``: market purchase ``m[s,t]`` (the DA quantity; negative is a
  sale), IT power of every preemptible job in its window ``p[s,a]``, battery ``ch``/``dis``/
  ``soc``, and priced slacks for job energy, the import limit and the end-of-day state of charge;
* first stage (non-anticipative): reserve capacity ``r_k[b]`` per product and block, the battery
  and demand-response share behind it, and the start of every non-preemptible job (the block bid).

The balance ``m = PUE * (base IT + jobs) + ch - dis - PPA`` holds per scenario. The state of charge
is a recursion ``soc[t+1] = soc[t] + eta_c*dt*ch[t] - dt/eta_d*dis[t]``, never a running-sum
matrix, so the size is linear in ``T`` and in the number of job-interval pairs. Reserve stays
deliverable: up/down capacity fits the battery's power headroom in every scenario, the grid limit
holds with the down reserve called, and the state of charge stays in its limits even if the
offered battery reserve is called at full capacity for the product's activation time (a
moving-window sum, written as a recursion too). Flexible jobs never back reserve, so a call
cannot endanger a deadline. The DA curve is monotone by construction: in every interval the
scenario of the next higher price buys no more (coefficients are parameters set from the price
order, so the structure does not depend on the prices).

Every number that changes from day to day is a :class:`cvxpy.Parameter` (the problem is DPP);
structure (interval count, job windows and power caps, products and blocks, battery present) is
the :class:`BidShape`, the cache key.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

import cvxpy as cp
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

FloatArray = npt.NDArray[np.float64]
# cvxpy ships partial type information; its atoms are used through an Any-typed alias.
cpx: Any = cp


@dataclass(frozen=True, slots=True)
class ProductShape:
    """Structure of one reserve product on one day.

    Parameters
    ----------
    key
        Product key.
    up, down
        Whether a call lowers (up) or raises (down) consumption; both for symmetric products.
    block_of_interval
        Block number of every interval (from :func:`market.block_index`).
    """

    key: str
    up: bool
    down: bool
    block_of_interval: tuple[int, ...]

    @property
    def n_blocks(self) -> int:
        """Number of blocks on the day."""
        return max(self.block_of_interval) + 1


@dataclass(frozen=True, slots=True)
class BlockJobShape:
    """Structure of a non-preemptible job on one day.

    Parameters
    ----------
    power_mw
        Constant IT power while it runs [MW].
    run_intervals
        Number of intervals it runs.
    starts
        Interval indices at which a run may start (run fits the window).
    """

    power_mw: float
    run_intervals: int
    starts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class BidShape:
    """Everything that fixes the structure of the day problem (the model cache key).

    Parameters
    ----------
    n_intervals
        Intervals in the day (92/96/100 or 23/24/25).
    interval_hours
        Interval length [h].
    n_scenarios
        Price scenarios.
    job_windows
        For each preemptible job, the interval indices inside its window.
    job_max_power_mw
        Power cap of each preemptible job [MW].
    block_jobs
        Non-preemptible jobs.
    products
        Reserve products offered.
    battery
        Whether a battery is present.
    export
        Whether the site may export.
    up_window, down_window
        Activation time of the battery reserve, in intervals.
    cvar
        Whether the objective carries a CVaR term.
    integer_blocks
        Whether non-preemptible starts are binary (MILP) or relaxed to [0, 1].
    job_recourse
        True: every scenario has its own schedule of flexible jobs (the curve reflects job
        shifting). False: one job schedule shared by all scenarios, fixed before prices are
        known (only the battery responds per scenario): far smaller, see docs/benchmarks.md.
    """

    n_intervals: int
    interval_hours: float
    n_scenarios: int
    job_windows: tuple[tuple[int, ...], ...] = ()
    job_max_power_mw: tuple[float, ...] = ()
    block_jobs: tuple[BlockJobShape, ...] = ()
    products: tuple[ProductShape, ...] = ()
    battery: bool = False
    export: bool = False
    up_window: int = 1
    down_window: int = 1
    cvar: bool = False
    integer_blocks: bool = True
    job_recourse: bool = False
    it_capacity: bool = False

    @property
    def job_copies(self) -> int:
        """Copies of the job schedule: one per scenario with recourse, else one shared."""
        return self.n_scenarios if self.job_recourse else 1

    @property
    def n_jobs(self) -> int:
        """Preemptible job classes."""
        return len(self.job_windows)

    @property
    def has_up(self) -> bool:
        """Whether some offered product needs upward capacity."""
        return any(p.up for p in self.products)

    @property
    def has_down(self) -> bool:
        """Whether some offered product needs downward capacity."""
        return any(p.down for p in self.products)

    @property
    def is_mip(self) -> bool:
        """True when the problem has binary variables."""
        return self.integer_blocks and bool(self.block_jobs)


def _window_step(n_intervals: int, width: int, dt: float) -> sp.csr_matrix:
    """``D[k] @ x = dt * (x[k] - x[k - width])``: the step of a moving window sum.

    The energy of a call that has lasted up to ``width`` intervals, ending with interval ``k``,
    is ``e[k] = e[k - 1] + D[k] @ x`` (``e[-1] = 0``): a recursion with four nonzeros per row
    whatever the window, instead of a band of ``width`` entries.
    """
    rows = list(range(n_intervals))
    cols = list(range(n_intervals))
    data = [dt] * n_intervals
    for k in range(width, n_intervals):
        rows.append(k)
        cols.append(k - width)
        data.append(-dt)
    return sp.csr_matrix((data, (rows, cols)), shape=(n_intervals, n_intervals))


def _window_energy(
    name: str, x: cp.Variable, width: int, dt: float, scope: Scope
) -> tuple[cp.Variable, list[cp.Constraint]]:
    """A variable ``e`` with ``e[k] = dt * sum(x[k - width + 1 .. k])`` as a recursion."""
    n = x.shape[0]
    e = scope.var(name, n)
    step = _window_step(n, width, dt) @ x
    return e, [e[0] == step[0], e[1:] == e[:-1] + step[1:]]


class Solvable(Protocol):
    """A compiled model as the solver sees it: a DPP problem and a place to keep HiGHS state."""

    problem: cp.Problem
    warm: dict[str, Any]


@dataclass
class BidModel:
    """A compiled day problem of one shape: the cvxpy problem, its parameters and variables."""

    shape: BidShape
    problem: cp.Problem
    params: dict[str, cp.Parameter]
    variables: dict[str, cp.Variable]
    expressions: dict[str, cp.Expression]
    warm: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def set(self, values: dict[str, Any]) -> None:
        """Set parameter values; every parameter must be given."""
        missing = set(self.params) - set(values)
        if missing:
            raise KeyError(f"missing parameter values: {sorted(missing)}")
        for name, value in values.items():
            param = self.params.get(name)
            if param is None:
                continue
            param.value = np.asarray(value, dtype=np.float64).reshape(param.shape)


class Scope:
    """Names of parameters and variables of one site inside a (possibly larger) problem.

    Every name is registered twice: prefixed in the problem's dictionaries (unique across sites
    of a portfolio) and bare in the scope's own, so that the reading of a solution
    (:func:`bidding.day.solve_day`'s plan) works on one site of a portfolio unchanged. The
    single-site model uses the empty prefix.
    """

    def __init__(
        self,
        prefix: str,
        params: dict[str, cp.Parameter],
        variables: dict[str, cp.Variable],
    ) -> None:
        self.prefix = prefix
        self.all_params = params
        self.all_variables = variables
        self.params: dict[str, cp.Parameter] = {}
        self.variables: dict[str, cp.Variable] = {}
        self.exprs: dict[str, cp.Expression] = {}

    def par(self, name: str, dims: tuple[int, ...] | int = (), **kw: Any) -> cp.Parameter:
        """A new parameter ``name`` of this scope."""
        p = cp.Parameter(dims, name=self.prefix + name, **kw)
        self.params[name] = p
        self.all_params[self.prefix + name] = p
        return p

    def var(self, name: str, dims: tuple[int, ...] | int, **kw: Any) -> cp.Variable:
        """A new variable ``name`` of this scope."""
        v = cp.Variable(dims, name=self.prefix + name, **kw)
        self.variables[name] = v
        self.all_variables[self.prefix + name] = v
        return v


def build_model(shape: BidShape) -> BidModel:
    """Build the cvxpy problem of ``shape`` (DPP; parameters unset)."""
    params: dict[str, cp.Parameter] = {}
    variables: dict[str, cp.Variable] = {}
    scope = Scope("", params, variables)
    objective, cons = site_terms(shape, scope)
    problem = cp.Problem(cp.Minimize(objective), cons)
    if not problem.is_dpp():
        raise AssertionError("bid model must be DPP")
    return BidModel(shape, problem, params, variables, scope.exprs)


def site_terms(
    shape: BidShape, scope: Scope, extra_it: cp.Expression | None = None
) -> tuple[cp.Expression, list[cp.Constraint]]:
    """Objective and constraints of one site on one day: the site rules, written once.

    ``extra_it`` is IT power placed at the site from outside its own file (migratable jobs of a
    portfolio, shape ``(T,)``, decided before prices are known): it enters the balance
    (times PUE) and the IT capacity like the site's own jobs. Used by :func:`build_model` and
    by the portfolio model (:mod:`bidding.portfolio_model`).
    """
    nt, ns, dt = shape.n_intervals, shape.n_scenarios, shape.interval_hours
    variables = scope.variables
    exprs = scope.exprs
    par = scope.par
    var = scope.var

    cons: list[cp.Constraint] = []
    objective: cp.Expression = cp.Constant(0.0)

    # Prices enter only the objective, so a new day of prices changes costs, not the matrix.
    price_w = par("price_weighted", (ns, nt))  # pi_s * (1 - lambda) * price * dt
    base_fac = par("base_facility_mw", nt)  # PUE * base IT [MW]
    pue = par("pue", nt, nonneg=True)
    ppa = par("ppa_mw", nt)
    import_max = par("import_max_mw", nonneg=True)
    pen_grid_w = par("pen_grid_weighted", ns, nonneg=True)  # pi_s * (1-lambda) * penalty * dt

    m = var("market_mw", (ns, nt))
    slack_grid = var("slack_grid_mw", (ns, nt), nonneg=True)
    objective += cpx.sum(cpx.multiply(price_w, m))
    objective += pen_grid_w @ cpx.sum(slack_grid, axis=1)

    # IT power of flexible jobs: one variable per (scenario, job, interval in window).
    it_power: cp.Expression = cp.Constant(np.zeros(nt))
    if shape.n_jobs:
        cols = [t for w in shape.job_windows for t in w]
        owner = [j for j, w in enumerate(shape.job_windows) for _ in w]
        ub = np.array([shape.job_max_power_mw[j] for j in owner], dtype=np.float64)
        n_active = len(cols)
        agg = sp.csr_matrix((np.ones(n_active), (np.arange(n_active), cols)), shape=(n_active, nt))
        energy_map = sp.csr_matrix(
            (np.full(n_active, dt), (np.arange(n_active), owner)),
            shape=(n_active, shape.n_jobs),
        )
        nj = shape.job_copies
        p = var("job_mw", (nj, n_active), bounds=[np.zeros((nj, n_active)), np.tile(ub, (nj, 1))])
        short = var("job_short_mwh", (nj, shape.n_jobs), nonneg=True)
        job_energy = par("job_energy_mwh", shape.n_jobs, nonneg=True)
        pen_job_w = par("pen_job_weighted", nj, nonneg=True)
        cons.append(p @ energy_map + short == job_energy)
        objective += pen_job_w @ cpx.sum(short, axis=1)
        # Job IT power per interval as its own variable: the scenario rows then carry one entry
        # per interval instead of one per job (nonzeros linear in T and J, not in S * J).
        job_load = var("job_load_mw", (nj, nt))
        cons.append(job_load == p @ agg)
        it_power = job_load
        exprs["job_it_mw"] = it_power

    # Non-preemptible jobs: a convex (or binary) choice of start, fixed before prices are known.
    block_it: cp.Expression = cp.Constant(np.zeros(nt))
    if shape.block_jobs:
        pen_block = par("pen_block", len(shape.block_jobs), nonneg=True)
        block_short = var("block_short", len(shape.block_jobs), nonneg=True)
        for k, job in enumerate(shape.block_jobs):
            n_opt = len(job.starts)
            w = var(f"block_start_{k}", max(n_opt, 1), boolean=shape.integer_blocks)
            if n_opt == 0:
                cons.append(w == 0)
                cons.append(block_short[k] == 1)
                continue
            rows, cols_ = [], []
            for o, t0 in enumerate(job.starts):
                for t in range(t0, t0 + job.run_intervals):
                    rows.append(t)
                    cols_.append(o)
            pattern = sp.csr_matrix(
                (np.full(len(rows), job.power_mw), (rows, cols_)), shape=(nt, n_opt)
            )
            cons.append(cpx.sum(w) + block_short[k] == 1)
            block_it = block_it + pattern @ w
        objective += pen_block @ block_short
        exprs["block_it_mw"] = block_it

    load_it = it_power + block_it
    if extra_it is not None:
        load_it = load_it + extra_it
    flows: cp.Expression = cpx.multiply(pue, load_it) + base_fac - ppa

    # Reserve products: capacity per block, expanded to intervals by a fixed 0/1 map.
    up_total: cp.Expression = cp.Constant(np.zeros(nt))
    down_total: cp.Expression = cp.Constant(np.zeros(nt))
    for k, prod in enumerate(shape.products):
        nb = prod.n_blocks
        r = var(f"reserve_{k}", nb, nonneg=True)
        rmax = par(f"reserve_max_{k}", nb, nonneg=True)
        rev = par(f"reserve_value_{k}", nb)  # revenue per MW offered in the block
        cons.append(r <= rmax)
        objective -= rev @ r
        expand = sp.csr_matrix(
            (np.ones(nt), (np.arange(nt), list(prod.block_of_interval))), shape=(nt, nb)
        )
        per_interval = expand @ r
        if prod.up:
            up_total = up_total + per_interval
        if prod.down:
            down_total = down_total + per_interval
    if shape.products:
        # Interval totals as variables: a scenario row then holds one entry, not one per product.
        up_var = var("up_total_mw", nt, nonneg=True)
        down_var = var("down_total_mw", nt, nonneg=True)
        cons += [up_var == up_total, down_var == down_total]
        up_total, down_total = up_var, down_var
    exprs["up_total_mw"] = up_total
    exprs["down_total_mw"] = down_total

    bat_up: cp.Expression = cp.Constant(np.zeros(nt))
    bat_dn: cp.Expression = cp.Constant(np.zeros(nt))
    dr_up: cp.Expression = cp.Constant(np.zeros(nt))
    if shape.has_up:
        dr = var("dr_up_mw", nt, nonneg=True)
        dr_cap = par("dr_cap_mw", nt, nonneg=True)
        dr_cost = par("dr_cost", nt, nonneg=True)  # per MW offered: cost * share * dt
        cons.append(dr <= dr_cap)
        objective += dr_cost @ dr
        dr_up = dr
    if shape.battery:
        ch = var("charge_mw", (ns, nt), nonneg=True)
        dis = var("discharge_mw", (ns, nt), nonneg=True)
        soc = var("soc_mwh", (ns, nt + 1))
        bat_p = par("battery_power_mw", nonneg=True)
        kc = par("charge_factor", nonneg=True)  # eta_c * dt
        kd = par("discharge_factor", nonneg=True)  # dt / eta_d
        soc0 = par("soc_initial_mwh", nonneg=True)
        soc_min = par("soc_min_mwh", nonneg=True)
        soc_max = par("soc_max_mwh", nonneg=True)
        deg_w = par("degradation_weighted", ns, nonneg=True)  # pi_s * (1-lambda) * cost * dt
        pen_soc_w = par("pen_soc_weighted", ns, nonneg=True)
        soc_short = var("soc_short_mwh", ns, nonneg=True)
        cons += [
            ch <= bat_p,
            dis <= bat_p,
            soc[:, 0] == soc0,
            soc[:, 1:] == soc[:, :-1] + kc * ch - kd * dis,
            soc[:, nt] + soc_short >= soc0,
        ]
        lower: cp.Expression = soc[:, 1:]
        upper: cp.Expression = soc[:, 1:]
        if shape.has_up:
            bu = var("battery_up_mw", nt, nonneg=True)
            inv_eta_d = par("inv_discharge_efficiency", nonneg=True)
            e_up, rec = _window_energy("battery_up_energy_mwh", bu, shape.up_window, dt, scope)
            cons += rec
            cons.append(dis - ch + bu[None, :] <= bat_p)
            lower = lower - inv_eta_d * e_up[None, :]
            bat_up = bu
        if shape.has_down:
            bd = var("battery_down_mw", nt, nonneg=True)
            eta_c = par("charge_efficiency", nonneg=True)
            e_dn, rec = _window_energy("battery_down_energy_mwh", bd, shape.down_window, dt, scope)
            cons += rec
            cons.append(ch - dis + bd[None, :] <= bat_p)
            upper = upper + eta_c * e_dn[None, :]
            bat_dn = bd
        cons += [lower >= soc_min, upper <= soc_max]
        objective += deg_w @ cpx.sum(ch + dis, axis=1) + pen_soc_w @ soc_short
        flows = flows + ch - dis
    if shape.has_up:
        cons.append(up_total <= bat_up + dr_up)
    if shape.has_down:
        cons.append(down_total <= bat_dn)

    cons.append(m == flows)
    # The physical import is m + PPA; the limits must hold with the reserve called.
    cons.append(m + ppa + down_total[None, :] <= import_max + slack_grid)
    if shape.export:
        export_max = par("export_max_mw", nonneg=True)
        cons.append(m + ppa - up_total[None, :] >= -export_max)
    else:
        cons.append(m + ppa - up_total[None, :] >= 0)

    # Monotone bid curve. Row (r, t) compares the scenarios of price rank r and r + 1 at t:
    # rank[r] has coefficient +1, rank[r + 1] -1, every other scenario an explicit 0, so the
    # structure is fixed and a new price order only changes coefficients. ``mono_tie`` repeats the
    # row as <= 0 where the two prices are equal (equal prices, equal quantities).
    if ns > 1:
        for rank in range(ns - 1):
            d = par(f"mono_{rank}", (ns, nt))
            e = par(f"mono_tie_{rank}", (ns, nt))
            cons += [cpx.sum(cpx.multiply(d, m), axis=0) >= 0]
            cons += [cpx.sum(cpx.multiply(e, m), axis=0) <= 0]

    if shape.cvar:
        # cost_s without first-stage terms, which are common to every scenario.
        price_dt = par("price_dt", (ns, nt))
        tail_w = par("cvar_tail_weight", ns, nonneg=True)  # lambda * pi_s / (1 - alpha)
        lam = par("cvar_lambda", nonneg=True)
        pen_grid = par("pen_grid_dt", nonneg=True)
        eta = var("cvar_eta", ())
        z = var("cvar_excess", ns, nonneg=True)
        scen_cost = cpx.sum(cpx.multiply(price_dt, m), axis=1) + pen_grid * cpx.sum(
            slack_grid, axis=1
        )
        if shape.n_jobs:
            pen_job = par("pen_job", nonneg=True)
            scen_cost = scen_cost + pen_job * cpx.sum(variables["job_short_mwh"], axis=1)
        if shape.battery:
            deg_dt = par("degradation_dt", nonneg=True)
            pen_soc = par("pen_soc", nonneg=True)
            scen_cost = (
                scen_cost
                + deg_dt * cpx.sum(variables["charge_mw"] + variables["discharge_mw"], axis=1)
                + pen_soc * variables["soc_short_mwh"]
            )
        cons.append(z >= scen_cost - eta)
        objective += lam * eta + tail_w @ z

    if shape.it_capacity:
        # it_headroom = it_capacity - base IT: jobs (and placed migratable load) fit beneath it.
        headroom = par("it_headroom_mw", nt, nonneg=True)
        cons.append(load_it <= (headroom[None, :] if load_it.ndim == 2 else headroom))
    return objective, cons


def problem_size(model: Solvable) -> dict[str, int]:
    """Variables, constraints and nonzeros of the compiled LP (after cvxpy canonicalisation)."""
    data = model.warm.get("last_data")
    if data is None:
        # Solved by another solver: compile the HiGHS form (cached DPP, needs parameter values).
        data = model.problem.get_problem_data(
            cp.HIGHS, enforce_dpp=True, canon_backend=cp.COO_CANON_BACKEND
        )[0]
    a = data["A"]
    return {"variables": int(a.shape[1]), "constraints": int(a.shape[0]), "nonzeros": int(a.nnz)}


def scalar(x: Any) -> float:
    """A float from a numpy scalar or 0-d array."""
    return float(np.asarray(x, dtype=np.float64))


def value_of(v: cp.Expression | cp.Variable) -> FloatArray:
    """Value of a solved variable or expression as a float array (zeros for constants)."""
    val = v.value
    if val is None:
        raise ValueError(f"{v} has no value")
    return np.asarray(val, dtype=np.float64)
